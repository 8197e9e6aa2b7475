"""The admin feed's domain types (issue 5): what PIM looks like for one monitored group at one poll, and the events a
change between two polls means.

Graph is the source of truth: the feed polls schedule instances per group (PIM objects have no change notifications),
compares them with the last durable snapshot and turns the difference into `FeedEvent`s. Nothing here reads a clock
or calls Graph; the poller passes `now` and what it read.

An event's `id` is deterministic (kind, principal, group, access, and the window that changed), so the same change seen
twice — by a restarted process, or by two processes — is the same event and is posted once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.errors import PimError
from core.models import Access, Ticket

__all__ = [
    "EXPIRY_NOTICE",
    "DetailQuery",
    "EndReason",
    "EventKind",
    "FeedEvent",
    "GroupState",
    "RequestRecord",
    "ScheduleItem",
    "ScheduleKind",
    "UnknownFeedGroups",
    "detail_queries",
    "diff",
    "enrich",
    "event_id",
]

EXPIRY_NOTICE = timedelta(days=14)  # an eligibility ending within this is announced once


class ScheduleKind(StrEnum):
    ELIGIBLE = "eligible"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One schedule instance as Graph lists it for a group (eligibilityScheduleInstances or
    assignmentScheduleInstances). `key` identifies "this person's eligible/active member/owner access to this group"
    across polls; Graph may replace the instance id when a schedule is extended."""

    kind: ScheduleKind
    id: str  # instance id
    group_id: str
    principal_id: str
    access: Access
    start: datetime | None
    end: datetime | None  # None = permanent
    member_type: str = "direct"  # "direct" | "group" (inherited through membership of another group)
    activated: bool = False  # active only: True = a just-in-time activation, False = assigned directly by an admin
    schedule_id: str | None = None  # the schedule the instance belongs to (a request's targetScheduleId)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind.value, self.principal_id.casefold(), self.group_id.casefold(), self.access.value)


@dataclass(frozen=True, slots=True)
class GroupState:
    """Everything the feed saw for one monitored group at one poll."""

    group_id: str
    read_at: datetime
    items: tuple[ScheduleItem, ...] = ()


class EventKind(StrEnum):
    ELIGIBLE_CREATED = "eligible.created"
    ELIGIBLE_EXTENDED = "eligible.extended"  # same eligibility, later end (adminExtend / adminUpdate)
    ELIGIBLE_RENEWED = "eligible.renewed"  # an expired or expiring eligibility given a new window (adminRenew)
    ELIGIBLE_REMOVED = "eligible.removed"  # ended before its end (adminRemove) or expired (reason says which)
    ELIGIBLE_EXPIRING = "eligible.expiring"  # ends within EXPIRY_NOTICE; announced once per window
    ACTIVE_ACTIVATED = "active.activated"  # a just-in-time activation (selfActivate, possibly after approval)
    ACTIVE_ASSIGNED = "active.assigned"  # assigned directly by an admin; `permanent` → a warning
    ACTIVE_ENDED = "active.ended"  # expired, deactivated or removed (reason says which)
    APPROVAL_DECIDED = "approval.decided"  # approved, denied or expired (reason / decision says which)


