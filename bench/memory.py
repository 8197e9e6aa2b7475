"""Memory and start-up of the bot process (issue 16): RSS with many tracked approval requests and conversation
references, growth per 1,000 requests, RSS over a sustained mixed load, and the time from start to /healthz 200.

* **State**: for each size N in SIZES, a fresh SQLite state file holds N approval requests waiting for a decision (each
  with 5 approval card copies, as a fan-out to 5 approvers leaves them) and N personal-chat conversation references
  (a conversation record and a user record each), written with the bot's own record types (bot.approvals.records,
  bot.conversations) and keyspace, as the bot would have written them.
* **Start-up**: from starting `python app.py` to the first `GET /healthz` that answers 200, polled every 20 ms, on
  each state file, with the product's bytecode compiled first, as the Docker image has it; and once on Azure Blob
  Storage (Azurite, an empty container: the bot reads no records at start, so its size does not matter; the SQLite
  figures at each N show that).
* **RSS** (VmRSS from /proc): after start, then after a warm-up of mixed turns (every module a turn uses loaded, the
  caches filled); growth per 1,000 requests is the slope between the smallest and the largest N.
* **Sustained load**: the bot on the largest state keeps answering a paced mixed load (RATE turns a second: help from
  ever new users, status, activations and deactivations of bench users) for `soak_seconds` (make bench: 120 s; the
  issue's 30 minutes with `--soak-seconds 1800`), its RSS sampled every SAMPLE_EVERY seconds; the approval poll runs
  every 60 s over all N requests meanwhile (one Graph read each: the tenant knows none of them, so nothing changes).
  Growth is the least-squares slope of RSS from its peak on (the background loops' first full cycle), in MB per
  10 minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import bench_user, cpu_seconds, run_load
from bot.approvals.records import ApprovalCopy, ApprovalRequest
from bot.conversations import ConversationRecord, UserRecord
from bot.store import ANY, encode
from bot.store import keys as k
from bot.store.sqlite import SqliteStore, Write
from core.models import TimeStyle
from devtools.azurite import running_azurite
from devtools.stack import ROOT, Tenant, bot_environment, free_port, python_server, simulated_tenant, stop_process
from devtools.teams.activities import TeamsUser, message

__all__ = ["RSS_TARGET_MB", "STARTUP_TARGET_S", "MemoryFigures", "measure_memory", "render_memory"]

SIZES = (0, 5_000, 10_000)
COPIES = 5
RSS_TARGET_MB = 150.0
STARTUP_TARGET_S = 2.0
RATE = 20.0  # turns a second in the sustained load: a busy bot, far below the throughput rounds
SAMPLE_EVERY = 5.0
WARM_TURNS = 200
USERS = 200  # bench users of the sustained load (eligible in the simulated tenant's bench:N seed)
TENANT = "dddddddd-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Size:
    requests: int
    startup_s: float
    startup_cpu_s: float  # CPU the process had spent by then: the share of start-up a busy machine cannot stretch
    rss_started_mb: float
    rss_warm_mb: float


@dataclass
class MemoryFigures:
    sizes: list[Size] = field(default_factory=list)
    blob_startup: tuple[float, float] | None = None  # (seconds, CPU seconds)
    soak_seconds: float = 0.0
    soak: list[tuple[float, float]] = field(default_factory=list)  # (seconds since the load began, RSS MB)
    soak_turns: int = 0
    soak_failed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def largest(self) -> Size:
        return max(self.sizes, key=lambda s: s.requests)

    def growth_per_1000_mb(self) -> float:
        small, large = min(self.sizes, key=lambda s: s.requests), self.largest
        span = (large.requests - small.requests) / 1000
        return (large.rss_warm_mb - small.rss_warm_mb) / span if span else float("nan")

    def soak_slope_mb_per_10min(self) -> float:
        """Least-squares slope of RSS over the samples from its peak on (after the background loops' first full
        cycle, which reads every request and every user: the largest burst of a run), or over the second half when
        the peak comes later than that; MB per 10 minutes."""
        peak = max(range(len(self.soak)), key=lambda i: self.soak[i][1]) if self.soak else 0
        tail = self.soak[peak:] if len(self.soak) - peak >= len(self.soak) // 2 else self.soak[len(self.soak) // 2 :]
        if len(tail) < 3:
            return float("nan")
        return statistics.linear_regression([t for t, _ in tail], [m for _, m in tail]).slope * 600


# ---- the state ------------------------------------------------------------------------------------------------------


def _reference(n: int, service_url: str) -> dict[str, Any]:
    """A personal chat's conversation reference, as bot.transport.activity.reference_of stores it."""
    oid = f"eeeeeeee-0000-4000-8000-{n:012d}"
    return {
        "user": {"id": f"29:1-user-{n:08d}", "name": f"Person {n}", "aadObjectId": oid},
        "bot": {"id": "28:bench-bot", "name": "PIM bot"},
        "conversation": {"id": f"a:1-personal-{n:08d}", "conversationType": "personal", "tenantId": TENANT},
        "channelId": "msteams",
        "locale": "en-US",
        "serviceUrl": service_url,
        "tenantId": TENANT,
    }


