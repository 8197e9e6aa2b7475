"""`python -m bench [--quick] [--rounds N] [--requests N] ...`: run the benchmark, write docs/benchmarks.md.

Order of work, all in one run so that the figures compared share the machine's state:
1. start the simulated tenant (seed bench:N), the connector stand-in, our bot, the echo bot, the plain handler;
2. Graph round trips of single activations (stats reset/read around each), the fresh-process one first;
3. R rounds of {activate, echo, plain}, the order rotated each round, each measurement preceded by a discarded warm-up;
   CPU seconds of every process are read from /proc around each measured phase;
4. the approval figures (bench/approvals.py): fan-out of one request to 60 approvers, and click latency; the fan-out
   to 60 approvers who never wrote to the bot, in bot CPU beside 60 known ones (bench/reach.py);
   then what one HTTPS request costs the caller with httpx and with aiohttp (bench/clients.py);
4b. the admin feed's Graph calls per poll cycle for 1, 100 and 1,000 groups (bench/feed.py, a tenant of its own);
5. medians over the rounds → markdown.
Exit status 1 (and a "Problems" section) if any turn failed, a reply went missing or an activation did not reach Graph.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import shlex
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from bench import feed as feed_bench
from bench import memory as memory_bench
from bench import profile as profile_bench
from bench import store as store_bench
from bench.approvals import (
    APPROVERS,
    CLICK_TARGET_S,
    COPIES_TARGET_S,
    FANOUT_TARGET_S,
    READ_PAUSE_S,
    ApprovalBench,
    ApprovalFigures,
)
from bench.clients import ClientCost, client_cost
from bench.load import CpuClock, LoadResult, bench_user, machine_cpu_seconds, median, run_load
from bench.reach import ReachBench, ReachFigures, render_reach
from devtools.stack import ROOT, bot_environment, bot_process, free_port, python_server, simulated_tenant
from devtools.teams.activities import ALICE, TeamsUser, message

ACTIVATE = "activate"
UNCHECKED = "activate-unchecked"  # the same bot with the directory check after an activation off (LIVE_CHECK_SECONDS=0)
ACTIVATES = (ACTIVATE, UNCHECKED)
ECHO = "echo"
PLAIN = "plain"
APPROVALS_BOT = "approvals-bot"  # a second bot process, with Teams' per-app send cap (see run)
TARGETS = (ACTIVATE, UNCHECKED, ECHO, PLAIN)
LABELS = {
    ACTIVATE: "Our bot: `activate Exchange-Admins 1h` (warm)",
    UNCHECKED: "… the same, the directory check after it off (`LIVE_CHECK_SECONDS=0`)",
    ECHO: "Stock botbuilder echo bot (CloudAdapter.process)",
    PLAIN: "Plain aiohttp handler (answers 201)",
}
ACTIVATE_TEXT = "activate Exchange-Admins 1h"
WARM_TOKEN_TEXT = "activate Helpdesk-Tier1 1h"  # bench users are eligible for both (simtenant seed bench:N)
CPU_TARGET = 6.0  # issue 16: the echo bot's CPU per warm turn ÷ ours, in the same run
CPU_STRETCH = 9.0
P99_BEFORE_MS = 82.1  # activate p99 at 8 clients in the last run before issue 16 (2026-12-07 05:50, commit 47c6553)
SNAPSHOT_TTL = 60.0  # graph/pim.py: a user's snapshot is cached this long; a round's warm-up must stay well inside it


@dataclass(frozen=True)
class Config:
    rounds: int = 5
    concurrency: int = 8
    requests: int = 500  # measured turns per round, activate and echo (activate: one bench user each)
    plain_requests: int = 4000  # the plain handler is ~50x faster: more requests for a longer measured phase
    warmup: int = 40  # discarded requests before each measurement
    seconds: float = 6.0  # time limit of each measured phase (requests in flight then still count)
    out: Path = ROOT / "docs" / "benchmarks.md"
    var: Path = ROOT / "var" / "bench"
    command: str = "make bench (python -m bench)"
    fanouts: int = 5  # requests whose fan-out to 60 approvers is timed
    clicks: int = 20  # Approve clicks timed, each on a new request
    reach_samples: int = 3  # fan-outs to 60 approvers timed per kind: known, never wrote to the bot (bench/reach.py)
    feed_groups: tuple[int, ...] = feed_bench.SIZES  # monitored groups per admin-feed measurement
    feed_samples: int = 10  # admin feed: changes timed from Graph's answer to the card posted
    feed_burst: int = 500  # admin feed: eligibilities in one burst (monitored groups: as many)
    client_requests: int = 300  # per HTTP client and round in the httpx-vs-aiohttp cost (bench/clients.py)
    store_ops: int = store_bench.OPS  # state store: sequential calls per operation, backend and round (bench/store.py)
    store_turns: int = 120  # state store: warm `activate` turns on each backend
    profile_turns: int = 300  # warm `activate` turns profiled (bench/profile.py); 0: no profile
    memory_sizes: tuple[int, ...] = memory_bench.SIZES  # approval requests (and references) in the memory section
    soak_seconds: float = 120.0  # the memory section's sustained load (the 30 minutes: 1800)
    memory_trace: Path | None = None  # the soak's bot under tracemalloc, snapshots here (bench/traced.py; diagnosis)
    only: str = (
        ""  # "approvals", "reach" or "store": run only that section (a quick look at one section; the page says so)
    )

    @property
    def users_per_round(self) -> int:
        return self.warmup + self.requests

    @property
    def bench_users(self) -> int:
        return self.rounds * len(ACTIVATES) * self.users_per_round + len(SINGLES)


QUICK = {
    "rounds": 1,
    "requests": 150,
    "plain_requests": 1500,
    "warmup": 16,
    "seconds": 3.0,
    "fanouts": 3,
    "clicks": 8,
    "reach_samples": 1,
    "client_requests": 100,
    "feed_groups": (1, 100),
    "feed_samples": 3,
    "feed_burst": 100,
    "store_ops": 100,
    "store_turns": 40,
    "profile_turns": 100,
    "memory_sizes": (0, 10_000),
    "soak_seconds": 30.0,
}


# ---- the single activations counted by the simulated tenant ----------------------------------------------------------


@dataclass(frozen=True)
class Single:
    label: str
    user: str  # "bench" (a bench user of its own, untouched before) or "alice" (the demo user)
    text: str
    before: tuple[str, ...]  # messages sent first (not counted)
    expected_graph: int
    note: str  # what the bot has to fetch


# Run in this order against a fresh bot process: the first one finds nothing cached.
# Every case ends with the directory check after the activation (issue 14: app-only `POST users/{id}/checkMemberGroups`,
# for ownership the group's owners; LIVE_CHECK_SECONDS=0 turns it off): one round trip more than the write needs.
SINGLES = (
    Single("Cold: fresh bot process, nothing cached", "bench", ACTIVATE_TEXT, (), 4,
           "app token, snapshot, policy and the user's token all fetched; the group is new to the process, so its id "
           "comes only with the snapshot and its policy is read after it (app-only), then the write (a $batch carries "
           "one token: app-only reads and the user's write never share one), then the directory check"),
    Single("Cold user: snapshot not cached (policy cached)", "bench", ACTIVATE_TEXT, (), 3,
           "snapshot $batch, then the activation POST, then the directory check"),
    Single("Cold user and policy, group seen before", "bench", WARM_TOKEN_TEXT, (), 3,
           "snapshot and the policy of a group seen in earlier users' eligibilities in one app-only $batch, then the "
           "activation POST, then the directory check"),
    Single("Warm: snapshot, policy and user token cached", "bench", ACTIVATE_TEXT, (WARM_TOKEN_TEXT, "status"), 2,
           "as in the throughput runs: another group activated, then `status`; the activation POST, then the "
           "directory check"),
    Single("Group policy not cached (snapshot and user token cached)", "alice", "activate Exchange-Admins as owner 1h "
           "because benchmark", (ACTIVATE_TEXT, "status"), 3, "the policy read app-only, then the activation POST, "
           "then the group's owners (the directory check for ownership)"),
)  # fmt: skip


@dataclass
class SingleResult:
    single: Single
    http_status: int
    stats: dict[str, Any]

    @property
    def graph(self) -> int:
        return int(self.stats["graph_requests"])

    @property
    def activated(self) -> bool:
        return (
            int(self.stats["by_route"].get("POST assignmentScheduleRequests", 0)) == 1
            and int(self.stats["by_status"].get("201", 0)) == 1
        )


# ---- measurements --------------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    target: str
    round: int
    result: LoadResult
    cpu: dict[str, float]  # CPU seconds per process during the measured phase
    graph: dict[str, Any] | None = None  # the simulated tenant's stats over the measured phase (activate only)
    replies: dict[str, int] = field(default_factory=dict)  # what the connector stand-in received
    machine: tuple[float, float] = (0.0, 0.0)  # whole-machine busy and steal CPU seconds during the measured phase

    def cpu_ms(self, process: str) -> float:
        return self.cpu[process] * 1000 / self.result.ok if self.result.ok else float("nan")

    @property
    def other_cores(self) -> float:
        """Cores kept busy by processes outside this benchmark (other users of a shared machine), on average."""
        if self.result.elapsed <= 0:
            return float("nan")
        return max(self.machine[0] - sum(self.cpu.values()), 0.0) / self.result.elapsed

    @property
    def total_cpu_ms(self) -> float:
        return sum(self.cpu.values()) * 1000 / self.result.ok if self.result.ok else float("nan")


@dataclass
class Report:
    config: Config
    started: datetime
    load_average: tuple[float, float, float]
    singles: list[SingleResult] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    code: str = ""
    approvals: ApprovalFigures | None = None
    reach: ReachFigures | None = None
    clients: ClientCost | None = None
    feed: feed_bench.FeedFigures | None = None
    poster: feed_bench.PosterFigures | None = None
    store: store_bench.StoreFigures | None = None
    profile: profile_bench.ProfileFigures | None = None
    memory: memory_bench.MemoryFigures | None = None
    store_turns: dict[str, store_bench.TurnFigures] | None = None

    def of(self, target: str) -> list[Measurement]:
        return [m for m in self.measurements if m.target == target]

    def med(self, target: str, value: Callable[[Measurement], float]) -> float:
        values = [value(m) for m in self.of(target) if m.result.ok]
        return median(values) if values else float("nan")


class Bench:
    def __init__(self, config: Config, report: Report, connector_url: str, control_url: str, ca_file: str,
                 urls: dict[str, str], clocks: dict[str, CpuClock], approvals_url: str,
                 approvals_clock: CpuClock) -> None:  # fmt: skip
        self.config = config
        self.report = report
        self.connector_url = connector_url
        self.control_url = control_url.rstrip("/")
        self.ca_file = ca_file
        self.urls = urls
        self.clocks = clocks  # per target: its server as "server", plus the shared processes
        # The approval and reach sections run against a second bot process that keeps Teams' per-app send cap
        # (30 calls/s); the throughput rounds' bot has it lifted (see `run`).
        self.approvals_url = approvals_url
        self.approvals_clock = approvals_clock

    def body(self, user: TeamsUser, text: str) -> bytes:
        return json.dumps(message(self.connector_url, text, user)).encode()

    async def run(self) -> None:
        limits = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=30)
        control_ssl = ssl.create_default_context(cafile=self.ca_file)
        async with (
            aiohttp.ClientSession(connector=limits, timeout=timeout) as self.http,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=control_ssl), timeout=timeout) as self.control,
        ):
            if self.config.only == "approvals":
                await self.approvals()
                return
            if self.config.only == "reach":
                await self.reach()
                return
            await self.singles()
            if self.report.problems:
                return
            for r in range(self.config.rounds):
                shift = r % len(TARGETS)
                for target in TARGETS[shift:] + TARGETS[:shift]:
                    await self.measure(target, r)
                    if self.report.problems:
                        return
            if self.config.only != "turns":
                await self.approvals()
                await self.reach()
            self.report.clients = await client_cost(
                f"{self.control_url}/info", self.ca_file, requests=self.config.client_requests
            )

    async def approvals(self) -> None:
        approvals = ApprovalBench(
            self.http, self.control, self.control_url, self.approvals_url, self.connector_url,
            self.config.fanouts, self.config.clicks,
        )  # fmt: skip
        self.report.approvals = await approvals.run()
        self.report.problems.extend(self.report.approvals.problems)

    async def reach(self) -> None:
        bot = self.approvals_clock
        reach = ReachBench(
            self.http, self.control, self.control_url, self.approvals_url, self.connector_url,
            lambda: bot.read()["server"], self.config.reach_samples,
        )  # fmt: skip
        self.report.reach = await reach.run()
        self.report.problems.extend(self.report.reach.problems)

    # -- helpers over HTTP ---------------------------------------------------------------------------------------------

    async def post(self, url: str, body: bytes) -> int:
        async with self.http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            await response.read()
            return response.status

    async def sim_stats(self, reset: bool = False) -> dict[str, Any]:
        if reset:
            async with self.control.post(f"{self.control_url}/stats/reset") as response:
                response.raise_for_status()
            return {}
        async with self.control.get(f"{self.control_url}/stats") as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
            return data

    async def replies(self, reset: bool = False) -> dict[str, int]:
        url = f"{self.connector_url}stats" + ("/reset" if reset else "")
        async with self.http.request("POST" if reset else "GET", url) as response:
            response.raise_for_status()
            data: dict[str, int] = await response.json()
            return data

    # -- Graph round trips of single activations -----------------------------------------------------------------------

    async def singles(self) -> None:
        for n, single in enumerate(SINGLES, start=1):
            user = ALICE if single.user == "alice" else bench_user(n)
            for text in single.before:
                status = await self.post(self.urls[ACTIVATE], self.body(user, text))
                if status != 201:
                    self.report.problems.append(f"{single.label}: the preparatory `{text}` answered HTTP {status}")
            await self.sim_stats(reset=True)
            status = await self.post(self.urls[ACTIVATE], self.body(user, single.text))
            result = SingleResult(single, status, await self.sim_stats())
            self.report.singles.append(result)
            if status != 201:
                self.report.problems.append(f"{single.label}: the activation turn answered HTTP {status}")
            elif not result.activated:
                self.report.problems.append(
                    f"{single.label}: the activation did not reach Graph as one successful POST: {result.stats}"
                )

    # -- throughput rounds ---------------------------------------------------------------------------------------------

    async def measure(self, target: str, r: int) -> None:
        c = self.config
        url = self.urls[target]
        count = c.plain_requests if target == PLAIN else c.requests
        if target in ACTIVATES:
            first = len(SINGLES) + (r * len(ACTIVATES) + ACTIVATES.index(target)) * c.users_per_round + 1
            users = [bench_user(n) for n in range(first, first + c.users_per_round)]
            # Warm: each user activated another group a moment ago (its delegated token is cached, as the bot keeps
            # a user's token until shortly before it expires), then looked at `status` (its eligibility snapshot is
            # cached again: a write drops it).
            warm_start = time.monotonic()
            for text in (WARM_TOKEN_TEXT, "status"):
                warmed = await run_load(
                    self.http,
                    url,
                    [self.body(u, text) for u in users],
                    concurrency=c.concurrency,
                    max_requests=len(users),
                    max_seconds=SNAPSHOT_TTL / 2,
                )
                if warmed.ok != len(users):
                    self.report.problems.append(
                        f"round {r + 1}: only {warmed.ok} of {len(users)} warm-up `{text}` turns succeeded within "
                        f"{SNAPSHOT_TTL / 2:.0f}s ({dict(warmed.statuses)}, {warmed.errors})"
                    )
                    return
            bodies = [self.body(u, ACTIVATE_TEXT) for u in users]
            warmup, measured = bodies[: c.warmup], bodies[c.warmup :]
        else:
            body = self.body(bench_user(0), "hello")
            warmup, measured = [body] * c.warmup, [body] * count
        await run_load(self.http, url, warmup, concurrency=c.concurrency, max_requests=len(warmup), max_seconds=30)
        if target in ACTIVATES:
            await self.sim_stats(reset=True)
        await self.replies(reset=True)
        clock = self.clocks[target]
        before, machine_before = clock.read(), machine_cpu_seconds()
        result = await run_load(
            self.http, url, measured, concurrency=c.concurrency, max_requests=count, max_seconds=c.seconds
        )
        spent, machine_after = CpuClock.spent(before, clock.read()), machine_cpu_seconds()
        m = Measurement(target, r, result, spent, replies=await self.replies())
        m.machine = (machine_after[0] - machine_before[0], machine_after[1] - machine_before[1])
        if target in ACTIVATES:
            m.graph = await self.sim_stats()
            if time.monotonic() - warm_start > SNAPSHOT_TTL:
                self.report.problems.append(f"round {r + 1}: warm-up and activations took longer than the cache TTL")
        self.report.measurements.append(m)
        self.check(m)

    def check(self, m: Measurement) -> None:
        where = f"round {m.round + 1}, {m.target}"
        res = m.result
        if res.bad:
            self.report.problems.append(
                f"{where}: {res.bad} of {res.requests + res.failures} turns failed: statuses {dict(res.statuses)}, "
                f"first errors {res.errors}"
            )
        if m.target in (*ACTIVATES, ECHO):
            # activate: its card, and a typing indicator only when the answer is late (a slow moment of a shared
            # machine); echo: one message
            cards = m.replies.get("activities", 0) - m.replies.get("typing", 0)
            # The echo bot's msrest client (requests, urllib3) may send a reply again after a dropped connection:
            # more replies than turns are its retries; fewer, or any difference for our bot, a fault.
            if cards < res.ok or (cards != res.ok and m.target != ECHO):
                self.report.problems.append(
                    f"{where}: the connector stand-in received {m.replies} for {res.ok} turns "
                    "(expected one message per turn, and typing indicators)"
                )
        if m.target in ACTIVATES and m.graph is not None:
            posts = int(m.graph["by_route"].get("POST assignmentScheduleRequests", 0))
            created = int(m.graph["by_status"].get("201", 0))
            if posts != res.ok or created != res.ok:
                self.report.problems.append(
                    f"{where}: {res.ok} turns but {posts} activation POSTs, {created} answered 201 "
                    f"(by_status {m.graph['by_status']})"
                )


# ---- the report ----------------------------------------------------------------------------------------------------


def _first_line(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.partition(":" if ":" in line else "=")[2].strip().strip('"')
    except OSError:
        return None
    return None


PRODUCT = ("app.py", "settings.py", "bot", "core", "graph", "cards", "simtenant")


def code_version() -> str:
    """The commit measured, and whether the product's files differed from it (the bench measures the working tree)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *PRODUCT], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = sorted({line[3:].strip() for line in dirty if line.strip()})
    if not changed:
        return f"git commit {commit}, no uncommitted changes in the product's files"
    return f"git commit {commit} **plus uncommitted changes** in {', '.join(changed)}"


