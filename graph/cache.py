"""The one cache of graph/: what was read is kept for a while, and callers who want the same thing at the same time
share one read.

`Cache[K, V]` keeps a value for a time-to-live (fixed, or per value: a token lives as long as it says), runs at most
one load per key at a time and gives its result to every caller who asked meanwhile (a caller who gives up does not
cancel it for the others), keeps a failed load only for as long as `keep_failure` says (by default not at all), and
holds at most `max_size` entries: the expired ones, then the oldest, make room; the expired ones also go whenever
the cache has doubled since they last did. Time is an injected clock in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Cache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Value(Generic[V]):
    value: V
    expires: float


@dataclass(frozen=True, slots=True)
class _Failure:
    error: Exception
    expires: float


_FIRST_SWEEP = 64


def _forget_failures(error: Exception) -> float | None:
    return None


class Cache(Generic[K, V]):
    """Values by key for `ttl` seconds (a number, or a function of the value), one load per key in flight."""

    def __init__(
        self,
        ttl: float | Callable[[V], float],
        *,
        clock: Callable[[], float],
        max_size: int = 10_000,
        keep_failure: Callable[[Exception], float | None] = _forget_failures,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._ttl = ttl
        self._clock = clock
        self._max_size = max_size
        self._keep_failure = keep_failure
        self._entries: dict[K, _Value[V] | _Failure] = {}
        self._flights: dict[K, asyncio.Future[V]] = {}
        self._sweep_at = _FIRST_SWEEP  # entries at which the expired ones are next dropped

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: K) -> V | None:
        """The value kept for `key` if it has not expired, without loading; None when there is none (or a failure is
        kept)."""
        entry = self._entries.get(key)
        if isinstance(entry, _Value) and self._clock() < entry.expires:
            return entry.value
        return None

    def values(self) -> list[V]:
        """Every value kept and not expired, oldest first."""
        now = self._clock()
        return [e.value for e in self._entries.values() if isinstance(e, _Value) and now < e.expires]

    async def get(self, key: K, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The value kept for `key`, else the result of `load()` (kept for its time-to-live). A load already under way
        for the key is shared instead of starting another, also when `fresh` is set: then only a kept value (or kept
        failure) is passed over. A kept failure is raised again until it expires."""
        entry = None if fresh else self._entries.get(key)
        if entry is not None and self._clock() < entry.expires:
            if isinstance(entry, _Failure):
                raise entry.error
            return entry.value
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._load(key, load))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def loading(self, key: K) -> bool:
        """True while a load for `key` is under way (a caller of `get` would share it)."""
        return key in self._flights

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key` from now on, for its time-to-live."""
        ttl = self._ttl(value) if callable(self._ttl) else self._ttl
        self._keep(key, _Value(value, self._clock() + ttl))

    def discard(self, key: K) -> None:
        """Forget what is kept for `key`. A load under way still answers those who wait for it, but its result is not
        kept and later callers start a new one: it may have read the state from before the change that made the
        caller discard."""
        self._entries.pop(key, None)
        self._flights.pop(key, None)

    def discard_where(self, doomed: Callable[[K, V], bool]) -> None:
        """Forget every kept value for which `doomed(key, value)` is True (loads under way are left alone)."""
        for key in [k for k, e in self._entries.items() if isinstance(e, _Value) and doomed(k, e.value)]:
            del self._entries[key]

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
        except Exception as exc:
            hold = self._keep_failure(exc)
            if hold is not None and self._current(key):
                self._keep(key, _Failure(exc, self._clock() + hold))
            raise
        if self._current(key):  # not discarded meanwhile; kept before any waiter resumes
            self.put(key, value)
        return value

    def _current(self, key: K) -> bool:
        return self._flights.get(key) is asyncio.current_task()

    def _landed(self, key: K, flight: asyncio.Future[V]) -> None:
        """Stop sharing a finished load, and mark its exception retrieved (every caller may have given up, and an
        unretrieved exception would only be logged when the task is collected)."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()

    def _keep(self, key: K, entry: _Value[V] | _Failure) -> None:
        self._entries.pop(key, None)  # re-inserted last: the oldest entries are first in line to make room
        if len(self._entries) >= min(self._sweep_at, self._max_size):
            # Expired entries go when the cache has doubled since the last sweep, not only when it is full: else a
            # process held max_size of them (a 60 s snapshot of every user it had seen). Amortised O(1) a put.
            now = self._clock()
            for stale in [k for k, e in self._entries.items() if e.expires <= now]:
                del self._entries[stale]
            while len(self._entries) >= self._max_size:
                del self._entries[next(iter(self._entries))]
            self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._entries))
        self._entries[key] = entry
