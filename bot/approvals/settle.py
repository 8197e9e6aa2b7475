"""Settling a request: its decision or closing recorded once, spread to every copy, the requester told.

One path for every way a request ends: an approver's click (bot.approvals.desk), the requester's `cancel`, and what
the poller finds in PIM (bot.approvals.poller). `settle` writes the outcome on the record with a compare-and-swap,
only while the request is neither decided nor closed, so of two writers (two clicks, a click and the poller, two
processes) exactly one records it; that one also tells the admin feed and owes the spread, which the record says
(`Spread`) until it is done. A process that stops mid-spread leaves it owed: the poller's `finish_spread` takes it over
once that process is gone or SPREAD_GRACE has passed.

The spread re-renders every copy of the approval card from the record (each reader's own way of writing times), all at
once (each conversation's send limits are kept by the connector), makes the requester's own cards read-only, and
tells the requester, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.approvals.records import (
    CLOSED_CANCELLED,
    CLOSED_EXPIRED,
    ApprovalCopy,
    ApprovalRecords,
    ApprovalRequest,
    Closing,
    Decided,
    KeptCard,
    Mark,
    Spread,
)
from bot.approvals.views import Rendered, approval_card_of, closed_line, outcome_text, view_of
from bot.approvals.work import Work
from bot.conversations import Conversations
from bot.feed.outcomes import SettledApproval
from bot.observe import metrics
from bot.transport import ProactiveAdapter
from bot.transport.after_answer import after_answer
from cards.activation import settled_activation_card
from cards.approval import decision_line
from core.errors import DirectoryError, RequestRefused
from core.models import Decision, Ticket
from core.ports import Clock
from core.service import PimService

__all__ = ["SPREAD_GRACE", "Settled", "Settler"]

log = logging.getLogger(__name__)

SPREAD_GRACE = timedelta(minutes=2)  # an owed spread older than this is taken over even if its process still lives


@dataclass(frozen=True, slots=True)
class Settled:
    """The record as `settle` left it (None: there is none), and whether this call recorded the outcome (and so
    owes its spread)."""

    record: ApprovalRequest | None
    recorded: bool


class Settler:
    """`on_settled`: the admin feed, told of every outcome recorded. `fault(point)`: the crash tests' hook."""

    def __init__(
        self,
        records: ApprovalRecords,
        conversations: Conversations,
        proactive: ProactiveAdapter,
        clock: Clock,
        work: Work,
        *,
        on_settled: Callable[[SettledApproval], Awaitable[None]] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self._records = records
        self._conversations = conversations
        self._proactive = proactive
        self._clock = clock
        self._work = work
        self._on_settled = on_settled
        self._fault = fault or (lambda point: None)
        self._background: set[asyncio.Task[None]] = set()  # spreads after clicks (`drain` waits for them)

    async def settle(
        self,
        request_id: str,
        outcome: Decided | Closing,
        *,
        skip: str = "",
        plain_answer: bool = False,
        claim: Mark | None = None,
    ) -> Settled:
        """Record `outcome` on the request, once: only while it is neither decided nor closed. `skip`: the clicked
        copy, which the click's answer replaces; `plain_answer`: that answer carries no notice (the spread may redraw
        it once it knows when the access ends); `claim`: the clicker's claim, dropped either way."""
        spread = Spread(self._work.start(), skip, plain_answer)

        def write(record: ApprovalRequest) -> ApprovalRequest | None:
            if record.decision is not None or record.closed is not None:
                if claim is not None and record.claim is not None and record.claim.mark.token == claim.token:
                    return replace(record, claim=None)
                return None
            if isinstance(outcome, Decided):
                status = "Approved" if outcome.decision is Decision.APPROVE else "Denied"
                return replace(record, decision=outcome, status=status, claim=None, spread=spread)
            status = "Canceled" if outcome.kind == CLOSED_CANCELLED else "Expired"
            return replace(record, closed=outcome, status=status, claim=None, spread=spread)

        record = await self._records.update(request_id, write)
        if record is None or record.spread != spread:
            # Settled before (a concurrent click, the poller): whoever recorded it spreads it, and only they.
            self._work.done(spread.mark)
            return Settled(record, False)
        log.info("request %s settled: %s", request_id, record.status)
        metrics.APPROVALS_SETTLED.labels(_outcome_label(outcome)).inc()
        await self._tell_feed(record)
        return Settled(record, True)

    async def settle_now(self, service: PimService, request_id: str, outcome: Decided | Closing) -> bool:
        """Settle and spread at once (outside a click); False if the request was settled already."""
        settled = await self.settle(request_id, outcome)
        if not settled.recorded or settled.record is None:
            return False
        await self.spread(service, settled.record)
        return True

    def closing(self, kind: str, status: str) -> Closing:
        return Closing(kind, self._clock.now(), status)

    async def _tell_feed(self, record: ApprovalRequest) -> None:
        """Its trouble never costs an approval its answer."""
        account = feed_account(record)
        if self._on_settled is None or account is None:
            return
        try:
            await self._on_settled(account)
        except Exception:
            log.warning("could not queue request %s for the admin feed", record.request_id, exc_info=True)

    # ---- the spread -----------------------------------------------------------------------------------------------

    def spread_later(self, service: PimService, settled: Settled) -> None:
        """After a click: the clicker is answered now with the final card; once that answer is written
        (bot.after_answer), a background task spreads the outcome (`drain` waits for it at shutdown; the poller
        finishes a spread a stopped process left owed). Nothing to do when this click did not record it."""
        if not settled.recorded or settled.record is None:
            return
        record, answered = settled.record, asyncio.Event()

        async def spread() -> None:
            await answered.wait()
            await self.spread(service, record)

        self._in_background(record.request_id, spread())  # tracked now: `drain` also waits for what is to start
        after_answer(answered.set)

    def _in_background(self, request_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"spread {request_id}")
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if task.cancelled():
            log.warning("%s was stopped before it finished; the approval poller completes it", task.get_name())
        elif (error := task.exception()) is not None:
            log.error("%s failed; the approval poller tries again", task.get_name(), exc_info=error)

    async def drain(self, within: float) -> None:
        """Wait up to `within` seconds for the spreads still running after clicks (shutdown, tests); stop what is
        left. A stopped spread stays owed on its record, and the next poll (of any instance) finishes it."""
        running = set(self._background)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=within)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def finish_spread(self, service: PimService, record: ApprovalRequest) -> bool:
        """The safety net for a spread that did not finish: once its process is gone (or stopped running it), or it
        has been owed longer than SPREAD_GRACE, take it over (one taker) and run it again, every copy included (the
        clicked one too: its click may never have been answered). The requester is told once."""
        if await self._work.held(record.spread.mark if record.spread else None, SPREAD_GRACE):
            return False
        taken = replace(record, spread=Spread(self._work.start()))
        assert taken.spread is not None
        if not await self._records.put_over(record, taken):
            self._work.done(taken.spread.mark)
            return False
        log.info("finishing the card updates of request %s (an earlier run did not finish)", record.request_id)
        await self.spread(service, taken)
        return True

    async def spread(self, service: PimService, record: ApprovalRequest) -> None:
        """Re-render every other copy from the record, all at once; meanwhile settle the requester's cards and tell
        them. Then the record owes nothing."""
        owed = record.spread
        skip = owed.skip if owed else ""
        try:
            learnt_end = record.active_until is None
            record = await self._with_end(service, record)
            if learnt_end and record.active_until and owed is not None and owed.plain_answer:
                skip = ""  # the clicker's answer went out before PIM's end of the access was known: it gains it too
            cards = Rendered(lambda style: approval_card_of(record, style, actionable=False))
            # The clicker's own copy already shows the answer (the invoke response), except in a channel: there the
            # invoke response replaces the card for the clicker only, so the post is updated for everyone.
            copies = [
                c
                for c in await self._records.copies(record.request_id)
                if not (skip and c.activity_id == skip and not c.in_channel)
            ]
            await asyncio.gather(
                *(self._update_copy(copy, cards.of(copy.style)) for copy in copies),
                self._inform_requester(record),
            )
            await self._spread_done(record.request_id, owed)
        finally:
            self._work.done(owed.mark if owed else None)

    async def _spread_done(self, request_id: str, owed: Spread | None) -> None:
        def done(record: ApprovalRequest) -> ApprovalRequest | None:
            return replace(record, spread=None) if record.spread is not None else None

        await self._records.update(request_id, done)

    async def _update_copy(self, copy: ApprovalCopy, card: dict[str, Any]) -> None:
        try:
            await self._proactive.update_card(copy.reference, copy.activity_id, card)
        except Exception:
            log.warning("could not update the approval card %s", copy.activity_id, exc_info=True)
            return
        self._fault("spread")

    async def _with_end(self, service: PimService, record: ApprovalRequest) -> ApprovalRequest:
        """An approved request's record with the end PIM scheduled for the access (`active_until`), read once
        (app-only): the cards and the requester say until when the access runs, not when the request would have
        lapsed."""
        if record.decision is None or record.decision.decision is not Decision.APPROVE or record.active_until:
            return record
        try:
            ends = (await service.request(record.request_id)).ends
        except (RequestRefused, DirectoryError):
            log.warning("could not read request %s after approval", record.request_id, exc_info=True)
            return record
        if ends is None:
            return record
        kept = await self._records.update(record.request_id, lambda stored: replace(stored, active_until=ends))
        return replace(record, active_until=ends) if kept is None else replace(kept, spread=record.spread)

    # ---- the requester ---------------------------------------------------------------------------------------------

    async def _inform_requester(self, record: ApprovalRequest) -> None:
        try:
            await self.settle_requester_cards(record)
        except Exception:
            log.warning("could not update the requester's card of %s", record.request_id, exc_info=True)
        try:
            await self._tell_requester(record)
        except Exception:
            log.warning("could not tell the requester of %s", record.request_id, exc_info=True)

    async def settle_requester_cards(self, record: ApprovalRequest) -> None:
        """The requester's own cards of the request (the answer to `activate`, a 'Send it again' click, the question
        of a typed `cancel`) lose their buttons and say what became of it. Cards not kept with their JSON are left."""
        view, tz = view_of(record), record.requester_style
        if view.decision is not None:
            approved = view.decision is Decision.APPROVE
            state, color = ("Approved", "Good") if approved else ("Denied", "Attention")
            message = decision_line(view, tz)
        else:
            kind = record.closed.kind if record.closed else ""
            state = {CLOSED_CANCELLED: "Cancelled", CLOSED_EXPIRED: "Expired"}.get(kind, "Closed")
            color, message = "Warning", closed_line(record, tz)
        fallback = f"{view.group_name} ({view.access.value}): {message}"

        def settle(kept: KeptCard) -> KeptCard:
            if kept.card is None:
                return kept
            card = settled_activation_card(
                dict(kept.card), view.request_id, state, message, color=color, fallback=fallback
            )
            return replace(kept, card=card)

        for shown in record.cards:
            stored = await self._records.update_card(shown.activity_id, settle) if shown.activity_id else None
            reference = await self._conversations.reference(shown.conversation_id)
            if stored is None or stored.card is None or reference is None:
                log.info("requester's card %s of %s is not kept; left as it is", shown.activity_id, view.request_id)
                continue
            await self._proactive.update_card(reference, shown.activity_id, stored.card)

    async def _tell_requester(self, record: ApprovalRequest) -> None:
        """Tell the requester the outcome, once: a spread taken over after its process died does not tell them again
        (unless that process died while telling them)."""
        reference = await self._conversations.user_reference(record.requester_id)
        if reference is None:
            log.info("no reference for requester %s; not told about %s", record.requester_id, record.request_id)
            return
        current = await self._records.get(record.request_id)
        if current is not None and current.told_at is not None:
            return
        await self._proactive.send_text(reference, outcome_text(record))
        now = self._clock.now()
        await self._records.update(record.request_id, lambda stored: replace(stored, told_at=now))


