"""The requester withdraws a request that waits for approval, or an activation scheduled for later: a typed
`cancel <group>` asks first ("Cancel your request for X?"), and Cancel request (on that question or on the
requester's waiting card) cancels it as them.

Only the requester may cancel. A request the bot keeps is settled as cancelled (bot.approvals.settle: every copy and
the requester's cards say so); one it keeps no record of (made in the portal) is cancelled if Graph shows it waiting as
the actor's own, and no card of the bot's follows it.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from bot.approvals.records import CLOSED_CANCELLED, ApprovalRecords, ApprovalRequest, CardRef, KeptCard
from bot.approvals.settle import Settler
from bot.approvals.views import waiting_in_pim, waiting_of
from bot.transport.wire import SentCard
from cards import explain
from cards.cancel import WaitingRequest, cancel_question_card
from cards.wording import cancel_came_too_late
from core.errors import AlreadyDecided, DirectoryError, RequestNotFound, RequestRefused
from core.models import Actor, Group, PimRequest
from core.names import normalise
from core.ports import Clock
from core.service import PimService

__all__ = ["Cancellations"]

log = logging.getLogger(__name__)


class Cancellations:
    def __init__(self, records: ApprovalRecords, settler: Settler, clock: Clock) -> None:
        self._records = records
        self._settler = settler
        self._clock = clock

    async def ask(self, turn_context: TurnContext, service: PimService, actor: Actor, group: str) -> str | None:
        """A typed `cancel <group>`: nothing is withdrawn yet. Each of the actor's requests for `group` that waits
        for approval gets a card asking "Cancel your request for X?" (Cancel request / Keep it); None once asked, or
        the answer to say instead. Requests the bot keeps come from its records (the question is kept with them, so it
        settles with the request); others are read from Graph, which alone may say there is nothing to cancel."""
        mine = [
            r
            for r in await self._records.open_requests()
            if r.requester_id.lower() == actor.object_id.lower() and normalise(r.group_name) == normalise(group)
        ]
        if mine:
            for record in mine:
                await self._ask(turn_context, actor, waiting_of(record), kept_with=record.request_id)
            return None
        try:
            found = await service.waiting_requests(actor, group, scheduled=True)
        except (RequestRefused, DirectoryError) as e:
            return explain(e, actor.time_style, group_name=group)
        if not found:
            return f"You have no request for {group} waiting for approval or scheduled for later."
        for found_group, request in found:
            await self._ask(turn_context, actor, waiting_in_pim(found_group, request))
        return None

    async def _ask(
        self, turn_context: TurnContext, actor: Actor, request: WaitingRequest, *, kept_with: str | None = None
    ) -> None:
        card = cancel_question_card(request, actor.time_style)
        response = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
        )
        activity_id = str(getattr(response, "id", "") or "")
        if kept_with is None or not activity_id:
            return
        shown = CardRef(str(turn_context.activity.conversation.id or ""), activity_id)
        kept = KeptCard("cancel-question", shown.conversation_id, (kept_with,), self._clock.now(), card)
        await self._records.remember_card(activity_id, kept)
        record = await self._records.update(kept_with, lambda r: r.with_card(shown))
        if record is not None and not record.is_open:  # settled meanwhile: its settling did not know this card yet
            await self._settler.settle_requester_cards(record)

    async def keep(self, service: PimService, actor: Actor, request_id: str) -> dict[str, Any] | str:
        """ "Keep it" on the question a typed `cancel` asked: nothing changes; the question gives way to "Kept"."""
        record = await self._records.get(request_id)
        if record is None:
            try:
                own = await _own_waiting_in_pim(service, actor, request_id)
            except (RequestRefused, DirectoryError) as e:
                return explain(e, actor.time_style)
            if own is None:
                return explain(RequestNotFound(request_id), actor.time_style)
            return cancel_question_card(waiting_in_pim(*own), actor.time_style, kept=True)
        if record.requester_id.lower() != actor.object_id.lower():
            return f"Only the person who asked can answer this for {record.group_name}; nothing was changed."
        if not record.is_open:
            return f"Your request for {record.group_name} no longer waits for approval; nothing was changed."
        return cancel_question_card(waiting_of(record), actor.time_style, kept=True)

    async def cancel_request(self, service: PimService, actor: Actor, request_id: str) -> str:
        """Cancel request, on the requester's waiting card or on the question a typed `cancel` asked: only the
        requester may cancel, as themselves."""
        record = await self._records.get(request_id)
        if record is None:
            try:
                own = await _own_waiting_in_pim(service, actor, request_id)
                if own is not None:
                    await service.cancel(actor, request_id)
            except (RequestRefused, DirectoryError) as e:
                return explain(e, actor.time_style)
            if own is None:
                return explain(RequestNotFound(request_id), actor.time_style)
            return f"I cancelled your request for {own[0].display_name}."
        group = record.group_name
        if record.requester_id.lower() != actor.object_id.lower():
            log.info("refused a cancel of %s by %s (not the requester)", request_id, actor.object_id)
            return f"Only the person who asked can cancel this request for {group}; nothing was changed."
        if not record.is_open:
            return _not_cancelled(record)
        try:
            await service.cancel(actor, request_id)
        except (RequestRefused, DirectoryError) as e:
            # An approver's decision may have landed at the same moment: once recorded, it is said with its name.
            fresh = await self._records.get(request_id)
            if fresh is not None and fresh.decision is not None:
                return _not_cancelled(fresh)
            if isinstance(e, AlreadyDecided) and e.decision is not None:
                return cancel_came_too_late(e.decision, group, e.by_name)
            return explain(e, actor.time_style, group_name=group)
        await self._settler.settle_now(service, request_id, self._settler.closing(CLOSED_CANCELLED, "Canceled"))
        return f"I cancelled your request for {group}."


async def _own_waiting_in_pim(service: PimService, actor: Actor, request_id: str) -> tuple[Group, PimRequest] | None:
    """The actor's own request `request_id`, if Graph shows it waiting for approval (one the bot keeps no record of:
    made in the portal, or before the bot kept records)."""
    found = await service.waiting_requests(actor, scheduled=True)
    return next(((g, r) for g, r in found if r.id.casefold() == request_id.casefold()), None)


def _not_cancelled(record: ApprovalRequest) -> str:
    """Why a request the requester wanted to cancel was not: decided (by whom), or closed otherwise."""
    if record.decision is not None:
        return cancel_came_too_late(record.decision.decision, record.group_name, record.decision.by_name)
    return f"Your request for {record.group_name} no longer waits for approval; nothing was changed."
