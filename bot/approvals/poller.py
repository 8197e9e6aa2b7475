"""The approval poller: what happens to requests outside a click.

Each poll looks at every open request in Graph (app-only): a decision made outside the bot (the portal, another
approver's e-mail) or a closing (cancelled, expired, failed) is settled (bot.approvals.settle) like a click's; an
approver is reminded once after `reminder_after`, and the requester warned an hour before the request expires. It also
finishes work a stopped process left: a spread still owed (`Settler.finish_spread`), a fan-out whose process is gone,
a claim whose process died before its decision reached PIM (dropped).

Requests nobody recorded (issue 10, point 4): each poll also lists, app-only, the requests waiting for approval in
the groups whose approvals the bot serves, 20 groups a `$batch`, and gives each one without a record the normal
fan-out, its requester told with their own waiting card when the bot can reach them: a request made in the portal, or
one whose bot process died between the activation and its record. The record is created only if none exists, so of
two processes, or of the poller and the turn that made the request, exactly one sends the cards; requests younger than
ADOPT_AFTER are left to the turn that is recording them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.approvals.channels import ApprovalChannels
from bot.approvals.records import (
    CLOSED_CANCELLED,
    CLOSED_EXPIRED,
    CLOSED_FAILED,
    ApprovalRecords,
    ApprovalRequest,
    CardRef,
    Decided,
    KeptCard,
)
from bot.approvals.settle import Settler
from bot.approvals.views import view_of
from bot.approvals.work import CLAIM_TTL, Work
from bot.conversations import Conversations
from bot.observe import metrics
from bot.reconcile import RETRY_AFTER
from bot.transport import ProactiveAdapter
from cards import activation_card
from cards.approval import expiry_warning_card
from cards.wording import access_label
from core.errors import AlreadyDecided, DirectoryError, RequestNotFound, RequestRefused
from core.models import Actor, Decision, Group, PimRequest, RequestStatus, Ticket
from core.outcomes import AwaitingApproval
from core.ports import Clock
from core.service import APPROVAL_WINDOW, PimService

if TYPE_CHECKING:
    from botbuilder.core import TurnContext

    from bot.approvals.desk import FanOut

__all__ = ["ADOPT_AFTER", "AsUser", "Poller"]

log = logging.getLogger(__name__)

FAN_OUT_TTL = timedelta(minutes=2)  # likewise for a fan-out whose process still lives
ADOPT_AFTER = timedelta(seconds=15)  # a request found in PIM this young may still be recorded by the turn that made it
CONFIRMING_TTL = sum(RETRY_AFTER, timedelta(minutes=5))  # a follow-up of a lost decision answer ends before this
MAX_GROUPS_PER_POLL = 400  # groups read for unrecorded requests per poll (20 $batches); more are read in turns
EXPIRY_WARNING = timedelta(hours=1)  # the requester is told this long before an unapproved request expires

_APPROVED = {
    RequestStatus.PROVISIONED,
    RequestStatus.GRANTED,
    RequestStatus.PENDING_PROVISIONING,
    RequestStatus.PENDING_SCHEDULE_CREATION,
    RequestStatus.SCHEDULE_CREATED,
}

AsUser = Callable[[str, Callable[[PimService, Actor], Awaitable[Any]]], Awaitable[Any]]
"""`as_user(user_id, work)`: `work(service, actor)` with the user's delegated token, outside any turn of theirs."""


