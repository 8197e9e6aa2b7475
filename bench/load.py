"""Load generator: N concurrent workers POST prepared bodies to one URL, bounded by a request count and a time limit.

A request's latency is its HTTP round trip (send → whole response read). Throughput is completed requests divided by
the time from the first send to the last completion. Warm-up is a separate, discarded `run_load` call.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from devtools.teams.activities import TeamsUser

__all__ = [
    "CpuClock",
    "LoadResult",
    "bench_user",
    "cpu_seconds",
    "machine_cpu_seconds",
    "median",
    "percentile",
    "run_load",
]

JSON = {"Content-Type": "application/json; charset=utf-8"}


def bench_user(n: int) -> TeamsUser:
    """The n-th user of the simulated tenant's `bench:N` seed (eligible for Exchange-Admins and Helpdesk-Tier1)."""
    return TeamsUser(f"cccccccc-0000-4000-8000-{n:012d}", f"bench-user-{n:04d}")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 ≤ p ≤ 100), linear between closest ranks (numpy's default, Excel's PERCENTILE.INC)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


@dataclass
class LoadResult:
    requests: int = 0  # completed with any HTTP status
    failures: int = 0  # transport errors and timeouts (no HTTP status)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, successful (2xx) requests only
    elapsed: float = 0.0  # seconds, first send → last completion
    errors: list[str] = field(default_factory=list)  # the first few failure descriptions

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def bad(self) -> int:
        """Non-2xx answers plus transport failures."""
        return self.requests - self.ok + self.failures

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def latency_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000 if self.latencies else math.nan


async def run_load(
    session: aiohttp.ClientSession,
    url: str,
    bodies: Iterable[bytes],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> LoadResult:
    """POST bodies (each at most once, in order) with `concurrency` workers until `max_requests` were sent, the bodies
    ran out or `max_seconds` passed (requests in flight then still complete and count)."""
    result = LoadResult()
    source = iter(bodies)
    sent = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    last = start

    async def worker() -> None:
        nonlocal sent, last
        while sent < max_requests and time.perf_counter() < deadline:
            body = next(source, None)
            if body is None:
                return
            sent += 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=JSON) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.failures += 1
                if len(result.errors) < 5:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            t1 = time.perf_counter()
            last = max(last, t1)
            result.requests += 1
            result.statuses[status] += 1
            if 200 <= status < 300:
                result.latencies.append(t1 - t0)
            elif len(result.errors) < 5:
                result.errors.append(f"HTTP {status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = last - start
    return result


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included, from /proc/<pid>/stat (1/CLK_TCK resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: fields 14 and 15 of proc(5)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, all cores, from /proc/stat: busy is user, nice,
    system, irq and softirq time (guest time is part of user); steal is time the hypervisor gave to others."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


class CpuClock:
    """CPU seconds of several processes (None: this one, via time.process_time), read together."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = pids

    def read(self) -> dict[str, float]:
        return {name: time.process_time() if pid is None else cpu_seconds(pid) for name, pid in self._pids.items()}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before[name] for name in before}
