"""Inline approvals (issue 4): approval cards to the approvers, decisions made as the clicking approver, every copy
kept true.

Fan-out: when an activation waits for approval, the approvers are resolved (core: policy primary approvers, groups
expanded, never the requester), each one gets the approval card proactively in their 1:1 chat (a stored reference
`ref/user/{oid}`, else the bot's app installed for them through Graph and that chat opened: bot.reach), and the sent
cards are kept with the request record (`request/{id}`). When the group has an approvals channel
(bot.approval_channels), the same card is posted there as a new post, read-only for everyone but the approvers
(`refresh.userIds`), and kept with the record like the 1:1 copies (`"channel": true`), so every later update re-renders
it too. The requester is told who was notified, who could not be reached, and about the channel post.

A click: the actor is the authenticated clicker, never card data. The requester, a forged request id, or a request
the bot already knows to be decided never reach Graph. Who may decide is Graph's answer, not the approver list taken
when the cards went out (that list only says who gets a card and the buttons): the approval is read with the clicker's
token (it gives the stage id the PATCH needs, and `assignedToMe`), so an approver in a nested group or one added to
the approver group later decides if PIM says so, and anyone PIM does not assign is refused before any write (or by
the PATCH's 403 when the read did not say). The decision is claimed with an ETag compare-and-swap on the request record
before the PATCH, so exactly one decision per request reaches Graph; everyone else waits for the winner's result and
is told "already approved by … at …".

After a decision the clicker is answered at once with the final card; every other copy (updated all at once, within
each conversation's send limits: bot.sendlimit) and the requester follow from a background task. The record says what
is still owed (`spread`) until it is done, so a process that stops mid-way (`drain` gives running updates a few seconds
at shutdown) leaves it to the approval poller, which finishes a spread whose process is gone (or no longer runs it)
at once, and any spread owed longer than SPREAD_GRACE.

Work a process holds on a record (the claim, the fan-out of a new request's cards) names the process (bot.liveness):
a claim or fan-out whose process is gone is recognised at once, not after a timeout. A click meeting a dead claim
goes on as if there were none (the approval, read as the clicker, says whether the dead process's decision reached
PIM, and who made it); the poller finishes a fan-out a dead process left, skipping the copies already sent.

Requests nobody recorded (issue 10, point 4): each poll also lists, app-only, the requests waiting for approval in
the groups whose approvals the bot serves (`_served_groups`), 20 groups a `$batch`, and gives each one without a
record the normal fan-out, its requester told with their own waiting card when the bot can reach them: a request made
in the portal, or one whose bot process died between the activation and its record. The record is created with a
compare-and-swap (create-only), so of two processes, or of the poller and the turn that made the request, exactly one
sends the cards; requests younger than ADOPT_AFTER are left to the turn that is recording them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ConversationParameters

from bot.approval_channels import ApprovalChannels, ChannelTarget
from bot.liveness import Liveness
from bot.reach import Reach, teams_user_id
from bot.reconcile import RETRY_AFTER, DecisionCheck, Reconciler
from bot.records import Records
from bot.storage import StorageConflict
from bot.transport.activity import reference_of
from bot.transport.after_answer import after_answer
from bot.transport.proactive import continue_raising, update_card
from bot.transport.wire import SentCard
from cards import activation_card, explain, format_time
from cards.actions import DecisionAction, Verb
from cards.activation import settled_activation_card
from cards.approval import MAX_REFRESH_USERS, ApprovalView, approval_card, decision_line, expiry_warning_card
from cards.approval_channels import channel_post_failed, channel_posted
from cards.cancel import WaitingRequest, cancel_question_card
from cards.times import Tz
from cards.wording import (
    access_label,
    approvers_notified,
    cancel_came_too_late,
    decided_by_you,
    decision_not_recorded,
    decision_unconfirmed,
)
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
from core.models import Access, Actor, Decision, Group, PimRequest, RequestStatus, Ticket, TimeStyle
from core.names import normalise
from core.outcomes import AwaitingApproval
from core.ports import Clock
from core.reach import Unreached
from core.service import APPROVAL_WINDOW, PimService

__all__ = ["ApprovalDesk"]

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=2)  # a claim older than this belongs to a decision that never finished, live or not
FAN_OUT_TTL = timedelta(minutes=2)  # likewise for a fan-out whose process still lives
ADOPT_AFTER = timedelta(seconds=15)  # a request found in PIM this young may still be recorded by the turn that made it
CONFIRMING_TTL = sum(RETRY_AFTER, timedelta(minutes=5))  # a follow-up of a lost decision answer ends before this
MAX_GROUPS_PER_POLL = 400  # groups read for unrecorded requests per poll (20 $batches); more are read in turns
LOSER_WAIT_SECONDS = 10.0  # how long a concurrent click waits for the winner's result
EXPIRY_WARNING = timedelta(hours=1)  # the requester is told this long before an unapproved request expires
RACE_LOST = "Another approver was deciding this request at the same moment. Please try again."
SPREAD = "spread"  # on a request record: the copies are still owed the outcome, by the process the mark names
SPREAD_GRACE = timedelta(minutes=2)  # an owed spread older than this is taken over even if its process still lives
CLOSED_NOTICE = "This request is closed; nothing was changed."
TOLD = "told"  # on a request record: the requester was told its outcome
FAN_OUT = "fanOut"  # on a request record: the fan-out of its cards is owed, by the process the mark names


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def view_of(record: dict[str, Any]) -> ApprovalView:
    decided = record.get("decision") or {}
    created = _parse_time(record.get("requestedAt") or record.get("createdAt"))
    assert created is not None
    return ApprovalView(
        request_id=record["requestId"],
        requester_name=record.get("requesterName") or "Someone",
        requester_id=str(record.get("requesterId") or ""),
        group_name=record.get("groupName") or record.get("groupId") or "",
        access=Access(record.get("access") or "member"),
        duration=timedelta(minutes=int(record.get("durationMinutes") or 0)),
        requested_at=created,
        expires_at=_parse_time(record.get("expires")) or created + timedelta(hours=24),
        justification=record.get("justification"),
        ticket=record.get("ticket"),
        reason_required=bool(record.get("reasonRequired")),
        decision=Decision(decided["decision"]) if decided else None,
        decided_by_name=decided.get("byName", ""),
        decided_at=_parse_time(decided.get("at")),
        decided_reason=decided.get("reason", ""),
        closed=_closed_line(record),
        active_until=_parse_time(record.get("activeUntil")),
    )


CLOSED_CANCELLED = "cancelled"
CLOSED_EXPIRED = "expired"
CLOSED_FAILED = "failed"


def _closed_line(record: dict[str, Any], tz: Tz = None) -> str:
    """The state line of a request closed without a decision (empty if it was not)."""
    closed = record.get("closed") or {}
    kind = closed.get("kind")
    if not kind:
        return ""
    at = _parse_time(closed.get("at"))
    when = f" at {format_time(at, tz)}" if at is not None else ""
    if kind == CLOSED_CANCELLED:
        return f"Cancelled by the requester{when}."
    if kind == CLOSED_EXPIRED:
        return "Expired: nobody decided within 24 hours."
    return f"Closed by PIM{when} ({closed.get('status') or 'failed'}); no decision is needed any more."


def _closed_text(record: dict[str, Any]) -> str:
    kind = (record.get("closed") or {}).get("kind")
    if kind == CLOSED_CANCELLED:
        return "was cancelled; the approvers' cards say so."
    if kind == CLOSED_EXPIRED:
        return "expired: nobody decided within 24 hours. Send it again if you still need the access."
    return "was closed by PIM without a decision. Send it again if you still need the access."


def is_open(record: dict[str, Any] | None) -> bool:
    """A request record that still waits for a decision."""
    return (
        record is not None
        and record.get("status") == RequestStatus.PENDING_APPROVAL.value
        and not record.get("decision")
        and not record.get("closed")
    )


_APPROVED = {
    RequestStatus.PROVISIONED,
    RequestStatus.GRANTED,
    RequestStatus.PENDING_PROVISIONING,
    RequestStatus.PENDING_SCHEDULE_CREATION,
    RequestStatus.SCHEDULE_CREATED,
}


def _unmarked(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("unconfirmed", None)
    return record


def _decided_notice(record: dict[str, Any], actor: Actor, tz: Tz) -> str:
    """Who decided: "You approved …" when it was the clicker (also after a lost answer), else "already … by …"."""
    decided = record["decision"]
    if str(decided.get("by") or "").casefold() != actor.object_id.casefold():
        return explain(_already(record), tz)
    view = view_of(record)
    return decided_by_you(Decision(decided["decision"]), view.group_name, view.requester_name)


def _clicked(turn_context: TurnContext, invoke: bool) -> str | None:
    """The copy an invoke's answer replaces (the clicked card's activity id); None for an Action.Submit."""
    return turn_context.activity.reply_to_id if invoke else None


def _with_card(conversation_id: str, activity_id: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A change that adds one of the requester's cards to a request record."""

    def add(record: dict[str, Any]) -> dict[str, Any]:
        record["cards"] = list(record.get("cards") or []) + [
            {"conversationId": conversation_id, "activityId": activity_id}
        ]
        return record

    return add


