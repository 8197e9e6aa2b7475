"""The bot in-process over real HTTP with the admin feed on (the `stack` of tests/bot, with feed settings), and
helpers that change the simulated tenant behind the bot's back as an admin would: Graph admin requests with an app
token. And a desk alone (`env`): the real Graph reader against the simulated tenant, a stand-in for the Bot
Connector, a wall clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp.test_utils import TestServer

import simtenant
from app import PARTS_KEY, Seams, create_app
from bot.feed import FeedChannel, FeedDesk, FeedSettings
from bot.store.sqlite import SqliteStore
from bot.transport import ChannelPost, ProactiveAdapter
from graph import FeedReader, GraphClient
from settings import load_settings
from simtenant import run_simtenant
from tests.bot.conftest import Stack, bot_env
from tests.fakes.activities import ALICE
from tests.fakes.connector import FakeConnector, Recorded, running_connector
from tests.graph.test_feed_discovery import app_token_source
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
        desk: FeedDesk = self.server.app[PARTS_KEY].feed
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
        app = create_app(settings, Seams(clock=sim.tenant.clock))
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


# ---- a desk alone ------------------------------------------------------------------------------------------------

CHANNEL_SETTING = FeedChannel(
    reference={"conversation": {"id": "19:feed@thread.tacv2"}}, channel_id="19:feed@thread.tacv2"
)


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class NoConnector:
    """A Bot Connector for desks that must not post (bot.transport.ProactiveAdapter's one method the feed uses)."""

    app_id = "feed-tests"

    async def post_to_channel(self, *args: object, **kwargs: object) -> ChannelPost:
        raise AssertionError("this desk was not expected to post")


@dataclass
class RecordingConnector:
    """A Bot Connector that accepts every channel post and records it (a card, or a text)."""

    app_id: str = "feed-tests"
    posts: list[dict[str, Any] | str] = field(default_factory=list)

    async def post_to_channel(
        self,
        channel_id: str,
        tenant_id: str,
        service_url: str,
        bot: Any,
        *,
        card: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> ChannelPost:
        self.posts.append(card if card is not None else str(text))
        return ChannelPost({}, f"activity-{len(self.posts)}")


@dataclass
class Env:
    sim: Any
    http: httpx.AsyncClient
    path: Path
    wall: Wall

    @property
    def tenant(self) -> Any:
        return self.sim.tenant

    def token(self, client_id: str, secret: str) -> Callable[[], Awaitable[str]]:
        return app_token_source(self.http, self.sim.authority, client_id, secret)

    def desk(
        self,
        store: SqliteStore,
        *,
        client_id: str = "",
        secret: str = "",
        proactive: ProactiveAdapter | None = None,
        owner: str | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> FeedDesk:
        """A desk as app.py builds it with FEED_DISCOVER on (one per process), monitoring no configured group."""
        client = GraphClient(
            self.http,
            self.sim.graph_base_url,
            self.token(client_id or self.sim.client_id, secret or self.sim.client_secret),
        )
        reader = FeedReader(client)

        async def names(ids: Sequence[str]) -> dict[str, str]:
            found = {i: g.display_name for i in ids if (g := self.tenant.group(i)) is not None}
            return found | {i: u.display_name for i in ids if (u := self.tenant.user(i)) is not None}

        settings = FeedSettings(discover=True)
        proactive = proactive or NoConnector()
        return FeedDesk(
            store, proactive, reader, self.tenant.clock, names, settings, owner=owner, fault=fault, wall=self.wall
        )

    def audit_reads(self) -> list[dict[str, Any]]:
        return [e for e in self.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits"]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    tenant = simtenant.build_tenant("demo", clock=simtenant.SimClock(frozen=True))
    async with simtenant.run_simtenant(tenant=tenant) as sim:
        async with httpx.AsyncClient(verify=sim.ssl_context(), timeout=30.0) as http:
            yield Env(sim, http, tmp_path / "state.sqlite3", Wall())
