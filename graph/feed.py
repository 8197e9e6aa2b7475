"""The admin feed's Graph side (issue 5): read what every monitored group grants, diff it against the last
snapshot (`core.feed.diff`), and read the request history of the changed items only (`core.feed.enrich`).

One cycle costs, for G groups and no change, ⌈G/20⌉ × 2 round trips: two app-only list requests per group
(eligibilitySchedules — current *and* future windows, so an eligibility that starts next week is announced when it
is made — and assignmentScheduleInstances, `$filter=groupId eq '…'` as Graph requires, `$select` trimmed), 20 to a
`$batch`; a group with more rows than a page adds its `@odata.nextLink` pages. With changes, one more request per
(kind, principal, group) changed, batched likewise. Batches run a few at a time (`concurrency`).

Failures stay within a group: a batch that fails as a whole fails its 10 groups, an inner failure (after the
client's retries: an inner 429 is re-sent after its Retry-After) or a failed nextLink page fails one group, and so
does a failed read of the request history of one of its changes. A failed group is returned with its *previous*
state, untouched, and without events, so the caller stores that state again and the next cycle diffs the same
snapshot against a fresh read: the change is seen then, with the same event ids (nothing lost, nothing twice).
A group that fails on its first poll has no state yet and is simply polled again.

PIM lists only what is granted: a request made in the portal that was denied, canceled or expired before anything
was provisioned leaves no schedule, and the approver of a decision is not readable app-only from the approval API
(delegated-only in Graph). An activation that went through an approval is seen, and its ACTIVE_ACTIVATED event says
decision "approved". The outcomes themselves, with the approver, come from the PIM audit log (below).

The PIM audit log (`read_pim_audit`; `GET /auditLogs/directoryAudits`, PIM's entries; application permission
AuditLog.Read.All), read incrementally every cycle by the poster (bot.feed), one read serving two ends:
* approval outcomes: `Add member to role request approved|denied (PIM activation)`, `Request approved|denied` and
  `PIM activation request expired` become APPROVAL_DECIDED events (`wire.parse_pim_decision`: by = the approver
  from initiatedBy, never PIM itself; group and principal from targetResources; access from additionalDetails Role,
  else member), whose id is the request's, as the bot's approval desk names the same outcome; canceled requests are
  left out (nobody decided);
* discovery (FEED_DISCOVER): Graph has no list of PIM-enabled groups (every schedule and instance list requires a
  groupId or principalId `$filter`), so the groups are found in the log. It keeps 30 days: **a group with no PIM
  activity in the last 30 days is not discovered until it has some** (list it in FEED_GROUPS to monitor it from the
  start); once found, the caller keeps it.
Microsoft documents no shape for PIM's entries (reference §9): the reader takes every shape public samples show (two
or more targets in any order, the request under RoleAssignmentRequestId, RequestId or only in the correlationId, PIM's
service spelled `PIM` or `Privileged Identity Management`) and leaves unplaced what it cannot be sure of. It sends only
what the directoryAudit page marks filterable (loggedByService, activityDateTime): PIM for Groups' entries (category
GroupManagement) are told apart here.
Reading is incremental from a watermark (the newest entry seen), re-reading an overlap before it because entries can
reach the log a little late (the same entries give the same groups and event ids). The audit API allows 5 requests
per 10 s per app, a budget this reader shares with `audit export` through the process's one `AuditPacer`
(graph.auditlog): one request a cycle normally (two at the first read and every SERVICES_RECHECK, one per spelling of
PIM's service); a first page refused with 429 fails this read (the caller tries again later), a later page is asked
again after its Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from core.errors import DirectoryError, Throttled
from core.feed import (
    AuditRead,
    DetailQuery,
    FeedEvent,
    GroupState,
    LoggedDecision,
    RequestRecord,
    ScheduleItem,
    ScheduleKind,
    UnknownFeedGroups,
    detail_queries,
    diff,
    enrich,
)
from core.models import Group
from graph import wire
from graph.auditlog import AuditPacer, audit_rows
from graph.client import BatchRequest, GraphClient, JsonObject, odata_path
from graph.failures import directory_error, translating
from graph.reads import Reads, read_batched

__all__ = ["AUDIT_OVERLAP", "SERVICES_RECHECK", "FeedReader"]

log = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KINDS = (ScheduleKind.ELIGIBLE, ScheduleKind.ACTIVE)
# Audit entries can appear in the log minutes after their activityDateTime: each discovery re-reads this much
# before the last watermark, so a late entry is still seen (re-reading is harmless: the result is a set).
AUDIT_OVERLAP = timedelta(hours=2)
SERVICES_RECHECK = timedelta(minutes=30)  # both spellings of PIM's loggedByService are asked for again this often
_AUDIT_THROTTLE_WAITS = 20  # 429s on one discovery before it gives up (and the next discovery starts over)
_AUDIT_MAX_PAGES = 1000  # 500 entries a page
_EPOCH = datetime.min.replace(tzinfo=UTC)


class FeedReader:
    """`poll` is the one call the feed poster makes each cycle; `resolve_groups` turns FEED_GROUPS into groups.

    After `poll`, `last_failed` holds the groups that could not be read this cycle (id → why), for logs and
    `feed status`.
    """

    def __init__(
        self,
        client: GraphClient,
        *,
        concurrency: int = 4,
        max_pages: int = 100,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        pacer: AuditPacer | None = None,
    ) -> None:
        """`pacer`: the process's audit budget (graph.auditlog), shared with `audit export`; app.py always gives it.
        Without one (a reader alone in its process: tests, bench) the audit reads rely on 429s alone."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._client = client
        self._concurrency = concurrency
        self._max_pages = max_pages
        self._sleep = sleep
        self._monotonic = monotonic
        self._pacer = pacer
        self._services: tuple[str, ...] = ()  # the loggedByService spellings this tenant's PIM entries came under
        self._services_due = 0.0  # when both spellings are asked for again
        self.last_failed: dict[str, DirectoryError] = {}

    async def poll(
        self, group_ids: Sequence[str], previous: Mapping[str, GroupState], now: datetime
    ) -> tuple[dict[str, GroupState], list[FeedEvent]]:
        """The new state of every monitored group and the events since `previous` (same keys as `group_ids`).
        A group read for the first time is a baseline (no events); a group that failed keeps its previous state
        (see the module docstring)."""
        groups = list(dict.fromkeys(group_ids))
        states, failed = await self.read(groups, now)
        changes = {g: diff(previous.get(g), states[g], now) for g in groups if g in states}
        wanted = detail_queries(event for events in changes.values() for event in events)
        records, detail_failed = await self.request_history(wanted)
        failed.update({g: err for g in groups if (err := detail_failed.get(g.casefold())) is not None})

        result: dict[str, GroupState] = {}
        events: list[FeedEvent] = []
        for group_id in groups:
            if group_id in failed:
                # Kept as it was: the next cycle diffs this same snapshot against a fresh read.
                if group_id in previous:
                    result[group_id] = previous[group_id]
                continue
            result[group_id] = states[group_id]
            events += enrich(changes[group_id], records)
        self.last_failed = failed
        for group_id, err in failed.items():
            log.warning("feed: group %s not read this cycle (%s); kept its last snapshot", group_id, err)
        return result, events

    async def read(
        self, group_ids: Sequence[str], now: datetime
    ) -> tuple[dict[str, GroupState], dict[str, DirectoryError]]:
        """What each group grants (eligible: current and scheduled windows; active: in effect now), read_at = `now`,
        and the groups that could not be read."""
        requests: list[BatchRequest] = []
        owner: dict[str, str] = {}
        for n, group_id in enumerate(group_ids):
            for kind in _KINDS:
                key = f"{n}{kind.value[0]}"
                owner[key] = group_id
                requests.append(BatchRequest(key, "GET", odata_path(*wire.group_state_query(kind, group_id))))
        reads = await self._batched(requests, owner)
        states: dict[str, GroupState] = {}
        failed: dict[str, DirectoryError] = {}
        for n, group_id in enumerate(group_ids):
            error = reads.failed.get(group_id.casefold())
            if error is not None:
                failed[group_id] = error
                continue
            items: list[ScheduleItem] = []
            for kind in _KINDS:
                for row in reads.rows.get(f"{n}{kind.value[0]}", []):
                    parsed = wire.parse_schedule_item(kind, row, group_id)
                    if parsed is not None:
                        items.append(parsed)
            states[group_id] = GroupState(group_id, now, tuple(items))
        return states, failed

    async def request_history(
        self, queries: Sequence[DetailQuery]
    ) -> tuple[list[RequestRecord], dict[str, DirectoryError]]:
        """The request history of each (kind, group, principal), and the groups (casefolded) whose reads failed."""
        requests: list[BatchRequest] = []
        owner: dict[str, str] = {}
        kinds: dict[str, ScheduleKind] = {}
        for n, query in enumerate(queries):
            key = str(n)
            owner[key], kinds[key] = query.group_id, query.kind
            path_and_params = wire.group_requests_query(query.kind, query.group_id, query.principal_id)
            requests.append(BatchRequest(key, "GET", odata_path(*path_and_params)))
        reads = await self._batched(requests, owner)
        records: list[RequestRecord] = []
        for key, rows in reads.rows.items():
            records += [r for r in (wire.parse_request_record(kinds[key], row) for row in rows) if r is not None]
        return records, reads.failed

    async def _batched(self, requests: Sequence[BatchRequest], owner: Mapping[str, str]) -> Reads:
        return await read_batched(
            self._client, requests, owner, concurrency=self._concurrency, max_pages=self._max_pages
        )

    async def resolve_groups(self, names_or_ids: Sequence[str]) -> list[Group]:
        """The groups FEED_GROUPS names, in its order, each once: an object id is checked (`GET /groups/{id}`), a
        name is looked up by exact displayName. Raises UnknownFeedGroups for ids and names Graph does not know and
        for names several groups share; DirectoryError kinds when Graph cannot be read."""
        wanted = [entry.strip() for entry in names_or_ids if entry.strip()]
        requests = []
        for n, entry in enumerate(wanted):
            query = wire.group_query(entry) if _GUID.match(entry) else wire.groups_named_query(entry)
            requests.append(BatchRequest(str(n), "GET", odata_path(*query)))
        with translating():
            responses = await self._client.batch(requests) if requests else {}
        found: dict[str, Group] = {}
        missing: list[str] = []
        ambiguous: dict[str, list[str]] = {}
        for n, entry in enumerate(wanted):
            response = responses[str(n)]
            if response.status == 404:
                missing.append(entry)
                continue
            if response.error is not None:
                raise directory_error(response.error)
            body = response.json()
            rows = body.get("value") if "value" in body else [body]
            groups = [
                Group(pair[0], pair[1])
                for row in rows or []
                if isinstance(row, dict) and (pair := wire.parse_display_name(row)) is not None
            ]
            if not groups:
                missing.append(entry)
            elif len(groups) > 1:
                ambiguous[entry] = [g.id for g in groups]
            else:
                found.setdefault(groups[0].id.casefold(), groups[0])
        if missing or ambiguous:
            raise UnknownFeedGroups(missing, ambiguous)
        return list(found.values())

    async def discover_pim_groups(self, since: datetime | None) -> tuple[list[str], datetime | None]:
        """The groups PIM's audit log names since `since` (see `read_pim_audit`), and the new watermark."""
        read = await self.read_pim_audit(since)
        return list(read.groups), read.watermark

    async def read_pim_audit(self, since: datetime | None) -> AuditRead:
        """PIM's entries since `since` (less AUDIT_OVERLAP; None: the whole 30 days the log keeps), one page
        normally: the groups PIM for Groups' entries name, each once in the order first seen (newest first, per
        query), the approval outcomes they record (`wire.parse_pim_decision`, oldest first, each once), and the new
        watermark (the newest entry's time, or `since` when there is none). App-only; needs AuditLog.Read.All. Raises
        DirectoryError kinds (PermissionDenied without the permission; Throttled when the first page of a query is
        refused with 429 — this cycle's read is skipped rather than waited for — or after too many 429s on later
        pages); the caller keeps its watermark.

        PIM's loggedByService is spelled two ways (`wire.PIM_SERVICES`), each asked for with its own query: both at
        the first read and every SERVICES_RECHECK, and otherwise only the one(s) this tenant's entries came under
        (all of them while none has shown an entry), so a read costs one request, not two, in the audit API's
        5 requests per 10 s. A tenant that changed spellings is caught at the next full read: the watermark does not
        move without entries, and the recheck comes well within AUDIT_OVERLAP of any other."""
        full = not self._services or self._monotonic() >= self._services_due
        found: dict[str, str] = {}
        decisions: dict[str, LoggedDecision] = {}
        used: set[str] = set()
        watermark = since
        for service in wire.PIM_SERVICES if full else self._services:
            path, params = wire.pim_audit_query(service, None if since is None else since - AUDIT_OVERLAP)
            async for row in self._audit_rows(self._client.url(path, params)):
                when = wire.parse_audit_time(row)
                if when is not None and (watermark is None or when > watermark):
                    watermark = when
                if wire.is_pim_for_groups(row):
                    used.add(service)
                group_id = wire.parse_pim_group_audit(row)
                if group_id is not None:
                    found.setdefault(group_id.casefold(), group_id)
                decided = wire.parse_pim_decision(row)
                if decided is not None:
                    decisions.setdefault(decided.event.id, decided)
        if full:
            self._services = tuple(s for s in wire.PIM_SERVICES if s in used)
            self._services_due = self._monotonic() + SERVICES_RECHECK.total_seconds()
        oldest_first = sorted(decisions.values(), key=lambda d: d.event.observed_at or _EPOCH)
        return AuditRead(tuple(found.values()), tuple(oldest_first), watermark)

    def _audit_rows(self, url: str) -> AsyncIterator[JsonObject]:
        """The entries of one audit query, page after page (graph.auditlog.audit_rows); the first page is not waited
        for when throttled (`_audit_page`)."""

        async def page(url: str, n: int) -> JsonObject:
            return await self._audit_page(url, patient=n > 0)

        return audit_rows(url, page, _AUDIT_MAX_PAGES)

    async def _audit_page(self, url: str, *, patient: bool = True) -> JsonObject:
        """One page of the audit log; a 429 the client did not wait out (its budget is for interactive calls) is
        waited out here, per its Retry-After, if `patient`: the audit API allows 5 requests per 10 s per app."""
        for _ in range(_AUDIT_THROTTLE_WAITS):
            try:
                # Not patient (the first page, read inside a feed cycle): a 429 is reported at once, not waited out
                # by the client, so the audit API's throttle never holds the cycle's posts. The pacer (the process's
                # one budget, shared with `audit export`) keeps this process from causing that 429 itself.
                async with self._pacer.slot() if self._pacer is not None else contextlib.nullcontext():
                    with translating():
                        return await self._client.get(url, max_retry_wait=None if patient else 0.0)
            except Throttled as throttled:
                if not patient:
                    raise
                wait = throttled.retry_after if throttled.retry_after is not None else 10.0
                log.info("feed: the PIM audit log is throttled; reading again in %.0fs", wait)
                await self._sleep(wait)
        raise Throttled(None)