class Poller:
    def __init__(
        self,
        records: ApprovalRecords,
        conversations: Conversations,
        settler: Settler,
        fan_out: FanOut,
        work: Work,
        proactive: ProactiveAdapter,
        clock: Clock,
        *,
        reminder_after: timedelta,
        channels: ApprovalChannels | None,
        more_groups: Callable[[], Awaitable[Sequence[str]]] | None,
        as_user: AsUser | None,
    ) -> None:
        self._records = records
        self._conversations = conversations
        self._settler = settler
        self._fan_out = fan_out
        self._work = work
        self._proactive = proactive
        self._clock = clock
        self._reminder_after = reminder_after
        self._channels = channels
        self._more_groups = more_groups
        self._as_user = as_user
        self._open = 0  # open requests seen by the poll under way
        self._rotation = 0  # where the next poll starts in a list of served groups longer than MAX_GROUPS_PER_POLL

    async def poll_once(self, service: PimService) -> int:
        """Look at every open request in Graph (app-only) and settle what changed outside the bot; then send the
        cards of the requests waiting in the served groups that nobody recorded. How many changed or were found."""
        changed = 0
        self._open = 0
        async with contextlib.aclosing(self._records.ids()) as request_ids:
            async for request_id in request_ids:
                try:
                    if await self._poll_one(service, request_id):
                        changed += 1
                except Exception:  # one bad record must not stop the sweep
                    log.warning("could not poll request %s", request_id, exc_info=True)
        metrics.APPROVALS_PENDING.set(self._open)
        try:
            changed += await self._adopt_unrecorded(service)
        except Exception:  # the next poll looks again
            log.warning("could not look for requests nobody recorded", exc_info=True)
        metrics.APPROVAL_POLL_LAST_SUCCESS.set(time.time())
        return changed

    async def _poll_one(self, service: PimService, request_id: str) -> bool:
        record = await self._records.get(request_id)
        if record is not None and record.spread is not None and not record.is_open:
            return await self._settler.finish_spread(service, record)
        if record is None or not record.is_open:
            return False
        self._open += 1  # still waiting for a decision, as far as the bot knows (the metric of pending requests)
        if self._confirming(record):
            return False
        if await self._work.held(record.claim.mark if record.claim else None, CLAIM_TTL):
            return False
        if record.fan_out is not None and not await self._work.held(record.fan_out, FAN_OUT_TTL):
            return await self._finish_fan_out(service, record)
        created = record.asked_at
        too_old = created is not None and self._clock.now() - created >= APPROVAL_WINDOW
        try:
            status = (await service.request(request_id)).status
        except RequestNotFound:
            if not too_old:
                return False
            status = RequestStatus.CANCELED
        except (RequestRefused, DirectoryError):
            log.warning("could not read request %s while polling", request_id, exc_info=True)
            return False
        if status in _APPROVED:
            return await self._settle_decided(service, record, Decision.APPROVE)
        if status is RequestStatus.DENIED:
            return await self._settle_decided(service, record, Decision.DENY)
        if status is RequestStatus.PENDING_APPROVAL and not too_old:
            if record.claim is not None:  # its process died before its write reached PIM: nothing was decided
                log.info("claim on request %s by %s dropped: its process is gone", request_id, record.claim.by)
                await self._records.drop_claim(request_id, record.claim.mark)
            if created is not None:  # the clock now follows the Date of the Graph call just made
                await self._remind(request_id, self._clock.now() - created)
            return False
        if status is RequestStatus.CANCELED and not too_old:
            kind = CLOSED_CANCELLED
        elif too_old:
            kind = CLOSED_EXPIRED
        else:
            kind = CLOSED_FAILED
        return await self._settler.settle_now(service, request_id, self._settler.closing(kind, status.value))

    def _confirming(self, record: ApprovalRequest) -> bool:
        """A decision whose answer was lost is being followed up (bot.reconcile; bounded, so the mark expires)."""
        at = record.unconfirmed.at if record.unconfirmed else None
        return at is not None and self._clock.now() - at < CONFIRMING_TTL

    async def _settle_decided(self, service: PimService, record: ApprovalRequest, decision: Decision) -> bool:
        """A decision PIM shows and the record does not. When a click's process died with its claim on the record,
        the approval's stages say who decided, as an approver reads them."""
        decided = await self._decider(record) if record.claim is not None else None
        now = self._clock.now()
        if decided is None or decided.decision is not decision:
            outcome = Decided(decision, "", "", now)
        else:
            outcome = Decided(decision, decided.by or "", decided.by_name, decided.at or now, decided.justification)
        return await self._settler.settle_now(service, record.request_id, outcome)

    async def _decider(self, record: ApprovalRequest) -> AlreadyDecided | None:
        """Who decided, from the approval's stages (Graph gives approvals to delegated callers only): read as the
        approver whose claim was left, else as another approver the bot can reach (at most three tried). None when
        nobody's token serves."""
        if self._as_user is None:
            return None
        request_id = record.request_id
        claimer = record.claim.by if record.claim else ""
        candidates = list(dict.fromkeys(u for u in [claimer, *(record.approver_ids or ())] if u))[:3]

        async def read(service: PimService, actor: Actor) -> AlreadyDecided | None:
            return await service.decided_by(actor, request_id)

        for user_id in candidates:
            try:
                found: AlreadyDecided | None = await self._as_user(user_id, read)
            except Exception as e:  # no conversation, no token, Graph refused: the next approver may do
                log.info("could not read the approval of %s as %s: %s", request_id, user_id, type(e).__name__)
                continue
            return found
        return None

    # ---- requests nobody recorded -------------------------------------------------------------------------------

    async def _served_groups(self) -> list[str]:
        """The groups whose waiting requests the poller reads: each group the bot has carried an approval request of,
        or was about to (written before the activation), each group with an approvals channel, and the admin feed's
        groups (FEED_GROUPS and those it discovered). Sorted, each once."""
        groups = list(await self._records.served_group_ids())
        if self._channels is not None:
            groups += await self._channels.group_ids()
        if self._more_groups is not None:
            try:
                groups += await self._more_groups()
            except Exception:  # the other groups are read all the same
                log.warning("could not read the admin feed's groups", exc_info=True)
        unique: dict[str, str] = {}
        for group_id in groups:
            unique.setdefault(group_id.casefold(), group_id)
        return sorted(unique.values(), key=str.casefold)

    def _this_poll(self, groups: list[str]) -> list[str]:
        """At most MAX_GROUPS_PER_POLL of them, the next ones each poll: a bounded cost however many groups."""
        if len(groups) <= MAX_GROUPS_PER_POLL:
            return groups
        start = self._rotation % len(groups)
        self._rotation = start + MAX_GROUPS_PER_POLL
        return (groups[start:] + groups[:start])[:MAX_GROUPS_PER_POLL]

    async def _adopt_unrecorded(self, service: PimService) -> int:
        """Send the cards of the requests waiting in the served groups that have no record. How many."""
        groups = self._this_poll(await self._served_groups())
        if not groups:
            return 0
        found = await service.waiting_in_groups(groups)
        for group_id, error in found.failed.items():
            log.warning("could not list the requests waiting in group %s (%s); next poll", group_id, error)
        if not found.requests:
            return 0
        known = {request_id.casefold() async for request_id in self._records.ids()}
        now = self._clock.now()
        adopted = 0
        for request in found.requests:
            if request.id.casefold() in known or (request.created is not None and now - request.created < ADOPT_AFTER):
                continue
            try:
                adopted += await self._adopt(service, request)
            except Exception:  # the others still get their cards; this one is found again next poll
                log.warning("could not send the cards of request %s", request.id, exc_info=True)
        return adopted

    async def _adopt(self, service: PimService, request: PimRequest) -> bool:
        """Record a waiting request found in PIM (only if nobody recorded it first) and fan it out."""
        outcome = await service.awaiting(request)
        reference = await self._conversations.user_reference(request.principal_id)
        names = await service.display_names([request.principal_id])
        tenant = str((reference or {}).get("tenantId") or "")
        requester = Actor(request.principal_id, tenant, names.get(request.principal_id, ""))
        shown = await self._records.request_card(request.id)  # its turn sent the requester's card, then died
        mark = self._work.start()
        try:
            record = ApprovalRequest.waiting(requester, outcome, shown, self._clock.now(), fan_out=mark, found=True)
            if not await self._records.create(record):
                return False
            log.info(
                "request %s for group %s waits for approval without a record: sending its cards",
                request.id,
                request.group_id,
            )
            await self._fan_out_outside(service, record, outcome)
            return True
        finally:
            self._work.done(mark)

    async def _finish_fan_out(self, service: PimService, record: ApprovalRequest) -> bool:
        """Take over a fan-out whose process is gone (one taker) and finish it; the copies it sent are not sent
        again (only those in flight when it died may be)."""
        mark = self._work.start()
        try:
            taken = replace(record, fan_out=mark)
            if not await self._records.put_over(record, taken):
                return False
            log.info("finishing the fan-out of request %s: its process is gone", record.request_id)
            await self._fan_out_outside(service, taken, _outcome_of(record))
            return True
        finally:
            self._work.done(mark)

    async def _fan_out_outside(self, service: PimService, record: ApprovalRequest, outcome: AwaitingApproval) -> None:
        """A fan-out outside the requester's turn, in a proactive turn: in the requester's 1:1 chat when the bot can
        reach them (they get their waiting card, unless they have one, and are told who was notified), else in any
        chat the bot knows, telling nobody."""
        reference = await self._conversations.user_reference(record.requester_id)
        origin = reference or await self._conversations.some_reference()
        if origin is None:
            log.warning("no conversation to send request %s from; the poller tries again", record.request_id)
            return
        requester = Actor(
            record.requester_id,
            record.tenant_id or str(origin.get("tenantId") or ""),
            record.requester_name,
            time_zone=record.requester_style.zone,
            locale=record.requester_style.locale,
        )
        if reference is not None and not record.cards:
            await self._send_waiting_card(reference, outcome, requester)

        async def run(turn_context: TurnContext) -> None:
            await self._fan_out.run(turn_context, service, requester, outcome, tell=reference is not None)

        await self._proactive.continue_as(origin, run)

    async def _send_waiting_card(self, reference: dict[str, Any], outcome: AwaitingApproval, requester: Actor) -> None:
        """The requester's own card of a request found in PIM, with its Cancel button; kept like the answer to
        `activate`, so that it turns read-only when the request settles."""
        card = activation_card([outcome], requester.time_style)
        activity_id = await self._proactive.send_card(reference, card)
        if not activity_id:
            return
        shown = CardRef(str((reference.get("conversation") or {}).get("id") or ""), activity_id)
        request_id = outcome.request.id
        kept = KeptCard("activation", shown.conversation_id, (request_id,), self._clock.now(), card)
        await self._records.remember_card(activity_id, kept)
        await self._records.update(request_id, lambda r: r.with_card(shown))

    # ---- reminders -------------------------------------------------------------------------------------------------

    async def _remind(self, request_id: str, age: timedelta) -> None:
        """One reminder to the approvers after `reminder_after`; one warning to the requester an hour before expiry."""
        if age >= self._reminder_after:
            record = await self._mark_once(request_id, lambda r: r.reminded_at, lambda r, t: replace(r, reminded_at=t))
            if record is not None:
                await self._remind_approvers(record, age)
        if age >= APPROVAL_WINDOW - EXPIRY_WARNING:
            record = await self._mark_once(
                request_id, lambda r: r.expiry_warned_at, lambda r, t: replace(r, expiry_warned_at=t)
            )
            if record is not None:
                await self._warn_requester(record)

    async def _mark_once(
        self,
        request_id: str,
        seen: Callable[[ApprovalRequest], datetime | None],
        stamp: Callable[[ApprovalRequest, datetime], ApprovalRequest],
    ) -> ApprovalRequest | None:
        """Mark the open record reminded (or warned) once (compare-and-swap: of two instances only one wins); the
        record written, or None if it was marked already, or the request is no longer open."""
        now = self._clock.now()
        wrote: list[ApprovalRequest] = []

        def mark(record: ApprovalRequest) -> ApprovalRequest | None:
            wrote.clear()
            if not record.is_open or seen(record) is not None:
                return None
            marked = stamp(record, now)
            wrote.append(marked)
            return marked

        await self._records.update(request_id, mark)
        return wrote[0] if wrote else None

    async def _remind_approvers(self, record: ApprovalRequest, age: timedelta) -> None:
        view = view_of(record)
        hours = int(age.total_seconds() // 3600)
        waited = f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{int(age.total_seconds() // 60)} minutes"
        said = (
            f"Reminder: {view.requester_name} has been waiting {waited} for a decision on "
            f"{access_label(view.access).lower()} access to {view.group_name} (request {view.request_id}). "
        )
        personal = said + "The approval card above still works; type “pending” to see it again."
        # In the channel post's thread `pending` would not help (it lists one's own requests in a 1:1 chat).
        in_channel = said + "The approval card above still works for the approvers."

        reminded: set[str] = set()
        for copy in await self._records.copies(record.request_id):
            # One reminder per conversation: an approver who also asked for `pending` holds two copies in one chat.
            where = copy.conversation_id or copy.activity_id
            if where in reminded:
                continue
            reminded.add(where)
            try:
                await self._proactive.send_text(copy.reference, in_channel if copy.in_channel else personal)
            except Exception:
                log.warning("could not remind %s of %s", copy.user_id, view.request_id, exc_info=True)

    async def _warn_requester(self, record: ApprovalRequest) -> None:
        reference = await self._conversations.user_reference(record.requester_id)
        if reference is None:
            log.info("no reference for requester %s; not warned about %s", record.requester_id, record.request_id)
            return
        view = view_of(record)
        card = expiry_warning_card(
            Group(record.group_id, view.group_name),
            view.access,
            view.request_id,
            view.expires_at,
            record.requester_style,
            duration=record.duration or None,
            justification=view.justification,
            ticket=Ticket(view.ticket) if view.ticket else None,
        )
        try:
            await self._proactive.send_card(reference, card)
        except Exception:
            log.warning("could not warn the requester of %s", view.request_id, exc_info=True)


def _outcome_of(record: ApprovalRequest) -> AwaitingApproval:
    """The waiting outcome a request record stands for (to finish its fan-out in another turn or process)."""
    created = record.asked_at
    assert created is not None
    group = Group(record.group_id, record.group_name or record.group_id)
    request = PimRequest(
        id=record.request_id,
        status=RequestStatus.PENDING_APPROVAL,
        action="selfActivate",
        group_id=group.id,
        access=record.access,
        principal_id=record.requester_id,
        created=created,
        duration=record.duration,
        justification=record.justification,
        ticket=Ticket(record.ticket) if record.ticket else None,
    )
    expires = record.expires or created + APPROVAL_WINDOW
    return AwaitingApproval(group, record.access, request, record.duration, record.approvers, expires)