def machine() -> dict[str, str]:
    cpu = _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    os_name = _first_line("/etc/os-release", "PRETTY_NAME=") or platform.system()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores ({affinity} usable by this process)",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{os_name}, Linux kernel {platform.release()}" if platform.system() == "Linux" else os_name,
        "Libraries": f"aiohttp {version('aiohttp')}, botbuilder-core {version('botbuilder-core')}, "
        f"botbuilder-integration-aiohttp {version('botbuilder-integration-aiohttp')}, httpx {version('httpx')}",
    }


def _cpu_ms_of(m: Measurement, process: str) -> float:
    return m.cpu_ms(process) if process in m.cpu else float("nan")  # the simulated tenant only counts for activate


def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:,.{digits}f}"  # NaN → dash


def _over(a: float, b: float) -> float:
    """a ÷ b, NaN (a dash in the report) when b is 0: a tiny run may see no CPU tick (10 ms) of a fast process."""
    return a / b if b > 0 else float("nan")


def render(report: Report) -> str:
    c = report.config
    ok = not report.problems
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add(f"_Written by `{c.command}` on {report.started:%Y-%m-%d %H:%M} UTC; the run took {report.elapsed:.0f} s. "
        "Rerun it to refresh this page; do not edit it by hand._")  # fmt: skip
    add("")
    if c.only and c.only != "turns":
        add(f"Only the {c.only} section was run (`--only {c.only}`); `make bench` runs them all.")
        add("")
        render_approvals(report, add)
        render_reach(report.reach, add)
        render_store(report, add)
        memory_bench.render_memory(report.memory, add)
        lines.extend(f"- {p}" for p in report.problems)
        return "\n".join(lines)
    if c.only == "turns":
        add("Only the turns were measured (`--only turns`: throughput, CPU per turn, the profile); `make bench` runs "
            "every section.")  # fmt: skip
        add("")
    add("## How to read this")
    add("")
    add(
        "Three HTTP servers, each in its own process, were driven side by side in **one run** by the same load "
        f"generator with **{c.concurrency} concurrent clients**: our bot answering `activate` turns against the "
        "simulated tenant, a stock botbuilder echo bot, and a plain aiohttp handler that only answers 201 (the floor: "
        "what aiohttp, JSON bodies and loopback TCP cost here). Our bot runs here with Teams' per-app cap of 30 Bot "
        "Connector calls per second lifted (`TEAMS_REQUESTS_PER_SECOND=1000`): the load is far above what Teams would "
        "let any app send, and the echo bot has no cap; the approval and reach sections use a second bot process "
        "with the real cap. The machine is shared and its speed drifts, so the "
        f"three were measured in {c.rounds} alternating round(s), the order rotated each round, and every figure below "
        "is the **median over the rounds**; compare rows with each other, not with figures from another run. "
        "A turn's latency is the HTTP round trip of `POST /api/messages`; both bots answer only after their replies "
        "were sent to the Bot Connector stand-in, so a turn includes its replies (and, for `activate`, its Graph "
        "call). *turns/s* is completed turns divided by the time from the first send to the last answer. "
        "*CPU ms/turn* is user+system CPU time the process spent during the measured phase (from /proc, all "
        "threads) divided by the turns; it explains the throughput: a Python process runs on one core at a time, so "
        "1000 ÷ CPU ms/turn is roughly the ceiling of a single process, and all processes share the machine's cores. "
        "*Other load* (from /proc/stat) is how many cores processes outside the benchmark kept busy meanwhile; on a "
        "shared machine they slow every target down (and even raise CPU ms/turn a little), which is why only figures "
        "from the same run are compared."
    )
    add("")
    add("## Machine and run")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| Command | `{c.command}` |")
    add(f"| Date | {report.started:%Y-%m-%d %H:%M:%S} UTC |")
    add(f"| Code | {report.code} |")
    for key, value in machine().items():
        add(f"| {key} | {value} |")
    la = report.load_average
    add(f"| Load average before the run | {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (1, 5, 15 min) |")
    others = [m.other_cores for m in report.measurements if m.other_cores == m.other_cores]
    if others:
        steal = sum(m.machine[1] for m in report.measurements) / max(
            sum(m.result.elapsed for m in report.measurements), 1e-9
        )
        add(
            f"| Other load during the measured phases | processes outside this benchmark kept {median(others):.2f} "
            f"cores busy (median; max {max(others):.2f}) of {os.cpu_count()}; hypervisor steal {steal:.2f} cores |"
        )
    add(
        f"| Load | {c.concurrency} concurrent clients; per round and target {c.warmup} discarded warm-up turns, then "
        f"at most {c.requests} turns (plain: {c.plain_requests}) or {c.seconds:g} s, whichever comes first; "
        f"{c.rounds} round(s) |"
    )
    add(
        "| Processes | simulated tenant (HTTPS), our bot (`app.py`, anonymous dev mode, default log level INFO), "
        "echo bot, plain handler, Bot Connector stand-in (answers 201 at once), load generator (aiohttp client, "
        "this process) |"
    )
    add("")
    add(f"## Throughput and latency ({c.concurrency} concurrent clients, median of {c.rounds} round(s))")
    add("")
    add("| | turns/s | p50 ms | p99 ms | server CPU ms/turn | turns measured (all rounds) | failed |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        ms = report.of(target)
        add(
            f"| {LABELS[target]} | {_f(report.med(target, lambda m: m.result.throughput))} "
            f"| {_f(report.med(target, lambda m: m.result.latency_ms(50)))} "
            f"| {_f(report.med(target, lambda m: m.result.latency_ms(99)))} "
            f"| {_f(report.med(target, lambda m: m.cpu_ms('server')), 2)} "
            f"| {sum(m.result.ok for m in ms):,} | {sum(m.result.bad for m in ms)} |"
        )
    add("")
    act = report.med(ACTIVATE, lambda m: m.result.throughput)
    echo = report.med(ECHO, lambda m: m.result.throughput)
    ratio = act / echo if echo else float("nan")
    per_round = [
        a.result.throughput / e.result.throughput
        for a, e in zip(report.of(ACTIVATE), report.of(ECHO), strict=False)
        if e.result.throughput
    ]
    spread = f" (per round {min(per_round):.2f}× … {max(per_round):.2f}×)" if len(per_round) > 1 else ""
    echo_cpu = report.med(ECHO, lambda m: m.cpu_ms("server"))
    act_cpu = report.med(ACTIVATE, lambda m: m.cpu_ms("server"))
    cpu_ratio = _over(echo_cpu, act_cpu)
    cpu_rounds = [
        _over(e.cpu_ms("server"), a.cpu_ms("server"))
        for a, e in zip(report.of(ACTIVATE), report.of(ECHO), strict=False)
        if a.result.ok and e.result.ok
    ]
    cpu_spread = f", per round {min(cpu_rounds):.2f}× … {max(cpu_rounds):.2f}×" if len(cpu_rounds) > 1 else ""
    verdict = (
        "**met, stretch met**" if cpu_ratio >= CPU_STRETCH else "**met**" if cpu_ratio >= CPU_TARGET else "**not met**"
    )
    unchecked_cpu = report.med(UNCHECKED, lambda m: m.cpu_ms("server")) if report.of(UNCHECKED) else float("nan")
    p99 = report.med(ACTIVATE, lambda m: m.result.latency_ms(99))
    add(
        f"**CPU per turn, echo ÷ activate: {_f(cpu_ratio, 2)}×** (echo bot {_f(echo_cpu, 2)} ms, our bot "
        f"{_f(act_cpu, 2)} ms per warm `activate` turn, median of the rounds{cpu_spread}). Target ≥ {CPU_TARGET:g}× "
        f"(stretch ≥ {CPU_STRETCH:g}×): {verdict}. With the directory check after an activation off "
        f"(`LIVE_CHECK_SECONDS=0`: one Graph call a turn, as before issue 14 added the check): "
        f"{_f(_over(echo_cpu, unchecked_cpu), 2)}× ({_f(unchecked_cpu, 2)} ms)."
    )
    add("")
    add(
        f"Latency at {report.config.concurrency} concurrent clients: `activate` p99 {_f(p99)} ms (median of the "
        f"rounds; {P99_BEFORE_MS:g} ms in the last run before issue 16, on a quieter machine: compare with care, the "
        f"echo bot's p99 in this run is {_f(report.med(ECHO, lambda m: m.result.latency_ms(99)))} ms). Throughput "
        f"activate ÷ echo: {_f(ratio, 2)}×{spread} (the 8× throughput target was withdrawn in issue 16: it compared "
        "whole arrangements on two shared cores; the bot's CPU per turn is the measure)."
    )
    add("")
    add(
        "*Warm* means a user who activated another group a moment ago and then looked at `status`: before each "
        "round's activations, every bench user of that round sent `activate Helpdesk-Tier1 1h` (its delegated token "
        "is now cached by the bot until shortly before it expires) and then `status` (its eligibility snapshot is "
        "cached again for 60 s; a write drops it), and the group's activation policy was cached (5 min) by an earlier "
        "activation. The app-only Graph token (msal cache) and the Bot Connector client are reused too. So a measured "
        "turn makes two outside calls besides its reply: the activation POST and then the directory check (issue 14: "
        "app-only `POST users/{id}/checkMemberGroups`, whether the user is a member yet); the second row of our bot "
        "has the check off (`LIVE_CHECK_SECONDS=0`, a bot process of its own), one outside call. (With Teams SSO the "
        "user's token would come from the Bot Framework token service, one more HTTP call per turn, not measured "
        "here.) Each turn is a different bench user activating member of "
        "Exchange-Admins for 1 h (no approval, no justification); each turn sends its card, and no typing indicator: "
        "the bot sends one only when the answer is not ready within half a second (bot/transport/typing.py)."
    )
    add("")
    add("## Graph round trips per activation")
    add("")
    add(
        "Counted by the simulated tenant (`POST /_sim/stats/reset` before, `GET /_sim/stats` after one activation "
        "turn). A `$batch` is one round trip; *inside $batch* counts the requests it carried. *Token requests* are "
        "calls to the token endpoints (app-only client credentials and the delegated-token stand-in)."
    )
    add("")
    add("| Case | Graph round trips | inside $batch | token requests | expected Graph | met | why | routes |")
    add("|---|---:|---:|---:|---:|:-:|---|---|")
    if (a := report.approvals) is not None:
        print(
            f"  fan-out to {APPROVERS}: median {a.fanout_median_ms():.0f} ms, max {a.fanout_max_ms():.0f} ms "
            f"(target ≤ {FANOUT_TARGET_S * 1000:.0f}); click p50 {a.ms(a.click_s, 50):.0f} ms, "
            f"p99 {a.ms(a.click_s, 99):.0f} ms (1 copy: p99 {a.ms(a.solo_click_s, 99):.0f} ms); copies updated "
            f"p50 {a.ms(a.copies_s, 50):.0f} ms, p99 {a.ms(a.copies_s, 99):.0f} ms"
        )
    for s in report.singles:
        routes = ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in s.stats.get("by_route", {}).items())
        met = "yes" if s.graph <= s.single.expected_graph and s.activated else "**no**"
        add(
            f"| {s.single.label} | {s.graph} | {s.stats['batch_inner_requests']} | {s.stats['token_requests']} "
            f"| {'≤ ' if s.single.expected_graph > 1 else ''}{s.single.expected_graph} | {met} | {s.single.note} "
            f"| {routes} |"
        )
    under_load = [m for m in report.of(ACTIVATE) if m.graph and m.result.ok]
    if under_load:
        turns = sum(m.result.ok for m in under_load)
        graph = sum(int(m.graph["graph_requests"]) for m in under_load if m.graph)
        tokens = sum(int(m.graph["token_requests"]) for m in under_load if m.graph)
        add("")
        add(
            f"Under load (all measured `activate` turns, {turns:,}): **{graph / turns:.2f} Graph round trips per "
            f"turn** and {tokens / turns:.2f} token requests per turn (the user's delegated token, see *warm*)."
        )
    add("")
    add("## Where the CPU goes (ms per turn, median of rounds)")
    add("")
    processes = ["server", "simulated tenant", "connector stand-in", "load generator"]
    add("| | " + " | ".join(processes) + " | all processes |")
    add("|---|" + "---:|" * (len(processes) + 1))
    for target in TARGETS:
        cells = [_f(report.med(target, functools.partial(_cpu_ms_of, process=p)), 2) for p in processes]
        total = _f(report.med(target, lambda m: m.total_cpu_ms), 2)
        add(f"| {LABELS[target]} | " + " | ".join(cells) + f" | {total} |")
    add("")
    add(
        "*server* is the process under test (our bot, the echo bot or the plain handler). The simulated tenant only "
        "works during `activate` turns. With two cores, the sum over all processes bounds the throughput of the "
        "whole arrangement at about 2000 ÷ (all processes) turns/s."
    )
    add("")
    render_target_budget(report, add)
    add("## Every round")
    add("")
    add("| Round | Target | turns | turns/s | p50 ms | p99 ms | server CPU ms/turn | seconds | other load (cores) |")
    add("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in report.measurements:
        add(
            f"| {m.round + 1} | {m.target} | {m.result.ok} | {_f(m.result.throughput)} | {_f(m.result.latency_ms(50))} "
            f"| {_f(m.result.latency_ms(99))} | {_f(m.cpu_ms('server'), 2)} | {m.result.elapsed:.2f} "
            f"| {_f(m.other_cores, 2)} |"
        )
    add("")
    profile_bench.render_profile(report.profile, add)
    render_approvals(report, add)
    render_reach(report.reach, add)
    feed_bench.render(report.feed, add)
    feed_bench.render_poster(report.poster, add)
    render_store(report, add)
    memory_bench.render_memory(report.memory, add)
    add("## Checks")
    add("")
    if ok:
        add(
            "Every measured turn answered 201; the connector stand-in received exactly the replies expected (one per "
            "`activate` turn, one per echo turn); every `activate` turn created exactly one activation request that "
            "the simulated tenant answered 201; every approval request reached all 60 approvers' conversations, and "
            "every click answered 200 with the final card and updated every other copy; the bot's log holds no errors."
        )
    else:
        add("**Problems — the figures above are not trustworthy:**")
        add("")
        lines.extend(f"- {p}" for p in report.problems)
    add("")
    return "\n".join(lines)


def render_store(report: Report, add: Callable[[str], None]) -> None:
    if report.store is None or report.store_turns is None:
        return
    add("## State store: SQLite and Azure Blob Storage")
    add("")
    add(
        "The bot's state store (bot/store) on its two backends, in one run: the SQLite file (`STORE=sqlite`, one "
        "host) and Azure Blob Storage (`STORE=azureblob`, several instances) on Azurite, Microsoft's emulator, on "
        "this machine. Azurite has no network between it and the bot, so its figures are the Azure SDK's and the "
        "emulator's own cost: a floor, to which a real account adds a round trip inside its region per call. "
        f"Operations: {report.store.ops} sequential calls each, after a warm-up, {report.store.rounds} rounds "
        "alternating the backends, the median of the rounds."
    )
    add("")
    for line in store_bench.render_store(report.store):
        add(line)
    add("")
    add(
        "A warm `activate` turn (the user's token and eligibilities cached, as in the rounds above) through "
        "`/api/messages`, on one bot process per backend sharing one simulated tenant and one connector stand-in; "
        "each turn keeps its bookkeeping in the store (its delivery marker first, bot/transport/deliveries.py):"
    )
    add("")
    for line in store_bench.render_activate(report.store_turns, report.config.concurrency):
        add(line)
    add("")


def render_target_budget(report: Report, add: Callable[[str], None]) -> None:
    """What the CPU target asks of the bot, from this run's own figures."""
    if not report.of(ECHO) or not report.of(ACTIVATE):
        return
    echo = report.med(ECHO, lambda m: m.cpu_ms("server"))
    bot = report.med(ACTIVATE, lambda m: m.cpu_ms("server"))
    plain = report.med(PLAIN, lambda m: m.cpu_ms("server")) if report.of(PLAIN) else float("nan")
    add("### What the CPU target asks of the bot")
    add("")
    add(
        f"{CPU_TARGET:g}× less CPU per turn than the echo bot's {_f(echo, 2)} ms is **{_f(echo / CPU_TARGET, 2)} ms "
        f"per warm `activate` turn** (stretch: {_f(echo / CPU_STRETCH, 2)} ms); this run measured {_f(bot, 2)} ms. "
        f"For scale: the plain aiohttp handler spends {_f(plain, 2)} ms answering one request and making no outbound "
        "call, while an `activate` turn receives one request and makes three outbound HTTPS/HTTP calls (the Graph "
        "write, the directory check and one Bot Connector send) through botbuilder's turn pipeline, and writes its "
        "delivery marker and its card to the state store. Where its CPU goes: the profile below."
    )
    add("")
    if (c := report.clients) is not None:
        add(
            f"One sequential HTTPS GET to the simulated tenant costs the calling process **{_f(c.bot_ms, 2)} ms of "
            f"CPU with the bot's Graph client** (httpx on the httpx-aiohttp transport, graph/transport.py), "
            f"{_f(c.httpx_ms, 2)} ms with httpx on its own transport (the Graph client before issue 16) and "
            f"{_f(c.aiohttp_ms, 2)} ms with plain aiohttp (the Bot Connector client), median of {c.rounds} "
            f"alternating rounds of {c.requests} requests (bench/clients.py)."
        )
        add("")


def render_approvals(report: Report, add: Callable[[str], None]) -> None:
    a = report.approvals
    if a is None:
        return
    c = report.config
    add("## Approvals: fan-out and click latency")
    add("")
    add(
        f"One group (Bench-Fanout) whose approval policy names a groupMembers approver group of {APPROVERS} users, "
        f"each of whom has said `help` to the bot first (so it holds a 1:1 reference for all {APPROVERS}); seeded "
        "through the simulated tenant's `/_sim/seed/...` API. **Fan-out** is the time from sending one requester's "
        f"`activate Bench-Fanout 1h because bench` to the arrival of the {APPROVERS}th approval card at the connector "
        f"stand-in (its arrival timestamps), repeated {c.fanouts}× with a new requester each time; the target is "
        f"≤ {FANOUT_TARGET_S:.0f} s. It includes the bot's Graph work for the activation (the requester's "
        "snapshot, the policy, the approver group's members) and the sends, which go out concurrently. **Click** "
        f"is an approver's Approve (an `adaptiveCard/action` invoke) until its HTTP response with the final card, over "
        f"{c.clicks} clicks, each on a new request and by a different approver — so each click also fetches that "
        "approver's delegated token (cold) before the approval PATCH; **copies updated** is from the click until "
        f"the last of the other {APPROVERS - 1} cards was replaced (PUT at the connector stand-in). Alternating with "
        f"them, {c.clicks} clicks on requests with **one** copy (a group per click whose policy names one approver, "
        "each a different one, so also a cold token) give the yardstick: the answer must not wait for the other "
        "copies, which are updated afterwards, all at once. Every Bot Connector call of the app waits its turn under "
        "Teams' per-app cap of 30 per second (bot.transport.sendlimit), so 59 updates need at least two one-second "
        "windows; half "
        f"the 60-copy clicks come as soon as the 60th card arrived, when the window is still full of the fan-out's own "
        f"sends, the other half {READ_PAUSE_S:g} s later, as a person reading the card would. The connector stand-in "
        "answers at once: real Teams sends take longer, so read these as the bot's own share."
    )
    add("")
    verdict = "meets" if a.fanout_s and max(a.fanout_s) <= FANOUT_TARGET_S else "**misses**"
    add("| Measure | n | median ms | p99 ms | max ms |")
    add("|---|---:|---:|---:|---:|")
    rows = (
        (f"Fan-out to {APPROVERS} approvers (activation → {APPROVERS}th card)", a.fanout_s),
        ("… the activation turn's own HTTP response (every request above and below)", a.fanout_turn_s),
        ("Click → invoke response (final card), 1 copy", a.solo_click_s),
        (f"Click → invoke response (final card), {APPROVERS} copies", a.click_s),
        (f"Click → all {APPROVERS - 1} other copies updated (clicked {READ_PAUSE_S:g} s after the cards)", a.copies_s),
        (f"Click → all {APPROVERS - 1} other copies updated (clicked as the 60th card arrived)", a.copies_at_once_s),
    )
    for label, values in rows:
        mx = max(values) * 1000 if values else float("nan")
        add(f"| {label} | {len(values)} | {_f(a.ms(values, 50))} | {_f(a.ms(values, 99))} | {_f(mx)} |")
    add("")
    add(
        f"Fan-out against the target ≤ {FANOUT_TARGET_S * 1000:.0f} ms: median {_f(a.fanout_median_ms())} ms, "
        f"max {_f(a.fanout_max_ms())} ms — {verdict} it."
    )
    add("")
    for line in click_verdicts(a):
        add(line)
    add("")


def click_verdicts(a: ApprovalFigures) -> list[str]:
    """Issue 9, point 6: the click is answered before the other copies are updated."""
    click, solo = a.ms(a.click_s, 99), a.ms(a.solo_click_s, 99)
    copies, at_once = a.ms(a.copies_s, 99), a.ms(a.copies_at_once_s, 99)
    fast = "meets" if click <= CLICK_TARGET_S * 1000 else "**misses**"
    # p99 of a few clicks is nearly their maximum: one slow moment of a shared machine decides it. So "no slower" is
    # read with a margin for that noise, and the direct evidence is beside it: copies updated before the answer.
    margin = max(10.0, solo * 0.1)
    same = "meets" if click <= solo + margin else "**misses**"
    early = sum(a.updated_before_answer)
    spread = "meets" if copies <= COPIES_TARGET_S * 1000 else "**misses**"
    at_once_verdict = "meets" if at_once <= COPIES_TARGET_S * 1000 else "**misses**"
    return [
        f"- Click → invoke response with {APPROVERS} copies: p99 {_f(click)} ms against ≤ "
        f"{CLICK_TARGET_S * 1000:.0f} ms — {fast} it. With 1 copy: p99 {_f(solo)} ms (medians "
        f"{_f(a.ms(a.click_s, 50))} and {_f(a.ms(a.solo_click_s, 50))} ms); {APPROVERS} copies answer no slower than "
        f"1 within the noise margin of {margin:.0f} ms — {same} it. Other copies updated before the answer arrived: "
        f"{early} in {len(a.updated_before_answer)} clicks: the answer waits for none of them.",
        f"- Click → all {APPROVERS - 1} other copies updated, clicked {READ_PAUSE_S:g} s after the cards: p99 "
        f"{_f(copies)} ms against ≤ {COPIES_TARGET_S * 1000:.0f} ms — {spread} it. Clicked as the 60th card arrived: "
        f"p99 {_f(at_once)} ms — {at_once_verdict} it (the per-app cap of 30 calls per second is what it waits for).",
    ]


# ---- orchestration -------------------------------------------------------------------------------------------------


def bot_log_problems(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return [f"the bot's log {path} is missing"]
    bad = [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line or "Traceback" in line]
    return [f"the bot logged {len(bad)} error line(s), first: {bad[0][:300]}"] if bad else []


def run(config: Config) -> Report:
    report = Report(config, datetime.now(UTC), os.getloadavg(), code=code_version())
    t0 = time.monotonic()
    var = config.var
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    if config.only == "store":
        run_store(report, config)
        report.elapsed = time.monotonic() - t0
        return report
    if config.only == "memory":
        run_memory(report, config)
        report.elapsed = time.monotonic() - t0
        return report
    ports = {name: free_port() for name in ("connector", *ACTIVATES, ECHO, PLAIN, APPROVALS_BOT)}
    # Teams allows an app 30 Bot Connector calls per second per tenant; the bot keeps to that. The throughput rounds
    # drive 8 users at well over 15 turns/s (two sends a turn) to measure the bot's CPU per turn against the echo bot,
    # which knows no such cap, so their bot has it lifted (no Teams tenant would accept that rate). The approval and
    # reach sections measure what an approver sees, so theirs is a second bot process with the real cap.
    # The check of access about to end (bot.ending) polls on its own: not inside the measured round trips.
    lifted = {"TEAMS_REQUESTS_PER_SECOND": "1000", "ENDING_POLL_SECONDS": "3600"}

    def helper(module: str, name: str, what: str) -> Any:
        port = ports[name]
        return python_server(["-m", module, "--port", str(port)], port, var / f"{name}.log", what)

    with (
        simulated_tenant(var / "simtenant", seed=f"bench:{config.bench_users}") as (tenant, sim),
        helper("bench.connector", "connector", "the Bot Connector stand-in") as connector,
        bot_process(bot_environment(tenant, ports[ACTIVATE], var / "state.sqlite3", lifted), var / "bot.log") as bot,
        bot_process(
            bot_environment(tenant, ports[UNCHECKED], var / "unchecked.sqlite3", lifted | {"LIVE_CHECK_SECONDS": "0"}),
            var / "unchecked-bot.log",
        ) as unchecked,
        bot_process(
            bot_environment(tenant, ports[APPROVALS_BOT], var / "approvals.sqlite3"), var / "approvals-bot.log"
        ) as approvals_bot,
        helper("bench.echo_bot", ECHO, "the echo bot") as echo_bot,
        helper("bench.plain", PLAIN, "the plain handler") as plain,
    ):
        servers = {ACTIVATE: bot.pid, UNCHECKED: unchecked.pid, ECHO: echo_bot.pid, PLAIN: plain.pid}
        urls = {name: f"http://127.0.0.1:{ports[name]}/api/messages" for name in TARGETS}
        connector_url = f"http://127.0.0.1:{ports['connector']}/"

        clocks = {
            target: CpuClock(
                {"server": servers[target], "connector stand-in": connector.pid, "load generator": None}
                | ({"simulated tenant": sim.pid} if target in ACTIVATES else {})
            )
            for target in TARGETS
        }
        approvals_url = f"http://127.0.0.1:{ports[APPROVALS_BOT]}/api/messages"
        approvals_clock = CpuClock({"server": approvals_bot.pid})
        bench = Bench(
            config, report, connector_url, tenant.control_url, tenant.ca_file, urls, clocks, approvals_url,
            approvals_clock,
        )  # fmt: skip
        asyncio.run(bench.run())
    report.problems.extend(bot_log_problems(var / "bot.log"))
    report.problems.extend(bot_log_problems(var / "unchecked-bot.log"))
    report.problems.extend(bot_log_problems(var / "approvals-bot.log"))
    if not report.problems and config.profile_turns and config.only in ("", "turns"):
        report.profile = profile_bench.profile_activate(var, turns=config.profile_turns, concurrency=config.concurrency)
        if report.profile.failed:
            report.problems.append(f"profile: {report.profile.failed} `activate` turns failed")
        report.problems.extend(bot_log_problems(var / "profile-bot.log"))
    if config.only:
        report.elapsed = time.monotonic() - t0
        return report
    if not report.problems and config.feed_groups:
        report.feed = feed_bench.run(var / "feed-simtenant", config.feed_groups)
        report.problems.extend(report.feed.problems)
    if not report.problems and config.feed_samples and config.feed_burst:
        report.poster = feed_bench.run_poster(var / "feed-poster", config.feed_samples, config.feed_burst)
        report.problems.extend(report.poster.problems)
    if not report.problems:
        run_store(report, config)
    if not report.problems:
        run_memory(report, config)
    report.elapsed = time.monotonic() - t0
    return report


def run_memory(report: Report, config: Config) -> None:
    """Memory and start-up (bench/memory.py): RSS with many requests, growth, sustained load, start to /healthz."""
    report.memory = memory_bench.measure_memory(
        config.var, soak_seconds=config.soak_seconds, sizes=config.memory_sizes, trace=config.memory_trace
    )
    report.problems.extend(report.memory.problems)
    for size in config.memory_sizes:
        report.problems.extend(bot_log_problems(config.var / f"memory-bot-{size}.log"))


def run_store(report: Report, config: Config) -> None:
    """The state store on SQLite and on Azure Blob Storage (Azurite), side by side (bench/store.py)."""
    report.store = asyncio.run(store_bench.measure_stores(config.var, ops=config.store_ops))
    report.store_turns = store_bench.activate_on_backends(
        config.var, users=config.store_turns, concurrency=config.concurrency
    )
    for backend, turns in report.store_turns.items():
        if turns.failed:
            report.problems.append(f"state store: {turns.failed} `activate` turns failed on {backend}")
    report.problems.extend(bot_log_problems(config.var / "store-sqlite.log"))
    report.problems.extend(bot_log_problems(config.var / "store-azureblob.log"))


def parse(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark → docs/benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="one short round: a sanity run (~20 s)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--requests", type=int, help="measured turns per round for activate and echo")
    parser.add_argument("--plain-requests", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--seconds", type=float, help="time limit of each measured phase")
    parser.add_argument("--fanouts", type=int, help="requests whose fan-out to 60 approvers is timed")
    parser.add_argument("--clicks", type=int, help="Approve clicks timed, each on a new request")
    parser.add_argument(
        "--reach-samples", type=int, help="fan-outs to 60 approvers per kind: known, never wrote to the bot"
    )
    parser.add_argument("--client-requests", type=int, help="HTTPS requests per client and round (httpx vs aiohttp)")
    parser.add_argument(
        "--feed-groups", type=_sizes, help="admin feed: monitored group counts, comma-separated (default 1,100,1000)"
    )
    parser.add_argument("--feed-samples", type=int, help="admin feed: changes timed from Graph to the post (10)")
    parser.add_argument(
        "--feed-burst",
        type=int,
        help=f"admin feed: eligibilities in one burst (default 500, ≤ {feed_bench.SEED_GROUPS})",
    )
    parser.add_argument(
        "--only",
        choices=["turns", "approvals", "reach", "store", "memory"],
        help="run one section only (a quick look; `make bench` runs them all)",
    )
    parser.add_argument("--store-ops", type=int, help="state store: sequential calls per operation and backend")
    parser.add_argument("--store-turns", type=int, help="state store: warm `activate` turns on each backend")
    parser.add_argument("--profile-turns", type=int, help="warm `activate` turns profiled with cProfile (0: none)")
    parser.add_argument(
        "--memory-sizes", type=_counts, help="memory: approval requests (and references) per state, e.g. 0,5000,10000"
    )
    parser.add_argument(
        "--soak-seconds", type=float, help="memory: seconds of sustained mixed load, RSS sampled (default 120; 1800)"
    )
    parser.add_argument(
        "--memory-trace",
        type=Path,
        help="memory: run the soak's bot under tracemalloc and keep its snapshots in this folder (diagnosis only)",
    )
    parser.add_argument("--out", type=Path, help="markdown file to write (default docs/benchmarks.md)")
    parser.add_argument("--var", type=Path, help="working directory for logs and state (default var/bench)")
    args = parser.parse_args(argv)
    values: dict[str, Any] = dict(QUICK) if args.quick else {}
    for name in (
        "rounds",
        "concurrency",
        "requests",
        "plain_requests",
        "warmup",
        "seconds",
        "out",
        "var",
        "fanouts",
        "clicks",
        "reach_samples",
        "client_requests",
        "feed_groups",
        "feed_samples",
        "feed_burst",
        "store_ops",
        "store_turns",
        "profile_turns",
        "memory_sizes",
        "soak_seconds",
        "memory_trace",
        "only",
    ):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    shown = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    values["command"] = f"python -m bench {shown}".strip() if shown else Config.command
    config = Config(**values)
    if min(config.rounds, config.concurrency, config.requests, config.plain_requests) < 1 or config.warmup < 0:
        parser.error("rounds, concurrency and request counts must be positive (warm-up ≥ 0)")
    if min(config.fanouts, config.clicks, config.client_requests, config.reach_samples) < 1:
        parser.error("--fanouts, --clicks, --reach-samples and --client-requests must be positive")
    if not (0 <= config.feed_samples <= feed_bench.SEED_GROUPS and 0 <= config.feed_burst <= feed_bench.SEED_GROUPS):
        parser.error(f"--feed-samples and --feed-burst must be 0..{feed_bench.SEED_GROUPS} (0: skip the poster)")
    return config


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}") from None
    if not counts or any(n < 0 or n > 100_000 for n in counts):
        raise argparse.ArgumentTypeError("counts must be 0..100000")
    return counts


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}") from None
    if any(n < 1 or n > feed_bench.SEED_GROUPS for n in sizes):
        raise argparse.ArgumentTypeError(f"group counts must be 1..{feed_bench.SEED_GROUPS}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    config = parse(argv)
    print(f"bench: {config.rounds} round(s), {config.concurrency} clients, {config.bench_users} bench users …",
          flush=True)  # fmt: skip
    report = run(config)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_text(render(report), encoding="utf-8")
    for target in TARGETS if config.only in ("", "turns") else ():
        print(
            f"  {target:8} {report.med(target, lambda m: m.result.throughput):8.1f} turns/s  "
            f"p50 {report.med(target, lambda m: m.result.latency_ms(50)):6.1f} ms  "
            f"p99 {report.med(target, lambda m: m.result.latency_ms(99)):6.1f} ms  "
            f"CPU {report.med(target, lambda m: m.cpu_ms('server')):6.2f} ms/turn"
        )
    if report.of(ACTIVATE) and report.of(ECHO):
        echo_cpu, act_cpu = (report.med(t, lambda m: m.cpu_ms("server")) for t in (ECHO, ACTIVATE))
        print(f"  CPU per turn, echo ÷ activate: {_over(echo_cpu, act_cpu):.2f}× (target ≥ {CPU_TARGET:g}, stretch ≥ "
              f"{CPU_STRETCH:g})")  # fmt: skip
    if (p := report.profile) is not None:
        print(f"  profile of {p.turns} warm activate turns (cProfile, ms per turn; own time, with callees):")
        for row in p.by_own[:12]:
            print(f"    {row.own_ms:6.3f} {row.total_ms:6.3f}  {row.function}")
    if (mem := report.memory) is not None and mem.sizes:
        for size in mem.sizes:
            print(
                f"  memory: {size.requests:>6,} requests: start-up {size.startup_s:.2f} s ({size.startup_cpu_s:.2f} s "
                f"CPU), RSS {size.rss_started_mb:.1f} MB after start, {size.rss_warm_mb:.1f} MB warm"
            )
        verdict = mem.soak_verdict()
        print(f"  memory: growth {mem.growth_per_1000_mb():.2f} MB per 1,000 requests; sustained load: "
              + (f"slope {verdict.slope_mb_per_10min:+.2f} MB per 10 min over the last two thirds, highest RSS "
                 f"{verdict.middle_max_mb:.1f} then {verdict.last_max_mb:.1f} MB, "
                 + ("met" if verdict.met else "not met" if verdict.judged else "not judged (shorter than 30 min)")
                 if verdict else "none")
              + f"; Blob start-up {mem.blob_startup}")  # fmt: skip
    for s in report.singles:
        print(f"  {s.single.label}: {s.graph} Graph, {s.stats['token_requests']} token")
    print(f"bench: wrote {config.out} in {report.elapsed:.0f} s" + ("" if not report.problems else " — PROBLEMS:"))
    for p in report.problems:
        print(f"  ! {p}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
