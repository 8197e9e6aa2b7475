"""The admin feed's figures of `python -m bench` (issue 5): Graph round trips and wall time of one poll cycle of
`graph.feed.FeedReader` for 1, 100 and 1,000 monitored groups, counted by the simulated tenant (`/_sim/stats`).

A simulated tenant of its own runs with seed `feed:1000` (1,000 groups `feed-group-NNNN`, each with two
eligibilities). For each size: a first poll (the baseline, not measured), then `repeats` cycles with no change
(target ≤ ⌈groups/20⌉ × 2 round trips), then `changes` admin changes made app-only through Graph (an eligibility for
Carol in as many groups) and one cycle that sees them and reads their request history. The tenant is reseeded
between sizes. Wall time is the `poll` call, in this process, against the tenant on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.load import median
from core.feed import GroupState
from devtools.stack import Tenant, simulated_tenant
from graph import FeedReader, GraphClient
from graph.wire import format_datetime

SIZES = (1, 100, 1000)
SEED_GROUPS = 1000
CAROL = "aaaaaaaa-0000-4000-8000-000000000003"  # simtenant seed: a demo user
PIM = "/identityGovernance/privilegedAccess/group"


def feed_group_id(n: int) -> str:
    return f"dddddddd-0000-4000-8000-{n:012d}"  # simtenant seed feed:N


def target_round_trips(groups: int) -> int:
    return math.ceil(groups / 20) * 2


@dataclass
class FeedCycle:
    groups: int
    round_trips: int  # no change: the simulated tenant's graph_requests over one cycle (a $batch counts 1)
    inner: int  # requests inside those batches
    seconds: list[float]  # wall time of each unchanged cycle
    changes: int = 0
    changed_round_trips: int = 0
    changed_inner: int = 0
    changed_events: int = 0
    changed_seconds: float = float("nan")

    @property
    def target(self) -> int:
        return target_round_trips(self.groups)

    @property
    def expected_with_changes(self) -> int:
        return self.target + math.ceil(self.changes / 20)


@dataclass
class FeedFigures:
    cycles: list[FeedCycle] = field(default_factory=list)
    repeats: int = 0
    problems: list[str] = field(default_factory=list)


class _AppToken:
    """Client-credentials tokens from the simulated tenant's token endpoint (msal is not needed for a benchmark)."""

    def __init__(self, http: httpx.AsyncClient, tenant: Tenant) -> None:
        self._http, self._tenant = http, tenant
        self._token: str | None = None

    async def refresh(self) -> None:
        self._token = None

    async def __call__(self) -> str:
        if self._token is None:
            t = self._tenant
            response = await self._http.post(
                f"{t.authority_host}/{t.tenant_id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": t.client_id,
                    "client_secret": t.client_secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token


class FeedBench:
    def __init__(self, tenant: Tenant, http: httpx.AsyncClient, sizes: Sequence[int], repeats: int, changes: int):
        self.tenant, self.http = tenant, http
        self.sizes, self.repeats, self.changes = sizes, repeats, changes
        self.client = GraphClient(http, tenant.graph_base_url, _AppToken(http, tenant))
        self.control = tenant.control_url.rstrip("/")

    async def stats(self, reset: bool = False) -> dict[str, Any]:
        if reset:
            (await self.http.post(f"{self.control}/stats/reset")).raise_for_status()
            return {}
        response = await self.http.get(f"{self.control}/stats")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def run(self) -> FeedFigures:
        figures = FeedFigures(repeats=self.repeats)
        for size in self.sizes:
            (await self.http.post(f"{self.control}/reset", json={"seed": f"feed:{SEED_GROUPS}"})).raise_for_status()
            figures.cycles.append(await self.size(size, figures.problems))
        return figures

    async def size(self, size: int, problems: list[str]) -> FeedCycle:
        groups = [feed_group_id(n) for n in range(1, size + 1)]
        reader = FeedReader(self.client)
        states: dict[str, GroupState] = {}

        async def cycle() -> tuple[float, int, dict[str, Any]]:
            await self.stats(reset=True)
            started = time.perf_counter()
            new, events = await reader.poll(groups, states, datetime.now(UTC))
            elapsed = time.perf_counter() - started
            states.update(new)
            if reader.last_failed:
                problems.append(f"feed, {size} groups: {len(reader.last_failed)} group(s) not read")
            return elapsed, len(events), await self.stats()

        _, baseline_events, _ = await cycle()  # the baseline: every group read for the first time
        seconds: list[float] = []
        stats: dict[str, Any] = {}
        for _ in range(self.repeats):
            elapsed, events, stats = await cycle()
            seconds.append(elapsed)
            if events or baseline_events:
                problems.append(f"feed, {size} groups: {events or baseline_events} event(s) without a change")
        result = FeedCycle(
            size, int(stats.get("graph_requests", 0)), int(stats.get("batch_inner_requests", 0)), seconds
        )
        if result.round_trips > result.target:
            problems.append(f"feed, {size} groups: {result.round_trips} round trips, target ≤ {result.target}")

        changed = groups[: min(self.changes, size)]
        end = format_datetime(datetime.now(UTC) + timedelta(days=30))
        for group_id in changed:
            body = {
                "action": "adminAssign",
                "groupId": group_id,
                "principalId": CAROL,
                "accessId": "member",
                "justification": "bench",
                "scheduleInfo": {
                    "startDateTime": format_datetime(datetime.now(UTC)),
                    "expiration": {"type": "afterDateTime", "endDateTime": end},
                },
            }
            await self.client.post(f"{PIM}/eligibilityScheduleRequests", json=body)
        elapsed, events, stats = await cycle()
        result.changes, result.changed_events, result.changed_seconds = len(changed), events, elapsed
        result.changed_round_trips = int(stats.get("graph_requests", 0))
        result.changed_inner = int(stats.get("batch_inner_requests", 0))
        if events != len(changed):
            problems.append(f"feed, {size} groups: {events} event(s) for {len(changed)} change(s)")
        if result.changed_round_trips > result.expected_with_changes:
            problems.append(
                f"feed, {size} groups with {len(changed)} changes: {result.changed_round_trips} round trips, "
                f"expected ≤ {result.expected_with_changes}"
            )
        return result


async def measure(tenant: Tenant, sizes: Sequence[int], repeats: int, changes: int) -> FeedFigures:
    context = ssl.create_default_context(cafile=tenant.ca_file)
    async with httpx.AsyncClient(verify=context, timeout=60.0) as http:
        return await FeedBench(tenant, http, sizes, repeats, changes).run()


def run(state_dir: Path, sizes: Sequence[int] = SIZES, repeats: int = 3, changes: int = 10) -> FeedFigures:
    """Start a simulated tenant (seed feed:1000) in `state_dir`, measure, stop it."""
    with simulated_tenant(state_dir, seed=f"feed:{SEED_GROUPS}") as (tenant, _):
        return asyncio.run(measure(tenant, sizes, repeats, changes))


def render(figures: FeedFigures | None, add: Callable[[str], None]) -> None:
    if figures is None or not figures.cycles:
        return
    add("## Admin feed: Graph calls per cycle")
    add("")
    add(
        "One poll cycle of the admin feed's reader (`graph.feed.FeedReader.poll`) over N monitored groups of a "
        f"simulated tenant of its own (seed `feed:{SEED_GROUPS}`: every group has two eligibilities). **Round "
        "trips** are HTTP requests the tenant received (`/_sim/stats` `graph_requests`; a `$batch` counts 1), "
        "**inner** the requests inside those batches: two per group (eligibility schedules and assignment "
        "instances, `$filter` by groupId), 20 to a batch, so the target is ⌈N/20⌉ × 2. **With changes**: that "
        "many groups gained an eligibility (an app-only adminAssign through Graph) before the cycle, which then "
        "also reads the request history of each change (one request per changed principal and group, batched). "
        f"Wall time is the `poll` call: median of {figures.repeats} unchanged cycles after a first (baseline) poll. "
        "Not in this table: when the app may read the audit log (AuditLog.Read.All), each feed cycle also makes "
        "**one more request**, an incremental read of PIM's audit log (approval outcomes with the approver, and "
        "discovery), more only when over 500 entries arrived since the last cycle, and two at the first read and "
        "every 30 minutes (PIM's service is logged under two spellings; the reader asks for the one the tenant uses)."
    )
    add("")
    add(
        "| Groups | round trips (no change) | target ≤ | inner requests | wall ms (median) "
        "| changes | round trips (changes) | expected ≤ | events | wall ms (changes) |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in figures.cycles:
        wall = median(c.seconds) * 1000 if c.seconds else float("nan")
        add(
            f"| {c.groups:,} | {c.round_trips} | {c.target} | {c.inner:,} | {wall:,.1f} | {c.changes} "
            f"| {c.changed_round_trips} | {c.expected_with_changes} | {c.changed_events} "
            f"| {c.changed_seconds * 1000:,.1f} |"
        )
    add("")


# ---- the poster: event to post, and a burst ---------------------------------------------------------------------

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"  # simtenant seed: a demo user, the bot's admin here
DAVE = "aaaaaaaa-0000-4000-8000-000000000004"  # not eligible in the feed:N groups: the burst's principal


@dataclass
class PosterFigures:
    """The feed's poster (bot.feed.FeedDesk) in the real bot, against the same simulated tenant."""

    groups: int = 0
    latency_s: list[float] = field(default_factory=list)  # admin change made → its card accepted (one cycle)
    burst: int = 0
    burst_seconds: float = float("nan")  # the cycle that sees the burst: poll, history, queue, post
    burst_cards: int = 0
    burst_bytes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def measure_poster(tenant: Tenant, state_dir: Path, samples: int, burst: int) -> PosterFigures:
    """The bot in this process (app.create_app, as the tests' stack), posting to a recording connector stand-in.

    Latency: an eligibility is assigned through Graph (adminAssign, app-only), then a feed cycle runs at once; the
    figure is from the assignment's answer to the cycle's return, by which the connector has accepted the card and
    the outbox entry is marked posted. A deployment adds the wait for the next poll (up to FEED_POLL_SECONDS).
    Burst: `burst` eligibilities seeded in as many monitored groups, then one cycle."""
    # Imported here: only this part of the bench runs the bot in-process.
    import aiohttp
    from aiohttp.test_utils import TestServer

    from app import PARTS_KEY, create_app
    from devtools.stack import bot_environment, free_port
    from devtools.teams.activities import TeamsUser, channel_message
    from devtools.teams.connector import running_connector
    from settings import load_settings

    figures = PosterFigures(burst=burst)
    size = max(samples, burst)
    figures.groups = size
    groups = [feed_group_id(n) for n in range(1, size + 1)]
    context = ssl.create_default_context(cafile=tenant.ca_file)
    async with running_connector() as connector, httpx.AsyncClient(verify=context, timeout=60.0) as http:
        control = tenant.control_url.rstrip("/")
        (await http.post(f"{control}/reset", json={"seed": f"feed:{SEED_GROUPS}"})).raise_for_status()
        extra = {"BOT_ADMINS": ALICE, "FEED_GROUPS": ",".join(groups), "FEED_POLL_SECONDS": "3600"}
        settings = load_settings(bot_environment(tenant, free_port(), state_dir / "poster.sqlite3", extra))
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            desk = app[PARTS_KEY].feed
            async with aiohttp.ClientSession() as session:
                here = channel_message(connector.url, "feed here", TeamsUser(ALICE, "Alice Admin"))
                async with session.post(server.make_url("/api/messages"), json=here) as r:
                    r.raise_for_status()
            await desk.cycle()  # the baseline
            channel = here["channelData"]["channel"]["id"]

            def posts() -> list[Any]:
                return [r for r in connector.messages() if r.conversation_id.startswith(f"{channel};messageid=activ")]

            client = GraphClient(http, tenant.graph_base_url, _AppToken(http, tenant))
            for group_id in groups[:samples]:
                before = len(posts())
                body = {
                    "action": "adminAssign",
                    "groupId": group_id,
                    "principalId": CAROL,
                    "accessId": "member",
                    "justification": "bench",
                    "scheduleInfo": {
                        "startDateTime": format_datetime(datetime.now(UTC)),
                        "expiration": {
                            "type": "afterDateTime",
                            "endDateTime": format_datetime(datetime.now(UTC) + timedelta(days=30)),
                        },
                    },
                }
                await client.post(f"{PIM}/eligibilityScheduleRequests", json=body)
                started = time.perf_counter()
                await desk.cycle()
                figures.latency_s.append(time.perf_counter() - started)
                if len(posts()) != before + 1:
                    figures.problems.append(f"feed poster: {len(posts()) - before} post(s) for one change")

            before = len(posts())
            for group_id in groups[:burst]:
                seeded = {"group_id": group_id, "principal_id": DAVE, "access": "member", "justification": "bulk"}
                (await http.post(f"{control}/seed/add_eligibility", json=seeded)).raise_for_status()
            started = time.perf_counter()
            await desk.cycle()
            figures.burst_seconds = time.perf_counter() - started
            cards = [r.card for r in posts()[before:] if r.card]
            figures.burst_cards = len(cards)
            figures.burst_bytes = [len(json.dumps(c, separators=(",", ":")).encode()) for c in cards]
            if not 1 <= figures.burst_cards <= 5:
                figures.problems.append(f"feed poster: a burst of {burst} gave {figures.burst_cards} cards")
            if await desk.cycle():
                figures.problems.append("feed poster: the cycle after the burst posted again")
        finally:
            await server.close()
    return figures


def run_poster(state_dir: Path, samples: int = 10, burst: int = 500) -> PosterFigures:
    """Start a simulated tenant (seed feed:1000) in `state_dir`, measure the poster, stop it."""
    with simulated_tenant(state_dir, seed=f"feed:{SEED_GROUPS}") as (tenant, _):
        return asyncio.run(measure_poster(tenant, state_dir, samples, burst))


def render_poster(figures: PosterFigures | None, add: Callable[[str], None]) -> None:
    if figures is None or not figures.latency_s:
        return
    add("## Admin feed: event to post, and a burst")
    add("")
    add(
        "The bot itself (in this process, `app.create_app`) with the feed on, monitoring "
        f"{figures.groups:,} groups of the same simulated tenant, posting to a recording connector stand-in. "
        "**Event to post:** an eligibility is assigned through Graph (adminAssign, app-only), then one feed cycle "
        "runs at once; measured from Graph's answer to the end of the cycle, by which the Bot Connector accepted "
        "the card and the outbox entry is marked posted (poll of every group, the change's request history, the "
        "snapshot + outbox write, the post). A deployment adds the wait for the next poll: up to "
        "`FEED_POLL_SECONDS` (60 by default), half of it on average. "
        f"**Burst:** {figures.burst} eligibilities seeded in as many monitored groups, then one cycle."
    )
    add("")
    add("| Figure | value |")
    add("|---|---:|")
    add(f"| event to post, median of {len(figures.latency_s)} | {median(figures.latency_s) * 1000:,.0f} ms |")
    add(f"| event to post, slowest | {max(figures.latency_s) * 1000:,.0f} ms |")
    add(f"| burst of {figures.burst}: the cycle | {figures.burst_seconds * 1000:,.0f} ms |")
    add(f"| burst of {figures.burst}: cards posted | {figures.burst_cards} |")
    if figures.burst_bytes:
        add(f"| burst of {figures.burst}: largest card | {max(figures.burst_bytes):,} bytes |")
    add("")
