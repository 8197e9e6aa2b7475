"""The bot stack of tests/bot/conftest.py for fault tests: a short Graph timeout (0.5 s, so "slower than the timeout"
costs half a second), the Graph client's waits between retries on the simulated clock (virtual time: no test sleeps
through a backoff or a Retry-After), and no background sweeps (a test runs them when it means to)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from app import PARTS_KEY, Seams, create_app
from settings import load_settings
from simtenant import run_simtenant
from tests.bot.conftest import Stack, bot_env
from tests.fakes.connector import running_connector

GRAPH_TIMEOUT = 0.5


@asynccontextmanager
async def quick_stack(tmp_path: Path, **env: str) -> AsyncIterator[Stack]:
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim, running_connector() as connector:
        state_db = tmp_path / "state.sqlite3"
        async with serving(sim, state_db, **env) as server, aiohttp.ClientSession() as http:
            yield Stack(sim, connector, server, http, state_db)


@asynccontextmanager
async def serving(sim: Any, state_db: Path, **env: str) -> AsyncIterator[TestServer]:
    """One bot process (in-process) on `state_db`; a second one on the same file is a restarted bot."""

    async def virtual_sleep(seconds: float) -> None:
        sim.tenant.advance(seconds)
        await asyncio.sleep(0)

    settings = load_settings(bot_env(sim, state_db, GRAPH_TIMEOUT_SECONDS=str(GRAPH_TIMEOUT), **env))
    app = create_app(settings, Seams(clock=sim.tenant.clock, graph_sleep=virtual_sleep, reconcile_seconds=3600))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def follow_up(stack: Stack, server: TestServer | None = None) -> int:
    """One sweep of the unconfirmed writes (what the bot does every few seconds); how many were settled."""
    ended: int = await (server or stack.server).app[PARTS_KEY].reconcile()
    return ended


async def poll(stack: Stack) -> int:
    """One sweep of the approval poller."""
    changed: int = await stack.server.app[PARTS_KEY].poll()
    return changed
