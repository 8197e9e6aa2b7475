"""Who may run the bot's admin commands (`approvals here …`, `feed here|off|status`): `core.ports.AdminCheck` over an
allow-list of Entra object ids (`BOT_ADMINS`) and the members of an admin group (`BOT_ADMIN_GROUP`).

The admin group counts its members through nested groups, as Entra does for group-based access: a breadth-first walk
over `PimDirectory.members_of`, at most `MAX_NESTING` groups deep (deeper groups are not expanded) and cycle-safe (a
group is read once however often it is nested). The resolved set is kept for a short TTL, like the other directory
reads: a member removed from the group stops being an admin within that time. Nothing configured: nobody is an admin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Actor
from core.ports import Clock, PimDirectory

__all__ = ["ADMINS_TTL", "MAX_NESTING", "Admins", "group_members_transitively"]

log = logging.getLogger(__name__)

MAX_NESTING = 5  # levels of groups below the admin group that still count
ADMINS_TTL = timedelta(seconds=60)


async def group_members_transitively(
    directory: PimDirectory, group_id: str, *, max_depth: int = MAX_NESTING
) -> frozenset[str]:
    """User ids (case-folded) of the members of a group and of the groups nested in it, `max_depth` levels down.
    Each group is read once (a cycle ends the walk); the groups of one level are read concurrently."""
    seen = {group_id.casefold()}
    level = [group_id]
    users: set[str] = set()
    for depth in range(max_depth + 1):
        answers = await asyncio.gather(*(directory.members_of(g) for g in level))
        users.update(u.casefold() for answer in answers for u in answer.user_ids)
        nested = [g for answer in answers for g in answer.group_ids if g.casefold() not in seen]
        seen.update(g.casefold() for g in nested)
        if not nested:
            break
        if depth == max_depth:
            log.warning("admin group %s nests deeper than %d levels; deeper groups are not counted", group_id, depth)
            break
        level = list(dict.fromkeys(nested))
    return frozenset(users)


@dataclass(frozen=True, slots=True)
class _Resolved:
    user_ids: frozenset[str]
    expires: datetime


class Admins:
    """`core.ports.AdminCheck`: the actor is an admin when listed in `user_ids` or a (transitive) member of
    `group_id`. The actor is the authenticated one (`bot.transport.activity.actor_of`), never a name or id from the
    message."""

    def __init__(
        self,
        directory: PimDirectory,
        clock: Clock,
        *,
        user_ids: Iterable[str] = (),
        group_id: str = "",
        ttl: timedelta = ADMINS_TTL,
        max_depth: int = MAX_NESTING,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._user_ids = frozenset(u.strip().casefold() for u in user_ids if u.strip())
        self._group_id = group_id.strip()
        self._ttl = ttl
        self._max_depth = max_depth
        self._resolved: _Resolved | None = None
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """False when neither an allow-list nor an admin group is set: nobody is an admin, and a refusal should say
        how to configure one (BOT_ADMINS / BOT_ADMIN_GROUP)."""
        return bool(self._user_ids or self._group_id)

    async def is_admin(self, actor: Actor) -> bool:
        oid = actor.object_id.strip().casefold()
        if not oid:
            return False
        if oid in self._user_ids:
            return True
        if not self._group_id:
            return False
        return oid in await self._group_admins()

    async def _group_admins(self) -> frozenset[str]:
        resolved = self._resolved
        if resolved is not None and self._clock.now() < resolved.expires:
            return resolved.user_ids
        async with self._lock:  # concurrent checks share one walk of the group
            resolved = self._resolved
            if resolved is not None and self._clock.now() < resolved.expires:
                return resolved.user_ids
            # A failed read raises (DirectoryError kinds) and caches nothing: the next check tries again.
            user_ids = await group_members_transitively(self._directory, self._group_id, max_depth=self._max_depth)
            self._resolved = _Resolved(user_ids, self._clock.now() + self._ttl)
            return user_ids