class EndReason(StrEnum):
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"  # selfDeactivate by the user
    REMOVED = "removed"  # adminRemove
    UNKNOWN = "unknown"  # gone before its end and Graph's history does not say why


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One thing that happened, ready to be put into words. Object ids only; names are resolved when posting."""

    id: str
    kind: EventKind
    group_id: str
    principal_id: str
    access: Access
    start: datetime | None = None
    end: datetime | None = None  # None with a start = permanent
    previous_end: datetime | None = None  # extended/renewed: the end before the change
    by: str | None = None  # object id of who made the change (request createdBy), None when unknown
    justification: str | None = None
    ticket: Ticket | None = None
    reason: EndReason | None = None  # ACTIVE_ENDED / ELIGIBLE_REMOVED
    decision: str | None = None  # APPROVAL_DECIDED: "approved" | "denied" | "expired" | "canceled"
    member_type: str = "direct"
    observed_at: datetime | None = None  # when the poll saw it (event-to-post latency is measured from here)
    schedule_id: str | None = None  # the schedule behind the change: matches a request's targetScheduleId

    @property
    def permanent(self) -> bool:
        return self.end is None and self.kind in (
            EventKind.ELIGIBLE_CREATED,
            EventKind.ELIGIBLE_EXTENDED,
            EventKind.ELIGIBLE_RENEWED,
            EventKind.ACTIVE_ASSIGNED,
            EventKind.ACTIVE_ACTIVATED,
        )

    @property
    def warning(self) -> bool:
        """A permanent direct active assignment bypasses just-in-time access altogether: admins want it flagged."""
        return self.kind is EventKind.ACTIVE_ASSIGNED and self.end is None


class UnknownFeedGroups(PimError):
    """FEED_GROUPS names a group Graph does not know (`missing`), or a name several groups share (`ambiguous`:
    name → their ids). Nothing is monitored until the setting is fixed."""

    def __init__(self, missing: Sequence[str] = (), ambiguous: Mapping[str, Sequence[str]] | None = None) -> None:
        self.missing = tuple(missing)
        self.ambiguous = {name: tuple(ids) for name, ids in (ambiguous or {}).items()}
        parts = [f"not found: {', '.join(self.missing)}"] if self.missing else []
        parts += [f"{name!r} is the name of {len(ids)} groups" for name, ids in self.ambiguous.items()]
        super().__init__("; ".join(parts) or "unknown feed groups")


# -- the diff ------------------------------------------------------------------------------------------------------


def event_id(
    kind: EventKind,
    group_id: str,
    principal_id: str,
    access: Access,
    start: datetime | None,
    end: datetime | None,
    previous_end: datetime | None = None,
) -> str:
    """The id of a change: the same change, computed twice (a replay, a second process), has the same id. What the
    enrichment adds later (who, why, the end reason) is not part of it, so an id never depends on a Graph read that
    may or may not succeed."""
    parts = (
        kind.value,
        principal_id.casefold(),
        group_id.casefold(),
        access.value,
        _instant(start),
        _instant(end),
        _instant(previous_end),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _instant(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat() if value.tzinfo is not None else value.isoformat()


def diff(previous: GroupState | None, current: GroupState, now: datetime) -> list[FeedEvent]:
    """What changed in one group between two polls, as events (object ids only, no names, no request details).

    * `previous` None is the first poll of the group: a baseline, no events (the feed announces changes, not the
      state it found).
    * Items are matched by `ScheduleItem.key` (Graph may give an extended schedule a new instance id). Should a key
      appear twice in one poll, the window ending last stands for it.
    * An item whose end has passed counts as gone even if Graph still listed it (Graph removes ended instances
      within seconds; `now` decides for the current poll and `previous.read_at` for the previous one).
    * Eligible: new → CREATED; end moved later → EXTENDED; the old window lapsed and another is in effect →
      RENEWED; gone → REMOVED (reason EXPIRED at or after its end, else REMOVED); an end that comes within
      EXPIRY_NOTICE between the two polls → EXPIRING, once per window (a window already that close at the
      previous poll was announced then, or was already close when the feed started).
    * Active: new → ACTIVATED (just-in-time) or ASSIGNED (by an admin; `FeedEvent.warning` when permanent); gone →
      ENDED (reason EXPIRED at or after its end, else UNKNOWN until `enrich` reads the request history); a new
      start under the same key → the old one ENDED and the new one started. An active end moved by an admin
      (adminExtend/adminUpdate of a direct assignment) has no event kind and passes silently.
    """
    if previous is None:
        return []
    before = _by_key(previous.items, previous.read_at)
    after = _by_key(current.items, now)
    events: list[FeedEvent] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if key[0] == ScheduleKind.ELIGIBLE.value:
            events += _eligible_changes(old, new, previous.read_at, now)
        else:
            events += _active_changes(old, new, now)
    return events


def _by_key(items: Iterable[ScheduleItem], at: datetime) -> dict[tuple[str, str, str, str], ScheduleItem]:
    out: dict[tuple[str, str, str, str], ScheduleItem] = {}
    for item in items:
        if item.end is not None and item.end <= at:
            continue  # ended: Graph had not removed it yet
        known = out.get(item.key)
        if known is None or _rank(item) > _rank(known):
            out[item.key] = item
    return out


_FLOOR = datetime.min.replace(tzinfo=UTC)


def _rank(item: ScheduleItem) -> tuple[bool, datetime, datetime, str, str, bool, str]:
    """Orders two windows of one key: the permanent one, else the later end, then the later start; the rest only
    makes the choice independent of Graph's row order."""
    return (
        item.end is None,
        item.end or _FLOOR,
        item.start or _FLOOR,
        item.id,
        item.schedule_id or "",
        item.activated,
        item.member_type,
    )


def _later(new: datetime | None, old: datetime | None) -> bool:
    """`new` ends later than `old` (None = never)."""
    if old is None:
        return False
    return new is None or new > old