def _outcome_of(record: Mapping[str, Any]) -> AwaitingApproval:
    """The waiting outcome a request record stands for (to finish its fan-out in another turn or process)."""
    created = _parse_time(record.get("requestedAt") or record.get("createdAt"))
    assert created is not None
    access = Access(record.get("access") or "member")
    group = Group(str(record.get("groupId") or ""), str(record.get("groupName") or record.get("groupId") or ""))
    duration = timedelta(minutes=int(record.get("durationMinutes") or 0))
    ticket = record.get("ticket")
    request = PimRequest(
        id=str(record["requestId"]),
        status=RequestStatus.PENDING_APPROVAL,
        action="selfActivate",
        group_id=group.id,
        access=access,
        principal_id=str(record.get("requesterId") or ""),
        created=created,
        duration=duration,
        justification=record.get("justification"),
        ticket=Ticket(str(ticket)) if ticket else None,
    )
    expires = _parse_time(record.get("expires")) or created + APPROVAL_WINDOW
    return AwaitingApproval(group, access, request, duration, tuple(record.get("approvers") or ()), expires)


class _Rendered:
    """One card per way of writing times: the copies of a request differ only in their readers' zones and locales."""

    def __init__(self, render: Callable[[TimeStyle], dict[str, Any]]) -> None:
        self._render = render
        self._cards: dict[TimeStyle, dict[str, Any]] = {}

    def of(self, style: TimeStyle) -> dict[str, Any]:
        if style not in self._cards:
            self._cards[style] = self._render(style)
        return self._cards[style]


def _style_fields(style: TimeStyle) -> dict[str, str]:
    """How a copy's reader reads times, kept with the copy (absent: UTC, the default style; a channel copy)."""
    return {k: v for k, v in (("timeZone", style.zone), ("locale", style.locale)) if v}


def _copy_style(copy: dict[str, Any]) -> TimeStyle:
    return TimeStyle(copy.get("timeZone"), copy.get("locale"))


def _requester_style(record: dict[str, Any]) -> TimeStyle:
    """How the requester reads times, as their request's record keeps it."""
    return TimeStyle(record.get("requesterTimeZone"), record.get("requesterLocale"))


def _waiting(view: ApprovalView) -> WaitingRequest:
    return WaitingRequest(
        view.request_id, view.group_name, view.access, view.duration or None, view.requested_at, view.expires_at
    )


def _waiting_in_pim(group: Group, request: PimRequest) -> WaitingRequest:
    expires = request.created + APPROVAL_WINDOW if request.created is not None else None
    return WaitingRequest(request.id, group.display_name, request.access, request.duration, request.created, expires)


def _already(record: dict[str, Any]) -> AlreadyDecided:
    d = record["decision"]
    return AlreadyDecided(Decision(d["decision"]), d.get("by"), _parse_time(d.get("at")), by_name=d.get("byName", ""))


AsUser = Callable[[Any, str, Callable[[PimService, Actor], Awaitable[Any]]], Awaitable[Any]]


