"""The admin feed's domain types (issue 5): what PIM looks like for one monitored group at one poll, and the events a
change between two polls means.

Graph is the source of truth: the feed polls schedules per group (PIM objects have no change notifications),
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
    "AuditRead",
    "DetailQuery",
    "EndReason",
    "EventKind",
    "FeedEvent",
    "GroupState",
    "LoggedDecision",
    "RequestRecord",
    "ScheduleItem",
    "ScheduleKind",
    "UnknownFeedGroups",
    "approval_event_id",
    "detail_queries",
    "diff",
    "enrich",
    "event_id",
    "extension_event_id",
]

EXPIRY_NOTICE = timedelta(days=14)  # an eligibility ending within this is announced once


class ScheduleKind(StrEnum):
    ELIGIBLE = "eligible"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One eligibility window or active assignment as Graph lists it for a group (an eligibilitySchedule, current
    or starting later, or an assignmentScheduleInstance). `key` identifies "this person's eligible/active
    member/owner access to this group" across polls; Graph may replace the id when a schedule is extended."""

    kind: ScheduleKind
    id: str  # schedule or instance id
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
    EXTENSION_EVALUATED = "extension.evaluated"  # PIM asked the bot (custom extension); decision = the outcome


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
    rule: str | None = None  # EXTENSION_EVALUATED: the rule that decided
    reasons: tuple[str, ...] = ()  # EXTENSION_EVALUATED: the reasons given to PIM

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


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """An approval outcome as PIM's audit log records it (graph.wire.parse_pim_decision). `request_named`: the entry
    named its request in additionalDetails; False when the request id is the entry's correlationId, which PIM does
    not keep equal to the request's (one request's entries can carry several correlation ids), so `event.id` may not
    be the id the approval desk gives the same outcome (bot.feed pairs those by what they say instead)."""

    event: FeedEvent
    request_named: bool = True


@dataclass(frozen=True, slots=True)
class AuditRead:
    """One incremental read of PIM's audit log (graph.feed.FeedReader.read_pim_audit): the groups it names (each
    once, newest first: discovery), the approval outcomes it records (oldest first), and the new watermark (the
    newest entry's time, or the old one when the read found nothing)."""

    groups: tuple[str, ...] = ()
    decisions: tuple[LoggedDecision, ...] = ()
    watermark: datetime | None = None


def extension_event_id(request_id: str) -> str:
    """The id of the EXTENSION_EVALUATED event of one request: PIM's retries of the call are one event, posted once."""
    return f"{EventKind.EXTENSION_EVALUATED.value}|{request_id.casefold()}"


