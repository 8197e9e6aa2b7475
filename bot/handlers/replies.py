"""Sending a card that shows PIM requests, and keeping what it shows (bot.approvals.records.KeptCard): a card showing
a request that waits for approval is kept whole, to be made read-only once the request is settled (bot.approvals)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.approvals import ApprovalRecords
from bot.approvals.records import KeptCard
from bot.turn import Turn
from cards.elements import JsonDict
from core.outcomes import AwaitingApproval, Outcome, Refused
from core.ports import Clock

__all__ = ["Replies"]


class Replies:
    def __init__(self, records: ApprovalRecords, clock: Clock) -> None:
        self._records = records
        self._clock = clock

    async def card(self, turn: Turn, card: JsonDict, *, kind: str, outcomes: Sequence[Outcome] = ()) -> str | None:
        """Send `card` (of `kind`: "activation", "status", …) into the turn's conversation; remember which requests
        of `outcomes` it shows. The new activity's id."""
        activity_id = await turn.send_card(card)
        request_ids = tuple(o.request.id for o in outcomes if hasattr(o, "request") and not isinstance(o, Refused))
        if activity_id and request_ids:
            waiting = any(isinstance(o, AwaitingApproval) for o in outcomes)  # kept, to be made read-only later
            kept = KeptCard(kind, turn.conversation_id, request_ids, self._clock.now(), card if waiting else None)
            await self._records.remember_card(activity_id, kept)
        return activity_id

    async def keep_in_place(self, turn: Turn, card: JsonDict, outcome: AwaitingApproval) -> tuple[str, str] | None:
        """An invoke's answer replaces the clicked card in place: that activity now shows the waiting request. Its
        conversation and activity ids, or None when the click named no card."""
        activity_id = turn.activity.reply_to_id
        if not activity_id:
            return None
        kept = KeptCard("activation", turn.conversation_id, (outcome.request.id,), self._clock.now(), card)
        await self._records.remember_card(activity_id, kept)
        return turn.conversation_id, activity_id
