"""The state store's operations on each backend, side by side in one run (issue 13 point 6).

SQLite (a file in var/bench) and Azure Blob Storage on Azurite (Microsoft's emulator, on this machine: no network
latency, so the figures are the client's and the emulator's cost, a floor for a real account where each call is a
round trip of a few milliseconds inside an Azure region). For each backend and operation, OPS sequential calls,
after WARMUP discarded ones, in ROUNDS rounds alternating the backends; p50 and p99 of the latencies and the rate, the
median over the rounds:

* get: a read of one existing record (~1 KB);
* put_if: a conditional write over the etag the previous write returned (the bot's every state change);
* update: Store.update, the compare-and-swap (a read and a conditional write), uncontended.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.store import Store
from bot.store.azureblob import AzureBlobStore
from bot.store.sqlite import SqliteStore
from devtools.azurite import Azurite, running_azurite

__all__ = ["OPERATIONS", "StoreFigures", "measure_stores", "render_store"]

OPS = 300
WARMUP = 30
ROUNDS = 3
OPERATIONS = ("get", "put_if", "update")
BACKENDS = ("SQLite", "Azure Blob (Azurite)")
RECORD = {"requestId": "x" * 36, "copies": [{"userId": "u" * 36, "activityId": "a" * 40}] * 8, "status": "waiting"}


@dataclass(frozen=True)
class OpFigures:
    p50_ms: float
    p99_ms: float
    per_second: float


@dataclass
class StoreFigures:
    ops: int
    rounds: int
    figures: dict[tuple[str, str], OpFigures]  # (backend, operation)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _time(calls: int, op: Callable[[], Awaitable[object]]) -> OpFigures:
    for _ in range(WARMUP):
        await op()
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        await op()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return OpFigures(_percentile(latencies, 0.5) * 1000, _percentile(latencies, 0.99) * 1000, calls / elapsed)


async def _round(store: Store, ops: int) -> dict[str, OpFigures]:
    await store.put_if("bench/read", RECORD, "*")
    etag = await store.put_if("bench/write", RECORD, "*")

    async def get() -> object:
        return await store.get("bench/read")

    async def put_if() -> object:
        nonlocal etag
        etag = await store.put_if("bench/write", RECORD, etag)
        return etag

    async def update() -> object:
        return await store.update("bench/update", lambda v: {**v, "n": v.get("n", 0) + 1}, create={"n": 0})

    return {"get": await _time(ops, get), "put_if": await _time(ops, put_if), "update": await _time(ops, update)}


def _median(runs: list[OpFigures]) -> OpFigures:
    return OpFigures(
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.per_second for r in runs),
    )


def _fresh_db(var: Path) -> Path:
    var.mkdir(parents=True, exist_ok=True)
    for leftover in var.glob("store-bench.sqlite3*"):
        leftover.unlink()
    return var / "store-bench.sqlite3"


async def measure_stores(var: Path, *, ops: int = OPS, rounds: int = ROUNDS) -> StoreFigures:
    db = _fresh_db(var)
    runs: dict[tuple[str, str], list[OpFigures]] = {}
    with running_azurite() as azurite:
        for r in range(rounds):
            order = BACKENDS if r % 2 == 0 else tuple(reversed(BACKENDS))
            for backend in order:
                store = _open(backend, db, azurite)
                if isinstance(store, AzureBlobStore):
                    await store.ensure_container()
                try:
                    for op, figures in (await _round(store, ops)).items():
                        runs.setdefault((backend, op), []).append(figures)
                finally:
                    await store.aclose()
    return StoreFigures(ops, rounds, {key: _median(values) for key, values in runs.items()})


def _open(backend: str, db: Path, azurite: Azurite) -> Store:
    if backend == "SQLite":
        return SqliteStore(db)
    return AzureBlobStore.from_connection_string(azurite.connection_string, "bench-store")


def render_store(figures: StoreFigures) -> list[str]:
    lines = [
        "| Operation | Backend | p50 (ms) | p99 (ms) | ops/s (sequential) |",
        "|---|---|---:|---:|---:|",
    ]
    for op in OPERATIONS:
        for backend in BACKENDS:
            f = figures.figures[(backend, op)]
            lines.append(f"| {op} | {backend} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.per_second:.0f} |")
    return lines


if __name__ == "__main__":  # a quick look: python -m bench.store
    measured = asyncio.run(measure_stores(Path("var/bench")))
    print("\n".join(render_store(measured)))
