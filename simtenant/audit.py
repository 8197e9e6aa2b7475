"""The directory audit log as PIM for Groups writes it (`GET /v1.0/auditLogs/directoryAudits`, reference §9).

`Tenant` records one entry per step of every PIM-for-Groups request it carries out; `graph_api` serves them.
Entries are rendered to Graph's `directoryAudit` JSON when recorded (the real log keeps names as they were then).

Choices where the reference is silent (the bot's tests may rely on these):

* Every entry has loggedByService `PIM`, category `GroupManagement`, result `success`, and targetResources
  `[{the group, type "Group"}, {the principal, type "User" (or "Group" for a group principal)}]`: the group whose
  membership PIM manages comes FIRST. additionalDetails carry `RequestId`, `Role` (Member/Owner), `StartTime`,
  `ExpirationTime` and `Justification` where known. correlationId = the request id.
* Activity names: the reference's official ones for self-service and approvals (`Add member to role requested
  (PIM activation)`, `… approval requested …`, `… request approved …`, `… request denied …`, `… completed …`,
  `… canceled …`, `PIM activation request expired`, `Remove member from role requested|completed (PIM deactivate)`,
  `Remove member from role (PIM activation expired)`) and for eligibility assignment and removal (`Add eligible member
  to role in PIM requested|completed (permanent|timebound)`, `Remove eligible member from role in PIM completed
  (…)`). Not in the reference, named alike: admin active assignments `Add member to role in PIM requested|completed
  (…)`, `Remove member from role in PIM completed (…)`; adminUpdate/Extend/Renew `Update|Extend|Renew [eligible]
  member in role in PIM completed (…)`. An activation's `completed` entry is written when the request is granted
  (also for a scheduled later start). An admin (`assigned`) assignment or an eligibility reaching its end writes
  nothing (no such entry is documented); an activation's end does (`… (PIM activation expired)`).
* System entries (expiry) are initiated by the app `MS-PIM`.
* Retention: entries older than 30 days (sim clock) are not listed. Newest first.
* `$filter`: `and`-joined terms; `eq` on id, category, correlationId, result, loggedByService, activityDisplayName,
  initiatedBy/user/id, initiatedBy/app/appId; `ge`/`le` on activityDateTime with an unquoted ISO instant. Anything
  else (`or`, `startswith`, `any`, other properties or operators) → 400 BadRequest.
* Throttling: 5 requests per 10 s (sim clock) per app per tenant for this resource, each page counting; the 6th
  gets 429 with Retry-After = whole seconds until the oldest of the five leaves the window. Refused requests
  (401/403/429) do not count.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simtenant.isotime import format_instant, parse_instant

__all__ = [
    "MS_PIM_APP_ID",
    "RETENTION",
    "THROTTLE_LIMIT",
    "THROTTLE_WINDOW",
    "AuditFilter",
    "AuditLog",
    "ReportsThrottle",
    "app_initiator",
    "parse_audit_filter",
    "target",
    "user_initiator",
]

JsonDict = dict[str, Any]

RETENTION = timedelta(days=30)
THROTTLE_LIMIT = 5
THROTTLE_WINDOW = timedelta(seconds=10)
MS_PIM_APP_ID = "01fc33a7-78ba-4d2f-a4b7-768e336e890e"
CATEGORY = "GroupManagement"
SERVICE = "PIM"

_EQ_PATHS = {
    "id": ("id",),
    "category": ("category",),
    "correlationid": ("correlationId",),
    "result": ("result",),
    "loggedbyservice": ("loggedByService",),
    "activitydisplayname": ("activityDisplayName",),
    "initiatedby/user/id": ("initiatedBy", "user", "id"),
    "initiatedby/app/appid": ("initiatedBy", "app", "appId"),
}
_TERM = re.compile(
    r"^(?P<path>[A-Za-z][\w/]*)\s+(?P<op>[A-Za-z]+)\s+(?P<value>'(?:[^']|'')*'|[0-9][0-9:.TZtz+-]*)$",
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    equals: tuple[tuple[tuple[str, ...], str], ...] = ()
    since: datetime | None = None  # activityDateTime ge
    until: datetime | None = None  # activityDateTime le

    def matches(self, entry: JsonDict, when: datetime) -> bool:
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when > self.until:
            return False
        for path, value in self.equals:
            actual: Any = entry
            for part in path:
                actual = actual.get(part) if isinstance(actual, Mapping) else None
            if not isinstance(actual, str) or actual.casefold() != value.casefold():
                return False
        return True


def _split_and(text: str) -> list[str]:
    """Split on ` and ` outside quoted strings."""
    parts: list[str] = []
    start = 0
    quoted = False
    i = 0
    while i < len(text):
        if text[i] == "'":
            quoted = not quoted
        elif not quoted:
            m = _AND.match(text, i)
            if m is not None and m.start() == i:
                parts.append(text[start:i])
                start = i = m.end()
                continue
        i += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def parse_audit_filter(text: str | None) -> AuditFilter:
    """Parse the `$filter` of directoryAudits. Raises ValueError with Graph-like wording."""
    if text is None or not text.strip():
        return AuditFilter()
    equals: list[tuple[tuple[str, ...], str]] = []
    since: datetime | None = None
    until: datetime | None = None
    for part in _split_and(text.strip()):
        m = _TERM.match(part)
        if m is None:
            raise ValueError(f"Invalid filter clause: '{part}' is not supported on directoryAudits.")
        path, op, raw = m["path"].lower(), m["op"].lower(), m["value"]
        if path == "activitydatetime":
            if op not in ("ge", "le") or raw.startswith("'"):
                raise ValueError(
                    "Invalid filter clause: activityDateTime supports only 'ge' and 'le' with an unquoted ISO 8601 "
                    "instant."
                )
            try:
                instant = parse_instant(raw)
            except ValueError as exc:
                raise ValueError(f"Invalid filter clause: '{raw}' is not a valid DateTimeOffset.") from exc
            if op == "ge":
                since = instant
            else:
                until = instant
            continue
        if path not in _EQ_PATHS:
            raise ValueError(f"Invalid filter clause: could not find a property named '{m['path']}' usable here.")
        if op != "eq" or not raw.startswith("'"):
            raise ValueError(f"Invalid filter clause: '{m['path']}' supports only 'eq' with a quoted string.")
        equals.append((_EQ_PATHS[path], raw[1:-1].replace("''", "'")))
    return AuditFilter(tuple(equals), since, until)


def user_initiator(user_id: str, display_name: str | None, upn: str | None) -> JsonDict:
    return {
        "user": {"id": user_id, "displayName": display_name, "userPrincipalName": upn, "ipAddress": None},
        "app": None,
    }


def app_initiator(app_id: str, display_name: str | None) -> JsonDict:
    return {
        "user": None,
        "app": {
            "appId": app_id,
            "displayName": display_name,
            "servicePrincipalId": app_id,
            "servicePrincipalName": None,
        },
    }


def target(object_id: str, display_name: str | None, kind: str, upn: str | None = None) -> JsonDict:
    return {
        "id": object_id,
        "displayName": display_name,
        "type": kind,
        "userPrincipalName": upn,
        "groupType": None,
        "modifiedProperties": [],
    }


class AuditLog:
    """Entries in the order they were written (their times never go back: they come from the sim clock)."""

    def __init__(self) -> None:
        self._entries: list[tuple[datetime, JsonDict]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def record(
        self,
        when: datetime,
        activity: str,
        *,
        initiated_by: JsonDict,
        targets: Iterable[JsonDict],
        correlation_id: str,
        details: Mapping[str, str | None] = {},  # noqa: B006 - read only
        operation_type: str = "Assign",
        result: str = "success",
    ) -> JsonDict:
        entry: JsonDict = {
            "id": f"PIM_{uuid.uuid4()}",
            "category": CATEGORY,
            "correlationId": correlation_id,
            "result": result,
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": format_instant(when),
            "loggedByService": SERVICE,
            "operationType": operation_type,
            "initiatedBy": initiated_by,
            "targetResources": list(targets),
            "additionalDetails": [{"key": k, "value": v} for k, v in details.items() if v is not None],
        }
        # Seeded history may be written out of order; keep the list sorted by time.
        index = len(self._entries)
        while index > 0 and self._entries[index - 1][0] > when:
            index -= 1
        self._entries.insert(index, (when, entry))
        return entry

    def listing(self, flt: AuditFilter, now: datetime) -> list[JsonDict]:
        """Entries within retention that match, newest first."""
        oldest = now - RETENTION
        return [
            entry
            for when, entry in reversed(self._entries)
            if when >= oldest and when <= now and flt.matches(entry, when)
        ]

    def entries(self) -> list[JsonDict]:
        """Every entry, oldest first (tests)."""
        return [entry for _, entry in self._entries]


class ReportsThrottle:
    """5 requests / 10 s per app: `admit(app, now)` returns None, or the Retry-After seconds of a refusal."""

    def __init__(self, limit: int = THROTTLE_LIMIT, window: timedelta = THROTTLE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}

    def admit(self, app_id: str, now: datetime) -> int | None:
        seen = self._seen.setdefault(app_id.lower(), deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return max(1, math.ceil((seen[0] + self.window - now).total_seconds()))
        seen.append(now)
        return None

    def reset(self) -> None:
        self._seen.clear()