def _eligible_changes(
    old: ScheduleItem | None, new: ScheduleItem | None, previous_read_at: datetime, now: datetime
) -> list[FeedEvent]:
    if old is None and new is not None:
        return [_event(EventKind.ELIGIBLE_CREATED, new, now)]
    if old is not None and new is None:
        expired = old.end is not None and old.end <= now
        return [
            _event(EventKind.ELIGIBLE_REMOVED, old, now, reason=EndReason.EXPIRED if expired else EndReason.REMOVED)
        ]
    if old is None or new is None:
        return []
    events: list[FeedEvent] = []
    if old.end is not None and old.end <= now:
        events.append(_event(EventKind.ELIGIBLE_RENEWED, new, now, previous_end=old.end))
    elif _later(new.end, old.end):
        events.append(_event(EventKind.ELIGIBLE_EXTENDED, new, now, previous_end=old.end))
    if new.end is not None and new.end - now <= EXPIRY_NOTICE:
        announced = old.end == new.end and old.end - previous_read_at <= EXPIRY_NOTICE
        if not announced:
            events.append(_event(EventKind.ELIGIBLE_EXPIRING, new, now))
    return events


def _active_changes(old: ScheduleItem | None, new: ScheduleItem | None, now: datetime) -> list[FeedEvent]:
    events: list[FeedEvent] = []
    if old is not None and new is not None and old.start == new.start and old.activated == new.activated:
        return events
    if old is not None:
        expired = old.end is not None and old.end <= now
        events.append(
            _event(EventKind.ACTIVE_ENDED, old, now, reason=EndReason.EXPIRED if expired else EndReason.UNKNOWN)
        )
    if new is not None:
        events.append(_event(EventKind.ACTIVE_ACTIVATED if new.activated else EventKind.ACTIVE_ASSIGNED, new, now))
    return events


def _event(
    kind: EventKind,
    item: ScheduleItem,
    now: datetime,
    *,
    previous_end: datetime | None = None,
    reason: EndReason | None = None,
) -> FeedEvent:
    return FeedEvent(
        id=event_id(kind, item.group_id, item.principal_id, item.access, item.start, item.end, previous_end),
        kind=kind,
        group_id=item.group_id,
        principal_id=item.principal_id,
        access=item.access,
        start=item.start,
        end=item.end,
        previous_end=previous_end,
        reason=reason,
        member_type=item.member_type,
        observed_at=now,
        schedule_id=item.schedule_id,
    )


# -- request details -----------------------------------------------------------------------------------------------

