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
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.load import bench_user, run_load
from bot.store import Store
from bot.store.azureblob import AzureBlobStore
from bot.store.sqlite import SqliteStore
from devtools.azurite import Azurite, running_azurite
from devtools.stack import bot_environment, bot_process, free_port, python_server, simulated_tenant
from devtools.teams.activities import TeamsUser, message

__all__ = [
    "OPERATIONS",
    "StoreFigures",
    "TurnFigures",
    "activate_on_backends",
    "measure_stores",
    "render_activate",
    "render_store",
]

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


# ---- an `activate` turn on each backend -------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnFigures:
    turns: int
    p50_ms: float
    p99_ms: float
    failed: int


WARM_TEXTS = ("activate Helpdesk-Tier1 1h", "status")  # as bench's rounds: the user's token and snapshot are warm
ACTIVATE_TEXT = "activate Exchange-Admins 1h"


def activate_on_backends(var: Path, *, users: int = 120, concurrency: int = 8) -> dict[str, TurnFigures]:
    """Two bot processes, one on SQLite and one on Blob Storage (Azurite), on one simulated tenant and one connector
    stand-in; `users` warm `activate` turns each (their own users), at `concurrency`: the latency of the turn as
    Teams sees it (HTTP round trip), p50 and p99."""
    ports = {name: free_port() for name in ("connector", "SQLite", "Azure Blob (Azurite)")}
    lifted = {"TEAMS_REQUESTS_PER_SECOND": "1000"}  # as the throughput rounds: the load is far above Teams' cap
    with (
        running_azurite() as azurite,
        simulated_tenant(var / "store-simtenant", seed=f"bench:{2 * users}") as (tenant, _),
        python_server(
            ["-m", "bench.connector", "--port", str(ports["connector"])],
            ports["connector"],
            var / "store-connector.log",
            "the Bot Connector stand-in",
        ),
        bot_process(
            bot_environment(tenant, ports["SQLite"], var / "store-activate.sqlite3", lifted), var / "store-sqlite.log"
        ),
        bot_process(
            bot_environment(
                tenant,
                ports["Azure Blob (Azurite)"],
                var / "unused.sqlite3",
                {
                    **lifted,
                    "STORE": "azureblob",
                    "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
                    "AZURE_STORAGE_CONTAINER": "bench-activate",
                },
            ),
            var / "store-azureblob.log",
        ),
    ):
        connector_url = f"http://127.0.0.1:{ports['connector']}/"
        return asyncio.run(_activate_all(ports, connector_url, users, concurrency))


async def _activate_all(
    ports: dict[str, int], connector_url: str, users: int, concurrency: int
) -> dict[str, TurnFigures]:
    figures: dict[str, TurnFigures] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for i, backend in enumerate(BACKENDS):
            url = f"http://127.0.0.1:{ports[backend]}/api/messages"
            people = [bench_user(n) for n in range(1 + i * users, 1 + (i + 1) * users)]

            for text in WARM_TEXTS:
                warm = _bodies(connector_url, text, people)
                await run_load(http, url, warm, concurrency=concurrency, max_requests=users, max_seconds=60)
            result = await run_load(
                http,
                url,
                _bodies(connector_url, ACTIVATE_TEXT, people),
                concurrency=concurrency,
                max_requests=users,
                max_seconds=60,
            )
            figures[backend] = TurnFigures(
                result.ok, result.latency_ms(50), result.latency_ms(99), result.bad + (users - result.requests)
            )
    return figures


def _bodies(connector_url: str, text: str, people: list[TeamsUser]) -> list[bytes]:
    return [json.dumps(message(connector_url, text, user)).encode() for user in people]


def render_activate(figures: dict[str, TurnFigures], concurrency: int) -> list[str]:
    lines = [
        "| Backend | warm `activate` turns | p50 (ms) | p99 (ms) | failed |",
        "|---|---:|---:|---:|---:|",
    ]
    for backend in BACKENDS:
        f = figures[backend]
        lines.append(
            f"| {backend} | {f.turns} at {concurrency} at once | {f.p50_ms:.1f} | {f.p99_ms:.1f} | {f.failed} |"
        )
    return lines


if __name__ == "__main__":  # a quick look: python -m bench.store
    measured = asyncio.run(measure_stores(Path("var/bench")))
    print("\n".join(render_store(measured)))
    print("\n".join(render_activate(activate_on_backends(Path("var/bench"), users=40), 8)))
