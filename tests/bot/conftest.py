"""The bot served in-process over real HTTP, talking to the simulated tenant (HTTPS) and a recording Bot Connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import Seams, create_app
from settings import load_settings
from simtenant import run_simtenant
from tests.fakes.activities import BOT_ID, BOT_NAME
from tests.fakes.connector import FakeConnector, running_connector

TEAMS_APP_ID = "5c2b1a3d-7e4f-4a6b-9c8d-0e1f2a3b4c5d"  # the bot's Teams app manifest id (the catalog's externalId)


@dataclass
class Stack:
    sim: Any  # simtenant.RunningSimTenant
    connector: FakeConnector
    server: TestServer
    http: aiohttp.ClientSession
    state_db: Path

    @property
    def service_url(self) -> str:
        return self.connector.url

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.server.make_url("/api/messages"), json=activity) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, body

    async def publish_bot(self, **extra: Any) -> str:
        """Put the bot's app in the simulated tenant's org catalog, its messaging endpoint this bot's (an admin's
        upload): the bot can then install it for people, and Teams tells the bot of every installation."""
        body = {
            "display_name": BOT_NAME,
            "bot_id": BOT_ID,
            "external_id": TEAMS_APP_ID,
            "messaging_endpoint": str(self.server.make_url("/api/messages")),
            "service_url": self.service_url,
            "bot_name": BOT_NAME,
            **extra,
        }
        published = await self.sim_control("POST", "/teams/apps", body)
        self.connector.personal_chat = self.sim.tenant.teams.personal_chat  # Teams knows who has the app
        app_id: str = published["id"]
        return app_id

    async def sim_control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(
            method, f"{self.sim.control_url}{path}", json=body, ssl=self.sim.ssl_context()
        ) as r:
            assert r.status < 300, await r.text()
            return await r.json(content_type=None) if r.content_length != 0 else None


def bot_env(sim: Any, state_db: Path, **extra: str) -> dict[str, str]:
    env = {
        "MicrosoftAppId": "",
        "BOT_ALLOW_ANONYMOUS": "1",
        "GRAPH_BASE_URL": sim.graph_base_url,
        "GRAPH_SCOPE": "https://graph.microsoft.com/.default",
        "AUTHORITY_HOST": sim.authority_host,
        "GRAPH_TENANT_ID": sim.tenant_id,
        "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret,
        "CA_FILE": str(sim.ca_file),
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": sim.control_url,
        "STATE_DB": str(state_db),
        "GRAPH_TIMEOUT_SECONDS": "2",
    }
    env.update(extra)
    return env


@asynccontextmanager
async def serving(tmp_path: Path, **settings_env: str) -> AsyncIterator[Stack]:
    """The bot in development mode with the simulated tenant and the recording Bot Connector, for as long as the
    block runs (the `stack` fixture; the adversarial suite serves it from a background thread). `settings_env`: more
    environment for the bot's settings."""
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim, running_connector() as connector:
        state_db = tmp_path / "state.sqlite3"
        settings = load_settings(bot_env(sim, state_db, **settings_env))
        app = create_app(settings, Seams(clock=sim.tenant.clock))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Stack(sim, connector, server, http, state_db)
        finally:
            await server.close()


@asynccontextmanager
async def another_bot(stack: Stack, *, timer: Any = None, **settings_env: str) -> AsyncIterator[Stack]:
    """Another bot process (in-process) on the stack's tenant, connector and state file: a restarted bot, or a second
    instance behind the same load balancer. `timer`: its monotonic time (app.Timer; virtual in tests)."""
    settings = load_settings(bot_env(stack.sim, stack.state_db, **settings_env))
    server = TestServer(create_app(settings, Seams(clock=stack.sim.tenant.clock, timer=timer)), host="127.0.0.1")
    await server.start_server()
    try:
        yield Stack(stack.sim, stack.connector, server, stack.http, stack.state_db)
    finally:
        await server.close()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serving(tmp_path) as served:
        yield served
