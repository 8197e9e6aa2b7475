"""The approval desk: a waiting request's fan-out, and an approver's click.

Fan-out (`FanOut`): when an activation waits for approval, the approvers are resolved (core: policy primary
approvers, groups expanded, never the requester), each one gets the approval card in their 1:1 chat (a stored
reference, else the bot's app installed for them and that chat opened: bot.approvals.reach), and each card sent is kept
as a copy of the request (`ApprovalCopy`, a key of its own). When the group has an approvals channel
(bot.approvals.channels), the same card is posted there, read-only for everyone but the approvers (`refresh.userIds`),
and kept like the 1:1 copies, so every later update re-renders it too. The requester is told who was notified, who
could not be reached, and about the channel post. The record says the fan-out is owed until it is done, so the poller
finishes one whose process died (the copies already sent are not sent again).

A click (`ApprovalDesk.click`): the actor is the authenticated clicker, never card data. The requester, a forged
request id, or a request the bot already knows to be decided never reach Graph. Who may decide is Graph's answer, not
the approver list taken when the cards went out: the approval is read with the clicker's token (the stage id the PATCH
needs, and `assignedToMe`), so an approver in a nested group or one added later decides if PIM says so, and anyone PIM
does not assign is refused before any write. The decision is claimed on the record (compare-and-swap) before the
PATCH, so exactly one decision per request reaches Graph; everyone else waits for the winner's result and is told
"already approved by … at …". The decision is then settled (bot.approvals.settle): the clicker is answered at once
with the final card, every other copy and the requester follow from a background task.

A claim names its process (bot.liveness): a click meeting the claim of a dead process goes on as if there were none
(the approval, read as the clicker, says whether the dead process's decision reached PIM, and who made it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from bot.approvals.cancel import Cancellations
from bot.approvals.channels import ApprovalChannels, ChannelTarget
from bot.approvals.poller import AsUser, Poller
from bot.approvals.reach import Reach, teams_user_id
from bot.approvals.records import (
    CLOSED_CANCELLED,
    CLOSED_EXPIRED,
    CLOSED_FAILED,
    ApprovalCopy,
    ApprovalRecords,
    ApprovalRequest,
    CardRef,
    Claim,
    Decided,
    Mark,
    Unconfirmed,
)
from bot.approvals.settle import Settled, Settler
from bot.approvals.views import CLOSED_NOTICE, Rendered, already, approval_card_of, decided_notice, view_of
from bot.approvals.work import CLAIM_TTL, Work
from bot.conversations import Conversations
from bot.feed.outcomes import SettledApproval
from bot.liveness import Liveness
from bot.reconcile import DecisionCheck, Reconciler
from bot.transport import ProactiveAdapter, Reference
from bot.transport.activity import reference_of
from bot.transport.wire import SentCard
from cards import explain
from cards.actions import DecisionAction, Verb
from cards.approval import MAX_REFRESH_USERS, approval_card
from cards.approval_channels import channel_post_failed, channel_posted
from cards.wording import approvers_notified, decision_not_recorded, decision_unconfirmed
from core.approvals import Review, may_decide, self_approval
from core.errors import (
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    DirectoryError,
    IdentityMismatch,
    MissingApproverJustification,
    OutcomeUnknown,
    RequestNotFound,
    RequestRefused,
    SignInRequired,
)
from core.models import Actor, Decision
from core.outcomes import AwaitingApproval
from core.ports import Clock
from core.reach import Unreached
from core.service import PimService

__all__ = ["ApprovalDesk", "FanOut"]

log = logging.getLogger(__name__)

LOSER_WAIT_SECONDS = 10.0  # how long a concurrent click waits for the winner's result
RACE_LOST = "Another approver was deciding this request at the same moment. Please try again."


class FanOut:
    """Sends a waiting request's approval card to its approvers and its approvals channel (module doc)."""

    def __init__(
        self,
        records: ApprovalRecords,
        conversations: Conversations,
        reach: Reach,
        channels: ApprovalChannels | None,
        proactive: ProactiveAdapter,
        clock: Clock,
    ) -> None:
        self._records = records
        self._conversations = conversations
        self._reach = reach
        self._channels = channels
        self._proactive = proactive
        self._clock = clock

    async def run(
        self, turn_context: TurnContext, service: PimService, actor: Actor, outcome: AwaitingApproval, *, tell: bool
    ) -> None:
        """Send the approval card to every reachable approver who has no copy yet; tell the requester who was
        notified (in `turn_context`'s conversation; not if `tell` is False). Then the record owes no fan-out."""
        request_id, group = outcome.request.id, outcome.group.display_name
        try:
            resolved, reason_required = await service.approvers_for(outcome.group.id, outcome.access, actor.object_id)
        except (DirectoryError, RequestRefused):
            log.warning("could not resolve the approvers of request %s", request_id, exc_info=True)
            await self._records.update(request_id, lambda r: replace(r, fan_out=None))
            if tell:
                await turn_context.send_activity(
                    MessageFactory.text(
                        f"I could not look up the approvers for {group}, so I could not send them the request in "
                        "Teams. PIM notifies them by e-mail."
                    )
                )
            return
        origin = reference_of(turn_context.activity)
        (references, unreached), names = await asyncio.gather(
            self._reach.approvers(origin, resolved.user_ids, actor.tenant_id),
            service.display_names(list(resolved.user_ids)),
        )
        reachable = [(user_id, references[user_id]) for user_id in resolved.user_ids if user_id in references]
        refresh_ids = tuple(t for t in (teams_user_id(ref) for _, ref in reachable) if t)[:MAX_REFRESH_USERS]
        requested_at = outcome.request.created or self._clock.now()

        def prepare(record: ApprovalRequest) -> ApprovalRequest:
            return replace(
                record,
                approver_ids=tuple(resolved.user_ids),
                approver_names={uid: names.get(uid, "") for uid in resolved.user_ids},
                reason_required=reason_required,
                refresh_ids=refresh_ids,
                requester_style=actor.time_style,
                requested_at=requested_at,
            )

        record = await self._records.update(request_id, prepare)
        if record is None:
            log.error("request %s was not remembered; no approval cards sent", request_id)
            return
        # A fan-out finished for a process that died mid-way: the copies it sent are not sent again.
        earlier = await self._records.copies(request_id)
        have = {c.user_id for c in earlier if not c.in_channel}
        reachable = [(user_id, reference) for user_id, reference in reachable if user_id not in have]
        # Each approver's card in their own zone and locale, as their last message to the bot said.
        styles = await self._conversations.user_styles([user_id for user_id, _ in reachable])
        cards = Rendered(lambda style: approval_card_of(record, style, actionable=True))
        channel = None if any(c.in_channel for c in earlier) else await self._channel_of(outcome.group.id)

        async def send(user_id: str, reference: dict[str, Any]) -> ApprovalCopy | None:
            style = styles[user_id]
            try:
                activity_id = await self._proactive.send_card(reference, cards.of(style))
            except Exception:
                log.warning("could not send the approval card of %s to %s", request_id, user_id, exc_info=True)
                return None
            conversation_id = str((reference.get("conversation") or {}).get("id") or "")
            return await self._keep(request_id, ApprovalCopy(activity_id, reference, conversation_id, user_id, style))

        async def post() -> ApprovalCopy | bool:
            """The channel's copy; False if there is a channel and the post failed; True if there is none."""
            if channel is None:
                return True
            try:
                return await self._post(origin, actor, channel, record)
            except Exception:
                log.warning("could not post request %s to channel %s", request_id, channel.channel_id, exc_info=True)
                return False

        # All at once: one slow approver conversation must not hold up the others.
        *results, posted = await asyncio.gather(*(send(user_id, ref) for user_id, ref in reachable), post())
        sent = [r for r in results if isinstance(r, ApprovalCopy)]
        for (user_id, _), r in zip(reachable, results, strict=True):
            if r is None:
                unreached[user_id] = Unreached.UNDELIVERED
        await self._records.update(request_id, lambda r: replace(r, unreachable=tuple(unreached), fan_out=None))
        if not tell:
            return
        told = _notified_text(group, sent, unreached, names)
        if posted is not True:
            told = f"{told} {channel_posted() if posted else channel_post_failed()}"
        await turn_context.send_activity(MessageFactory.text(told))

    async def _keep(self, request_id: str, copy: ApprovalCopy) -> ApprovalCopy:
        try:
            await self._records.add_copy(request_id, copy)
        except Exception:  # sent all the same; this copy will not follow the decision
            log.warning("could not keep the approval card %s of %s", copy.activity_id, request_id, exc_info=True)
        return copy

    async def _channel_of(self, group_id: str) -> ChannelTarget | None:
        if self._channels is None:
            return None
        try:
            return await self._channels.target(group_id)
        except Exception:  # the 1:1 cards still go out
            log.warning("could not read the approvals channel of group %s", group_id, exc_info=True)
            return None

    async def _post(
        self, origin: Reference, actor: Actor, target: ChannelTarget, record: ApprovalRequest
    ) -> ApprovalCopy:
        """A new post in the channel (not a reply in some thread), kept as a copy of the request. It is read-only for
        everyone; the approvers' clients refresh it into their own view."""
        card = approval_card(view_of(record), None, actionable=False, refresh_user_ids=record.refresh_ids, channel=True)
        tenant_id = target.tenant_id or actor.tenant_id
        service_url = target.service_url or str(origin.get("serviceUrl") or "")
        bot = origin.get("bot") or {}
        post = await self._proactive.post_to_channel(target.channel_id, tenant_id, service_url, bot, card=card)
        conversation_id = str((post.reference.get("conversation") or {}).get("id") or "")
        copy = ApprovalCopy(post.activity_id, post.reference, conversation_id, channel_id=target.channel_id)
        return await self._keep(record.request_id, copy)


