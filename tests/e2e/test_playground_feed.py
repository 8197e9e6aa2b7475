"""The admin feed (issue 5) through the Microsoft 365 Agents Playground: Alice, the bot's admin, types `feed here` in
the team's channel with the bot @mentioned; an admin change made in the tenant behind the bot's back arrives as a
feed card, a new post in that channel (the Playground's connector implements `POST /v3/conversations` with
channelData.channel as a new channel post, as Teams does).

Its own stack (tenant, bot, Playground) rather than the shared one: the bot needs BOT_ADMINS and FEED_GROUPS, which
would change what the other Playground tests see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from devtools.stack import (
    bot_environment,
    bot_process,
    free_port,
    playground,
    simulated_tenant,
    write_playground_config,
)
from tests.support.cards import card_text
from tests.support.e2e import SimControl, require_playground
from tests.support.feed import stored
from tests.support.playground import PlaygroundClient
from tests.support.waiting import eventually

pytestmark = [pytest.mark.playground]

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = "aaaaaaaa-0000-4000-8000-000000000002"
EXCHANGE_ADMINS = "bbbbbbbb-0000-4000-8000-000000000001"
CHANNEL = "channel-pim-approvals"  # devtools.stack.write_playground_config: the team's one channel


@pytest.fixture
async def feed_playground(tmp_path: Path) -> AsyncIterator[tuple[PlaygroundClient, SimControl, Path]]:
    require_playground()
    with ExitStack() as stack:
        tenant, _ = stack.enter_context(simulated_tenant(tmp_path / "simtenant"))
        bot_port = free_port()
        db = tmp_path / "state.sqlite3"
        extra = {"BOT_ADMINS": ALICE, "FEED_GROUPS": "Exchange-Admins, Teams Admins", "FEED_POLL_SECONDS": "5"}
        stack.enter_context(bot_process(bot_environment(tenant, bot_port, db, extra), tmp_path / "bot.log"))
        write_playground_config(tmp_path / "playground", tenant.tenant_id)
        pg_port = free_port()
        stack.enter_context(playground(tmp_path / "playground", bot_port, pg_port))
        async with aiohttp.ClientSession() as http:
            log = tmp_path / "bot.log"
            client = PlaygroundClient(
                f"http://127.0.0.1:{pg_port}", http, diagnostics=lambda: log.read_text(errors="replace")[-3000:]
            )
            await client.connect()
            try:
                yield client, SimControl(tenant, http), db
            finally:
                await client.close()


async def test_feed_cards_arrive_as_new_posts_in_a_playground_channel(
    feed_playground: tuple[PlaygroundClient, SimControl, Path],
) -> None:
    pg, sim, db = feed_playground
    await pg.say("feed here", CHANNEL, mention=True)
    answer = await pg.next_message(conversation=None)
    assert answer.conversation_id.startswith(f"{CHANNEL};messageid="), answer  # the answer, in the command's thread
    assert "now posts here" in answer.text and "Exchange-Admins" in answer.text, answer.text

    async def baseline() -> bool:
        snapshot = (await stored(db, "feed/snapshot")).get("feed/snapshot") or {}
        return bool(snapshot.get("groups"))

    await eventually(baseline, 20, "the feed's baseline")
    await sim.control(
        "POST",
        "/seed/add_eligibility",
        {"group_id": EXCHANGE_ADMINS, "principal_id": BOB, "access": "member", "justification": "on call"},
    )
    post = await pg.next_card(within=30, conversation=None)
    text = card_text(post.card or {})
    assert "Bob Builder" in text and "Exchange-Admins" in text and "on call" in text, text
    # A new post of its own in the channel, not a reply in the thread `feed here` was typed in.
    assert post.conversation_id.split(";")[0] == CHANNEL and post.conversation_id != answer.conversation_id, post