def _records(n: int, service_url: str, now: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    """Request n with its COPIES card copies, and conversation reference n (conversation and user record)."""
    approvers = [f"eeeeeeee-0000-4000-8000-{(n * COPIES + i) % 10_000_000:012d}" for i in range(1, COPIES + 1)]
    request_id = f"ffffffff-0000-4000-8000-{n:012d}"
    request = ApprovalRequest(
        request_id=request_id,
        status="PendingApproval",
        group_id=f"bbbbbbbb-0000-4000-8000-{n % 500:012d}",
        group_name=f"Bench-Group-{n % 500}",
        requester_id=f"eeeeeeee-0000-4000-8000-{n:012d}",
        requester_name=f"Person {n}",
        requester_style=TimeStyle("Europe/Berlin", "en-US"),
        tenant_id=TENANT,
        duration=timedelta(hours=1),
        justification=f"Change INC-{n:06d}: rotate the certificates of the bench service",
        approvers=tuple(approvers),
        expires=now + timedelta(days=20),
        created_at=now,
        approver_ids=tuple(approvers),
        approver_names={a: f"Approver {a[-4:]}" for a in approvers},
    )
    yield k.request(request_id), request.to_json()
    for i, approver in enumerate(approvers):
        reference = _reference(n * COPIES + i, service_url)
        copy = ApprovalCopy(
            activity_id=f"1:{n:08d}-{i}",
            reference=reference,
            conversation_id=reference["conversation"]["id"],
            user_id=approver,
            style=TimeStyle("Europe/Berlin", "en-US"),
        )
        yield k.request_copy(request_id, copy.activity_id), copy.to_json()
    reference = _reference(n, service_url)
    yield k.conversation_ref(reference["conversation"]["id"]), ConversationRecord(reference, "personal").to_json()
    user = UserRecord(reference, TENANT, TimeStyle("Europe/Berlin", "en-US"))
    yield k.user_ref(reference["user"]["aadObjectId"]), user.to_json()


async def seed(db: Path, size: int, service_url: str) -> None:
    """`size` approval requests (each with COPIES copies) and `size` conversation references in a fresh file."""
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    store = SqliteStore(db)
    now = datetime.now(UTC)
    try:
        batch: list[Write] = []
        for n in range(size):
            for key, value in _records(n, service_url, now):
                batch.append(Write(key, encode(key, value), ANY))
            if len(batch) >= 5_000:
                await store.write_many(batch)
                batch = []
        if batch:
            await store.write_many(batch)
    finally:
        await store.aclose()


# ---- the process ----------------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def started_bot(env: Mapping[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], float, float]]:
    """The bot as a process, the seconds from its start to the first /healthz 200 (polled every 20 ms), and the CPU
    seconds it had spent by then."""
    url = f"http://127.0.0.1:{env['PORT']}/healthz"
    with log_path.open("ab") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=dict(env), stdout=log, stderr=log)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the bot exited with {proc.returncode}; see {log_path}")
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError(f"the bot did not answer {url} within 60 s")
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 (loopback only)
                        if r.status == 200:
                            break
                except OSError:
                    pass
                time.sleep(0.02)
            yield proc, time.perf_counter() - t0, cpu_seconds(proc.pid)
        finally:
            stop_process(proc)


# ---- the load -------------------------------------------------------------------------------------------------------


def _mixed(connector_url: str) -> Iterator[bytes]:
    """An endless mixed load: help from a new user each time, status, activations and deactivations of bench users."""
    newcomers = itertools.count(1_000_000)
    users = itertools.cycle([bench_user(n) for n in range(1, USERS + 1)])
    texts = itertools.cycle(
        [
            "help",
            "status",
            "activate Helpdesk-Tier1 1h",
            "status",
            "activate Exchange-Admins 1h",
            "deactivate Helpdesk-Tier1",
        ]
    )
    for text in texts:
        user: TeamsUser = next(users)
        if text == "help":
            user = TeamsUser(f"cccccccc-1111-4000-8000-{next(newcomers):012d}", "newcomer")
        yield json.dumps(message(connector_url, text, user)).encode()


