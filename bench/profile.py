"""Where the bot's CPU goes in a warm `activate` turn: cProfile over a phase of such turns, top functions per turn.

A bot process of its own (bench/profiled.py: app.py under a cProfile switched on and off by signals) on its own
simulated tenant and connector stand-in; its users are warmed as in the throughput rounds (another group activated,
then `status`), then profiling is switched on for `turns` warm activations at `concurrency` and off again. The
profiler slows every call it sees, so these times are larger than the rounds' CPU per turn: read them as shares.
Printed by `make bench` and written to docs/benchmarks.md, so whoever works on the bot's speed next starts from it.
"""

from __future__ import annotations

import asyncio
import json
import os
import pstats
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.load import bench_user, cpu_seconds, run_load
from devtools.stack import bot_environment, free_port, python_server, simulated_tenant
from devtools.teams.activities import message

__all__ = ["ProfileFigures", "Row", "profile_activate", "render_profile"]

WARM_TEXTS = ("activate Helpdesk-Tier1 1h", "status")
ACTIVATE_TEXT = "activate Exchange-Admins 1h"
TOP = 25


@dataclass(frozen=True)
class Row:
    function: str  # file:line(name), the project's paths relative to the repository
    calls_per_turn: float
    own_ms: float  # per turn, in the function itself (cProfile's tottime)
    total_ms: float  # per turn, with what it called (cumtime)


@dataclass(frozen=True)
class ProfileFigures:
    turns: int
    cpu_ms: float  # the bot process's CPU per turn while profiled (/proc), profiler overhead included
    profiled_ms: float  # what cProfile saw per turn
    by_own: tuple[Row, ...]
    by_total: tuple[Row, ...]
    failed: int


def profile_activate(var: Path, *, turns: int = 300, concurrency: int = 8, top: int = TOP) -> ProfileFigures:
    ports = {name: free_port() for name in ("connector", "bot")}
    out = var / "activate.pstats"
    with (
        simulated_tenant(var / "profile-simtenant", seed=f"bench:{turns}") as (tenant, _),
        python_server(
            ["-m", "bench.connector", "--port", str(ports["connector"])],
            ports["connector"],
            var / "profile-connector.log",
            "the Bot Connector stand-in",
        ),
        python_server(
            ["-m", "bench.profiled"],
            ports["bot"],
            var / "profile-bot.log",
            "the profiled bot",
            env=bot_environment(
                tenant,
                ports["bot"],
                var / "profile.sqlite3",
                {"TEAMS_REQUESTS_PER_SECOND": "1000", "BENCH_PROFILE": str(out)},
            ),
        ) as bot,
    ):
        connector_url = f"http://127.0.0.1:{ports['connector']}/"
        url = f"http://127.0.0.1:{ports['bot']}/api/messages"
        ok, cpu = asyncio.run(_drive(url, connector_url, turns, concurrency, bot.pid))
        for _ in range(50):
            if out.exists():
                break
            time.sleep(0.1)
    return _summarise(out, ok, turns - ok, cpu, top)


async def _drive(url: str, connector_url: str, turns: int, concurrency: int, pid: int) -> tuple[int, float]:
    people = [bench_user(n) for n in range(1, turns + 1)]

    def bodies(text: str) -> list[bytes]:
        return [json.dumps(message(connector_url, text, user)).encode() for user in people]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for text in WARM_TEXTS:
            await run_load(http, url, bodies(text), concurrency=concurrency, max_requests=turns, max_seconds=60)
        os.kill(pid, signal.SIGUSR1)
        await asyncio.sleep(0.05)
        before = cpu_seconds(pid)
        result = await run_load(
            http, url, bodies(ACTIVATE_TEXT), concurrency=concurrency, max_requests=turns, max_seconds=60
        )
        cpu = cpu_seconds(pid) - before
        os.kill(pid, signal.SIGUSR2)
    return result.ok, cpu


def _name(key: tuple[str, int, str]) -> str:
    path, line, name = key
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    if path.startswith(root):
        path = path[len(root) :]
    elif "site-packages" in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    elif path == "~":
        return name  # a built-in
    return f"{path}:{line}({name})"


def _summarise(out: Path, ok: int, failed: int, cpu: float, top: int) -> ProfileFigures:
    stats = pstats.Stats(str(out))
    turns = max(ok, 1)
    entries = stats.stats  # type: ignore[attr-defined]  # {key: (cc, nc, tottime, cumtime, callers)}
    rows = [
        Row(_name(key), nc / turns, tt * 1000 / turns, ct * 1000 / turns)
        for key, (_cc, nc, tt, ct, _callers) in entries.items()
    ]
    profiled = sum(r.own_ms for r in rows)
    by_own = tuple(sorted(rows, key=lambda r: r.own_ms, reverse=True)[:top])
    by_total = tuple(sorted(rows, key=lambda r: r.total_ms, reverse=True)[:top])
    return ProfileFigures(ok, cpu * 1000 / turns, profiled, by_own, by_total, failed)


def render_profile(figures: ProfileFigures | None, add: object) -> None:
    """The profile as markdown, through `add` (a callable taking one line)."""
    if figures is None or not callable(add):
        return
    add("## Where the bot's CPU goes in a warm `activate` turn (profile)")
    add("")
    add(
        f"cProfile over {figures.turns} warm `activate` turns at 8 at once, on a bot process of its own "
        "(bench/profile.py; the same warm-up as the rounds). The profiler slows every Python call, so the bot spent "
        f"{figures.cpu_ms:.2f} ms of CPU per turn while profiled (cProfile saw {figures.profiled_ms:.2f} ms): read "
        "the times as shares of a turn, not as its cost. *own* is time in the function itself, *with callees* "
        "includes what it called."
    )
    add("")
    add("Top functions by own time:")
    add("")
    add("| function | calls/turn | own ms/turn | with callees ms/turn |")
    add("|---|---:|---:|---:|")
    for r in figures.by_own:
        add(f"| `{r.function}` | {r.calls_per_turn:.1f} | {r.own_ms:.3f} | {r.total_ms:.3f} |")
    add("")
    add("Top functions by time with callees:")
    add("")
    add("| function | calls/turn | own ms/turn | with callees ms/turn |")
    add("|---|---:|---:|---:|")
    for r in figures.by_total:
        add(f"| `{r.function}` | {r.calls_per_turn:.1f} | {r.own_ms:.3f} | {r.total_ms:.3f} |")
    add("")


if __name__ == "__main__":  # a quick look: python -m bench.profile [turns]
    import sys

    figures = profile_activate(Path("var/bench-profile"), turns=int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    lines: list[str] = []
    render_profile(figures, lines.append)
    print("\n".join(lines))
