"""Virtual time for code that takes a monotonic clock and a sleep function (bot.transport.sendlimit, the connector's
retries).

`SteppingClock`: `sleep(d)` moves the clock on by `d` at once — for one task doing things in sequence (its waits take
no wall time, and what it does happens exactly at the virtual instant it waited for).

`VirtualClock`: sleepers wait until `run()` moves the clock to the earliest wake-up among them — for many concurrent
tasks without I/O; each wakes at exactly the instant it asked for, in order.

`ManualClock`: the test moves the clock (`advance_to`) — for code that also does real I/O (HTTP to the stand-ins),
where nobody but the test can tell that every task waits; `await asleep_until(t)` waits until something sleeps until
`t`, i.e. the code got that far.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Iterable
from typing import Any

__all__ = ["ManualClock", "SteppingClock", "VirtualClock"]


class SteppingClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class VirtualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def run(self, awaitables: Iterable[Awaitable[Any]]) -> list[Any]:
        """Run the awaitables to the end, moving the clock from one wake-up to the next whenever all of them wait."""
        tasks = [asyncio.ensure_future(a) for a in awaitables]
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every runnable task run until it sleeps or ends (no I/O here)
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                break
            if not self._sleepers:
                raise RuntimeError("tasks are blocked on something other than this clock")
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            future.set_result(None)
        return [t.result() for t in tasks]


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed: asyncio.Condition | None = None

    def __call__(self) -> float:
        return self.now

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        async with self._condition():
            self._condition().notify_all()
        await future

    def sleeping(self) -> list[float]:
        """The wake-up times of everything asleep now, earliest first."""
        return sorted(when for when, _, future in self._sleepers if not future.done())

    async def asleep_until(self, when: float, *, seconds: float = 10.0) -> None:
        """Wait until something sleeps until `when` (`seconds` of real time at most: a hang fails, it is no timing)."""
        async with asyncio.timeout(seconds), self._condition():
            await self._condition().wait_for(lambda: any(abs(w - when) < 1e-6 for w in self.sleeping()))

    def advance_to(self, when: float) -> None:
        """Move the clock to `when`; everything asleep until then wakes (each sees the clock at `when`)."""
        self.now = max(self.now, when)
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
