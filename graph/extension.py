"""What the custom extension's rules ask the directory (`core.extension_rules.Facts`), read app-only and cached briefly:
who is on shift in a Teams Shifts schedule, who is in an Entra group (nested groups included), a group's name.

Shifts: `GET /teams/{teamId}/schedule/shifts` (learn.microsoft.com/graph/api/schedule-list-shifts, v1.0), application
permission Schedule.Read.All. With an application token the `MS-APP-ACTS-AS` header (a user id) is required ("Required
only if the authorization token is an application token"; without it Graph answers 403 "MS-APP-ACTS-AS header needs
to be set for application context requests.", innererror MissingUserIdHeaderInAppContext: microsoft-graph-docs-contrib
issue #2884, msgraph-sdk-powershell issue #1227): a rule's `acts_as`, else the requester. `$filter` is supported
but "doesn't support the use of the same property more than once in a query"; the page's own example bounds
`sharedShift/startDateTime ge …` and `sharedShift/endDateTime le …`, so that is the form sent: the shifts that start
at most 24 h before now and end at most 24 h after it ("The duration of a shift can't be less than 1 minute or longer
than 24 hours", resources/shift), which contains every shift under way now; the one under way is then picked here
(`startDateTime <= now < endDateTime` of `sharedShift`, the version employees see: a `draftShift` is a manager's
unpublished change and counts for nothing). A shift's person is its `userId` (the page's example). One read per team
(and acting user) is kept for SHIFTS_TTL, so a burst of activations costs one read.

Members: the group's members walked through nested groups as the admin group is (core.admins).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from core.admins import group_members_transitively
from core.ports import Clock, PimDirectory
from graph.cache import Cache
from graph.client import GraphClient
from graph.failures import translating
from graph.wire import format_datetime, parse_datetime

__all__ = ["SHIFTS_TTL", "DirectoryFacts", "SharedShift", "shifts_path", "shifts_query"]

log = logging.getLogger(__name__)

SHIFTS_TTL = timedelta(seconds=60)
MEMBERS_TTL = timedelta(seconds=60)
SHIFT_MAX = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SharedShift:
    """A shift as employees see it (`sharedShift`): whose, from when to when."""

    user_id: str
    start: datetime
    end: datetime


def shifts_path(team_id: str) -> str:
    return f"/teams/{quote(team_id, safe='')}/schedule/shifts"


def shifts_query(now: datetime) -> dict[str, str]:
    """Every shift that can be under way at `now` (module doc: two different properties, as the doc's example)."""
    since, until = format_datetime(now - SHIFT_MAX), format_datetime(now + SHIFT_MAX)
    return {"$filter": f"sharedShift/startDateTime ge {since} and sharedShift/endDateTime le {until}"}


def parse_shift(item: Mapping[str, Any]) -> SharedShift | None:
    shared = item.get("sharedShift")
    user = item.get("userId")
    if not isinstance(shared, Mapping) or not isinstance(user, str) or not user:
        return None
    start, end = parse_datetime(shared.get("startDateTime")), parse_datetime(shared.get("endDateTime"))
    if start is None or end is None:
        return None
    return SharedShift(user.lower(), start, end)


class DirectoryFacts:
    """`core.extension_rules.Facts` over Graph (app-only) and the PIM directory (group names, members)."""

    def __init__(self, graph: GraphClient, directory: PimDirectory, clock: Clock) -> None:
        self._graph = graph
        self._directory = directory
        self._clock = clock

        def now() -> float:
            return clock.now().timestamp()

        self._shifts: Cache[tuple[str, str], tuple[SharedShift, ...]] = Cache(SHIFTS_TTL.total_seconds(), clock=now)
        self._members: Cache[str, frozenset[str]] = Cache(MEMBERS_TTL.total_seconds(), clock=now)

    async def on_shift(self, team_id: str, user_id: str, at: datetime, acts_as: str) -> bool:
        shifts = await self._shifts.get((team_id.lower(), acts_as.lower()), lambda: self._read_shifts(team_id, acts_as))
        user = user_id.lower()
        return any(s.user_id == user and s.start <= at < s.end for s in shifts)

    async def _read_shifts(self, team_id: str, acts_as: str) -> tuple[SharedShift, ...]:
        with translating():
            items = await self._graph.get_all(
                shifts_path(team_id), params=shifts_query(self._clock.now()), headers={"MS-APP-ACTS-AS": acts_as}
            )
        shifts = tuple(s for item in items if (s := parse_shift(item)) is not None)
        log.info("Shifts schedule of team %s: %d shared shifts around now", team_id, len(shifts))
        return shifts

    async def member_of(self, group_id: str, user_id: str) -> bool:
        members = await self._members.get(
            group_id.lower(), lambda: group_members_transitively(self._directory, group_id)
        )
        return user_id.casefold() in members

    async def group_name(self, group_id: str) -> str:
        names = await self._directory.display_names([group_id])
        return names.get(group_id, "")
