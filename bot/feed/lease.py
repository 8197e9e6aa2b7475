"""The feed poller's lease, and by its name the `live` and `ending` desks': one process polls at a time, on the
store's lease primitive. Its log lines name the lease.

Only `Store.acquire`, `renew` and `release` are used, so the lease moves to an Azure blob lease with the store (the
owner id is the proposed lease id, the TTL is within blob leases' 15 to 60 seconds, and renewing a lease that lapsed
while nobody took it succeeds there as it does on SQLite). The holder renews it when half of it is used up: at the
cycle's checkpoints (a long read of the audit log, each post) and in the background beside the cycles
(`FeedDesk.run`), so polling stays with one process, also through a slow Graph, instead of going to whichever asks
first after a lapse.

A holder killed without releasing it is taken over once the TTL has passed on the store's clock (a clean shutdown
releases it at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from bot.store import LEASE_TTL_MAX, LEASE_TTL_MIN, Lease, Store

__all__ = ["NAME", "PollerLease", "lease_ttl"]

log = logging.getLogger(__name__)

NAME = "feed"  # the lease's name in the store (bot.store.keys.lease)


def lease_ttl(poll_seconds: float) -> timedelta:
    """Two cycles' worth, within what every backend offers (15 to 60 s). A holder killed without releasing it is
    then replaced within three poll intervals: its lease lapses within two, and the other process polls within one
    more (with FEED_POLL_SECONDS of 7.5 or more; below that the 15 s floor is longer than two intervals). Longer is
    not needed for a slow Graph: the holder renews the lease beside its cycles (`FeedDesk.run`), not only between
    them."""
    return min(max(timedelta(seconds=2 * poll_seconds), LEASE_TTL_MIN), LEASE_TTL_MAX)


class PollerLease:
    """This process's hold on the feed's lease (module doc). Its operations run one at a time, so a background
    renewal never races one made inside a cycle with the same token."""

    def __init__(
        self, store: Store, owner: str, ttl: timedelta, *, wall: Callable[[], float] = time.time, name: str = NAME
    ) -> None:
        self._store = store
        self.owner = owner
        self.ttl = ttl
        self._wall = wall
        self._name = name
        self._lease: Lease | None = None
        self._renewed_at = 0.0  # wall time of the last take or renewal
        self._lock = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._lease is not None

    async def hold(self) -> bool:
        """Renew the lease if this process holds it, else take it if it is free or lapsed; whether it is held."""
        async with self._lock:
            if self._lease is not None:
                renewed = await self._store.renew(self._lease)
                if renewed is not None:
                    self._held(renewed)
                    return True
                log.warning("%s lease lost by %s", self._name, self.owner)
                self._lease = None
            taken = await self._store.acquire(self._name, self.owner, self.ttl)
            if taken is None:
                return False
            log.info("%s lease taken by %s", self._name, self.owner)
            self._held(taken)
            return True

    async def keep(self) -> bool:
        """Renew the lease once half of it is used up; False if it is not (or no longer) held."""
        if self._lease is None:
            return False
        if self._wall() - self._renewed_at < self.ttl.total_seconds() / 2:
            return True
        return await self.hold()

    async def release(self) -> None:
        """On a clean shutdown: another process may take over at once instead of after the TTL."""
        async with self._lock:
            if self._lease is not None:
                await self._store.release(self._lease)
                self._lease = None

    def _held(self, lease: Lease) -> None:
        self._lease = lease
        self._renewed_at = self._wall()
