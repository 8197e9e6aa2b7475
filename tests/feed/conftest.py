"""The bot in-process over real HTTP with the admin feed on (the `stack` of tests/bot, with feed settings), and
helpers that change the simulated tenant behind the bot's back as an admin would: Graph admin requests with an app
token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import APP_KEY, create_app
from bot.feed import FeedDesk
from settings import load_settings
from simtenant import run_simtenant
from tests.bot.conftest import Stack, bot_env
from tests.fakes.activities import ALICE
from tests.fakes.connector import FakeConnector, Recorded, running_connector
from tests.simtenant.conftest import PIM, Client

CHANNEL = "19:incidents@thread.tacv2"  # the channel tests.fakes.activities.channel_message posts in
FEED_GROUPS = "Exchange-Admins, Teams Admins, Security-Operators, Intune-Admins"


def channel_posts(connector: FakeConnector, channel: str = CHANNEL) -> list[Recorded]:
    """The new posts (threads) the bot started in a channel, oldest first; not its replies in a thread."""
    return [r for r in connector.messages() if r.conversation_id == f"{channel};messageid={r.activity_id}"]


class FeedStack(Stack):
    graph: Client

    @property
    def desk(self) -> FeedDesk:
        desk: FeedDesk = self.server.app[APP_KEY]["feed"]
        return desk

    async def cycle(self) -> int:
        """One feed cycle now (the background loop runs the same one every FEED_POLL_SECONDS). A cycle the loop was
        woken for (`feed here`, an approval queued) runs first, so what it does is not mistaken for this one's."""
        # The loop clears `wake` right before it enters its cycle (and takes the lock); polling it is all a test needs.
        while self.desk.wake.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return await self.desk.cycle()

    def channel_posts(self, channel: str = CHANNEL) -> list[Recorded]:
        return channel_posts(self.connector, channel)

    async def now(self) -> datetime:
        return await self.graph.now()

    async def admin(self, kind: str, action: str, principal: str, group: str, **extra: Any) -> dict[str, Any]:
        """An admin request made outside the bot (portal, script): `kind` is "eligibility" or "assignment"."""
        body: dict[str, Any] = {"action": action, "principalId": principal, "groupId": group, "accessId": "member"}
        body.update(extra)
        path = "eligibilityScheduleRequests" if kind == "eligibility" else "assignmentScheduleRequests"
        response = await self.graph.graph("POST", f"{PIM}/{path}", json=body)
        assert response.status == 201, response.body
        result: dict[str, Any] = response.body
        return result


def until(end: datetime) -> dict[str, Any]:
    return {"scheduleInfo": {"expiration": {"type": "afterDateTime", "endDateTime": end.isoformat()}}}


def for_days(now: datetime, days: int) -> dict[str, Any]:
    return {"justification": "onboarding", **until(now + timedelta(days=days))}


@asynccontextmanager
async def running_feed_stack(tmp_path: Path, **env: str) -> AsyncIterator[FeedStack]:
    """The bot with the feed on the demo tenant: Alice is the bot's admin; the background loop polls hourly, so a
    test drives cycles itself (`FeedStack.cycle`)."""
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim, running_connector() as connector:
        state_db = tmp_path / "state.sqlite3"
        values = {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "3600", "FEED_GROUPS": FEED_GROUPS, **env}
        settings = load_settings(bot_env(sim, state_db, **values))
        app = create_app(settings, clock=sim.tenant.clock)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            trusting = aiohttp.TCPConnector(ssl=sim.ssl_context())
            async with aiohttp.ClientSession() as http, aiohttp.ClientSession(connector=trusting) as graph:
                stack = FeedStack(sim, connector, server, http, state_db)
                stack.graph = Client(sim, graph)
                yield stack
        finally:
            await server.close()


@pytest.fixture
async def feed_stack(tmp_path: Path) -> AsyncIterator[FeedStack]:
    async with running_feed_stack(tmp_path) as stack:
        yield stack
