"""The groups seen in anyone's eligibilities: a typed group name is matched against them before the user's snapshot
is read, so the group's policy can ride in the same app-only `$batch` as the snapshot (two Graph round trips for a
cold activation instead of three: `core.ports.PolicyQuery.names`).

Kept in memory and, through a `KnownGroupsStore` (bot.conversations), across restarts: loaded once on first use,
saved only when a sighting adds a group or renames one, at most `limit` groups (the earliest seen go first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from core.models import Access, Group

__all__ = ["KnownGroups", "KnownGroupsStore"]

log = logging.getLogger(__name__)

LIMIT = 1000


class KnownGroupsStore(Protocol):
    async def load(self) -> Sequence[tuple[Group, Access]]:
        """The groups kept, earliest seen first."""
        ...

    async def save(self, groups: Sequence[tuple[Group, Access]], limit: int) -> None:
        """Add or update `groups` among those kept (another process may have added its own), keeping `limit`."""
        ...


class KnownGroups:
    def __init__(self, store: KnownGroupsStore | None = None, limit: int = LIMIT) -> None:
        self._store = store
        self._limit = limit
        self._groups: dict[tuple[str, Access], Group] = {}  # (folded group id, access) → group, as last seen
        self._loaded = store is None
        self._lock = asyncio.Lock()

    async def all(self) -> list[tuple[Group, Access]]:
        await self._load()
        return [(group, access) for (_, access), group in self._groups.items()]

    async def saw(self, sightings: Iterable[tuple[Group, Access]]) -> None:
        """Groups found in an eligibility; kept (and saved) if new or renamed."""
        await self._load()
        changed = [(g, a) for g, a in sightings if self._groups.get((g.id.casefold(), a)) != g]
        if not changed:
            return
        for group, access in changed:
            self._groups[(group.id.casefold(), access)] = group
        self._trim()
        if self._store is not None:
            try:
                await self._store.save(changed, self._limit)
            except Exception:  # a cache: losing it costs a round trip after the next restart, nothing more
                log.exception("could not keep the groups seen for after a restart")

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self._lock:
            if self._loaded or self._store is None:
                return
            try:
                stored = await self._store.load()
            except Exception:
                log.exception("could not read the groups seen before the restart")
                stored = ()
            seen_here = self._groups
            self._groups = {(g.id.casefold(), a): g for g, a in stored}
            self._groups.update(seen_here)  # what this process saw is newer
            self._trim()
            self._loaded = True

    def _trim(self) -> None:
        for key in list(self._groups)[: max(0, len(self._groups) - self._limit)]:
            del self._groups[key]
