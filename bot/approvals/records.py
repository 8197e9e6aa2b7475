"""The approvals' records: typed, one codec each, kept in bot.store.Store under bot.store.keys.

* `request/{id}` — `ApprovalRequest`: the request, who may decide it, the requester's own cards, and the marks of work
  on it: the `Claim` of an approver deciding, the `Decided` decision or the `Closing`, the `Spread` still owed to the
  copies, the fan-out still owed. Small: a click reads and writes only this.
* `request-copy/{id}/{activity id}` — `ApprovalCopy`: one approval card sent (an approver's 1:1 copy, or the
  channel's post), with the conversation reference to update it by. One key per copy, written once, so sending 60
  cards is 60 independent writes and a decision never rewrites them.
* `card/{activity id}` and `request-card/{id}` — `KeptCard`: a card the bot sent showing requests (the requester's
  waiting card, made read-only when its request settles), and the last one kept per request.
* `approvals/group/{group}` — a group whose requests the poller looks for; `approvals/channel/{group}` —
  `ChannelEntry`, a group's approvals channel set in Teams.

The stored JSON keeps the camelCase names the records had before they were typed. Every decoder reads leniently
(missing fields take their defaults): a record is written by one version and read by the next.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.observe import metrics
from bot.store import ANY, Conflict, Json, Store
from bot.store import keys as k
from core.models import Access, Actor, Decision, RequestStatus, TimeStyle
from core.outcomes import AwaitingApproval

__all__ = [
    "ApprovalCopy",
    "ApprovalRecords",
    "ApprovalRequest",
    "CardRef",
    "ChannelEntry",
    "Claim",
    "Closing",
    "Decided",
    "KeptCard",
    "Mark",
    "Spread",
    "Unconfirmed",
]

log = logging.getLogger(__name__)

CLOSED_CANCELLED = "cancelled"
CLOSED_EXPIRED = "expired"
CLOSED_FAILED = "failed"


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value: object) -> str:
    return str(value) if value is not None else ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Work a process started on a record (a claim, a fan-out, a spread): the process (bot.liveness), a token of the
    work, and when. A mark written before marks named their process has no owner and is judged by its age."""

    owner: str
    token: str
    at: datetime | None

    def to_json(self) -> Json:
        return {"owner": self.owner, "token": self.token, "at": _iso(self.at)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Mark:
        return cls(_str(data.get("owner")), _str(data.get("token")), _time(data.get("at") or data.get("since")))


@dataclass(frozen=True, slots=True)
class Claim:
    """An approver deciding: written before the decision goes to PIM, so one decision per request reaches it."""

    mark: Mark
    by: str
    by_name: str
    decision: Decision

    def to_json(self) -> Json:
        return {**self.mark.to_json(), "by": self.by, "byName": self.by_name, "decision": self.decision.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claim:
        decision = Decision(data["decision"]) if data.get("decision") else Decision.APPROVE
        return cls(Mark.from_json(data), _str(data.get("by")), _str(data.get("byName")), decision)


@dataclass(frozen=True, slots=True)
class Decided:
    """The decision on a request: approve or deny, by whom (object id, name; empty when unknown), when, why."""

    decision: Decision
    by: str
    by_name: str
    at: datetime
    reason: str = ""

    def to_json(self) -> Json:
        return {
            "decision": self.decision.value,
            "by": self.by,
            "byName": self.by_name,
            "at": self.at.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decided:
        at = _time(data.get("at")) or datetime.fromtimestamp(0).astimezone()
        by, by_name, reason = _str(data.get("by")), _str(data.get("byName")), _str(data.get("reason"))
        return cls(Decision(data["decision"]), by, by_name, at, reason)


@dataclass(frozen=True, slots=True)
class Closing:
    """A request closed without a decision: cancelled by the requester, expired, or ended by PIM (`status`)."""

    kind: str  # CLOSED_CANCELLED, CLOSED_EXPIRED or CLOSED_FAILED
    at: datetime | None
    status: str = ""

    def to_json(self) -> Json:
        return {"kind": self.kind, "at": _iso(self.at), "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Closing:
        return cls(_str(data.get("kind")), _time(data.get("at")), _str(data.get("status")))


@dataclass(frozen=True, slots=True)
class Spread:
    """The outcome is still owed to the copies and the requester, by the process of `mark`. `skip`: the clicked copy,
    which the click's answer replaced; `plain_answer`: that answer had no notice, so it may be re-rendered once the
    end of the access is known."""

    mark: Mark
    skip: str = ""
    plain_answer: bool = False

    def to_json(self) -> Json:
        return {**self.mark.to_json(), "skip": self.skip, "plainAnswer": self.plain_answer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Spread:
        return cls(Mark.from_json(data), _str(data.get("skip")), bool(data.get("plainAnswer")))


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A decision was sent but its answer lost; bot.reconcile follows it up (the poller leaves the request alone)."""

    by: str
    at: datetime | None

    def to_json(self) -> Json:
        return {"by": self.by, "at": _iso(self.at)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Unconfirmed:
        return cls(_str(data.get("by")), _time(data.get("at")))


@dataclass(frozen=True, slots=True)
class CardRef:
    """A card in a conversation: where, and its activity id."""

    conversation_id: str
    activity_id: str

    def to_json(self) -> Json:
        return {"conversationId": self.conversation_id, "activityId": self.activity_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CardRef:
        return cls(_str(data.get("conversationId")), _str(data.get("activityId")))


def _stamp(data: Mapping[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    return _time(value.get("at")) if isinstance(value, Mapping) else None


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A PIM request waiting for (or settled after) an approver's decision. `approver_ids` is None until its fan-out
    began (a click before that finds no request to decide)."""

    request_id: str
    status: str
    group_id: str = ""
    group_name: str = ""
    access: Access = Access.MEMBER
    requester_id: str = ""
    requester_name: str = ""
    requester_style: TimeStyle = TimeStyle()
    tenant_id: str = ""
    duration: timedelta = timedelta(0)
    justification: str | None = None
    ticket: str | None = None
    approvers: tuple[str, ...] = ()
    expires: datetime | None = None
    created_at: datetime | None = None
    requested_at: datetime | None = None
    cards: tuple[CardRef, ...] = ()  # the requester's own cards showing it
    found: bool = False  # the poller found it in PIM; the bot did not make it
    approver_ids: tuple[str, ...] | None = None
    approver_names: Mapping[str, str] = field(default_factory=dict)
    reason_required: bool = False
    refresh_ids: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    fan_out: Mark | None = None
    claim: Claim | None = None
    decision: Decided | None = None
    closed: Closing | None = None
    spread: Spread | None = None
    unconfirmed: Unconfirmed | None = None
    active_until: datetime | None = None
    told_at: datetime | None = None
    reminded_at: datetime | None = None
    expiry_warned_at: datetime | None = None
    screened: str = ""  # what PIM's custom extension said when it passed the request on (bot.extension), for the card

    @classmethod
    def waiting(
        cls, actor: Actor, outcome: AwaitingApproval, card: CardRef | None, now: datetime, *, fan_out: Mark, found: bool
    ) -> ApprovalRequest:
        """The record of a request that has just been seen waiting for approval, its fan-out owed (`fan_out`)."""
        request = outcome.request
        return cls(
            request_id=request.id,
            status=request.status.value,
            group_id=outcome.group.id,
            group_name=outcome.group.display_name,
            access=outcome.access,
            requester_id=actor.object_id,
            requester_name=actor.name,
            requester_style=actor.time_style,
            tenant_id=actor.tenant_id,
            duration=timedelta(minutes=int(outcome.duration.total_seconds() // 60)),
            justification=request.justification,
            ticket=request.ticket.number if request.ticket else None,
            approvers=tuple(outcome.approvers),
            expires=outcome.expires,
            created_at=now,
            cards=(card,) if card else (),
            found=found,
            fan_out=fan_out,
        )

    @property
    def is_open(self) -> bool:
        """Still waiting for a decision."""
        return self.status == RequestStatus.PENDING_APPROVAL.value and self.decision is None and self.closed is None

    @property
    def asked_at(self) -> datetime | None:
        """When the request was made (PIM's time), else when the bot recorded it."""
        return self.requested_at or self.created_at

    def with_card(self, card: CardRef) -> ApprovalRequest:
        return replace(self, cards=(*self.cards, card))

    def to_json(self) -> Json:
        data: Json = {
            "requestId": self.request_id,
            "status": self.status,
            "groupId": self.group_id,
            "groupName": self.group_name,
            "access": self.access.value,
            "requesterId": self.requester_id,
            "requesterName": self.requester_name,
            "requesterTimeZone": self.requester_style.zone,
            "requesterLocale": self.requester_style.locale,
            "tenantId": self.tenant_id,
            "durationMinutes": int(self.duration.total_seconds() // 60),
            "justification": self.justification,
            "ticket": self.ticket,
            "approvers": list(self.approvers),
            "expires": _iso(self.expires),
            "createdAt": _iso(self.created_at),
            "cards": [c.to_json() for c in self.cards],
        }
        if self.requested_at is not None:
            data["requestedAt"] = self.requested_at.isoformat()
        if self.found:
            data["found"] = True
        if self.approver_ids is not None:
            data.update(
                approverIds=list(self.approver_ids),
                approverNames=dict(self.approver_names),
                reasonRequired=self.reason_required,
                refreshIds=list(self.refresh_ids),
                unreachable=list(self.unreachable),
            )
        marks: dict[str, Json | None] = {
            "fanOut": self.fan_out.to_json() if self.fan_out else None,
            "claim": self.claim.to_json() if self.claim else None,
            "decision": self.decision.to_json() if self.decision else None,
            "closed": self.closed.to_json() if self.closed else None,
            "spread": self.spread.to_json() if self.spread else None,
            "unconfirmed": self.unconfirmed.to_json() if self.unconfirmed else None,
            "told": {"at": _iso(self.told_at)} if self.told_at else None,
            "reminded": {"at": _iso(self.reminded_at)} if self.reminded_at else None,
            "expiryWarned": {"at": _iso(self.expiry_warned_at)} if self.expiry_warned_at else None,
        }
        data.update({name: value for name, value in marks.items() if value is not None})
        if self.active_until is not None:
            data["activeUntil"] = self.active_until.isoformat()
        if self.screened:
            data["screened"] = self.screened
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApprovalRequest:
        def part(name: str) -> Mapping[str, Any] | None:
            value = data.get(name)
            return value if isinstance(value, Mapping) and value else None

        approver_ids = data.get("approverIds")
        fan_out, claim, decision = part("fanOut"), part("claim"), part("decision")
        closed, spread, unconfirmed = part("closed"), part("spread"), part("unconfirmed")
        return cls(
            request_id=_str(data.get("requestId")),
            status=_str(data.get("status")),
            group_id=_str(data.get("groupId")),
            group_name=_str(data.get("groupName") or data.get("groupId")),
            access=Access(data.get("access") or "member"),
            requester_id=_str(data.get("requesterId")),
            requester_name=_str(data.get("requesterName")),
            requester_style=TimeStyle(data.get("requesterTimeZone"), data.get("requesterLocale")),
            tenant_id=_str(data.get("tenantId")),
            duration=timedelta(minutes=int(data.get("durationMinutes") or 0)),
            justification=data.get("justification"),
            ticket=data.get("ticket"),
            approvers=tuple(map(str, data.get("approvers") or ())),
            expires=_time(data.get("expires")),
            created_at=_time(data.get("createdAt")),
            requested_at=_time(data.get("requestedAt")),
            cards=tuple(CardRef.from_json(c) for c in data.get("cards") or ()),
            found=bool(data.get("found")),
            approver_ids=tuple(map(str, approver_ids)) if isinstance(approver_ids, list) else None,
            approver_names={str(u): str(n) for u, n in (data.get("approverNames") or {}).items()},
            reason_required=bool(data.get("reasonRequired")),
            refresh_ids=tuple(map(str, data.get("refreshIds") or ())),
            unreachable=tuple(map(str, data.get("unreachable") or ())),
            fan_out=Mark.from_json(fan_out) if fan_out else None,
            claim=Claim.from_json(claim) if claim else None,
            decision=Decided.from_json(decision) if decision else None,
            closed=Closing.from_json(closed) if closed else None,
            spread=Spread.from_json(spread) if spread else None,
            unconfirmed=Unconfirmed.from_json(unconfirmed) if unconfirmed else None,
            active_until=_time(data.get("activeUntil")),
            told_at=_stamp(data, "told"),
            reminded_at=_stamp(data, "reminded"),
            expiry_warned_at=_stamp(data, "expiryWarned"),
            screened=_str(data.get("screened")),
        )


@dataclass(frozen=True, slots=True)
class ApprovalCopy:
    """One approval card sent: to an approver's 1:1 chat (`user_id`), or posted in the group's approvals channel
    (`channel_id`; read-only there for all but the approvers). `style`: how its reader reads times (UTC for a
    channel)."""

    activity_id: str
    reference: Mapping[str, Any]
    conversation_id: str
    user_id: str = ""
    style: TimeStyle = TimeStyle()
    channel_id: str = ""

    @property
    def in_channel(self) -> bool:
        return bool(self.channel_id)

    def to_json(self) -> Json:
        data: Json = {
            "userId": self.user_id,
            "activityId": self.activity_id,
            "reference": dict(self.reference),
            "conversationId": self.conversation_id,
        }
        data.update({k: v for k, v in (("timeZone", self.style.zone), ("locale", self.style.locale)) if v})
        if self.channel_id:
            data.update(channel=True, channelId=self.channel_id)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApprovalCopy:
        channel_id = _str(data.get("channelId")) or ("?" if data.get("channel") else "")
        return cls(
            activity_id=_str(data.get("activityId")),
            reference=dict(data.get("reference") or {}),
            conversation_id=_str(data.get("conversationId")),
            user_id=_str(data.get("userId")),
            style=TimeStyle(data.get("timeZone"), data.get("locale")),
            channel_id=channel_id,
        )


@dataclass(frozen=True, slots=True)
class KeptCard:
    """A card the bot sent that shows PIM requests: its kind ("activation", "cancel-question", …), where, which
    requests, when, and the card itself while a request it shows waits (to make it read-only when it settles)."""

    kind: str
    conversation_id: str
    request_ids: tuple[str, ...]
    sent_at: datetime | None
    card: Mapping[str, Any] | None = None

    def to_json(self) -> Json:
        data: Json = {
            "kind": self.kind,
            "conversationId": self.conversation_id,
            "requestIds": list(self.request_ids),
            "sentAt": _iso(self.sent_at),
        }
        if self.card is not None:
            data["card"] = dict(self.card)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeptCard:
        card = data.get("card")
        return cls(
            _str(data.get("kind")),
            _str(data.get("conversationId")),
            tuple(map(str, data.get("requestIds") or ())),
            _time(data.get("sentAt")),
            dict(card) if isinstance(card, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    """A group's approvals channel, set in Teams with `approvals here <group>`: the channel and its team, the service
    URL and tenant to post there with, and who set it when."""

    group_id: str
    group_name: str
    channel_id: str
    team_id: str = ""
    service_url: str = ""
    tenant_id: str = ""
    set_by: str = ""
    set_by_name: str = ""
    set_at: datetime | None = None

    def to_json(self) -> Json:
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "channelId": self.channel_id,
            "teamId": self.team_id,
            "serviceUrl": self.service_url,
            "tenantId": self.tenant_id,
            "setBy": self.set_by,
            "setByName": self.set_by_name,
            "setAt": _iso(self.set_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChannelEntry:
        return cls(
            group_id=_str(data.get("groupId")),
            group_name=_str(data.get("groupName")),
            channel_id=_str(data.get("channelId")),
            team_id=_str(data.get("teamId")),
            service_url=_str(data.get("serviceUrl")),
            tenant_id=_str(data.get("tenantId")),
            set_by=_str(data.get("setBy")),
            set_by_name=_str(data.get("setByName")),
            set_at=_time(data.get("setAt")),
        )


Change = Callable[[ApprovalRequest], ApprovalRequest | None]


class ApprovalRecords:
    """The approvals' records in the store; every change of one is `Store.update` (compare-and-swap)."""

    def __init__(self, store: Store, *, screening: Callable[[str], Awaitable[str]] | None = None) -> None:
        """`screening(request id)`: what PIM's custom extension said when it passed the request on to approval ("" if
        it did not: bot.extension.records), shown on the approval card."""
        self._store = store
        self._served: set[str] = set()  # groups this process has remembered (approvals/group/*)
        self._screening = screening

    # ---- requests -------------------------------------------------------------------------------------------------

    async def create(self, request: ApprovalRequest) -> bool:
        """Write the record only if none exists (of the turn that made the request and a poller that found it in PIM,
        one wins); whether this call wrote it."""
        if self._screening is not None and not request.screened:
            try:
                request = replace(request, screened=await self._screening(request.request_id))
            except Exception:  # the card goes out without the line rather than not at all
                log.warning("could not read the custom extension's word on request %s", request.request_id)
        try:
            await self._store.put_if(k.request(request.request_id), request.to_json(), None)
        except Conflict:
            return False
        metrics.APPROVALS_CREATED.inc()
        return True

    async def get(self, request_id: str) -> ApprovalRequest | None:
        found = await self._store.get(k.request(request_id))
        return ApprovalRequest.from_json(found.value) if found is not None else None

    async def update(self, request_id: str, change: Change) -> ApprovalRequest | None:
        """The record after `change` (compare-and-swap; `change` may run several times and returns the record as it
        should be, or None to leave it): the record as it now is, or None when there is none."""
        current: list[ApprovalRequest] = []

        def apply(value: Json) -> Json | None:
            before = ApprovalRequest.from_json(value)
            after = change(before)
            current[:] = [after if after is not None else before]
            return None if after is None or after == before else after.to_json()

        await self._store.update(k.request(request_id), apply)
        return current[0] if current else None

    async def put_over(self, request: ApprovalRequest, then: ApprovalRequest) -> bool:
        """Replace `request` by `then` only if the record is still as `request` reads (a taker of owed work: one of
        several succeeds). Whether this call did."""
        found = await self._store.get(k.request(request.request_id))
        if found is None or ApprovalRequest.from_json(found.value) != request:
            return False
        try:
            await self._store.put_if(k.request(request.request_id), then.to_json(), found.etag)
        except Conflict:
            return False
        return True

    async def drop_claim(self, request_id: str, mark: Mark) -> None:
        """Drop the claim of `mark` (a claim someone else has taken since is theirs); a failure is logged."""

        def drop(record: ApprovalRequest) -> ApprovalRequest | None:
            mine = record.claim is not None and record.claim.mark.token == mark.token
            return replace(record, claim=None) if mine else None

        try:
            await self.update(request_id, drop)
        except Exception:
            log.exception("could not release the claim on request %s", request_id)

    async def open_requests(self) -> list[ApprovalRequest]:
        """Every request still waiting for a decision, oldest first."""
        waiting = [r for r in await self.all() if r.is_open]
        return sorted(waiting, key=lambda r: _iso(r.asked_at) or "")

    async def ids(self) -> AsyncGenerator[str, None]:
        """The ids of every request record, read a page at a time (the store's listing): a poll over 10,000 records
        does not hold 10,000 ids at once (about 1 MB, every poll, in issue 16's memory soak)."""
        async for key in self._store.keys(k.REQUESTS):
            yield key.removeprefix(k.REQUESTS)

    async def all(self) -> list[ApprovalRequest]:
        return [ApprovalRequest.from_json(v.value) async for _, v in self._store.items(k.REQUESTS)]

    # ---- copies ---------------------------------------------------------------------------------------------------

    async def add_copy(self, request_id: str, copy: ApprovalCopy) -> None:
        key = k.request_copy(request_id, copy.activity_id or copy.user_id or copy.conversation_id)
        await self._store.put_if(key, copy.to_json(), ANY)

    async def copies(self, request_id: str) -> list[ApprovalCopy]:
        return [ApprovalCopy.from_json(v.value) async for _, v in self._store.items(k.request_copies(request_id))]

    # ---- cards showing requests -------------------------------------------------------------------------------------

    async def remember_card(self, activity_id: str | None, kept: KeptCard) -> None:
        """Keep a card just sent (with its JSON when it shows a waiting request: then it is also the request's last
        kept card, found again for a request recorded later)."""
        if not activity_id:
            return
        await self._store.put_if(k.card(activity_id), kept.to_json(), ANY)
        if kept.card is not None:
            for request_id in kept.request_ids:
                shown = CardRef(kept.conversation_id, activity_id).to_json()
                await self._store.put_if(k.request_card(request_id), shown, ANY)

    async def request_card(self, request_id: str) -> CardRef | None:
        """The last card `remember_card` kept that shows the request."""
        found = await self._store.get(k.request_card(request_id))
        return CardRef.from_json(found.value) if found is not None else None

    async def update_card(self, activity_id: str, change: Callable[[KeptCard], KeptCard]) -> KeptCard | None:
        """`change` applied to a kept card (compare-and-swap: two requests on one card may settle at once); the card
        written, or None if there is none."""
        written = await self._store.update(k.card(activity_id), lambda v: change(KeptCard.from_json(v)).to_json())
        return KeptCard.from_json(written.value) if written is not None else None

    # ---- served groups ------------------------------------------------------------------------------------------

    async def serve_group(self, group_id: str) -> None:
        """Remember, durably, that the bot relays approvals of this group: the poller looks there for requests nobody
        recorded. Once per group and process; a failure is logged, not raised (a safety net, never a reason to refuse
        an activation)."""
        key = k.served_group(group_id)
        if key in self._served:
            return
        try:
            await self._store.put_if(key, {"groupId": group_id}, ANY)
        except Exception:
            log.warning("could not remember that group %s has approvals", group_id, exc_info=True)
            return
        self._served.add(key)

    async def served_group_ids(self) -> list[str]:
        return [key.removeprefix(k.SERVED_GROUPS) async for key in self._store.keys(k.SERVED_GROUPS)]

    # ---- approvals channels ---------------------------------------------------------------------------------------

    async def channel(self, group_id: str) -> ChannelEntry | None:
        found = await self._store.get(k.approval_channel(group_id))
        return ChannelEntry.from_json(found.value) if found is not None else None

    async def set_channel(self, entry: ChannelEntry) -> None:
        await self._store.put_if(k.approval_channel(entry.group_id), entry.to_json(), ANY)

    async def forget_channel(self, group_id: str) -> None:
        await self._store.delete(k.approval_channel(group_id))

    async def channels(self) -> list[ChannelEntry]:
        return [ChannelEntry.from_json(v.value) async for _, v in self._store.items(k.APPROVAL_CHANNELS)]