async def _warm(url: str, connector_url: str, turns: int) -> int:
    async with aiohttp.ClientSession() as http:
        bodies = itertools.islice(_mixed(connector_url), turns)
        result = await run_load(http, url, bodies, concurrency=4, max_requests=turns, max_seconds=120)
    return result.bad + (turns - result.requests)


async def _soak(url: str, connector_url: str, pid: int, seconds: float) -> tuple[list[tuple[float, float]], int, int]:
    """Paced turns (RATE a second, at most 16 in flight) for `seconds`; RSS every SAMPLE_EVERY seconds."""
    samples: list[tuple[float, float]] = []
    bodies = _mixed(connector_url)
    sent = failed = 0
    in_flight = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as http:

        async def one(body: bytes) -> None:
            nonlocal failed
            try:
                async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                    await response.read()
                    failed += response.status >= 300
            except (aiohttp.ClientError, TimeoutError):
                failed += 1
            finally:
                in_flight.release()

        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        next_sample = 0.0
        while (now := time.monotonic() - start) < seconds:
            if now >= next_sample:
                samples.append((now, rss_mb(pid)))
                next_sample += SAMPLE_EVERY
            await in_flight.acquire()
            task = asyncio.ensure_future(one(next(bodies)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / RATE - time.monotonic()))
        await asyncio.gather(*tasks)
        samples.append((time.monotonic() - start, rss_mb(pid)))
    return samples, sent, failed


# ---- the section ----------------------------------------------------------------------------------------------------