def approval_event_id(request_id: str) -> str:
    """The id of the APPROVAL_DECIDED event of one request: one request is decided once, so the outcome the approval
    desk reports and the one the audit log records are the same event, posted once."""
    return f"{EventKind.APPROVAL_DECIDED.value}|{request_id.casefold()}"


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
    * Items are matched by `ScheduleItem.key` (Graph may give an extended schedule a new instance id).
    * An item whose end has passed counts as gone even if Graph still listed it (Graph removes ended instances
      within seconds; `now` decides for the current poll and `previous.read_at` for the previous one).
    * Eligible items are schedules: a window that has not started yet is listed as well, so it is announced when
      it is made (with its own start) and its start is no news. One key may have several windows (the current
      one and a renewal scheduled after it); they are matched by schedule id, the rest in order of start, and
      each is compared with its match: new → CREATED, or RENEWED (previous_end = the end of the earlier window)
      when an earlier window of the same key is listed with it; end moved later → EXTENDED; the old window lapsed
      and its match is in effect → RENEWED; gone → REMOVED (reason EXPIRED at or after its end, else REMOVED;
      a window that lapsed while a later one follows it is silent: its renewal was announced); an end that comes
      within EXPIRY_NOTICE between the two polls → EXPIRING, once per window, and not for a window a later one
      follows (a window already that close at the previous poll was announced then, or was already close when
      the feed started).
    * Active items are what is in effect; should a key appear twice in one poll, the window ending last stands
      for it. New → ACTIVATED (just-in-time) or ASSIGNED (by an admin; `FeedEvent.warning` when permanent); gone
      → ENDED (reason EXPIRED at or after its end, else UNKNOWN until `enrich` reads the request history); a new
      start under the same key → the old one ENDED and the new one started. An active end moved by an admin
      (adminExtend/adminUpdate of a direct assignment) has no event kind and passes silently.
    """
    if previous is None:
        return []
    before = _by_key(previous.items, previous.read_at)
    after = _by_key(current.items, now)
    events: list[FeedEvent] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, []), after.get(key, [])
        if key[0] == ScheduleKind.ELIGIBLE.value:
            events += _eligible_windows_changes(old, new, previous.read_at, now)
        else:
            events += _active_changes(_last(old), _last(new), now)
    return events


Key = tuple[str, str, str, str]
_FLOOR = datetime.min.replace(tzinfo=UTC)


def _by_key(items: Iterable[ScheduleItem], at: datetime) -> dict[Key, list[ScheduleItem]]:
    """The windows of each key that have not ended at `at`, in order of start: one per schedule, and one per
    (start, end) (the same window listed twice is one). Which duplicate stands does not depend on Graph's row
    order."""
    by_schedule: dict[tuple[Key, str], ScheduleItem] = {}
    for item in items:
        if item.end is not None and item.end <= at:
            continue  # ended: Graph had not removed it yet
        ident = (item.key, (item.schedule_id or item.id).casefold())
        known = by_schedule.get(ident)
        if known is None or _rank(item) > _rank(known):
            by_schedule[ident] = item
    by_window: dict[tuple[Key, str, str], ScheduleItem] = {}
    for item in by_schedule.values():
        window = (item.key, _instant(item.start), _instant(item.end))
        known = by_window.get(window)
        if known is None or _rank(item) > _rank(known):
            by_window[window] = item
    out: dict[Key, list[ScheduleItem]] = {}
    for item in sorted(by_window.values(), key=lambda i: (i.start or _FLOOR, _rank(i))):
        out.setdefault(item.key, []).append(item)
    return out


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


def _last(windows: Sequence[ScheduleItem]) -> ScheduleItem | None:
    """The window ending last (the one that stands for an active key)."""
    return max(windows, key=_rank, default=None)


def _later(new: datetime | None, old: datetime | None) -> bool:
    """`new` ends later than `old` (None = never)."""
    if old is None:
        return False
    return new is None or new > old


def _pairs(
    old: Sequence[ScheduleItem], new: Sequence[ScheduleItem]
) -> list[tuple[ScheduleItem | None, ScheduleItem | None]]:
    """The windows of one key at two polls, matched: by schedule id, then the rest in order of start (Graph may
    give an extended or renewed window a new id), then what is left over on either side alone."""
    new_by_id = {(n.schedule_id or n.id).casefold(): n for n in new}
    pairs: list[tuple[ScheduleItem | None, ScheduleItem | None]] = []
    old_rest: list[ScheduleItem] = []
    for o in old:
        match = new_by_id.pop((o.schedule_id or o.id).casefold(), None)
        if match is None:
            old_rest.append(o)
        else:
            pairs.append((o, match))
    new_rest = [n for n in new if (n.schedule_id or n.id).casefold() in new_by_id]
    pairs += zip(old_rest, new_rest, strict=False)
    n = min(len(old_rest), len(new_rest))
    pairs += [(o, None) for o in old_rest[n:]]
    pairs += [(None, w) for w in new_rest[n:]]
    return pairs


def _eligible_windows_changes(
    old: Sequence[ScheduleItem], new: Sequence[ScheduleItem], previous_read_at: datetime, now: datetime
) -> list[FeedEvent]:
    events: list[FeedEvent] = []
    for before, after in _pairs(old, new):
        if before is None and after is not None:
            earlier = _last([w for w in new if w is not after and (w.start or _FLOOR) < (after.start or _FLOOR)])
            if earlier is not None and earlier.end is not None:
                # A renewal scheduled after the window in effect: the new window, with its own start.
                events.append(_event(EventKind.ELIGIBLE_RENEWED, after, now, previous_end=earlier.end))
            else:
                events.append(_event(EventKind.ELIGIBLE_CREATED, after, now))
        elif before is not None and after is None:
            expired = before.end is not None and before.end <= now
            if expired and _followed(before, new):
                continue  # lapsed into the renewal that follows it, announced when it was made
            reason = EndReason.EXPIRED if expired else EndReason.REMOVED
            events.append(_event(EventKind.ELIGIBLE_REMOVED, before, now, reason=reason))
        elif before is not None and after is not None:
            followed = (_followed(before, old), _followed(after, new))
            events += _eligible_changes(before, after, previous_read_at, now, followed=followed)
    return events


def _followed(window: ScheduleItem, windows: Sequence[ScheduleItem]) -> bool:
    """Another of `windows` ends after `window` (or never): a renewal follows it."""
    return any(w is not window and _later(w.end, window.end) for w in windows)


def _eligible_changes(
    old: ScheduleItem,
    new: ScheduleItem,
    previous_read_at: datetime,
    now: datetime,
    *,
    followed: tuple[bool, bool] = (False, False),
) -> list[FeedEvent]:
    """One window at two polls; `followed`: whether a later window of the same key followed it at each poll."""
    events: list[FeedEvent] = []
    if old.end is not None and old.end <= now:
        events.append(_event(EventKind.ELIGIBLE_RENEWED, new, now, previous_end=old.end))
    elif _later(new.end, old.end):
        events.append(_event(EventKind.ELIGIBLE_EXTENDED, new, now, previous_end=old.end))
    if new.end is not None and new.end - now <= EXPIRY_NOTICE and not followed[1]:
        # Already that close at the previous poll: announced then (or when the feed started), unless a renewal
        # followed it then and has since been removed.
        announced = old.end == new.end and old.end - previous_read_at <= EXPIRY_NOTICE and not followed[0]
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
    """`record` may have ended the event's window: made before the poll saw the end, and for that schedule
    (targetScheduleId) or, where that is not known, after the window started. A window scheduled for later can be
    removed before it starts: its schedule id is what ties the removal to it."""
    if not record.carried_out:
        return False
    same_schedule = False
    if record.target_schedule_id and event.schedule_id:
        if record.target_schedule_id.casefold() != event.schedule_id.casefold():
            return False
        same_schedule = True
    if record.created is None:
        return True
    if event.observed_at is not None and record.created > event.observed_at + _SKEW:
        return False
    return same_schedule or event.start is None or record.created >= event.start - _SKEW


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
