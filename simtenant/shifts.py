"""Teams Shifts schedules as Microsoft Graph shows them: `GET /teams/{teamId}/schedule/shifts` (graph_api serves it).

Sources (Microsoft Learn / microsoft-graph-docs-contrib, v1.0):
* list: https://learn.microsoft.com/graph/api/schedule-list-shifts: permissions Schedule.Read.All (least) and
  Schedule.ReadWrite.All, delegated also Group.Read.All, Group.ReadWrite.All; header `MS-APP-ACTS-AS` "A user ID
  (GUID). Required only if the authorization token is an application token"; `$filter` supported, and "doesn't
  support the use of the same property more than once in a query" (its example: `sharedShift/startDateTime ge …
  and sharedShift/endDateTime le … and draftShift/startDateTime ge … and draftShift/endDateTime le …`); the answer a
  collection of shifts.
* shift: https://learn.microsoft.com/graph/api/resources/shift: id (`SHFT_…`), userId, schedulingGroupId (`TAG_…`),
  sharedShift and draftShift (shiftItem: displayName, notes, startDateTime, endDateTime, theme, activities),
  createdDateTime, lastModifiedDateTime; "The duration of a shift can't be less than 1 minute or longer than 24
  hours"; `draftShift` changes "are only visible to managers", `sharedShift` is what employees see.
* refusals seen from real tenants: an application token without the header is 403 `Forbidden` "MS-APP-ACTS-AS header
  needs to be set for application context requests." (innererror MissingUserIdHeaderInAppContext:
  microsoft-graph-docs-contrib#2884, msgraph-sdk-powershell#1227); a team the acting user cannot see is 404
  `NotFound` "Sorry, the team was not found, or you may not have access to it." (innererror TeamNotFound:
  microsoft-graph-docs-contrib#4957, where the acting user was not in the team).

Inferred (the sources are silent): the acting user must be a member or owner of the team (its group) — else the 404
above; a filter naming one property twice, or a property or operator outside the documented ones, is 400 `BadRequest`
(the doc only says such a query "will not work"); `eq`, `ge`, `gt`, `le`, `lt` on the four date properties and
`userId eq '…'` (the properties team-getshifts documents for its filter) are accepted; a shift with no `sharedShift`
(never shared) does not match a `sharedShift/…` term.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simtenant.isotime import format_instant, parse_instant

__all__ = ["Schedules", "Shift", "ShiftItem", "parse_shift_filter", "shift_json"]

_DATE_PROPERTIES = {
    "sharedshift/startdatetime": ("shared", "start"),
    "sharedshift/enddatetime": ("shared", "end"),
    "draftshift/startdatetime": ("draft", "start"),
    "draftshift/enddatetime": ("draft", "end"),
}
_TERM = re.compile(
    r"^\s*(?P<prop>[A-Za-z]+(?:/[A-Za-z]+)?)\s+(?P<op>eq|ne|ge|gt|le|lt)\s+(?P<value>'[^']*'|\S+)\s*$", re.IGNORECASE
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


@dataclass(frozen=True, slots=True)
class ShiftItem:
    start: datetime
    end: datetime
    display_name: str = "On call"
    notes: str = ""
    theme: str = "blue"


@dataclass(slots=True)
class Shift:
    id: str
    user_id: str
    scheduling_group_id: str
    shared: ShiftItem | None
    draft: ShiftItem | None
    created: datetime


@dataclass(slots=True)
class Schedules:
    """The teams that have a Shifts schedule (by team id = the team's group id) and their shifts."""

    shifts: dict[str, list[Shift]] = field(default_factory=dict)

    def clear(self) -> None:
        self.shifts.clear()

    def team(self, team_id: str) -> list[Shift] | None:
        return self.shifts.get(team_id.lower())

    def add_team(self, team_id: str) -> None:
        self.shifts.setdefault(team_id.lower(), [])

    def add(self, team_id: str, shift: Shift) -> Shift:
        self.shifts.setdefault(team_id.lower(), []).append(shift)
        return shift


def new_shift(user_id: str, item: ShiftItem, *, shared: bool, created: datetime, group: str = "") -> Shift:
    """A shift of `user_id`; `shared` False: only a manager's draft (employees do not see it)."""
    return Shift(
        id=f"SHFT_{uuid.uuid4()}",
        user_id=user_id,
        scheduling_group_id=group or f"TAG_{uuid.uuid5(uuid.NAMESPACE_URL, 'sim/on-call')}",
        shared=item if shared else None,
        draft=item,
        created=created,
    )


def _item_json(item: ShiftItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "displayName": item.display_name,
        "notes": item.notes,
        "startDateTime": format_instant(item.start),
        "endDateTime": format_instant(item.end),
        "theme": item.theme,
        "activities": [],
    }


def shift_json(shift: Shift) -> dict[str, Any]:
    """A shift as the List shifts example shows it."""
    return {
        "id": shift.id,
        "createdDateTime": format_instant(shift.created),
        "lastModifiedDateTime": format_instant(shift.created),
        "userId": shift.user_id,
        "schedulingGroupId": shift.scheduling_group_id,
        "isStagedForDeletion": False,
        "lastModifiedBy": {"application": None, "device": None, "user": None},
        "sharedShift": _item_json(shift.shared),
        "draftShift": _item_json(shift.draft),
    }


def parse_shift_filter(text: str | None) -> Callable[[Shift], bool]:
    """A `$filter` of List shifts as a predicate; ValueError (→ 400) for what the module doc says is refused."""
    if not text or not text.strip():
        return lambda shift: True
    predicates: list[Callable[[Shift], bool]] = []
    seen: set[str] = set()
    for raw in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _TERM.match(raw)
        if m is None:
            raise ValueError(f"Invalid filter clause: '{raw.strip()}'.")
        prop, op = m["prop"].lower(), m["op"].lower()
        if prop in seen:
            raise ValueError(
                f"The filter parameter doesn't support the use of the same property more than once: {prop}"
            )
        seen.add(prop)
        predicates.append(_predicate(prop, op, m["value"]))
    return lambda shift: all(p(shift) for p in predicates)


def _predicate(prop: str, op: str, value: str) -> Callable[[Shift], bool]:
    compare = _OPS[op]
    if prop == "userid":
        if op != "eq" or not value.startswith("'"):
            raise ValueError("userId supports only eq with a quoted user id.")
        wanted = value.strip("'").lower()
        return lambda shift: shift.user_id.lower() == wanted
    if prop not in _DATE_PROPERTIES:
        raise ValueError(f"Filtering on property '{prop}' is not supported.")
    version, end = _DATE_PROPERTIES[prop]
    try:
        when = parse_instant(value.strip("'"))
    except ValueError as exc:
        raise ValueError(f"The value '{value}' is not a valid DateTimeOffset.") from exc

    def matches(shift: Shift) -> bool:
        item = shift.shared if version == "shared" else shift.draft
        if item is None:
            return False
        return compare(item.end if end == "end" else item.start, when)

    return matches