def _notified_text(
    group: str, sent: Sequence[ApprovalCopy], unreached: dict[str, Unreached], names: dict[str, str]
) -> str:
    def name(user_id: str) -> str:
        return names.get(user_id) or "an approver"

    why: dict[Unreached, list[str]] = {}
    for user_id, reason in unreached.items():
        why.setdefault(reason, []).append(name(user_id))
    return approvers_notified(group, [name(c.user_id) for c in sent], why)


def _clicked(turn_context: TurnContext, invoke: bool) -> str:
    """The copy an invoke's answer replaces (the clicked card's activity id); "" for an Action.Submit."""
    return str(turn_context.activity.reply_to_id or "") if invoke else ""


class ApprovalDesk:
    """The approvals: fan-out and clicks here, settling in bot.approvals.settle, the poller in bot.approvals.poller,
    the requester's `cancel` in bot.approvals.cancel. `liveness`: this process's owner id, and whether another holder
    lives. `more_groups`: groups besides the bot's own whose waiting requests the poller adopts (the admin feed's).
    `as_user(user_id, work)` runs `work(service, actor)` with a user's delegated token outside their turn.
    `fault(point)` is the crash tests' hook ("activated", "claimed", "decided", "spread")."""

    def __init__(
        self,
        records: ApprovalRecords,
        conversations: Conversations,
        proactive: ProactiveAdapter,
        clock: Clock,
        *,
        liveness: Liveness,
        reach: Reach,
        reminder_after: timedelta = timedelta(hours=1),
        channels: ApprovalChannels | None = None,
        on_settled: Callable[[SettledApproval], Awaitable[None]] | None = None,
        reconciler: Reconciler | None = None,
        more_groups: Callable[[], Awaitable[Sequence[str]]] | None = None,
        as_user: AsUser | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self._records = records
        self._conversations = conversations
        self._proactive = proactive
        self._clock = clock
        self._reconcile = reconciler  # decisions whose answer was lost are followed up (bot.reconcile)
        self._fault = fault or (lambda point: None)
        self._work = Work(liveness, clock)
        self._settler = Settler(
            records, conversations, proactive, clock, self._work, on_settled=on_settled, fault=fault
        )
        self._fan_out = FanOut(records, conversations, reach, channels, proactive, clock)
        self._cancel = Cancellations(records, self._settler, clock)
        self.poller = Poller(
            records,
            conversations,
            self._settler,
            self._fan_out,
            self._work,
            proactive,
            clock,
            reminder_after=reminder_after,
            channels=channels,
            more_groups=more_groups,
            as_user=as_user,
        )

    # ---- a request waits -----------------------------------------------------------------------------------------

    async def waiting(
        self,
        turn_context: TurnContext,
        service: PimService,
        actor: Actor,
        outcome: AwaitingApproval,
        card: tuple[str, str] | None,
    ) -> None:
        """A request the actor has just made waits for approval: record it, its fan-out owed by this process (so that
        the poller finishes it if this process dies), and send the approval cards. When the poller recorded it first
        (it found the request in PIM), the cards went out from there; only the requester's card is added."""
        self._fault("activated")
        mark = self._work.start()
        try:
            shown = CardRef(*card) if card else None
            record = ApprovalRequest.waiting(actor, outcome, shown, self._clock.now(), fan_out=mark, found=False)
            if not await self._records.create(record):
                log.info("request %s was recorded first by the approval poller", outcome.request.id)
                if shown is not None:
                    await self._records.update(outcome.request.id, lambda r: r.with_card(shown))
                return
            await self._fan_out.run(turn_context, service, actor, outcome, tell=True)
        finally:
            self._work.done(mark)

    async def knows(self, request_id: str) -> bool:
        """Whether the bot keeps a record of the request (its approvers then have their cards)."""
        return await self._records.get(request_id) is not None

    # ---- clicks --------------------------------------------------------------------------------------------------

    async def click(
        self, turn_context: TurnContext, service: PimService, actor: Actor, action: DecisionAction, *, invoke: bool
    ) -> dict[str, Any] | str:
        """The answer to an approve/deny/refresh click: a card (replaces the clicker's copy), or a text."""
        if action.verb is Verb.CANCEL:
            return await self._cancel.cancel_request(service, actor, action.request_id)
        if action.verb is Verb.KEEP:
            return await self._cancel.keep(service, actor, action.request_id)
        # A click that waited for another approver whose claim then ended without a decision (their write was
        # refused, their process died) is tried once more, from the start: the approval then says what became of it.
        for _ in range(2):
            answer = await self._decide(turn_context, service, actor, action, invoke=invoke)
            if answer is not None:
                return answer
        record = await self._records.get(action.request_id)
        if record is None:
            return explain(RequestNotFound(action.request_id), actor.time_style)
        return approval_card_of(record, actor.time_style, actionable=True, notice=RACE_LOST)

    async def _decide(
        self, turn_context: TurnContext, service: PimService, actor: Actor, action: DecisionAction, *, invoke: bool
    ) -> dict[str, Any] | str | None:
        """One try of a decision: the answer, or None when another approver's claim ended without a decision while
        this click waited for it."""
        tz = actor.time_style
        record = await self._records.get(action.request_id)
        if record is None or record.approver_ids is None:
            log.info("click by %s on unknown request %r", actor.object_id, action.request_id)
            return explain(RequestNotFound(action.request_id), tz)
        if action.verb is Verb.REFRESH:
            # The buttons are shown to the approvers the bot knows; whether a click may decide is Graph's answer.
            listed = may_decide(actor.object_id, record.requester_id, record.approver_ids) is None
            return approval_card_of(record, tz, actionable=listed)
        own = self_approval(actor.object_id, record.requester_id)
        if own is not None:
            log.info("refused a decision on %s by its requester", record.request_id)
            notice = explain(own, tz, group_name=record.group_name)
            return approval_card_of(record, tz, actionable=False, notice=notice)
        if record.decision is not None:
            return approval_card_of(record, tz, actionable=False, notice=decided_notice(record, actor, tz))
        if record.closed is not None:
            return approval_card_of(record, tz, actionable=False, notice=CLOSED_NOTICE)
        decision = Decision.APPROVE if action.verb is Verb.APPROVE else Decision.DENY
        if record.reason_required and not action.reason:
            notice = explain(MissingApproverJustification(decision), tz, group_name=record.group_name)
            return approval_card_of(record, tz, actionable=True, notice=notice)
        if await self._work.held(record.claim.mark if record.claim else None, CLAIM_TTL):
            return await self._after_race(action.request_id, actor)

        try:
            verdict = await service.review(actor, record.request_id, decision, action.reason, record.reason_required)
        except (RequestRefused, DirectoryError) as e:
            return await self._refused_by_graph(turn_context, service, record, e, actor, invoke=invoke)
        if not isinstance(verdict, Review):
            return await self._refused_by_graph(turn_context, service, record, verdict, actor, invoke=invoke)

        mark = self._work.start()
        try:
            if not await self._claim(record, actor, decision, mark):
                return await self._after_race(action.request_id, actor)
            self._fault("claimed")
            try:
                await service.submit_review(actor, verdict)
            except OutcomeUnknown:
                return await self._unconfirmed(turn_context, actor, verdict, action.reason or "")
            except (RequestRefused, DirectoryError) as e:
                return await self._refused_by_graph(
                    turn_context, service, record, e, actor, invoke=invoke, release=mark
                )
            except BaseException:
                await self._records.drop_claim(record.request_id, mark)
                raise
            self._fault("decided")
            log.info("%s %s request %s", actor.object_id, decision.value, record.request_id)
            decided = Decided(decision, actor.object_id, actor.name, self._clock.now(), action.reason or "")
            settled = await self._settler.settle(
                record.request_id, decided, skip=_clicked(turn_context, invoke), plain_answer=True, claim=mark
            )
        finally:
            self._work.done(mark)
        assert settled.record is not None
        self._settler.spread_later(service, settled)
        return approval_card_of(settled.record, tz, actionable=False)

    async def _claim(self, seen: ApprovalRequest, actor: Actor, decision: Decision, mark: Mark) -> bool:
        """Put the claim on the record (compare-and-swap), unless someone else claimed, decided or closed it since
        `seen` (whose claim, if any, was judged over)."""
        claim = Claim(mark, actor.object_id, actor.name, decision)

        def take(record: ApprovalRequest) -> ApprovalRequest | None:
            return replace(record, claim=claim) if record.is_open and record.claim == seen.claim else None

        now = await self._records.update(seen.request_id, take)
        if now is None or now.claim != claim:
            log.info("claim on request %s by %s lost a race", seen.request_id, actor.object_id)
            return False
        return True

    async def _after_race(self, request_id: str, actor: Actor) -> dict[str, Any] | str | None:
        """Someone else is deciding: wait for their result, then answer with it; None when their claim ends without a
        decision. Still deciding after LOSER_WAIT_SECONDS: the clicker is asked to try again."""
        tz = actor.time_style
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOSER_WAIT_SECONDS
        while True:
            record = await self._records.get(request_id)
            if record is None:
                return explain(RequestNotFound(request_id), tz)
            if record.decision is not None:
                return approval_card_of(record, tz, actionable=False, notice=decided_notice(record, actor, tz))
            if record.closed is not None:
                return approval_card_of(record, tz, actionable=False, notice=CLOSED_NOTICE)
            if not await self._work.held(record.claim.mark if record.claim else None, CLAIM_TTL):
                return None
            if loop.time() >= deadline:
                return approval_card_of(record, tz, actionable=True, notice=RACE_LOST)
            await asyncio.sleep(0.05)

    async def _refused_by_graph(
        self,
        turn_context: TurnContext,
        service: PimService,
        record: ApprovalRequest,
        error: RequestRefused | DirectoryError,
        actor: Actor,
        *,
        invoke: bool,
        release: Mark | None = None,
    ) -> dict[str, Any]:
        """Graph (or the rules on what Graph returned) refused. A decision made elsewhere is recorded and spread; one
        that turns out to be the clicker's own (its first answer was lost) is told as theirs. `release`: this click's
        claim, dropped when nothing was decided."""
        request_id, tz = record.request_id, actor.time_style
        if isinstance(error, AlreadyDecided) and error.decision is not None:
            settled = await self._decided_in_pim(record, error, skip=_clicked(turn_context, invoke), claim=release)
            self._settler.spread_later(service, settled)
            final = settled.record or record
            if final.decision is not None:
                return approval_card_of(final, tz, actionable=False, notice=decided_notice(final, actor, tz))
        if isinstance(error, ApprovalClosed | ApprovalExpired):
            # PIM closed it (the requester cancelled at the same moment, say) before the bot heard: recorded now, with
            # this click's claim dropped in the same write (no other click finds it open and unclaimed meanwhile), so
            # this answer and every copy show the request as it is, not as waiting.
            if isinstance(error, ApprovalExpired):
                kind, status = CLOSED_EXPIRED, "Expired"
            else:
                kind = CLOSED_CANCELLED if error.canceled else CLOSED_FAILED
                status = error.status or ("Canceled" if error.canceled else "")
            closing = self._settler.closing(kind, status)
            self._settler.spread_later(service, await self._settler.settle(request_id, closing, claim=release))
        elif release is not None:
            await self._records.drop_claim(request_id, release)
        fresh = await self._records.get(request_id) or record
        actionable = isinstance(error, MissingApproverJustification | DirectoryError)
        notice = explain(error, tz, group_name=fresh.group_name, access=fresh.access)
        return approval_card_of(fresh, tz, actionable=actionable, notice=notice)

    async def _decided_in_pim(
        self, record: ApprovalRequest, decided: AlreadyDecided, *, skip: str = "", claim: Mark | None = None
    ) -> Settled:
        """Record a decision PIM shows (made elsewhere, or by a click whose answer was lost), once; `claim`: this
        click's, dropped either way."""
        assert decided.decision is not None
        by_name = decided.by_name or record.approver_names.get(decided.by or "", "")
        at = decided.at or self._clock.now()
        outcome = Decided(decided.decision, decided.by or "", by_name, at, decided.justification)
        return await self._settler.settle(record.request_id, outcome, skip=skip, claim=claim)

    async def _unconfirmed(
        self, turn_context: TurnContext, actor: Actor, review: Review, reason: str
    ) -> dict[str, Any]:
        """The decision was sent but its answer was lost and could not be read back: the approver is told so, the
        request is marked (the poller leaves its outcome to the follow-up, which knows whose decision it was) and
        followed up (bot.reconcile). The buttons stay: a second click is answered from PIM's own state."""
        request_id = review.request_id
        reference = await self._conversations.user_reference(actor.object_id) or reference_of(turn_context.activity)
        mark = Unconfirmed(actor.object_id, self._clock.now())
        record = await self._records.update(request_id, lambda r: replace(r, claim=None, unconfirmed=mark))
        assert record is not None
        if self._reconcile is not None:
            await self._reconcile.remember_decision(actor, reference, request_id, review.decision, reason)
        log.info("decision of %s on %s sent, outcome unknown", actor.object_id, request_id)
        notice = decision_unconfirmed(review.decision)
        return approval_card_of(record, actor.time_style, actionable=True, notice=notice)

    async def confirm_decision(
        self,
        turn_context: TurnContext,
        service: PimService,
        actor: Actor,
        check: DecisionCheck,
        *,
        settled: bool,
        final: bool,
    ) -> bool:
        """One try of following up a decision whose answer was lost (bot.reconcile), in the approver's conversation:
        the approval is read as them. Once PIM shows it decided, the decision is recorded and spread like a click's,
        and the approver is told whose it was; once it shows the stage still open (`settled`), that it never arrived.
        False: try again later."""
        record = await self._records.get(check.request_id)
        if record is None:
            return True
        tz = actor.time_style
        text = ""
        try:
            if record.decision is not None:
                verdict: Review | RequestRefused = already(record)
            else:
                verdict = await service.review(actor, check.request_id, check.decision, check.reason, False)
        except (SignInRequired, IdentityMismatch, DirectoryError) as e:
            if not final:
                log.info("decision on %s still unconfirmed: %s", check.request_id, e)
                return False
            text = explain(OutcomeUnknown(str(e)), tz)
        except RequestRefused as e:
            verdict = e
        if not text and isinstance(verdict, Review):
            if not settled:
                return False
            text = decision_not_recorded(check.decision, record.group_name)
        elif not text and isinstance(verdict, AlreadyDecided) and verdict.decision is not None:
            decided = record
            if record.decision is None:
                outcome = await self._decided_in_pim(record, verdict)
                decided = outcome.record or record
                if outcome.recorded:
                    await self._settler.spread(service, decided)
            text = decided_notice(decided, actor, tz) if decided.decision else explain(verdict, tz)
        elif not text:
            assert isinstance(verdict, RequestRefused)
            text = explain(verdict, tz, group_name=record.group_name, access=record.access)
        await self._records.update(check.request_id, lambda r: replace(r, unconfirmed=None) if r.unconfirmed else None)
        await turn_context.send_activity(MessageFactory.text(text))
        return True

    # ---- an approver's open requests -------------------------------------------------------------------------------

    async def show_pending(self, turn_context: TurnContext, actor: Actor) -> int:
        """Send the actor the approval card of every open request they may decide, oldest first; how many. Each card
        is kept as a copy of its request like the fan-out's, so it follows the decision too."""
        me = actor.object_id.lower()
        shown = 0
        for record in await self._records.open_requests():
            approvers = [a.lower() for a in record.approver_ids or ()]
            if me not in approvers or record.requester_id.lower() == me:
                continue
            card = approval_card_of(record, actor.time_style, actionable=True)
            activity_id = await self._send_card(turn_context, card)
            shown += 1
            if activity_id:
                await self._keep_copy(turn_context, actor, record.request_id, activity_id)
        return shown

    @staticmethod
    async def _send_card(turn_context: TurnContext, card: dict[str, Any]) -> str:
        response = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
        )
        return str(getattr(response, "id", "") or "")

    async def _keep_copy(self, turn_context: TurnContext, actor: Actor, request_id: str, activity_id: str) -> None:
        """Keep a card just sent in this turn as a copy of the request. Settled in the meantime: updated at once (the
        spread listed the copies before this one was kept)."""
        reference = reference_of(turn_context.activity)
        conversation_id = str((reference.get("conversation") or {}).get("id") or "")
        copy = ApprovalCopy(activity_id, reference, conversation_id, actor.object_id, actor.time_style)
        await self._records.add_copy(request_id, copy)
        record = await self._records.get(request_id)
        if record is not None and not record.is_open:
            card = approval_card_of(record, actor.time_style, actionable=False)
            await self._proactive.update_card(reference, activity_id, card)

    # ---- the requester cancels; the poller; shutdown ----------------------------------------------------------------

    async def ask_cancel(self, turn_context: TurnContext, service: PimService, actor: Actor, group: str) -> str | None:
        """A typed `cancel <group>` (bot.approvals.cancel)."""
        return await self._cancel.ask(turn_context, service, actor, group)

    async def poll_once(self, service: PimService) -> int:
        """One sweep of the poller (bot.approvals.poller)."""
        return await self.poller.poll_once(service)

    async def drain(self, within: float) -> None:
        """Let the spreads still running after clicks finish, for up to `within` seconds (bot.approvals.settle)."""
        await self._settler.drain(within)
