"""PIM's audit log as the bot understands it, and the admins' `audit export` (issue 14 point 5): a CSV of the
monitored groups' activations, deactivations, approvals, admin assignments and removals over a period, one row per
event, correlated by PIM request id with the schedule requests Graph still lists.

`PimAuditEntry` is what graph.wire makes of one PIM-for-Groups entry of the directory audit log (one parser serves
the admin feed, `history` and the export). Microsoft documents no shape for these entries (graph-pim-groups.md §9):
an entry the reader cannot place has no group, principal or request, and is left out of the export (counted).

The directory audit log keeps 30 days ("Microsoft Entra data retention", Activity reports: Audit logs, 30 days with
Entra ID P1 or P2, which PIM requires; https://learn.microsoft.com/entra/identity/monitoring-health/reference-reports-
data-retention, MicrosoftDocs/entra-docs `docs/identity/monitoring-health/reference-reports-data-retention.md`):
an export that starts earlier says from when the log could still tell, and what it has before that comes from the
schedule requests only. Pure: graph.history reads, bot.exports delivers.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

from core.models import Access, Group, Ticket

__all__ = [
    "AUDIT_RETENTION",
    "AuditKind",
    "ExportData",
    "ExportPeriod",
    "ExportRow",
    "ExportSource",
    "ExportSummary",
    "PimAuditEntry",
    "ScheduleRequestRow",
    "export_rows",
    "period_of",
    "summarise",
    "to_csv",
]

AUDIT_RETENTION = timedelta(days=30)


class AuditKind(StrEnum):
    """What a PIM-for-Groups audit entry records (its activity name, read by graph.wire)."""

    REQUESTED = "activation requested"
    APPROVAL_REQUESTED = "approval requested"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "request expired"  # nobody decided within the approval's 24 h
    CANCELED = "canceled"
    ACTIVATED = "activated"
    DEACTIVATION_REQUESTED = "deactivation requested"
    DEACTIVATED = "deactivated"
    ACTIVATION_ENDED = "activation ended"  # reached its end time
    ELIGIBLE_ASSIGNED = "eligible assigned"
    ELIGIBLE_REMOVED = "eligible removed"
    ACTIVE_ASSIGNED = "active assigned"
    ACTIVE_REMOVED = "active removed"
    UPDATED = "assignment updated"  # an admin's update, extension or renewal
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PimAuditEntry:
    """One PIM-for-Groups entry of the directory audit log, as far as the reader could place it.

    `request_id`: the PIM request, from additionalDetails when `request_named`, else the entry's correlationId (which
    PIM may give each step of a request anew). `initiator_*`: who did it (a user or an app); `by_pim`: PIM itself
    (an expiry). `phase`: "requested" / "completed" / "" as the activity name says. `reason`: a reason beside the
    request's justification (an approver's, where the entry carries one: inferred, no documented key)."""

    id: str
    at: datetime | None
    activity: str
    kind: AuditKind
    phase: str
    group_id: str | None
    principal_id: str | None
    request_id: str | None
    request_named: bool
    initiator_id: str | None
    initiator_name: str | None
    by_pim: bool
    access: Access
    justification: str | None = None
    reason: str | None = None
    group_name: str | None = None  # the group target's displayName, as the entry was written


@dataclass(frozen=True, slots=True)
class ScheduleRequestRow:
    """A schedule request of a monitored group as Graph lists it (assignment or eligibility)."""

    id: str
    eligibility: bool
    action: str
    status: str
    group_id: str
    principal_id: str
    access: Access
    created: datetime | None
    created_by: str | None
    justification: str | None
    ticket: Ticket | None


@dataclass(frozen=True, slots=True)
class ExportPeriod:
    """The days asked for (UTC, both included) as instants, and from when the audit log could still tell."""

    start: datetime
    end: datetime  # exclusive: the midnight after the last day
    audit_from: datetime  # max(start, now - 30 days)

    @property
    def audit_covers_all(self) -> bool:
        return self.audit_from <= self.start


def period_of(first: date, last: date, now: datetime) -> ExportPeriod:
    start = datetime.combine(first, time(), UTC)
    end = min(datetime.combine(last + timedelta(days=1), time(), UTC), now)
    return ExportPeriod(start, max(start, end), max(start, now - AUDIT_RETENTION))


@dataclass(frozen=True, slots=True)
class ExportData:
    """What Graph gave for an export: the audit entries of the period (placed or not), the schedule requests of the
    groups, and what could not be read (the audit log refused: no AuditLog.Read.All; a group's requests)."""

    entries: tuple[PimAuditEntry, ...]
    requests: tuple[ScheduleRequestRow, ...]
    audit_refused: bool = False
    failed_groups: tuple[str, ...] = ()
    throttled_waits: int = 0  # 429s waited out
    pages: int = 0  # audit log pages read


class ExportSource(Protocol):
    """graph.history.HistoryReader, as bot.exports uses it (app-only reads)."""

    async def export(self, group_ids: Sequence[str], period: ExportPeriod) -> ExportData: ...


@dataclass(frozen=True, slots=True)
class ExportRow:
    at: datetime | None
    event: str
    phase: str
    group_id: str
    principal_id: str
    access: str
    actor_id: str
    actor_name: str
    approver_id: str
    approver_name: str
    request_id: str
    request_action: str
    request_status: str
    justification: str
    ticket: str
    reason: str
    source: str  # "audit log" | "schedule request"
    audit_entry_id: str


_DECISIONS = {AuditKind.APPROVED, AuditKind.DENIED}
_EPOCH = datetime.min.replace(tzinfo=UTC)


def export_rows(data: ExportData, group_ids: Iterable[str], period: ExportPeriod) -> tuple[list[ExportRow], int]:
    """The CSV's rows, oldest first, and how many audit entries of the period could not be placed in a group.

    Every placed audit entry of a chosen group within the period is a row; its request (by id) adds the action,
    status, justification and ticket. A schedule request of the period that no entry names is a row of its own
    (source "schedule request"): made before the log's 30 days, or while the log was not readable."""
    wanted = {g.casefold() for g in group_ids}
    by_id = {r.id.casefold(): r for r in data.requests}
    rows: list[ExportRow] = []
    named: set[str] = set()
    unplaced = 0
    for entry in data.entries:
        if entry.at is not None and not period.start <= entry.at < period.end:
            continue
        if entry.group_id is None:
            unplaced += 1
            continue
        if entry.group_id.casefold() not in wanted:
            continue
        request = by_id.get((entry.request_id or "").casefold())
        if request is not None:
            named.add(request.id.casefold())
        decided = entry.kind in _DECISIONS and not entry.by_pim
        rows.append(
            ExportRow(
                at=entry.at,
                event=entry.kind.value,
                phase=entry.phase,
                group_id=entry.group_id,
                principal_id=entry.principal_id or "",
                access=entry.access.value,
                actor_id="PIM" if entry.by_pim else entry.initiator_id or "",
                actor_name="PIM" if entry.by_pim else entry.initiator_name or "",
                approver_id=(entry.initiator_id or "") if decided else "",
                approver_name=(entry.initiator_name or "") if decided else "",
                request_id=entry.request_id or "",
                request_action=request.action if request else "",
                request_status=request.status if request else "",
                justification=(request.justification if request else None) or entry.justification or "",
                ticket=_ticket(request.ticket if request else None),
                reason=entry.reason or "",
                source="audit log",
                audit_entry_id=entry.id,
            )
        )
    for request in data.requests:
        if request.id.casefold() in named or request.group_id.casefold() not in wanted:
            continue
        if request.created is None or not period.start <= request.created < period.end:
            continue
        rows.append(
            ExportRow(
                at=request.created,
                event=_request_event(request),
                phase="requested",
                group_id=request.group_id,
                principal_id=request.principal_id,
                access=request.access.value,
                actor_id=request.created_by or "",
                actor_name="",
                approver_id="",
                approver_name="",
                request_id=request.id,
                request_action=request.action,
                request_status=request.status,
                justification=request.justification or "",
                ticket=_ticket(request.ticket),
                reason="",
                source="schedule request",
                audit_entry_id="",
            )
        )
    rows.sort(key=lambda r: (r.at or _EPOCH, r.request_id, r.audit_entry_id))
    return rows, unplaced


def _ticket(ticket: Ticket | None) -> str:
    if ticket is None:
        return ""
    return f"{ticket.system}: {ticket.number}" if ticket.system else ticket.number


_REQUEST_EVENTS = {
    "selfactivate": AuditKind.REQUESTED,
    "selfdeactivate": AuditKind.DEACTIVATION_REQUESTED,
    "adminremove": None,  # by kind below
    "adminassign": None,
}


def _request_event(request: ScheduleRequestRow) -> str:
    action = request.action.casefold()
    if action == "adminassign":
        return (AuditKind.ELIGIBLE_ASSIGNED if request.eligibility else AuditKind.ACTIVE_ASSIGNED).value
    if action == "adminremove":
        return (AuditKind.ELIGIBLE_REMOVED if request.eligibility else AuditKind.ACTIVE_REMOVED).value
    if action in ("adminupdate", "adminextend", "adminrenew", "selfextend", "selfrenew"):
        return AuditKind.UPDATED.value
    kind = _REQUEST_EVENTS.get(action)
    return kind.value if kind is not None else request.action


COLUMNS = (
    "time_utc",
    "event",
    "phase",
    "group_id",
    "group",
    "principal_id",
    "principal",
    "access",
    "actor_id",
    "actor",
    "approver_id",
    "approver",
    "request_id",
    "request_action",
    "request_status",
    "justification",
    "ticket",
    "reason",
    "source",
    "audit_entry_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe (OWASP's advice on
    CSV injection; justifications are typed by anyone who may request)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(rows: Sequence[ExportRow], names: Mapping[str, str]) -> str:
    """The CSV (RFC 4180: comma, double quotes, CRLF), a header and one line per row; `names` gives display names
    of groups, principals and actors by object id (case-insensitive), left empty when unknown."""
    folded = {k.casefold(): v for k, v in names.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        at = r.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if r.at else ""
        writer.writerow(
            _cell(v)
            for v in (
                at,
                r.event,
                r.phase,
                r.group_id,
                folded.get(r.group_id.casefold(), ""),
                r.principal_id,
                folded.get(r.principal_id.casefold(), ""),
                r.access,
                r.actor_id,
                r.actor_name or folded.get(r.actor_id.casefold(), ""),
                r.approver_id,
                r.approver_name or folded.get(r.approver_id.casefold(), ""),
                r.request_id,
                r.request_action,
                r.request_status,
                r.justification,
                r.ticket,
                r.reason,
                r.source,
                r.audit_entry_id,
            )
        )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What the summary card says about an export."""

    period: ExportPeriod
    groups: tuple[Group, ...]
    rows: int
    counts: Mapping[str, int] = field(default_factory=dict)
    unplaced: int = 0
    audit_refused: bool = False
    failed_groups: tuple[str, ...] = ()
    throttled_waits: int = 0
    pages: int = 0


# What the summary counts, in this order: (label, the events that count).
SUMMARY_COUNTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Activations", frozenset({AuditKind.ACTIVATED.value})),
    ("Deactivations", frozenset({AuditKind.DEACTIVATED.value, AuditKind.ACTIVATION_ENDED.value})),
    ("Approved", frozenset({AuditKind.APPROVED.value})),
    ("Denied", frozenset({AuditKind.DENIED.value})),
    ("Requests expired", frozenset({AuditKind.EXPIRED.value})),
    ("Admin assignments", frozenset({AuditKind.ELIGIBLE_ASSIGNED.value, AuditKind.ACTIVE_ASSIGNED.value})),
    ("Admin removals", frozenset({AuditKind.ELIGIBLE_REMOVED.value, AuditKind.ACTIVE_REMOVED.value})),
)


def summarise(
    rows: Sequence[ExportRow], unplaced: int, data: ExportData, period: ExportPeriod, groups: Sequence[Group]
) -> ExportSummary:
    """Counts of the events that matter (an admin entry counts once: its completed step, or its request when the
    log had none)."""
    counted: Counter[str] = Counter()
    for label, events in SUMMARY_COUNTS:
        counted[label] = sum(
            1 for r in rows if (r.event in events and r.phase != "requested") or _admin_request(r, events)
        )
    return ExportSummary(
        period,
        tuple(groups),
        len(rows),
        dict(counted),
        unplaced,
        data.audit_refused,
        data.failed_groups,
        data.throttled_waits,
        data.pages,
    )


def _admin_request(row: ExportRow, events: frozenset[str]) -> bool:
    return row.source == "schedule request" and row.event in events