_FEED_OUTCOMES = {CLOSED_CANCELLED: "canceled", CLOSED_EXPIRED: "expired"}  # the feed has no word for "failed"


def _outcome_label(outcome: Decided | Closing) -> str:
    """approved, denied, or how it closed (cancelled, expired, failed)."""
    if isinstance(outcome, Decided):
        return "approved" if outcome.decision is Decision.APPROVE else "denied"
    return outcome.kind


def feed_account(record: ApprovalRequest) -> SettledApproval | None:
    """What the admin feed is told of a settled request (None: not settled, or closed in a way it does not post)."""
    decided, closed = record.decision, record.closed
    if decided is not None:
        outcome = "approved" if decided.decision is Decision.APPROVE else "denied"
    elif closed is not None and closed.kind in _FEED_OUTCOMES:
        outcome = _FEED_OUTCOMES[closed.kind]
    else:
        return None
    return SettledApproval(
        request_id=record.request_id,
        group_id=record.group_id,
        requester_id=record.requester_id,
        access=record.access,
        outcome=outcome,
        at=decided.at if decided is not None else closed.at if closed is not None else None,
        by=(decided.by or None) if decided is not None else None,
        reason=(decided.reason or None) if decided is not None else None,
        ticket=Ticket(record.ticket) if record.ticket else None,
    )
