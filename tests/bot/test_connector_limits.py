"""The outbound Bot Connector client against the recording stand-in: Teams' per-conversation limits, retries of
412/429/502/503/504 (Retry-After honoured, attempts bounded), on virtual time so 100 sends take milliseconds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters
from botbuilder.schema.teams import ChannelInfo, TeamsChannelData

from app import PARTS_KEY
from bot.transport.connector import (
    MAX_RETRY_AFTER,
    AiohttpConnectorClient,
    AiohttpConnectorFactory,
    ConnectorError,
    _retry_after,
)
from bot.transport.sendlimit import ConversationLimiter
from devtools.teams.connector import FakeConnector, running_connector
from settings import load_settings
from simtenant import run_simtenant
from tests.fakes.virtual_time import SteppingClock
from tests.support.sendlimit import assert_within_app_limits, assert_within_teams_limits, busiest
from tests.support.stack import bot_env, bot_server, seams


@dataclass
class Rig:
    client: AiohttpConnectorClient
    connector: FakeConnector
    clock: SteppingClock


async def _anonymous(audience: str) -> str | None:
    return None


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SteppingClock()
    async with running_connector() as connector, aiohttp.ClientSession() as session:
        connector.clock = clock
        limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
        client = AiohttpConnectorClient(
            session, connector.url, "https://api.botframework.com", _anonymous, limiter=limiter
        )
        yield Rig(client, connector, clock)


def message(text: str) -> Activity:
    return Activity(type="message", text=text)


def times(rig: Rig, conversation_id: str | None = None) -> list[float]:
    return [a.at for a in rig.connector.attempts if conversation_id is None or a.conversation_id == conversation_id]


async def test_100_sends_to_one_conversation_never_exceed_teams_limits(rig: Rig) -> None:
    for i in range(100):
        await rig.client.conversations.send_to_conversation("a:1", message(f"m{i}"))
    arrived = times(rig, "a:1")
    assert len(arrived) == 100 and len(rig.connector.messages("a:1")) == 100
    assert_within_teams_limits(arrived)
    assert busiest(arrived, 1.0) == 7 and busiest(arrived, 30.0) == 60
    assert arrived[-1] - arrived[0] > 30  # the limiter made it wait (virtually: the test takes no 30 s)


async def test_updates_and_replies_share_the_conversations_budget(rig: Rig) -> None:
    conversations = rig.client.conversations
    for i in range(5):
        await conversations.reply_to_activity("a:1", "activity-0", message(f"r{i}"))
    for i in range(5):
        await conversations.update_activity("a:1", "activity-1", message(f"u{i}"))
    arrived = times(rig, "a:1")
    assert len(arrived) == 10 and busiest(arrived, 1.0) == 7
    assert arrived[7] - arrived[0] >= 1.0


async def test_sends_to_different_conversations_do_not_wait_for_each_other(rig: Rig) -> None:
    for i in range(7):
        await rig.client.conversations.send_to_conversation("a:busy", message(f"m{i}"))
    start = rig.clock()
    for other in ("a:quiet", "a:other", "19:chan@thread.tacv2"):
        await rig.client.conversations.send_to_conversation(other, message("hello"))
    assert rig.clock() == start and rig.clock.slept == []  # nobody waited for a:busy
    await rig.client.conversations.send_to_conversation("a:busy", message("m7"))
    assert rig.clock() > start  # while a:busy itself has to


async def test_new_channel_posts_count_against_the_channel(rig: Rig) -> None:
    channel = "19:feed@thread.tacv2"
    parameters = ConversationParameters(
        is_group=True,
        bot=ChannelAccount(id="28:bot"),
        channel_data=TeamsChannelData(channel=ChannelInfo(id=channel)),
        activity=message("new post"),
    )
    for _ in range(7):
        await rig.client.conversations.send_to_conversation(f"{channel};messageid=1", message("reply"))
    start = rig.clock()
    await rig.client.conversations.create_conversation(parameters)
    assert rig.clock() - start >= 1.0
    assert len([r for r in rig.connector.sent if r.body.get("text") == "new post"]) == 1


async def test_sends_updates_and_new_chats_share_the_apps_30_per_second(rig: Rig) -> None:
    conversations = rig.client.conversations
    for i in range(20):
        await conversations.send_to_conversation(f"a:{i}", message("card"))
    for i in range(10):
        await conversations.update_activity(f"a:{i}", "activity-1", message("decided"))
    start = rig.clock()
    new_chat = ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id="28:bot"),
        members=[ChannelAccount(id="29:someone")],
        tenant_id="tenant",
    )
    await conversations.create_conversation(new_chat)  # the 31st call of that second: it waits, it is not dropped
    assert rig.clock() - start >= 1.0
    for i in range(20, 40):
        await conversations.send_to_conversation(f"a:{i}", message("card"))
    arrived = times(rig)
    assert len(arrived) == 51 and len(rig.connector.sent) == 50
    assert_within_app_limits(arrived)
    assert busiest(arrived, 1.0) == 30


async def test_429_is_retried_after_its_retry_after(rig: Rig) -> None:
    rig.connector.fail_next(429, retry_after="3")
    response = await rig.client.conversations.send_to_conversation("a:1", message("hi"))
    assert response.id
    [throttled, ok] = rig.connector.attempts
    assert (throttled.status, ok.status) == (429, 201)
    assert 3.0 <= ok.at - throttled.at < 3.5
    assert len(rig.connector.messages("a:1")) == 1


async def test_429_holds_the_whole_conversation_not_others(rig: Rig) -> None:
    rig.connector.fail_next(429, retry_after="4")
    await rig.client.conversations.send_to_conversation("a:1", message("first"))
    throttled = rig.connector.attempts[0]
    limiter = rig.client.limiter
    assert limiter.held_until("a:1") == pytest.approx(throttled.at + 4.0)  # concurrent senders waited for it too
    assert limiter.held_until("a:2") == 0.0


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    now = datetime(2026, 11, 22, 23, 0, 0, tzinfo=UTC)
    assert _retry_after("Sun, 22 Nov 2026 23:00:07 GMT", now=now) == 7.0
    assert _retry_after("Sun, 22 Nov 2026 22:59:00 GMT", now=now) == 0.0
    assert _retry_after("2.5", now=now) == 2.5
    assert _retry_after("soon", now=now) is None
    assert _retry_after(None, now=now) is None


async def test_a_retry_after_longer_than_a_send_should_wait_fails_the_send(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.connector.fail_next(429, retry_after=str(int(MAX_RETRY_AFTER) + 1))
    with caplog.at_level(logging.ERROR, logger="bot.transport.connector"), pytest.raises(ConnectorError) as raised:
        await rig.client.conversations.send_to_conversation("a:1", message("hi"))
    assert raised.value.status == 429
    assert len(rig.connector.attempts) == 1 and rig.clock.slept == []
    assert "not waiting that long" in caplog.text


@pytest.mark.parametrize("status", [412, 502, 503, 504])
async def test_transient_failures_are_retried_with_backoff(rig: Rig, status: int) -> None:
    rig.connector.fail_next(status, times=2)
    await rig.client.conversations.send_to_conversation("a:1", message("hi"))
    assert [a.status for a in rig.connector.attempts] == [status, status, 201]
    first, second = rig.clock.slept
    assert 0.125 <= first <= 0.375 and 0.25 <= second <= 0.75  # exponential, jittered


async def test_persistent_502_gives_up_after_the_bounded_attempts_and_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.connector.fail_next(502, times=10)
    with caplog.at_level(logging.ERROR, logger="bot.transport.connector"), pytest.raises(ConnectorError) as raised:
        await rig.client.conversations.send_to_conversation("a:1", message("hi"))
    assert raised.value.status == 502
    assert [a.status for a in rig.connector.attempts] == [502, 502, 502]
    assert "still answered 502 after 3 attempts; giving up" in caplog.text
    rig.connector.failures.clear()
    assert (await rig.client.conversations.send_to_conversation("a:1", message("again"))).id  # the client lives on


async def test_other_errors_are_not_retried(rig: Rig) -> None:
    rig.connector.fail_next(403)
    with pytest.raises(ConnectorError) as raised:
        await rig.client.conversations.send_to_conversation("a:1", message("hi"))
    assert raised.value.status == 403 and len(rig.connector.attempts) == 1


async def test_every_client_of_a_factory_shares_one_limiter() -> None:
    async with aiohttp.ClientSession() as session:
        factory = AiohttpConnectorFactory(session, _anonymous, "https://api.botframework.com")
        emea = await factory.create("https://smba.trafficmanager.net/emea/")
        amer = await factory.create("https://smba.trafficmanager.net/amer/", "other-audience")
        assert emea is not amer and emea.limiter is amer.limiter is factory.limiter


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        AiohttpConnectorClient(None, "https://x/", "aud", _anonymous, attempts=0)  # type: ignore[arg-type]


async def test_the_bots_app_wide_cap_is_the_setting(tmp_path: Path) -> None:
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim:
        settings = load_settings(bot_env(sim, tmp_path / "state.sqlite3", TEAMS_REQUESTS_PER_SECOND="2"))
        async with bot_server(settings, seams(sim)) as server:
            limiter = server.app[PARTS_KEY].adapter.bot_framework_authentication.limiter
            assert [limiter.reserve(f"a:{i}") for i in range(2)] == [0, 0]
            assert limiter.reserve("a:3") > 0.9
