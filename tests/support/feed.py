"""The bot stack (tests.support.stack) with the admin feed on, and
helpers that change the simulated tenant behind the bot's back as an admin would: Graph admin requests with an app
token. And a desk alone (`env`): the real Graph reader against the simulated tenant, a stand-in for the Bot
Connector, a wall clock the test moves."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

import simtenant
from app import PARTS_KEY
from bot.feed import FeedChannel, FeedDesk, FeedSettings
from bot.store.sqlite import SqliteStore
from bot.transport import ChannelPost, ProactiveAdapter
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from devtools.teams.connector import FakeConnector, Recorded
from graph import FeedReader, GraphClient
from tests.fakes.graphstub import app_token_source
from tests.support.stack import Stack, running_stack
from tests.support.state import StateFile
from tests.support.tenant import PIM, Client

CHANNEL = "19:incidents@thread.tacv2"  # the channel devtools.teams.activities.channel_message posts in
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
    values = {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "3600", "FEED_GROUPS": FEED_GROUPS, **env}
    async with running_stack(tmp_path, cls=FeedStack, **values) as stack:
        trusting = aiohttp.TCPConnector(ssl=stack.sim.ssl_context())
        async with aiohttp.ClientSession(connector=trusting) as graph:
            stack.graph = Client(stack.sim, graph)
            yield stack


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


async def stored(db: Path, *keys: str) -> dict[str, Any]:
    store = StateFile(db)
    try:
        return await store.read(list(keys))
    finally:
        store.close()


async def killed(bot: asyncio.subprocess.Process) -> None:
    """The bot killed itself at its hook (a restart first waits out the feed lease of the process killed before it:
    up to 15 s, bot.feed.lease)."""
    assert await asyncio.wait_for(bot.wait(), 60) == -signal.SIGKILL


async def say_in_channel(stack: FeedStack, text: str, user: act.TeamsUser = ALICE) -> str:
    """Type `text` in the channel with the bot @mentioned; the bot's text answer (in the thread)."""
    activity = act.channel_message(stack.service_url, text, user)
    status, _ = await stack.post(activity)
    assert status in (200, 201)
    replies = [r for r in stack.connector.messages(activity["conversation"]["id"]) if r.body.get("text")]
    assert replies, "the bot did not answer"
    return str(replies[-1].body["text"])


async def feed_here(stack: FeedStack) -> None:
    answer = await say_in_channel(stack, "feed here")
    assert "now posts here" in answer, answer
    assert await stack.cycle() == 0  # the first cycle is the baseline: what exists already is not news


async def say_in_channel_card(stack: FeedStack, text: str, user: act.TeamsUser = ALICE) -> dict[str, Any]:
    activity = act.channel_message(stack.service_url, text, user)
    await stack.post(activity)
    [reply] = [r for r in stack.connector.messages(activity["conversation"]["id"]) if r.card]
    return reply.card or {}