def compile_product() -> None:
    """The product's bytecode, as the Docker image compiles it at build (Dockerfile: compileall): the environment
    sets PYTHONDONTWRITEBYTECODE here as there, so without it every start compiles the bot's modules again."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "app.py", "settings.py", "core", "graph", "cards", "bot"],
        cwd=ROOT,
        check=True,
    )


def measure_memory(var: Path, *, soak_seconds: float, sizes: tuple[int, ...] = SIZES) -> MemoryFigures:
    figures = MemoryFigures(soak_seconds=soak_seconds)
    var.mkdir(parents=True, exist_ok=True)
    compile_product()
    port = free_port()
    connector_port = free_port()
    with (
        simulated_tenant(var / "memory-simtenant", seed=f"bench:{USERS}") as (tenant, _),
        python_server(
            ["-m", "bench.connector", "--port", str(connector_port)],
            connector_port,
            var / "memory-connector.log",
            "the Bot Connector stand-in",
        ),
    ):
        connector_url = f"http://127.0.0.1:{connector_port}/"
        url = f"http://127.0.0.1:{port}/api/messages"
        for size in sorted(sizes):
            db = var / f"memory-{size}.sqlite3"
            asyncio.run(seed(db, size, connector_url))
            env = bot_environment(tenant, port, db, {"TEAMS_REQUESTS_PER_SECOND": "1000"})
            with started_bot(env, var / f"memory-bot-{size}.log") as (bot, startup, startup_cpu):
                started = rss_mb(bot.pid)
                failed = asyncio.run(_warm(url, connector_url, WARM_TURNS))
                if failed:
                    figures.problems.append(f"memory: {failed} of {WARM_TURNS} warm-up turns failed at {size:,}")
                figures.sizes.append(Size(size, startup, startup_cpu, started, rss_mb(bot.pid)))
                if size == max(sizes) and soak_seconds > 0:
                    figures.soak, figures.soak_turns, figures.soak_failed = asyncio.run(
                        _soak(url, connector_url, bot.pid, soak_seconds)
                    )
                    if figures.soak_failed:
                        figures.problems.append(
                            f"memory: {figures.soak_failed} of {figures.soak_turns} turns of the sustained load failed"
                        )
        figures.blob_startup = _blob_startup(var, tenant, port)
    return figures


def _blob_startup(var: Path, tenant: Tenant, port: int) -> tuple[float, float]:
    with running_azurite() as azurite:
        env = bot_environment(
            tenant,
            port,
            var / "unused.sqlite3",
            {
                "STORE": "azureblob",
                "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
                "AZURE_STORAGE_CONTAINER": "bench-memory",
            },
        )
        with started_bot(env, var / "memory-bot-blob.log") as (_, startup, cpu):
            return startup, cpu


# ---- the page -------------------------------------------------------------------------------------------------------


def render_memory(figures: MemoryFigures | None, add: Any) -> None:
    if figures is None or not figures.sizes:
        return
    largest = figures.largest
    add("## Memory and start-up")
    add("")
    add(
        "The bot process (`app.py`, SQLite store) on a state file holding N approval requests waiting for a decision, "
        f"each with {COPIES} approval card copies, and N personal-chat conversation references, written with the "
        "bot's own record types (bench/memory.py). *Start-up* is from starting the process to the first `GET "
        "/healthz` that answers 200 (polled every 20 ms), the product's bytecode compiled first as in the Docker "
        "image (`compileall`); *CPU by then* is what the process had spent, the part a busy machine cannot stretch. "
        f"*RSS* is the process's resident memory (VmRSS) after start, and after {WARM_TURNS} mixed turns (help, "
        "status, activate, deactivate), when every module a turn "
        "uses is loaded."
    )
    add("")
    add(
        "| requests and references (N) | start-up to /healthz 200 (s) | CPU by then (s) | RSS after start (MB) "
        "| RSS after warm-up (MB) |"
    )
    add("|---:|---:|---:|---:|---:|")
    for s in figures.sizes:
        add(
            f"| {s.requests:,} | {s.startup_s:.2f} | {s.startup_cpu_s:.2f} | {s.rss_started_mb:.1f} "
            f"| {s.rss_warm_mb:.1f} |"
        )
    add("")
    rss_ok = "meets" if largest.rss_warm_mb <= RSS_TARGET_MB else "**misses**"
    slowest = max(figures.sizes, key=lambda s: s.startup_s)
    start_ok = "meets" if slowest.startup_s <= STARTUP_TARGET_S else "**misses**"
    blob = figures.blob_startup
    add(
        f"- RSS with {largest.requests:,} requests ({largest.requests * COPIES:,} card copies) and "
        f"{largest.requests:,} references: **{largest.rss_warm_mb:.1f} MB** against ≤ {RSS_TARGET_MB:.0f} MB — "
        f"{rss_ok} it. Growth: **{figures.growth_per_1000_mb():.2f} MB per 1,000 requests** (with their copies and "
        "references)."
    )
    add(
        f"- Start-up to /healthz 200 on SQLite: **{slowest.startup_s:.2f} s** at most (the process had spent "
        f"{slowest.startup_cpu_s:.2f} s of CPU by then; the rest is waiting for a core of the shared machine) against "
        f"≤ {STARTUP_TARGET_S:.0f} s — {start_ok} it."
        + (
            f" On Azure Blob Storage (Azurite, `STORE=azureblob`, an empty container): **{blob[0]:.2f} s** "
            f"({blob[1]:.2f} s of CPU)."
            if blob is not None
            else ""
        )
    )
    if figures.soak:
        rss = [m for _, m in figures.soak]
        slope = figures.soak_slope_mb_per_10min()
        grows = "no growth" if slope <= 1.0 else "**it grows**"
        add(
            f"- Sustained mixed load on the {largest.requests:,}-request bot: {figures.soak_turns:,} turns at "
            f"{RATE:g} a second for {figures.soak_seconds:.0f} s (`make bench`'s default; the issue's 30 minutes: "
            f"`python -m bench --only memory --soak-seconds 1800`), {figures.soak_failed} failed; help came from a "
            f"new user each time. RSS sampled every {SAMPLE_EVERY:g} s: first {rss[0]:.1f} MB, last {rss[-1]:.1f} "
            f"MB, max {max(rss):.1f} MB; slope from the peak on (else over the second half) **{slope:+.2f} MB per 10 "
            f"minutes** — {grows} (≤ 1 MB per 10 minutes counts as none). The background loops' first cycles come "
            "60 s in: the approval poll reads every one of the N requests in Graph, and the desk of access about to "
            "end reads what every one of the N users holds (issue 14), which is where RSS jumps."
        )
        add("")
        add("RSS during the sustained load (s → MB): " + ", ".join(f"{t:.0f}→{m:.1f}" for t, m in figures.soak))
    add("")


if __name__ == "__main__":  # a quick look: python -m bench.memory [soak seconds]
    measured = measure_memory(Path("var/bench-memory"), soak_seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 30)
    lines: list[str] = []
    render_memory(measured, lines.append)
    print("\n".join(lines))
    print(measured.problems)
    os._exit(0)
