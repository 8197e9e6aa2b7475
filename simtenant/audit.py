"""The directory audit log as PIM for Groups writes it (`GET /v1.0/auditLogs/directoryAudits`, reference §9).

`Tenant` records one entry per step of every PIM-for-Groups request it carries out; `graph_api` serves them.
Entries are rendered to Graph's `directoryAudit` JSON when recorded (the real log keeps names as they were then).

Microsoft documents no shape for PIM's entries (reference §9, corrected 2026-12). Public samples of real tenants
disagree, so the log writes every shape they show, in turn (`SHAPES`, one per entry, in the order entries are
written: deterministic; a test may pin `AuditLog.shapes`). The sources of each choice:

* `loggedByService` (one per tenant, `AuditLog.service`): `PIM` by default (community queries of real tenants:
  Azure/Azure-Sentinel PR #3145 `LoggedByService =~ "PIM"`; `Get-MgAuditLogDirectoryAudit -Filter "loggedByservice
  eq 'PIM'"`; a captured real entry, below), or `Privileged Identity Management` (the value the Graph directoryAudit
  resource page gives as its example, https://learn.microsoft.com/graph/api/resources/directoryaudit).
* `targetResources`: two (`[group, principal]`, this log's first shape, reference §9's older reading) or four —
  the role (type `Role`), the request (type `Other`, id = the request id), the principal and the group — in the
  orders samples index them: role first, requestor at [2] and the resource at [3] (the Log Analytics example query
  "View Privileged Identity Management role activations and approvals": `Role = TargetResources[0]`,
  `ResourceName = TargetResources[3]`;
  realmjoin/realmjoin-runbooks org/general/report-pim-activations_scheduled.ps1: `[0]` role, `[2]` requestor,
  `[3]` primary target), or the role last (Azure/Azure-Sentinel NRT_PIMElevationRequestRejected: `[2]` user,
  `[3]` role). A captured real entry had nine targets; the Graph targetResource page documents `groupType` for
  targets of type Group (https://learn.microsoft.com/graph/api/resources/targetresource).
* the request id: additionalDetails `RequestId` (reference §9), `RoleAssignmentRequestId` with a correlationId of
  its own per entry ("PIM processes approval and activation asynchronously, so one activation cycle can produce
  several correlation IDs. Use RoleAssignmentRequestId": Microsoft Learn's Entra PIM lab; MicrosoftDocs/entra-docs
  PR #2037), or only the correlationId (issue 9, point 7: community readings).
* PIM's own entries (an expiry): initiated by the app `MS-PIM` (Azure/Azure-Sentinel issue #9218 and community
  hunting queries match `InitiatedBy.app` "MS-PIM"; its app id from a public KQL query, `appId eq '01fc33a7-…'`) or
  by a user named `Azure AD PIM` with no userPrincipalName (a public capture of a real tenant's directoryAudits,
  2026-09: `Remove member from role (PIM activation expired)`, nine targetResources, `RoleAssignmentRequestId`).

Choices where the reference is silent (the bot's tests may rely on these):

* Every entry has category `GroupManagement`, result `success`; additionalDetails carry `Role` (Member/Owner),
  `StartTime`, `ExpirationTime` and `Justification` where known, beside the shape's request id key.
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
* Retention: entries older than 30 days (sim clock) are not listed. Newest first.
* `$filter`: `and`-joined terms on the properties the directoryAudit resource page marks filterable, and only
  those: `activityDateTime` (eq, ge, le; an unquoted instant), `activityDisplayName` (eq, startswith), `correlationId`,
  `id`, `loggedByService` (eq), `initiatedBy/user/id|displayName|userPrincipalName`, `initiatedBy/app/appId|
  displayName` (eq), `startswith(initiatedBy/user/userPrincipalName, …)`, `targetResources/any(t: t/id eq …)`,
  `… t/displayName eq …`, `… startswith(t/displayName, …)`. Anything else → 400 BadRequest, **also `category`,
  `result` and `operationType`**, which the page does not mark filterable (community code sends `category eq`; the
  bot must not depend on what Microsoft does not document). `or`, `not`, `ne` → 400.
* Throttling: 5 requests per 10 s (sim clock) per app per tenant for this resource, each page counting; the 6th
  gets 429 with Retry-After = whole seconds until the oldest of the five leaves the window. Refused requests
  (401/403/429) do not count.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from simtenant.isotime import format_instant, parse_instant

__all__ = [
    "AZURE_AD_PIM_USER_ID",
    "MS_PIM_APP_ID",
    "PIM",
    "PRIVILEGED_IDENTITY_MANAGEMENT",
    "RETENTION",
    "SHAPES",
    "THROTTLE_LIMIT",
    "THROTTLE_WINDOW",
    "AuditFilter",
    "AuditLog",
    "EntryShape",
    "Party",
    "ReportsThrottle",
    "app_initiator",
    "parse_audit_filter",
    "user_initiator",
]

JsonDict = dict[str, Any]

RETENTION = timedelta(days=30)
THROTTLE_LIMIT = 5
THROTTLE_WINDOW = timedelta(seconds=10)
MS_PIM_APP_ID = "01fc33a7-78ba-4d2f-a4b7-768e336e890e"
AZURE_AD_PIM_USER_ID = "9dfd627f-0000-4000-8000-00000000a1d0"  # the "Azure AD PIM" initiator (a made-up id)
CATEGORY = "GroupManagement"
PIM = "PIM"
PRIVILEGED_IDENTITY_MANAGEMENT = "Privileged Identity Management"

Slot = Literal["group", "principal", "role", "request"]


@dataclass(frozen=True, slots=True)
class EntryShape:
    """How one entry is written (module docstring: the samples each choice follows)."""

    name: str
    layout: tuple[Slot, ...]  # targetResources, in this order
    request_key: str | None  # the additionalDetails key holding the request id (None: none does)
    correlation: Literal["request", "fresh"]  # correlationId = the request id, or a new GUID per entry
    system: Literal["app", "user"]  # PIM's own entries: initiated by the app MS-PIM, or the user "Azure AD PIM"
    group_type: str | None = None  # the group target's groupType


SHAPES: tuple[EntryShape, ...] = (
    EntryShape("two-targets", ("group", "principal"), "RequestId", "request", "app"),
    EntryShape(
        "role-first",
        ("role", "request", "principal", "group"),
        "RoleAssignmentRequestId",
        "fresh",
        "user",
        group_type="azureAD",
    ),
    EntryShape(
        "role-last",
        ("request", "group", "principal", "role"),
        None,
        "request",
        "app",
    ),
)


@dataclass(frozen=True, slots=True)
class Party:
    """A directory object an entry names (the group, the principal)."""

    id: str
    display_name: str | None
    type: str  # "User" | "Group"
    upn: str | None = None


# -- $filter -------------------------------------------------------------------------------------------------------

# The properties the directoryAudit resource page marks filterable with `eq` (property path → where it is).
_EQ_PATHS = {
    "id": ("id",),
    "correlationid": ("correlationId",),
    "loggedbyservice": ("loggedByService",),
    "activitydisplayname": ("activityDisplayName",),
    "initiatedby/user/id": ("initiatedBy", "user", "id"),
    "initiatedby/user/displayname": ("initiatedBy", "user", "displayName"),
    "initiatedby/user/userprincipalname": ("initiatedBy", "user", "userPrincipalName"),
    "initiatedby/app/appid": ("initiatedBy", "app", "appId"),
    "initiatedby/app/displayname": ("initiatedBy", "app", "displayName"),
}
_STARTSWITH_PATHS = {
    "activitydisplayname": ("activityDisplayName",),
    "initiatedby/user/userprincipalname": ("initiatedBy", "user", "userPrincipalName"),
}
_QUOTED = r"'(?:[^']|'')*'"
_TERM = re.compile(rf"^(?P<path>[A-Za-z][\w/]*)\s+(?P<op>[A-Za-z]+)\s+(?P<value>{_QUOTED}|[0-9][0-9:.TZtz+-]*)$")
_STARTSWITH = re.compile(rf"^startswith\(\s*(?P<path>[A-Za-z][\w/]*)\s*,\s*(?P<value>{_QUOTED})\s*\)$", re.I)
_ANY = re.compile(r"^targetResources/any\(\s*(?P<var>[A-Za-z]\w*)\s*:\s*(?P<body>.+)\)$", re.I)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)

Test = Callable[[JsonDict], bool]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    tests: tuple[Test, ...] = ()
    since: datetime | None = None  # activityDateTime ge
    until: datetime | None = None  # activityDateTime le

    def matches(self, entry: JsonDict, when: datetime) -> bool:
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when > self.until:
            return False
        return all(test(entry) for test in self.tests)


def _at(entry: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = entry
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _text_test(path: Sequence[str], value: str, starts: bool) -> Test:
    wanted = value.casefold()

    def test(entry: JsonDict) -> bool:
        actual = _at(entry, path)
        if not isinstance(actual, str):
            return False
        return actual.casefold().startswith(wanted) if starts else actual.casefold() == wanted

    return test


def _unquote(raw: str) -> str:
    return raw[1:-1].replace("''", "'")


def _split_and(text: str) -> list[str]:
    """Split on ` and ` outside quoted strings and parentheses."""
    parts: list[str] = []
    start = depth = i = 0
    quoted = False
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0:
            m = _AND.match(text, i)
            if m is not None:
                parts.append(text[start:i])
                start = i = m.end()
                continue
        i += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _any_target(text: str) -> Test:
    """`targetResources/any(t: t/id eq '…')`, `… t/displayName eq '…'`, `… startswith(t/displayName, '…')`."""
    m = _ANY.match(text)
    assert m is not None
    var, body = m["var"], m["body"].strip()
    if (s := _STARTSWITH.match(body)) is not None and s["path"].lower() == f"{var}/displayname".lower():
        inner = _text_test(("displayName",), _unquote(s["value"]), starts=True)
    elif (t := _TERM.match(body)) is not None and t["op"].lower() == "eq" and t["value"].startswith("'"):
        prop = t["path"].lower().removeprefix(f"{var.lower()}/")
        if prop not in ("id", "displayname"):
            raise ValueError(f"Invalid filter clause: targetResources supports only id and displayName, not '{prop}'.")
        inner = _text_test(("id" if prop == "id" else "displayName",), _unquote(t["value"]), starts=False)
    else:
        raise ValueError(f"Invalid filter clause: '{text}' is not supported on directoryAudits.")

    def test(entry: JsonDict) -> bool:
        return any(isinstance(t, dict) and inner(t) for t in entry.get("targetResources") or ())

    return test


def parse_audit_filter(text: str | None) -> AuditFilter:
    """Parse the `$filter` of directoryAudits: only what the resource page marks filterable. Raises ValueError with
    Graph-like wording."""
    if text is None or not text.strip():
        return AuditFilter()
    tests: list[Test] = []
    since: datetime | None = None
    until: datetime | None = None
    for part in _split_and(text.strip()):
        if _ANY.match(part):
            tests.append(_any_target(part))
            continue
        if (s := _STARTSWITH.match(part)) is not None:
            path = s["path"].lower()
            if path not in _STARTSWITH_PATHS:
                raise ValueError(f"Invalid filter clause: startswith is not supported on '{s['path']}'.")
            tests.append(_text_test(_STARTSWITH_PATHS[path], _unquote(s["value"]), starts=True))
            continue
        m = _TERM.match(part)
        if m is None:
            raise ValueError(f"Invalid filter clause: '{part}' is not supported on directoryAudits.")
        path, op, raw = m["path"].lower(), m["op"].lower(), m["value"]
        if path == "activitydatetime":
            if op not in ("eq", "ge", "le") or raw.startswith("'"):
                raise ValueError(
                    "Invalid filter clause: activityDateTime supports only 'eq', 'ge' and 'le' with an unquoted ISO "
                    "8601 instant."
                )
            try:
                instant = parse_instant(raw)
            except ValueError as exc:
                raise ValueError(f"Invalid filter clause: '{raw}' is not a valid DateTimeOffset.") from exc
            since = instant if op in ("eq", "ge") else since
            until = instant if op in ("eq", "le") else until
            continue
        if path not in _EQ_PATHS:
            raise ValueError(f"Invalid filter clause: could not find a property named '{m['path']}' usable here.")
        if op != "eq" or not raw.startswith("'"):
            raise ValueError(f"Invalid filter clause: '{m['path']}' supports only 'eq' with a quoted string.")
        tests.append(_text_test(_EQ_PATHS[path], _unquote(raw), starts=False))
    return AuditFilter(tuple(tests), since, until)


# -- entries -------------------------------------------------------------------------------------------------------


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


def _pim_itself(shape: EntryShape) -> JsonDict:
    if shape.system == "user":
        return user_initiator(AZURE_AD_PIM_USER_ID, "Azure AD PIM", None)
    return app_initiator(MS_PIM_APP_ID, "MS-PIM")


def _target(object_id: str, display_name: str | None, kind: str, upn: str | None = None) -> JsonDict:
    return {
        "id": object_id,
        "displayName": display_name,
        "type": kind,
        "userPrincipalName": upn,
        "groupType": None,
        "modifiedProperties": [],
    }


def _targets(shape: EntryShape, group: Party, principal: Party | None, access: str, request_id: str) -> list[JsonDict]:
    person = _target(principal.id, principal.display_name, principal.type, principal.upn) if principal else None
    slots: dict[Slot, JsonDict | None] = {
        "group": {**_target(group.id, group.display_name, "Group"), "groupType": shape.group_type},
        "principal": person,
        "role": _target(access, access.capitalize(), "Role"),
        "request": _target(request_id, None, "Other"),
    }
    return [target for slot in shape.layout if (target := slots[slot]) is not None]


class AuditLog:
    """Entries in the order they were written (their times never go back: they come from the sim clock)."""

    def __init__(self, shapes: Sequence[EntryShape] = SHAPES, service: str = PIM) -> None:
        self._entries: list[tuple[datetime, JsonDict]] = []
        self._shapes: tuple[EntryShape, ...] = tuple(shapes)
        self.service = service  # loggedByService of every PIM entry (PIM or PRIVILEGED_IDENTITY_MANAGEMENT)
        self._written = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def shapes(self) -> tuple[EntryShape, ...]:
        return self._shapes

    @shapes.setter
    def shapes(self, shapes: Sequence[EntryShape]) -> None:
        """Pin the shapes entries are written in from now on, the first of them next."""
        self._shapes = tuple(shapes)
        self._written = 0

    def next_shape(self) -> EntryShape:
        """The shape of the next entry: `shapes` in turn."""
        shape = self.shapes[self._written % len(self.shapes)]
        self._written += 1
        return shape

    def record_pim(
        self,
        when: datetime,
        activity: str,
        *,
        group: Party,
        principal: Party | None,
        access: str,
        request_id: str,
        initiated_by: JsonDict | None,
        details: Mapping[str, str | None],
        operation_type: str,
    ) -> JsonDict:
        """One PIM-for-Groups entry in the next shape; `initiated_by` None: PIM itself (an expiry)."""
        shape = self.next_shape()
        keyed = {shape.request_key: request_id} if shape.request_key else {}
        return self.record(
            when,
            activity,
            service=self.service,
            initiated_by=initiated_by if initiated_by is not None else _pim_itself(shape),
            targets=_targets(shape, group, principal, access, request_id),
            correlation_id=request_id if shape.correlation == "request" else str(uuid.uuid4()),
            details={**keyed, **details},
            operation_type=operation_type,
        )

    def record(
        self,
        when: datetime,
        activity: str,
        *,
        service: str,
        initiated_by: JsonDict,
        targets: Sequence[JsonDict],
        correlation_id: str,
        details: Mapping[str, str | None] = {},  # noqa: B006 - read only
        operation_type: str = "Assign",
        result: str = "success",
    ) -> JsonDict:
        """An entry exactly as given (tests write shapes of their own with it)."""
        entry: JsonDict = {
            "id": f"PIM_{uuid.uuid4()}",
            "category": CATEGORY,
            "correlationId": correlation_id,
            "result": result,
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": format_instant(when),
            "loggedByService": service,
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
