"""What happened, read from Graph (issue 14 point 5): a user's own requests (`history`) and the monitored groups'
PIM events over a period (the admins' `audit export`). App-only reads.

* Requests: `assignmentScheduleRequests` and `eligibilityScheduleRequests`, `$filter=principalId eq '…'` for one
  user or `groupId eq '…'` for a group (Graph requires one of the two, graph-pim-groups.md §11; `createdDateTime`
  is not filterable, so the period is applied here). One `$batch` for a user; ⌈2G/20⌉ for G groups.
* PIM's audit log (`GET /auditLogs/directoryAudits`, AuditLog.Read.All): who approved or denied, and every step of
  every request (`wire.parse_pim_audit_entry`, the one reader of PIM's entries, which the admin feed uses too). Only
  properties the directoryAudit page marks filterable are sent: loggedByService (once per spelling of PIM's, as the
  feed does), activityDateTime, and for one user `targetResources/any(t: t/id eq '…')`.

The audit API is throttled apart from the rest of Graph: 5 requests per 10 s per app per tenant (graph.auditlog).
The process's one `AuditPacer`, which the feed's reads go through too, keeps every page of these reads within that
budget (a large export waits rather than hitting 429s), and a 429 that comes anyway (a second bot process of the same
app) is waited out per its Retry-After, a bounded number of times. The log keeps 30 days; what the export asks for
before that is said (core.audit.ExportPeriod).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.audit import AuditKind, ExportData, ExportPeriod, PimAuditEntry, ScheduleRequestRow
from core.errors import DirectoryError, PermissionDenied, Throttled
from core.feed import ScheduleKind
from core.history import ApproverState, HistoryItem, HistoryRead, newest_first
from core.models import Access, Group
from core.ports import Clock
from graph import wire
from graph.auditlog import AUDIT_WINDOW, AuditPacer, audit_rows
from graph.client import BatchRequest, GraphClient, JsonObject, odata_path
from graph.failures import translating
from graph.reads import read_batched

__all__ = ["HistoryReader"]

log = logging.getLogger(__name__)

_THROTTLE_WAITS = 20  # 429s one read waits out before it gives up
_MAX_PAGES = 2000  # 500 entries a page: a million entries
_KINDS = (ScheduleKind.ACTIVE, ScheduleKind.ELIGIBLE)
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class _AuditRead:
    entries: list[PimAuditEntry]
    pages: int = 0
    throttled: int = 0


class HistoryReader:
    """`user_history` for `history`, `export` for `audit export` (core.history.HistorySource, core.audit.
    ExportSource)."""

    def __init__(
        self,
        client: GraphClient,
        clock: Clock,
        pacer: AuditPacer,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._clock = clock
        self._pacer = pacer
        self._sleep = sleep

    # -- history --------------------------------------------------------------------------------------------------

    async def user_history(self, principal_id: str, since: datetime) -> HistoryRead:
        """The user's assignment and eligibility requests created since `since`, newest first, each approval
        outcome with its approver from the audit log. A refused or unreadable log costs the approvers only (said
        in `approvers`); a failed read of the requests raises DirectoryError kinds."""
        requests = [
            BatchRequest(kind.value, "GET", odata_path(*wire.user_requests_query(kind, principal_id)))
            for kind in _KINDS
        ]
        reads = await read_batched(self._client, requests, {r.id: r.id for r in requests})
        if reads.failed:
            raise next(iter(reads.failed.values()))
        now = max(self._clock.now(), since)
        state = ApproverState.READ
        decisions: dict[str, PimAuditEntry] = {}
        logged: dict[str, list[PimAuditEntry]] = {}
        try:
            audit = await self._audit(since, now, target_id=principal_id)
            for entry in audit.entries:
                if not entry.request_id or (entry.principal_id or "").casefold() != principal_id.casefold():
                    continue
                logged.setdefault(entry.request_id.casefold(), []).append(entry)
                if entry.kind in _DECISION_KINDS:
                    decisions.setdefault(entry.request_id.casefold(), entry)
        except PermissionDenied:
            state = ApproverState.REFUSED
        except DirectoryError as e:
            log.info("history: the audit log could not be read now (%s)", e)
            state = ApproverState.UNAVAILABLE
        items: list[HistoryItem] = []
        for kind in _KINDS:
            for row in reads.rows.get(kind.value, []):
                item = _history_item(kind, row, decisions)
                if item is not None and (item.created is None or item.created >= since):
                    items.append(item)
        listed = {i.request_id.casefold() for i in items}
        # Requests the log tells of that Graph no longer lists (inferred: how long Graph keeps a request is not
        # documented; the log keeps 30 days): told from their entries.
        items += [i for key, entries in logged.items() if key not in listed if (i := _logged_item(entries))]
        return HistoryRead(newest_first(items), since, state)

    # -- export ---------------------------------------------------------------------------------------------------

    async def export(self, group_ids: Sequence[str], period: ExportPeriod) -> ExportData:
        """The groups' schedule requests (all Graph lists; the caller keeps the period's) and PIM's audit entries
        from `period.audit_from` to `period.end`. The log refused (no AuditLog.Read.All): `audit_refused`, the
        export is made of the requests alone. A group whose requests could not be read is named in
        `failed_groups`. Raises DirectoryError kinds when the log fails otherwise (throttled beyond the waits, down)."""
        requests: list[BatchRequest] = []
        owner: dict[str, str] = {}
        kinds: dict[str, ScheduleKind] = {}
        for n, group_id in enumerate(group_ids):
            for kind in _KINDS:
                key = f"{n}{kind.value[0]}"
                owner[key], kinds[key] = group_id, kind
                requests.append(BatchRequest(key, "GET", odata_path(*wire.group_all_requests_query(kind, group_id))))
        reads = await read_batched(self._client, requests, owner)
        rows: list[ScheduleRequestRow] = []
        for key, items in reads.rows.items():
            rows += [r for r in (wire.parse_schedule_request_row(kinds[key], item) for item in items) if r]
        refused = False
        audit = _AuditRead([])
        if period.audit_from < period.end:
            try:
                audit = await self._audit(period.audit_from, period.end - timedelta(microseconds=1))
            except PermissionDenied:
                refused = True
        failed = tuple(g for g in group_ids if g.casefold() in reads.failed)
        return ExportData(tuple(audit.entries), tuple(rows), refused, failed, audit.throttled, audit.pages)

    # -- the audit log --------------------------------------------------------------------------------------------

    async def _audit(self, since: datetime, until: datetime, target_id: str | None = None) -> _AuditRead:
        """PIM-for-Groups entries between `since` and `until` (both spellings of PIM's service), each once."""
        read = _AuditRead([])
        seen: set[str] = set()
        for service in wire.PIM_SERVICES:
            path, params = wire.audit_range_query(service, since, until, target_id)
            async for row in self._audit_rows(self._client.url(path, params), read):
                entry = wire.parse_pim_audit_entry(row)
                if entry is not None and entry.id not in seen:
                    seen.add(entry.id)
                    read.entries.append(entry)
        return read

    def _audit_rows(self, url: str, read: _AuditRead) -> AsyncIterator[JsonObject]:
        async def page(url: str, n: int) -> JsonObject:
            body = await self._audit_page(url, read)
            read.pages += 1
            return body

        return audit_rows(url, page, _MAX_PAGES)

    async def _audit_page(self, url: str, read: _AuditRead) -> JsonObject:
        """One page, paced (`AuditPacer`); a 429 anyway is waited out per its Retry-After (10 s without one)."""
        for _ in range(_THROTTLE_WAITS):
            try:
                async with self._pacer.slot():
                    with translating():
                        return await self._client.get(url, max_retry_wait=0.0)
            except Throttled as throttled:
                read.throttled += 1
                wait = throttled.retry_after if throttled.retry_after is not None else AUDIT_WINDOW.total_seconds()
                log.info("the PIM audit log is throttled; reading again in %.0fs", wait)
                await self._sleep(wait)
        raise Throttled(None)


_DECISION_KINDS = {AuditKind.APPROVED, AuditKind.DENIED, AuditKind.EXPIRED}
# A request told only by the audit log: what it asked for, by the kinds of its entries (first match) …
_LOGGED_ACTIONS = (
    ({AuditKind.REQUESTED, AuditKind.APPROVAL_REQUESTED, AuditKind.ACTIVATED}, "selfActivate", False),
    ({AuditKind.DEACTIVATION_REQUESTED, AuditKind.DEACTIVATED}, "selfDeactivate", False),
    ({AuditKind.ELIGIBLE_ASSIGNED}, "adminAssign", True),
    ({AuditKind.ELIGIBLE_REMOVED}, "adminRemove", True),
    ({AuditKind.ACTIVE_ASSIGNED}, "adminAssign", False),
    ({AuditKind.ACTIVE_REMOVED}, "adminRemove", False),
)
# … and how it ended (the latest step that says), as Graph's status would.
_LOGGED_STATUS = {
    AuditKind.DENIED: "Denied",
    AuditKind.EXPIRED: "Canceled",
    AuditKind.CANCELED: "Canceled",
    AuditKind.ACTIVATED: "Provisioned",
    AuditKind.DEACTIVATED: "Provisioned",
    AuditKind.ACTIVATION_ENDED: "Provisioned",
    AuditKind.ELIGIBLE_ASSIGNED: "Provisioned",
    AuditKind.ELIGIBLE_REMOVED: "Provisioned",
    AuditKind.ACTIVE_ASSIGNED: "Provisioned",
    AuditKind.ACTIVE_REMOVED: "Provisioned",
    AuditKind.APPROVED: "Granted",
    AuditKind.APPROVAL_REQUESTED: "PendingApproval",
}


def _logged_item(entries: Sequence[PimAuditEntry]) -> HistoryItem | None:
    """A request of the user's as its audit entries tell it; None when they do not say what it asked for."""
    kinds = {e.kind for e in entries}
    found = next(((action, elig) for wanted, action, elig in _LOGGED_ACTIONS if kinds & wanted), None)
    placed = next((e for e in entries if e.group_id), None)
    if found is None or placed is None or placed.group_id is None:
        return None
    ordered = sorted(entries, key=lambda e: e.at or _EPOCH)
    status = next((_LOGGED_STATUS[e.kind] for e in reversed(ordered) if e.kind in _LOGGED_STATUS), "")
    decided = next((e for e in ordered if e.kind in _DECISION_KINDS), None)
    by_person = decided is not None and not decided.by_pim
    first = ordered[0]
    return HistoryItem(
        request_id=first.request_id or "",
        action=found[0],
        status=status,
        group=Group(placed.group_id, placed.group_name or placed.group_id),
        access=placed.access,
        created=first.at,
        justification=next((e.justification for e in ordered if e.justification), None),
        eligibility=found[1],
        decision=_DECIDED[decided.kind] if decided is not None else None,
        approver_id=decided.initiator_id if decided is not None and by_person else None,
        approver_name=decided.initiator_name if decided is not None and by_person else None,
        decided_at=decided.at if decided is not None else None,
    )


_DECIDED = {AuditKind.APPROVED: "approved", AuditKind.DENIED: "denied", AuditKind.EXPIRED: "expired"}


def _history_item(kind: ScheduleKind, row: JsonObject, decisions: dict[str, PimAuditEntry]) -> HistoryItem | None:
    request = wire.parse_request(row)
    if not request.id:
        return None
    group = wire.group_of(row) or (Group(request.group_id, request.group_id) if request.group_id else None)
    if group is None:
        return None
    decided = decisions.get(request.id.casefold())
    by_person = decided is not None and not decided.by_pim
    return HistoryItem(
        request_id=request.id,
        action=request.action,
        status=request.raw_status,
        group=group,
        access=request.access or Access.MEMBER,
        created=request.created,
        start=request.start,
        end=request.end,
        justification=request.justification,
        ticket=request.ticket,
        eligibility=kind is ScheduleKind.ELIGIBLE,
        decision=_DECIDED[decided.kind] if decided is not None else None,
        approver_id=decided.initiator_id if decided is not None and by_person else None,
        approver_name=decided.initiator_name if decided is not None and by_person else None,
        decided_at=decided.at if decided is not None else None,
    )