_CARRIED_OUT = frozenset(
    {"provisioned", "granted", "revoked", "pendingprovisioning", "schedulecreated", "pendingschedulecreation"}
)
_GRANTS = frozenset({"adminassign", "adminupdate", "adminextend", "adminrenew"})
_ACTIVATIONS = frozenset({"selfactivate", "selfextend", "selfrenew"})
_ENDINGS = {"selfdeactivate": EndReason.DEACTIVATED, "adminremove": EndReason.REMOVED}
_SKEW = timedelta(minutes=5)  # between Graph's createdDateTime and the instance times / our clock


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request from Graph's history (eligibilityScheduleRequests / assignmentScheduleRequests): who asked for a
    change, why, and whether it went through an approval."""

    kind: ScheduleKind
    id: str
    action: str  # as Graph spells it (adminAssign, selfActivate, …): compared case-insensitively
    status: str
    group_id: str
    principal_id: str
    access: Access
    created: datetime | None = None
    created_by: str | None = None  # object id of the user or application that made the request
    justification: str | None = None
    ticket: Ticket | None = None
    approval_id: str | None = None
    target_schedule_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind.value, self.principal_id.casefold(), self.group_id.casefold(), self.access.value)

    @property
    def carried_out(self) -> bool:
        return self.status.casefold() in _CARRIED_OUT


@dataclass(frozen=True, slots=True)
class DetailQuery:
    """The request history the enrichment needs: one kind of requests of one principal in one group."""

    kind: ScheduleKind
    group_id: str
    principal_id: str


def _needs_details(event: FeedEvent) -> ScheduleKind | None:
    if event.kind in (EventKind.ELIGIBLE_CREATED, EventKind.ELIGIBLE_EXTENDED, EventKind.ELIGIBLE_RENEWED):
        return ScheduleKind.ELIGIBLE
    if event.kind is EventKind.ELIGIBLE_REMOVED and event.reason is not EndReason.EXPIRED:
        return ScheduleKind.ELIGIBLE
    if event.kind in (EventKind.ACTIVE_ACTIVATED, EventKind.ACTIVE_ASSIGNED):
        return ScheduleKind.ACTIVE
    if event.kind is EventKind.ACTIVE_ENDED and event.reason is not EndReason.EXPIRED:
        return ScheduleKind.ACTIVE
    return None  # expiring, expired: nobody made them happen


def detail_queries(events: Iterable[FeedEvent]) -> list[DetailQuery]:
    """The request histories to read for `events`, each once (first come first): nothing for an expiry."""
    seen: dict[tuple[str, str, str], DetailQuery] = {}
    for event in events:
        kind = _needs_details(event)
        if kind is not None:
            key = (kind.value, event.group_id.casefold(), event.principal_id.casefold())
            seen.setdefault(key, DetailQuery(kind, event.group_id, event.principal_id))
    return list(seen.values())


def enrich(events: Sequence[FeedEvent], records: Iterable[RequestRecord]) -> list[FeedEvent]:
    """`events` with who made each change and why, from the request history (`records` of the `detail_queries`).

    Fills `by`, `justification`, `ticket`; an eligibility whose request was adminRenew becomes RENEWED; an
    activation that went through an approval gets decision "approved"; an active assignment that ended early gets
    DEACTIVATED (selfDeactivate) or REMOVED (adminRemove), else stays UNKNOWN. Ids are not changed: they belong to
    the change the diff saw. An event without a matching request is returned as it was.
    """
    by_key: dict[tuple[str, str, str, str], list[RequestRecord]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
    out: list[FeedEvent] = []
    for event in events:
        kind = _needs_details(event)
        if kind is None:
            out.append(event)
            continue
        key = (kind.value, event.principal_id.casefold(), event.group_id.casefold(), event.access.value)
        out.append(_enriched(event, by_key.get(key, [])))
    return out


def _enriched(event: FeedEvent, history: Sequence[RequestRecord]) -> FeedEvent:
    if event.kind in (EventKind.ACTIVE_ENDED, EventKind.ELIGIBLE_REMOVED):
        ending = _latest(r for r in history if r.action.casefold() in _ENDINGS and _after_start(r, event))
        if ending is None:
            return event
        reason = _ENDINGS[ending.action.casefold()] if event.kind is EventKind.ACTIVE_ENDED else EndReason.REMOVED
        return _with_request(event, ending, reason=reason)
    actions = _ACTIVATIONS if event.kind is EventKind.ACTIVE_ACTIVATED else _GRANTS
    request = _grant_for(event, [r for r in history if r.action.casefold() in actions])
    if request is None:
        return event
    kind = event.kind
    if request.action.casefold() == "adminrenew" and kind in (EventKind.ELIGIBLE_CREATED, EventKind.ELIGIBLE_EXTENDED):
        kind = EventKind.ELIGIBLE_RENEWED
    decision = "approved" if event.kind is EventKind.ACTIVE_ACTIVATED and request.approval_id else None
    return _with_request(replace(event, kind=kind), request, decision=decision)


def _grant_for(event: FeedEvent, candidates: Sequence[RequestRecord]) -> RequestRecord | None:
    """The request that made the window: the latest carried out for the event's schedule (an extension targets the
    schedule it extends), else the latest carried out before the poll saw the change."""
    done = [r for r in candidates if r.carried_out]
    if event.schedule_id:
        target = event.schedule_id.casefold()
        matching = [r for r in done if r.target_schedule_id and r.target_schedule_id.casefold() == target]
        if matching:
            return _latest(matching)
    seen = event.observed_at
    return _latest(r for r in done if seen is None or r.created is None or r.created <= seen + _SKEW)


def _after_start(record: RequestRecord, event: FeedEvent) -> bool:
    if not record.carried_out:
        return False
    if record.target_schedule_id and event.schedule_id:
        if record.target_schedule_id.casefold() != event.schedule_id.casefold():
            return False
    if record.created is None or event.start is None:
        return True
    return record.created >= event.start - _SKEW and (
        event.observed_at is None or record.created <= event.observed_at + _SKEW
    )


def _latest(records: Iterable[RequestRecord]) -> RequestRecord | None:
    best: RequestRecord | None = None
    for record in records:
        if best is None or (record.created is not None and (best.created is None or record.created >= best.created)):
            best = record
    return best


def _with_request(
    event: FeedEvent, request: RequestRecord, *, reason: EndReason | None = None, decision: str | None = None
) -> FeedEvent:
    return replace(
        event,
        by=request.created_by or event.by,
        justification=request.justification or event.justification,
        ticket=request.ticket or event.ticket,
        reason=reason or event.reason,
        decision=decision or event.decision,
    )