class ApprovalDesk:
    """`liveness`: this process's owner id, and whether another holder lives. `more_groups`: groups besides the
    bot's own whose waiting requests the poller adopts (the admin feed's). `as_user(adapter, user_id, work)` runs
    `work(service, actor)` with a user's delegated token outside their turn (to read who decided an approval).
    `fault(point)` is the crash tests' hook ("activated", "claimed", "decided")."""

    def __init__(
        self,
        records: Records,
        clock: Clock,
        app_id: str = "",
        *,
        liveness: Liveness,
        reminder_after: timedelta = timedelta(hours=1),
        channels: ApprovalChannels | None = None,
        on_settled: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        reconciler: Reconciler | None = None,
        reach: Reach | None = None,
        more_groups: Callable[[], Awaitable[Sequence[str]]] | None = None,
        as_user: AsUser | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self._on_settled = on_settled  # the admin feed (bot.feed) hears every decided or closed request
        self._reconcile = reconciler  # decisions whose answer was lost are followed up (bot.reconcile)
        self._records = records
        self._reach = reach or Reach(records, None, app_id)
        self._channels = channels
        self._reminder_after = reminder_after
        self._clock = clock
        self._app_id = app_id
        self._background: set[asyncio.Task[None]] = set()  # spreads after clicks (`drain` waits for them)
        self._live = liveness
        self._more_groups = more_groups
        self._as_user = as_user
        self._fault = fault or (lambda point: None)
        self._working: set[str] = set()  # tokens of the claims and fan-outs this process is carrying out
        self._rotation = 0  # where the next poll starts in a list of served groups longer than MAX_GROUPS_PER_POLL

    # ---- fan-out -----------------------------------------------------------------------------------------------

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
        mark = self._mark()
        self._working.add(mark["token"])
        try:
            record = await self._records.remember_pending(actor, outcome, card, self._clock.now(), fan_out=mark)
            if record is None:
                log.info("request %s was recorded first by the approval poller", outcome.request.id)
                if card is not None:
                    await self._records.update_pending(outcome.request.id, _with_card(card[0], card[1]))
                return
            await self.fan_out(turn_context, service, actor, outcome)
        finally:
            self._working.discard(mark["token"])

    async def fan_out(
        self,
        turn_context: TurnContext,
        service: PimService,
        actor: Actor,
        outcome: AwaitingApproval,
        *,
        tell: bool = True,
    ) -> None:
        """Send the approval card to every reachable approver who has no copy yet; tell the requester who was
        notified (in `turn_context`'s conversation; not if `tell` is False). Then the record owes no fan-out."""
        request_id = outcome.request.id
        group = outcome.group.display_name
        try:
            resolved, reason_required = await service.approvers_for(outcome.group.id, outcome.access, actor.object_id)
        except (DirectoryError, RequestRefused):
            log.warning("could not resolve the approvers of request %s", request_id, exc_info=True)
            await self._fan_out_done(request_id)
            if tell:
                await turn_context.send_activity(
                    MessageFactory.text(
                        f"I could not look up the approvers for {group}, so I could not send them the request in "
                        "Teams. PIM notifies them by e-mail."
                    )
                )
            return
        (references, unreached), names = await asyncio.gather(
            self._reach.approvers(turn_context, resolved.user_ids, actor.tenant_id),
            service.display_names(list(resolved.user_ids)),
        )
        reachable = [(user_id, references[user_id]) for user_id in resolved.user_ids if user_id in references]
        refresh_ids = [t for t in (teams_user_id(ref) for _, ref in reachable) if t][:MAX_REFRESH_USERS]

        def prepare(record: dict[str, Any]) -> dict[str, Any]:
            record.update(
                approverIds=list(resolved.user_ids),
                approverNames={uid: names.get(uid, "") for uid in resolved.user_ids},
                reasonRequired=reason_required,
                refreshIds=refresh_ids,
                requesterTimeZone=actor.time_zone,
                requesterLocale=actor.locale,
                requestedAt=(outcome.request.created or self._clock.now()).isoformat(),
            )
            record.setdefault("approverCards", [])
            return record

        record = await self._records.update_pending(request_id, prepare)
        if record is None:
            log.error("request %s was not remembered; no approval cards sent", request_id)
            return
        # A fan-out finished for a process that died mid-way: the copies it sent are not sent again.
        earlier = record.get("approverCards") or []
        have = {str(c.get("userId") or "") for c in earlier if not c.get("channel")}
        reachable = [(user_id, reference) for user_id, reference in reachable if user_id not in have]
        # Each approver's card in their own zone and locale, as their last message to the bot said.
        styles = await self._records.user_styles([user_id for user_id, _ in reachable])
        cards = _Rendered(
            lambda style: approval_card(view_of(record), style, actionable=True, refresh_user_ids=refresh_ids)
        )
        posted = any(c.get("channel") for c in earlier)
        channel_target = None if posted else await self._channel_of(outcome.group.id)

        async def send(user_id: str, reference: dict[str, Any]) -> dict[str, Any] | None:
            style = styles[user_id]
            try:
                activity_id = await self._send(turn_context, reference, cards.of(style))
            except Exception:
                log.warning("could not send the approval card of %s to %s", request_id, user_id, exc_info=True)
                return None
            conversation_id = str((reference.get("conversation") or {}).get("id") or "")
            return {
                "userId": user_id,
                "activityId": activity_id,
                "reference": reference,
                "conversationId": conversation_id,
                **_style_fields(style),
            }

        async def post_to_channel() -> dict[str, Any] | None:
            if channel_target is None:
                return None
            # The channel copy is read-only for everyone; the approvers' clients refresh it into their own view.
            channel_card = approval_card(
                view_of(record), None, actionable=False, refresh_user_ids=refresh_ids, channel=True
            )
            try:
                return await self._post_to_channel(turn_context, actor, channel_target, channel_card)
            except Exception:
                log.warning(
                    "could not post request %s to channel %s", request_id, channel_target.channel_id, exc_info=True
                )
                return {}

        # All at once: one slow approver conversation must not hold up the others.
        *results, channel_copy = await asyncio.gather(
            *(send(user_id, reference) for user_id, reference in reachable), post_to_channel()
        )
        sent = [r for r in results if r is not None]
        for (user_id, _), r in zip(reachable, results, strict=True):
            if r is None:
                unreached[user_id] = Unreached.UNDELIVERED
        copies = sent + ([channel_copy] if channel_copy else [])

        def add_cards(record: dict[str, Any]) -> dict[str, Any]:
            record["approverCards"] = list(record.get("approverCards") or []) + copies
            record["unreachable"] = list(unreached)
            record.pop(FAN_OUT, None)
            return record

        await self._records.update_pending(request_id, add_cards)
        if not tell:
            return
        told = self._notified_text(group, sent, unreached, names)
        if channel_copy is not None:
            told = f"{told} {channel_posted() if channel_copy else channel_post_failed()}"
        await turn_context.send_activity(MessageFactory.text(told))

    async def _fan_out_done(self, request_id: str) -> None:
        def done(record: dict[str, Any]) -> dict[str, Any]:
            record.pop(FAN_OUT, None)
            return record

        await self._records.update_pending(request_id, done)

    async def _channel_of(self, group_id: str) -> ChannelTarget | None:
        if self._channels is None:
            return None
        try:
            return await self._channels.target(group_id)
        except Exception:  # the 1:1 cards still go out
            log.warning("could not read the approvals channel of group %s", group_id, exc_info=True)
            return None

    async def _post_to_channel(
        self, turn_context: TurnContext, actor: Actor, target: ChannelTarget, card: dict[str, Any]
    ) -> dict[str, Any]:
        """A new post in the channel (not a reply in some thread); the copy to keep with the request record."""
        tenant_id = target.tenant_id or actor.tenant_id
        service_url = target.service_url or str(turn_context.activity.service_url or "")
        parameters = ConversationParameters(
            is_group=True,
            bot=turn_context.activity.recipient,
            tenant_id=tenant_id,
            # ConversationParameters.tenant_id serialises as `tenantID`: Teams reads the tenant from channelData.
            channel_data={"channel": {"id": target.channel_id}, "tenant": {"id": tenant_id}},
            activity=MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card))),
        )
        out: dict[str, Any] = {}

        async def created(tc: TurnContext) -> None:
            # botbuilder hands the new post's conversation (`19:…;messageid=…`) and activity id to this turn.
            reference = reference_of(tc.activity)  # its bot is the parameters' bot: the account of this turn
            out.update(
                userId="",
                channel=True,
                channelId=target.channel_id,
                activityId=str(tc.activity.id or ""),
                reference=reference,
                conversationId=str(tc.activity.conversation.id or ""),
            )

        await turn_context.adapter.create_conversation(self._app_id, created, parameters, "msteams", service_url, None)
        return out

    @staticmethod
    def _notified_text(
        group: str, sent: Sequence[dict[str, Any]], unreached: dict[str, Unreached], names: dict[str, str]
    ) -> str:
        def name(user_id: str) -> str:
            return names.get(user_id) or "an approver"

        why: dict[Unreached, list[str]] = {}
        for user_id, reason in unreached.items():
            why.setdefault(reason, []).append(name(user_id))
        return approvers_notified(group, [name(c["userId"]) for c in sent], why)

    async def _send(self, turn_context: TurnContext, reference: dict[str, Any], card: dict[str, Any]) -> str:
        out: dict[str, str] = {}

        async def send(tc: TurnContext) -> None:
            response = await tc.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card))))
            out["id"] = str(getattr(response, "id", "") or "")

        await continue_raising(turn_context.adapter, reference, send, self._app_id)
        return out.get("id", "")

    # ---- clicks ------------------------------------------------------------------------------------------------

    async def click(
        self, turn_context: TurnContext, service: PimService, actor: Actor, action: DecisionAction, *, invoke: bool
    ) -> dict[str, Any] | str:
        """The answer to an approve/deny/refresh click: a card (replaces the clicker's copy), or a text."""
        if action.verb is Verb.CANCEL:
            return await self.cancel_request(turn_context, service, actor, action.request_id)
        if action.verb is Verb.KEEP:
            return await self.keep(service, actor, action.request_id)
        # A click that waited for another approver whose claim then ended without a decision (their write was
        # refused, their process died) is tried once more, from the start: the approval then says what became of it.
        for _ in range(2):
            answer = await self._decide(turn_context, service, actor, action, invoke=invoke)
            if answer is not None:
                return answer
        record = await self._records.pending(action.request_id)
        if record is None:
            return explain(RequestNotFound(action.request_id), actor.time_style)
        return self._card(record, actor.time_style, actionable=True, notice=RACE_LOST)

    async def _decide(
        self, turn_context: TurnContext, service: PimService, actor: Actor, action: DecisionAction, *, invoke: bool
    ) -> dict[str, Any] | str | None:
        """One try of a decision: the answer, or None when another approver's claim ended without a decision while
        this click waited for it."""
        tz = actor.time_style
        record = await self._records.pending(action.request_id)
        if record is None or "approverIds" not in record:
            log.info("click by %s on unknown request %r", actor.object_id, action.request_id)
            return explain(RequestNotFound(action.request_id), tz)
        view = view_of(record)
        if action.verb is Verb.REFRESH:
            # The buttons are shown to the approvers the bot knows; whether a click may decide is Graph's answer.
            listed = may_decide(actor.object_id, record["requesterId"], record["approverIds"]) is None
            return self._card(record, tz, actionable=listed)
        own = self_approval(actor.object_id, str(record.get("requesterId") or ""))
        if own is not None:
            log.info("refused a decision on %s by its requester", view.request_id)
            return self._card(record, tz, actionable=False, notice=explain(own, tz, group_name=view.group_name))
        if record.get("decision"):
            return self._card(record, tz, actionable=False, notice=_decided_notice(record, actor, tz))
        if record.get("closed"):
            return self._card(record, tz, actionable=False, notice=CLOSED_NOTICE)
        decision = Decision.APPROVE if action.verb is Verb.APPROVE else Decision.DENY
        if view.reason_required and not action.reason:
            notice = explain(MissingApproverJustification(decision), tz, group_name=view.group_name)
            return self._card(record, tz, actionable=True, notice=notice)
        if await self._held(record.get("claim"), CLAIM_TTL):
            return await self._after_race(action.request_id, actor)

        try:
            verdict = await service.review(actor, view.request_id, decision, action.reason, view.reason_required)
        except (RequestRefused, DirectoryError) as e:
            return await self._refused_by_graph(turn_context, service, record, e, actor, invoke=invoke)
        if not isinstance(verdict, Review):
            return await self._refused_by_graph(turn_context, service, record, verdict, actor, invoke=invoke)

        mark = self._mark()
        self._working.add(mark["token"])
        try:
            claimed = await self._claim(record, actor, decision, mark)
            if claimed is None:
                return await self._after_race(action.request_id, actor)
            self._fault("claimed")
            try:
                await service.submit_review(actor, verdict)
            except OutcomeUnknown:
                return await self._unconfirmed(turn_context, actor, verdict, action.reason or "")
            except (RequestRefused, DirectoryError) as e:
                return await self._refused_by_graph(
                    turn_context, service, claimed, e, actor, invoke=invoke, release=mark["token"]
                )
            except BaseException:
                await self._release(view.request_id, mark["token"])
                raise
            self._fault("decided")
            log.info("%s %s request %s", actor.object_id, decision.value, view.request_id)
            final = await self._record_decision(
                view.request_id,
                decision,
                actor.object_id,
                actor.name,
                action.reason or "",
                skip=_clicked(turn_context, invoke),
                plain_answer=True,
            )
        finally:
            self._working.discard(mark["token"])
        self._spread_later(turn_context, service, final)
        return self._card(final, tz, actionable=False)

    def _card(self, record: dict[str, Any], tz: Tz, *, actionable: bool, notice: str | None = None) -> dict[str, Any]:
        return approval_card(
            view_of(record), tz, actionable=actionable, refresh_user_ids=record.get("refreshIds") or (), notice=notice
        )

    def _confirming(self, record: dict[str, Any]) -> bool:
        """A decision whose answer was lost is being followed up (bot.reconcile; bounded, so the mark expires)."""
        at = _parse_time((record.get("unconfirmed") or {}).get("at"))
        return at is not None and self._clock.now() - at < CONFIRMING_TTL

    def _mark(self) -> dict[str, str]:
        """A mark of work this process starts on a record (a claim, a fan-out): the process, the work, the time."""
        return {"owner": self._live.owner, "token": uuid.uuid4().hex, "at": self._now()}

    def _spread_mark(self, skip: str = "") -> dict[str, str]:
        """The mark of a spread this process is about to run; it counts as running here until `_spread` ends.
        `skip`: the clicked copy, which the invoke's answer replaces."""
        mark = {**self._mark(), "skip": skip}
        self._working.add(mark["token"])
        return mark

    async def _held(self, mark: Mapping[str, Any] | None, ttl: timedelta) -> bool:
        """Whether the work a mark names may still be going on: its process lives (here: the work is running), and it
        is younger than `ttl`, the bound for work whose process lives but which never finished. A mark written before
        marks named their process can only be judged by its age."""
        if not mark:
            return False
        at = _parse_time(mark.get("at") or mark.get("since"))
        if at is None or self._clock.now() - at >= ttl:
            return False
        owner = str(mark.get("owner") or "")
        if not owner:
            return True
        if owner == self._live.owner:
            return str(mark.get("token") or "") in self._working
        return await self._live.alive(owner)

    async def _claim(
        self, record: dict[str, Any], actor: Actor, decision: Decision, mark: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """Compare-and-swap the claim onto the record; None if someone else claimed, decided or closed it first."""
        claim = {**mark, "by": actor.object_id, "byName": actor.name, "decision": decision.value}
        for _ in range(5):
            claimed = {**record, "claim": claim}
            try:
                await self._records.save_pending(claimed)
                return claimed
            except StorageConflict:
                log.info("claim on request %s by %s lost a race", record["requestId"], actor.object_id)
                fresh = await self._records.pending(record["requestId"])
                if fresh is None or not is_open(fresh) or await self._held(fresh.get("claim"), CLAIM_TTL):
                    return None
                record = fresh  # changed for another reason (e.g. the fan-out adding cards), or a dead claim: again
        return None

    async def _release(self, request_id: str, token: str) -> None:
        """Drop the claim with this token (a claim someone else has taken since is theirs)."""

        def drop(record: dict[str, Any]) -> dict[str, Any]:
            if (record.get("claim") or {}).get("token") == token:
                record.pop("claim", None)
            return record

        try:
            await self._records.update_pending(request_id, drop)
        except Exception:
            log.exception("could not release the claim on request %s", request_id)

    async def _after_race(self, request_id: str, actor: Actor) -> dict[str, Any] | str | None:
        """Someone else is deciding: wait for their result, then answer with it; None when their claim ends without a
        decision. Still deciding after LOSER_WAIT_SECONDS: the clicker is asked to try again."""
        tz = actor.time_style
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOSER_WAIT_SECONDS
        while True:
            record = await self._records.pending(request_id)
            if record is None:
                return explain(RequestNotFound(request_id), tz)
            if record.get("decision"):
                return self._card(record, tz, actionable=False, notice=_decided_notice(record, actor, tz))
            if record.get("closed"):
                return self._card(record, tz, actionable=False, notice=CLOSED_NOTICE)
            if not await self._held(record.get("claim"), CLAIM_TTL):
                return None
            if loop.time() >= deadline:
                return self._card(record, tz, actionable=True, notice=RACE_LOST)
            await asyncio.sleep(0.05)

    async def _refused_by_graph(
        self,
        turn_context: TurnContext,
        service: PimService,
        record: dict[str, Any],
        error: RequestRefused | DirectoryError,
        actor: Actor,
        *,
        invoke: bool,
        release: str = "",
    ) -> dict[str, Any]:
        """Graph (or the rules on what Graph returned) refused. A decision made elsewhere is recorded and spread; one
        that turns out to be the clicker's own (its first answer was lost) is told as theirs. `release`: the token
        of this click's claim, dropped when nothing was decided."""
        request_id, tz = record["requestId"], actor.time_style
        if isinstance(error, AlreadyDecided) and error.decision is not None:
            final = await self._decided_in_pim(record, error, skip=_clicked(turn_context, invoke))
            self._spread_later(turn_context, service, final)
            return self._card(final, tz, actionable=False, notice=_decided_notice(final, actor, tz))
        if release:
            await self._release(request_id, release)
        if isinstance(error, ApprovalClosed | ApprovalExpired):
            # PIM closed it (the requester cancelled at the same moment, say) before the bot heard: recorded now,
            # so this answer and every copy show the request as it is, not as waiting.
            if isinstance(error, ApprovalExpired):
                kind, status = CLOSED_EXPIRED, "Expired"
            else:
                kind = CLOSED_CANCELLED if error.canceled else CLOSED_FAILED
                status = error.status or ("Canceled" if error.canceled else "")
            settled = await self._settle_record(request_id, closed=kind, status=status)
            if settled is not None:
                self._spread_later(turn_context, service, settled)
        fresh = await self._records.pending(request_id) or record
        group = fresh.get("groupName") or ""
        access = Access(fresh.get("access") or "member")
        actionable = isinstance(error, MissingApproverJustification | DirectoryError)
        return self._card(fresh, tz, actionable=actionable, notice=explain(error, tz, group_name=group, access=access))

    async def _decided_in_pim(
        self, record: dict[str, Any], decided: AlreadyDecided, *, skip: str | None = None
    ) -> dict[str, Any]:
        """Record a decision PIM shows (made elsewhere, or by a click whose answer was lost), once; `skip` as for
        `_record_decision`."""
        assert decided.decision is not None
        names = record.get("approverNames") or {}
        by_name = decided.by_name or names.get(decided.by or "", "") or ""
        return await self._record_decision(
            record["requestId"],
            decided.decision,
            decided.by or "",
            by_name,
            decided.justification,
            at=decided.at,
            skip=skip,
        )

    async def _unconfirmed(
        self, turn_context: TurnContext, actor: Actor, review: Review, reason: str
    ) -> dict[str, Any]:
        """The decision was sent but its answer was lost and could not be read back: the approver is told so, the
        request is marked (the poller leaves its outcome to the follow-up, which knows whose decision it was) and
        followed up (bot.reconcile). The buttons stay: a second click is answered from PIM's own state."""
        request_id = review.request_id
        reference = await self._records.user_reference(actor.object_id) or reference_of(turn_context.activity)

        def mark(record: dict[str, Any]) -> dict[str, Any]:
            record.pop("claim", None)
            record["unconfirmed"] = {"by": actor.object_id, "at": self._now()}
            return record

        record = await self._records.update_pending(request_id, mark)
        assert record is not None
        if self._reconcile is not None:
            await self._reconcile.remember_decision(actor, reference, request_id, review.decision, reason)
        log.info("decision of %s on %s sent, outcome unknown", actor.object_id, request_id)
        return self._card(record, actor.time_style, actionable=True, notice=decision_unconfirmed(review.decision))

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
        record = await self._records.pending(check.request_id)
        if record is None:
            return True
        tz, view = actor.time_style, view_of(record)
        try:
            if record.get("decision"):
                verdict: Review | RequestRefused = _already(record)
            else:
                verdict = await service.review(actor, check.request_id, check.decision, check.reason, False)
        except (SignInRequired, IdentityMismatch, DirectoryError) as e:
            if not final:
                log.info("decision on %s still unconfirmed: %s", check.request_id, e)
                return False
            text = explain(OutcomeUnknown(str(e)), tz)
        except RequestRefused as e:
            verdict = e
        else:
            text = ""
        if not text and isinstance(verdict, Review):
            if not settled:
                return False
            text = decision_not_recorded(check.decision, view.group_name)
        elif not text and isinstance(verdict, AlreadyDecided) and verdict.decision is not None:
            final_record = record if record.get("decision") else await self._decided_in_pim(record, verdict)
            if not record.get("decision"):
                await self._spread(turn_context.adapter, service, final_record)
            text = _decided_notice(final_record, actor, tz)
        elif not text:
            assert isinstance(verdict, RequestRefused)
            text = explain(verdict, tz, group_name=view.group_name, access=view.access)
        await self._records.update_pending(check.request_id, _unmarked)
        await turn_context.send_activity(MessageFactory.text(text))
        return True

    async def _record_decision(
        self,
        request_id: str,
        decision: Decision,
        by: str,
        by_name: str,
        reason: str,
        *,
        at: datetime | None = None,
        skip: str | None = None,
        plain_answer: bool = False,
    ) -> dict[str, Any]:
        """Write the decision on the record (once: a record already decided keeps its decision and owes no spread) and
        tell the admin feed. The record written; its `spread` says the copies (but `skip`, the clicked one, which the
        invoke response replaces) are still to be updated. `plain_answer`: the clicked copy was answered with the
        plain decided card (no notice), so the spread may re-render it once it knows more (the end of the access).
        The record returned carries `spread` only when this call recorded the decision and so owes its spread."""
        when = (at or self._clock.now()).isoformat()
        spread = self._spread_mark(skip or "")

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            if not record.get("decision"):
                record["decision"] = {
                    "decision": decision.value,
                    "by": by,
                    "byName": by_name,
                    "at": when,
                    "reason": reason,
                }
                record["status"] = "Approved" if decision is Decision.APPROVE else "Denied"
                record[SPREAD] = {**spread, "plainAnswer": plain_answer}
            record.pop("claim", None)
            return record

        final = await self._records.update_pending(request_id, decide)
        assert final is not None
        if (final.get(SPREAD) or {}).get("token") != spread["token"]:
            # Decided before (a concurrent click, the poller): whoever recorded it spreads it, and only they.
            self._working.discard(spread["token"])
            return {k: v for k, v in final.items() if k != SPREAD}
        await self._settled(final)
        return final

    async def _settled(self, record: dict[str, Any]) -> None:
        """Tell the admin feed; its trouble never costs an approval its answer."""
        if self._on_settled is None:
            return
        try:
            await self._on_settled(record)
        except Exception:
            log.warning("could not queue request %s for the admin feed", record.get("requestId"), exc_info=True)

    # ---- after a decision --------------------------------------------------------------------------------------

    def _spread_later(self, turn_context: TurnContext, service: PimService, record: dict[str, Any]) -> None:
        """After a click: the clicker is answered now with the final card; once that answer is written
        (bot.after_answer), the other copies and the requester are updated by a background task (tracked; `drain`
        waits for it at shutdown, and the poller finishes a spread a stopped process left owed). Nothing to do when
        this click did not record the decision (someone else spreads it)."""
        if not record.get(SPREAD):
            return
        adapter, answered = turn_context.adapter, asyncio.Event()

        async def spread() -> None:
            await answered.wait()
            await self._spread(adapter, service, record)

        self._in_background(record["requestId"], spread())  # tracked now: `drain` also waits for what is to start
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
        """Wait up to `within` seconds for the card updates still running after clicks (shutdown, tests); stop what is
        left. A stopped spread stays owed on its record, and the next poll (of any instance) finishes it."""
        running = set(self._background)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=within)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _spread(self, adapter: Any, service: PimService, record: dict[str, Any]) -> None:
        """Re-render every other stored copy from the record, all at once (each conversation's send limits are kept by
        the connector's limiter); meanwhile settle the requester's card and tell them. Then the record owes nothing."""
        request_id = str(record["requestId"])
        owed = record.get(SPREAD) or {}
        skip = str(owed.get("skip") or "")
        try:
            learnt_end = not record.get("activeUntil")
            record = await self._with_end(service, record)
            if learnt_end and record.get("activeUntil") and (record.get(SPREAD) or {}).get("plainAnswer"):
                skip = ""  # the clicker's answer went out before PIM's end of the access was known: it gains it too
            cards = _Rendered(lambda style: self._card(record, style, actionable=False))
            # The clicker's own copy already shows the answer (the invoke response), except in a channel: there the
            # invoke response replaces the card for the clicker only, so the post is updated for everyone.
            copies = [
                c
                for c in record.get("approverCards") or []
                if not (skip and c.get("activityId") == skip and not c.get("channel"))
            ]
            await asyncio.gather(
                *(self._update_copy(adapter, copy, cards.of(_copy_style(copy))) for copy in copies),
                self._inform_requester(adapter, record),
            )
            await self._spread_done(request_id)
        finally:
            self._working.discard(str(owed.get("token") or ""))

    async def _update_copy(self, adapter: Any, copy: dict[str, Any], card: dict[str, Any]) -> None:
        try:
            await self._update(adapter, copy["reference"], copy["activityId"], card)
        except Exception:
            log.warning("could not update the approval card %s", copy.get("activityId"), exc_info=True)
            return
        self._fault("spread")

    async def _inform_requester(self, adapter: Any, record: dict[str, Any]) -> None:
        try:
            await self._settle_requester_card(adapter, record)
        except Exception:
            log.warning("could not update the requester's card of %s", record.get("requestId"), exc_info=True)
        try:
            await self._tell_requester(adapter, record)
        except Exception:
            log.warning("could not tell the requester of %s", record.get("requestId"), exc_info=True)

    async def _with_end(self, service: PimService, record: dict[str, Any]) -> dict[str, Any]:
        """An approved request's record with the end PIM scheduled for the access (`activeUntil`), read once (app-only):
        the approval cards and the requester say until when the access runs, not when the request would have lapsed.
        The end is PIM's schedule of the approved request, not the duration counted from the request's time."""
        decided = record.get("decision") or {}
        if decided.get("decision") != Decision.APPROVE.value or record.get("activeUntil"):
            return record
        try:
            ends = (await service.request(record["requestId"])).ends
        except (RequestRefused, DirectoryError):
            log.warning("could not read request %s after approval", record["requestId"], exc_info=True)
            return record
        if ends is None:
            return record

        def keep(stored: dict[str, Any]) -> dict[str, Any]:
            stored["activeUntil"] = ends.isoformat()
            return stored

        return await self._records.update_pending(record["requestId"], keep) or record

    async def _spread_done(self, request_id: str) -> None:
        def done(record: dict[str, Any]) -> dict[str, Any]:
            record.pop(SPREAD, None)
            return record

        await self._records.update_pending(request_id, done)

    async def _settle_requester_card(self, adapter: Any, record: dict[str, Any]) -> None:
        """The requester's own card of the request (the answer to `activate`, or to a 'Send it again' click) loses its
        Cancel button and says what became of the request. Cards sent before their JSON was kept are left alone."""
        view, tz = view_of(record), _requester_style(record)
        if view.decision is not None:
            approved = view.decision is Decision.APPROVE
            state, color = ("Approved", "Good") if approved else ("Denied", "Attention")
            message = decision_line(view, tz)
        else:
            kind = str((record.get("closed") or {}).get("kind") or "")
            state = {CLOSED_CANCELLED: "Cancelled", CLOSED_EXPIRED: "Expired"}.get(kind, "Closed")
            color, message = "Warning", _closed_line(record, tz)
        fallback = f"{view.group_name} ({view.access.value}): {message}"

        def settle(item: dict[str, Any]) -> dict[str, Any]:
            if isinstance(item.get("card"), dict):
                item["card"] = settled_activation_card(
                    item["card"], view.request_id, state, message, color=color, fallback=fallback
                )
            return item

        for shown in record.get("cards") or []:
            activity_id, conversation_id = str(shown.get("activityId") or ""), str(shown.get("conversationId") or "")
            stored = await self._records.update_card(activity_id, settle) if activity_id else None
            reference = await self._records.conversation_reference(conversation_id)
            if stored is None or not isinstance(stored.get("card"), dict) or reference is None:
                log.info("requester's card %s of %s is not kept; left as it is", activity_id, view.request_id)
                continue
            await self._update(adapter, reference, activity_id, stored["card"])

    async def _update(self, adapter: Any, reference: dict[str, Any], activity_id: str, card: dict[str, Any]) -> None:
        await update_card(adapter, reference, activity_id, card, self._app_id)

    async def _tell_requester(self, adapter: Any, record: dict[str, Any]) -> None:
        """Tell the requester the outcome, once: a spread taken over after its process died does not tell them again
        (unless that process died while telling them)."""
        reference = await self._records.user_reference(record["requesterId"])
        if reference is None:
            log.info("no reference for requester %s; not told about %s", record["requesterId"], record["requestId"])
            return
        current = await self._records.pending(str(record["requestId"]))
        if current is not None and current.get(TOLD):
            return
        view = view_of(record)
        tz = _requester_style(record)
        subject = f"Your request for {access_label(view.access).lower()} access to {view.group_name}"
        who = f" by {view.decided_by_name}" if view.decided_by_name else ""
        if view.decision is None:
            text = f"{subject} {_closed_text(record)}"
        elif view.decision is Decision.APPROVE:
            until = f" It is active until {format_time(view.active_until, tz)}." if view.active_until else ""
            reason = f" ({view.decided_reason})" if view.decided_reason else ""
            text = f"{subject} was approved{who}{reason}.{until or ' It becomes active shortly.'}"
        else:
            reason = f": {view.decided_reason}" if view.decided_reason else "."
            text = f"{subject} was denied{who}{reason}"

        async def send(tc: TurnContext) -> None:
            await tc.send_activity(MessageFactory.text(text))

        await continue_raising(adapter, reference, send, self._app_id)

        def told(record: dict[str, Any]) -> dict[str, Any]:
            record[TOLD] = {"at": self._now()}
            return record

        await self._records.update_pending(str(record["requestId"]), told)

    def _now(self) -> str:
        return self._clock.now().isoformat()

    # ---- outside decisions: the poller -------------------------------------------------------------------------

    async def poll_once(self, adapter: Any, service: PimService) -> int:
        """Look at every open request in Graph (app-only) and spread what changed outside the bot; then send the
        cards of the requests waiting in the served groups that nobody recorded. How many changed or were found."""
        changed = 0
        for request_id in await self._records.request_ids():
            try:
                if await self._poll_one(adapter, service, request_id):
                    changed += 1
            except Exception:  # one bad record must not stop the sweep
                log.warning("could not poll request %s", request_id, exc_info=True)
        try:
            changed += await self._adopt_unrecorded(adapter, service)
        except Exception:  # the next poll looks again
            log.warning("could not look for requests nobody recorded", exc_info=True)
        return changed

    async def _poll_one(self, adapter: Any, service: PimService, request_id: str) -> bool:
        record = await self._records.pending(request_id)
        if record is not None and record.get(SPREAD) and not is_open(record):
            return await self._finish_spread(adapter, service, record)
        if record is None or not is_open(record) or self._confirming(record):
            return False
        if await self._held(record.get("claim"), CLAIM_TTL):
            return False
        if record.get(FAN_OUT) and not await self._held(record.get(FAN_OUT), FAN_OUT_TTL):
            return await self._finish_fan_out(adapter, service, record)
        created = _parse_time(record.get("requestedAt") or record.get("createdAt"))
        too_old = created is not None and self._clock.now() - created >= APPROVAL_WINDOW
        try:
            request = await service.request(request_id)
        except RequestNotFound:
            if not too_old:
                return False
            status = RequestStatus.CANCELED
        except (RequestRefused, DirectoryError):
            log.warning("could not read request %s while polling", request_id, exc_info=True)
            return False
        else:
            status = request.status
        if status in _APPROVED:
            return await self._settle_decided(adapter, service, record, Decision.APPROVE)
        if status is RequestStatus.DENIED:
            return await self._settle_decided(adapter, service, record, Decision.DENY)
        if status is RequestStatus.PENDING_APPROVAL and not too_old:
            if claim := record.get("claim"):  # its process died before its write reached PIM: nothing was decided
                log.info("claim on request %s by %s dropped: its process is gone", request_id, claim.get("by"))
                await self._release(request_id, str(claim.get("token") or ""))
            if created is not None:  # the clock now follows the Date of the Graph call just made
                await self._remind(adapter, request_id, self._clock.now() - created)
            return False
        if status is RequestStatus.CANCELED and not too_old:
            kind = CLOSED_CANCELLED
        elif too_old:
            kind = CLOSED_EXPIRED
        else:
            kind = CLOSED_FAILED
        return await self._settle(adapter, service, request_id, closed=kind, status=status.value)

    async def _settle_decided(
        self, adapter: Any, service: PimService, record: dict[str, Any], decision: Decision
    ) -> bool:
        """A decision PIM shows and the record does not. When a click's process died with its claim on the record,
        the approval's stages say who decided, as an approver reads them."""
        decided = await self._decider(adapter, record) if record.get("claim") else None
        if decided is None or decided.decision is not decision:
            return await self._settle(adapter, service, record["requestId"], decision=decision)
        return await self._settle(adapter, service, record["requestId"], decision=decision, decided=decided)

    async def _decider(self, adapter: Any, record: dict[str, Any]) -> AlreadyDecided | None:
        """Who decided, from the approval's stages (Graph gives approvals to delegated callers only): read as the
        approver whose claim was left, else as another approver the bot can reach (at most three tried). None when
        nobody's token serves."""
        if self._as_user is None:
            return None
        request_id = str(record["requestId"])
        claimer = str((record.get("claim") or {}).get("by") or "")
        candidates = list(dict.fromkeys(u for u in [claimer, *map(str, record.get("approverIds") or [])] if u))[:3]

        async def read(service: PimService, actor: Actor) -> AlreadyDecided | None:
            return await service.decided_by(actor, request_id)

        for user_id in candidates:
            try:
                found: AlreadyDecided | None = await self._as_user(adapter, user_id, read)
            except Exception as e:  # no conversation, no token, Graph refused: the next approver may do
                log.info("could not read the approval of %s as %s: %s", request_id, user_id, type(e).__name__)
                continue
            return found
        return None

    async def _settle(
        self,
        adapter: Any,
        service: PimService,
        request_id: str,
        *,
        decision: Decision | None = None,
        decided: AlreadyDecided | None = None,
        closed: str = "",
        status: str = "",
    ) -> bool:
        """Record an outcome reached outside a click, once, then update every copy and tell the requester. False if
        it was already recorded. `decided`: who made the decision, when known (the approval's stage)."""
        record = await self._settle_record(request_id, decision=decision, decided=decided, closed=closed, status=status)
        if record is None:
            return False
        await self._spread(adapter, service, record)
        return True

    async def _settle_record(
        self,
        request_id: str,
        *,
        decision: Decision | None = None,
        decided: AlreadyDecided | None = None,
        closed: str = "",
        status: str = "",
    ) -> dict[str, Any] | None:
        """Write an outcome on the open record, once (ETag compare-and-swap: of two bot instances only one writes it),
        and tell the admin feed. The record written, which owes its spread; None if it was no longer open."""
        for _ in range(10):
            record = await self._records.pending(request_id)
            if not is_open(record):
                return None
            assert record is not None
            if decision is not None:
                at = decided.at if decided is not None and decided.at is not None else self._clock.now()
                record["decision"] = {
                    "decision": decision.value,
                    "by": decided.by or "" if decided is not None else "",
                    "byName": decided.by_name if decided is not None else "",
                    "at": at.isoformat(),
                    "reason": decided.justification if decided is not None else "",
                }
                record["status"] = "Approved" if decision is Decision.APPROVE else "Denied"
            else:
                record["closed"] = {"kind": closed, "at": self._now(), "status": status}
                record["status"] = "Canceled" if closed == CLOSED_CANCELLED else "Expired"
            record.pop("claim", None)
            record[SPREAD] = spread = self._spread_mark()
            try:
                await self._records.save_pending(record)
            except StorageConflict:
                self._working.discard(spread["token"])
                continue
            log.info("request %s settled outside a click: %s", request_id, record["status"])
            await self._settled(record)
            return record
        return None

    async def _finish_spread(self, adapter: Any, service: PimService, record: dict[str, Any]) -> bool:
        """The safety net for a spread that did not finish: once its process is gone (or stopped running it), or it
        has been owed longer than SPREAD_GRACE, take it over (compare-and-swap: one taker) and run it again, every
        copy included (the clicked one too: its click may never have been answered). Card updates are idempotent;
        the requester is told once unless the first run died while telling them."""
        if await self._held(record.get(SPREAD), SPREAD_GRACE):
            return False
        request_id = str(record["requestId"])
        record[SPREAD] = spread = self._spread_mark()
        try:
            await self._records.save_pending(record)
        except StorageConflict:
            self._working.discard(spread["token"])
            return False
        log.info("finishing the card updates of request %s (an earlier run did not finish)", request_id)
        await self._spread(adapter, service, record)
        return True

    # ---- requests nobody recorded ------------------------------------------------------------------------------

    async def _served_groups(self) -> list[str]:
        """The groups whose waiting requests the poller reads: each group the bot has carried an approval request of,
        or was about to (`approvals/group/*`, written before the activation), each group with an approvals channel,
        and the admin feed's groups (FEED_GROUPS and those it discovered). Sorted, each once."""
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

    async def _adopt_unrecorded(self, adapter: Any, service: PimService) -> int:
        """Send the cards of the requests waiting in the served groups that have no record. How many."""
        groups = self._this_poll(await self._served_groups())
        if not groups:
            return 0
        found = await service.waiting_in_groups(groups)
        for group_id, error in found.failed.items():
            log.warning("could not list the requests waiting in group %s (%s); next poll", group_id, error)
        known = {request_id.casefold() for request_id in await self._records.request_ids()}
        now = self._clock.now()
        adopted = 0
        for request in found.requests:
            if request.id.casefold() in known or (request.created is not None and now - request.created < ADOPT_AFTER):
                continue
            try:
                adopted += await self._adopt(adapter, service, request)
            except Exception:  # the others still get their cards; this one is found again next poll
                log.warning("could not send the cards of request %s", request.id, exc_info=True)
        return adopted

    async def _adopt(self, adapter: Any, service: PimService, request: PimRequest) -> bool:
        """Record a waiting request found in PIM (create-only: False if someone recorded it first) and fan it out."""
        outcome = await service.awaiting(request)
        reference = await self._records.user_reference(request.principal_id)
        names = await service.display_names([request.principal_id])
        tenant = str((reference or {}).get("tenantId") or "")
        requester = Actor(request.principal_id, tenant, names.get(request.principal_id, ""))
        shown = await self._records.request_card(request.id)  # its turn sent the requester's card, then died
        mark = self._mark()
        self._working.add(mark["token"])
        try:
            now = self._clock.now()
            record = await self._records.remember_pending(requester, outcome, shown, now, fan_out=mark, found=True)
            if record is None:
                return False
            log.info(
                "request %s for group %s waits for approval without a record: sending its cards",
                request.id,
                request.group_id,
            )
            await self._fan_out_outside(adapter, service, record, outcome)
            return True
        finally:
            self._working.discard(mark["token"])

    async def _finish_fan_out(self, adapter: Any, service: PimService, record: dict[str, Any]) -> bool:
        """Take over a fan-out whose process is gone (compare-and-swap: one taker) and finish it; the copies it sent
        are not sent again (only those in flight when it died may be)."""
        mark = self._mark()
        self._working.add(mark["token"])
        try:
            try:
                await self._records.save_pending({**record, FAN_OUT: mark})
            except StorageConflict:
                return False
            log.info("finishing the fan-out of request %s: its process is gone", record["requestId"])
            await self._fan_out_outside(adapter, service, record, _outcome_of(record))
            return True
        finally:
            self._working.discard(mark["token"])

    async def _fan_out_outside(
        self, adapter: Any, service: PimService, record: dict[str, Any], outcome: AwaitingApproval
    ) -> None:
        """A fan-out outside the requester's turn, in a proactive turn: in the requester's 1:1 chat when the bot can
        reach them (they get their waiting card, unless they have one, and are told who was notified), else in any
        chat the bot knows, telling nobody."""
        reference = await self._records.user_reference(str(record["requesterId"]))
        origin = reference or await self._records.some_reference()
        if origin is None:
            log.warning("no conversation to send request %s from; the poller tries again", record["requestId"])
            return
        requester = Actor(
            str(record["requesterId"]),
            str(record.get("tenantId") or origin.get("tenantId") or ""),
            str(record.get("requesterName") or ""),
            time_zone=record.get("requesterTimeZone"),
            locale=record.get("requesterLocale"),
        )

        async def run(turn_context: TurnContext) -> None:
            if reference is not None and not record.get("cards"):
                await self._send_waiting_card(turn_context, outcome, requester.time_style)
            await self.fan_out(turn_context, service, requester, outcome, tell=reference is not None)

        await continue_raising(adapter, origin, run, self._app_id)

    async def _send_waiting_card(self, turn_context: TurnContext, outcome: AwaitingApproval, tz: Tz) -> None:
        """The requester's own card of a request found in PIM, with its Cancel button; kept like the answer to
        `activate`, so that it turns read-only when the request settles."""
        card = activation_card([outcome], tz)
        response = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
        )
        activity_id = str(getattr(response, "id", "") or "")
        if not activity_id:
            return
        conversation_id = str(turn_context.activity.conversation.id)
        request_id = outcome.request.id
        await self._records.remember_card(
            activity_id, conversation_id, "activation", [request_id], self._clock.now(), card=card
        )
        await self._records.update_pending(request_id, _with_card(conversation_id, activity_id))

    # ---- reminders -------------------------------------------------------------------------------------------------

    async def _mark_once(self, request_id: str, key: str) -> dict[str, Any] | None:
        """Set `key` on the open record once (ETag compare-and-swap: of two instances only one wins); the record
        written, or None if it was already set, or the request is no longer open."""
        for _ in range(10):
            record = await self._records.pending(request_id)
            if not is_open(record):
                return None
            assert record is not None
            if record.get(key):
                return None
            record[key] = {"at": self._now()}
            try:
                await self._records.save_pending(record)
            except StorageConflict:
                continue
            return record
        return None

    async def _remind(self, adapter: Any, request_id: str, age: timedelta) -> None:
        """One reminder to the approvers after `reminder_after`; one warning to the requester an hour before expiry."""
        if age >= self._reminder_after:
            record = await self._mark_once(request_id, "reminded")
            if record is not None:
                await self._remind_approvers(adapter, record, age)
        if age >= APPROVAL_WINDOW - EXPIRY_WARNING:
            record = await self._mark_once(request_id, "expiryWarned")
            if record is not None:
                await self._warn_requester(adapter, record)

    async def _remind_approvers(self, adapter: Any, record: dict[str, Any], age: timedelta) -> None:
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
        for copy in record.get("approverCards") or []:
            # One reminder per conversation: an approver who also asked for `pending` holds two copies in one chat.
            where = str(copy.get("conversationId") or copy.get("activityId") or "")
            if where in reminded:
                continue
            reminded.add(where)
            text = in_channel if copy.get("channel") else personal

            async def send(tc: TurnContext, text: str = text) -> None:
                await tc.send_activity(MessageFactory.text(text))

            try:
                await continue_raising(adapter, copy["reference"], send, self._app_id)
            except Exception:
                log.warning("could not remind %s of %s", copy.get("userId"), view.request_id, exc_info=True)

    async def _warn_requester(self, adapter: Any, record: dict[str, Any]) -> None:
        reference = await self._records.user_reference(record["requesterId"])
        if reference is None:
            log.info("no reference for requester %s; not warned about %s", record["requesterId"], record["requestId"])
            return
        view = view_of(record)
        minutes = int(record.get("durationMinutes") or 0)
        card = expiry_warning_card(
            Group(str(record.get("groupId") or ""), view.group_name),
            view.access,
            view.request_id,
            view.expires_at,
            _requester_style(record),
            duration=timedelta(minutes=minutes) if minutes else None,
            justification=view.justification,
            ticket=Ticket(view.ticket) if view.ticket else None,
        )

        async def send(tc: TurnContext) -> None:
            await tc.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card))))

        try:
            await continue_raising(adapter, reference, send, self._app_id)
        except Exception:
            log.warning("could not warn the requester of %s", view.request_id, exc_info=True)

    # ---- the requester cancels -----------------------------------------------------------------------------------

    async def ask_cancel(self, turn_context: TurnContext, service: PimService, actor: Actor, group: str) -> str | None:
        """A typed `cancel <group>`: nothing is withdrawn yet. Each of the actor's requests for `group` that waits
        for approval gets a card asking "Cancel your request for X?" (Cancel request / Keep it); None once asked, or
        the answer to say instead. Requests the bot keeps come from its records (the question is kept with them, so it
        settles with the request); others are read from Graph, which alone may say there is nothing to cancel."""
        mine = [
            r
            for r in await self._open_records()
            if str(r.get("requesterId", "")).lower() == actor.object_id.lower()
            and normalise(str(r.get("groupName") or "")) == normalise(group)
        ]
        if mine:
            for record in mine:
                await self._ask(turn_context, actor, _waiting(view_of(record)), kept_with=record["requestId"])
            return None
        try:
            found = await service.waiting_requests(actor, group)
        except (RequestRefused, DirectoryError) as e:
            return explain(e, actor.time_style, group_name=group)
        if not found:
            return f"You have no request for {group} waiting for approval."
        for found_group, request in found:
            await self._ask(turn_context, actor, _waiting_in_pim(found_group, request))
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
        conversation_id = str(turn_context.activity.conversation.id or "")
        await self._records.remember_card(
            activity_id, conversation_id, "cancel-question", [kept_with], self._clock.now(), card=card
        )
        shown = {"conversationId": conversation_id, "activityId": activity_id}

        def add(record: dict[str, Any]) -> dict[str, Any]:
            record["cards"] = [*(record.get("cards") or []), shown]
            return record

        record = await self._records.update_pending(kept_with, add)
        if record is not None and not is_open(record):  # settled meanwhile: its settling did not know this card yet
            await self._settle_requester_card(turn_context.adapter, record)

    async def _own_waiting_in_pim(
        self, service: PimService, actor: Actor, request_id: str
    ) -> tuple[Group, PimRequest] | None:
        """The actor's own request `request_id`, if Graph shows it waiting for approval (one the bot keeps no record
        of: made in the portal, or before the bot kept records)."""
        found = await service.waiting_requests(actor)
        return next(((g, r) for g, r in found if r.id.casefold() == request_id.casefold()), None)

    async def keep(self, service: PimService, actor: Actor, request_id: str) -> dict[str, Any] | str:
        """ "Keep it" on the question a typed `cancel` asked: nothing changes; the question gives way to "Kept"."""
        record = await self._records.pending(request_id)
        if record is None:
            try:
                own = await self._own_waiting_in_pim(service, actor, request_id)
            except (RequestRefused, DirectoryError) as e:
                return explain(e, actor.time_style)
            if own is None:
                return explain(RequestNotFound(request_id), actor.time_style)
            return cancel_question_card(_waiting_in_pim(*own), actor.time_style, kept=True)
        group = str(record.get("groupName") or "")
        if str(record.get("requesterId", "")).lower() != actor.object_id.lower():
            return f"Only the person who asked can answer this for {group}; nothing was changed."
        if not is_open(record):
            return f"Your request for {group} no longer waits for approval; nothing was changed."
        return cancel_question_card(_waiting(view_of(record)), actor.time_style, kept=True)

    async def cancel_request(
        self, turn_context: TurnContext, service: PimService, actor: Actor, request_id: str
    ) -> str:
        """Cancel request, on the requester's waiting card or on the question a typed `cancel` asked: only the
        requester may cancel, as themselves. A request the bot keeps no record of is cancelled if Graph shows it
        waiting as the actor's own; no card of the bot's follows it."""
        record = await self._records.pending(request_id)
        if record is None:
            try:
                own = await self._own_waiting_in_pim(service, actor, request_id)
                if own is not None:
                    await service.cancel(actor, request_id)
            except (RequestRefused, DirectoryError) as e:
                return explain(e, actor.time_style)
            if own is None:
                return explain(RequestNotFound(request_id), actor.time_style)
            return f"I cancelled your request for {own[0].display_name}."
        group = str(record.get("groupName") or "")
        if str(record.get("requesterId", "")).lower() != actor.object_id.lower():
            log.info("refused a cancel of %s by %s (not the requester)", request_id, actor.object_id)
            return f"Only the person who asked can cancel this request for {group}; nothing was changed."
        if not is_open(record):
            return self._not_cancelled(record)
        try:
            await service.cancel(actor, request_id)
        except (RequestRefused, DirectoryError) as e:
            # An approver's decision may have landed at the same moment: once recorded, it is said with its name.
            fresh = await self._records.pending(request_id)
            if fresh is not None and fresh.get("decision"):
                return self._not_cancelled(fresh)
            if isinstance(e, AlreadyDecided) and e.decision is not None:
                return cancel_came_too_late(e.decision, group, e.by_name)
            return explain(e, actor.time_style, group_name=group)
        await self._settle(turn_context.adapter, service, request_id, closed=CLOSED_CANCELLED, status="Canceled")
        return f"I cancelled your request for {group}."

    @staticmethod
    def _not_cancelled(record: dict[str, Any]) -> str:
        """Why a request the requester wanted to cancel was not: decided (by whom), or closed otherwise."""
        group = str(record.get("groupName") or "")
        decided = record.get("decision") or {}
        if decided:
            return cancel_came_too_late(Decision(decided["decision"]), group, str(decided.get("byName") or ""))
        return f"Your request for {group} no longer waits for approval; nothing was changed."

    # ---- an approver's open requests ---------------------------------------------------------------------------

    async def show_pending(self, turn_context: TurnContext, actor: Actor) -> int:
        """Send the actor the approval card of every open request they may decide, oldest first; how many. Each card
        is kept with its request like the fan-out's copies, so it follows the decision too."""
        me = actor.object_id.lower()
        shown = 0
        for record in await self._open_records():
            approvers = [str(a).lower() for a in record.get("approverIds") or []]
            if me not in approvers or str(record.get("requesterId", "")).lower() == me:
                continue
            card = self._card(record, actor.time_style, actionable=True)
            response = await turn_context.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
            )
            shown += 1
            activity_id = str(getattr(response, "id", "") or "")
            if activity_id:
                await self._keep_copy(turn_context, actor, record["requestId"], activity_id)
        return shown

    async def _keep_copy(self, turn_context: TurnContext, actor: Actor, request_id: str, activity_id: str) -> None:
        """Keep a card just sent in this turn as a copy of the request. Decided in the meantime: updated at once, since
        the decision's update of every copy did not know it yet."""
        reference = reference_of(turn_context.activity)
        copy = {
            "userId": actor.object_id,
            "activityId": activity_id,
            "reference": reference,
            "conversationId": str((reference.get("conversation") or {}).get("id") or ""),
            **_style_fields(actor.time_style),
        }

        def add(record: dict[str, Any]) -> dict[str, Any]:
            record["approverCards"] = [*(record.get("approverCards") or []), copy]
            return record

        record = await self._records.update_pending(request_id, add)
        if record is not None and not is_open(record):
            settled = self._card(record, actor.time_style, actionable=False)
            await self._update(turn_context.adapter, reference, activity_id, settled)

    async def _open_records(self) -> list[dict[str, Any]]:
        records = [await self._records.pending(i) for i in await self._records.request_ids()]
        open_ = [r for r in records if r is not None and is_open(r)]
        return sorted(open_, key=lambda r: str(r.get("requestedAt") or r.get("createdAt") or ""))
