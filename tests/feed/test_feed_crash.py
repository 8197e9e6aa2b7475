"""Exactly once across real process deaths (issue 5, point 4): the bot runs as a subprocess and SIGKILLs itself at
chosen points of a feed cycle (a test hook), is started again on the same SQLite file, and every change the tenant
made is posted once — counted by the person each card names. Two bot processes on one store: one polls (the lease),
each change is posted once, and when the poller is killed the other takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from devtools.stack import ROOT, Tenant, bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from devtools.teams.connector import FakeConnector, running_connector
from simtenant.seed import BOB, CAROL, DAVE, ERIN, EXCHANGE_ADMINS, FRANK, INTUNE_ADMINS
from tests.support.cards import card_text
from tests.support.feed import FEED_GROUPS, channel_posts, killed, stored
from tests.support.processes import start_bot, tenant_process
from tests.support.state import StateFile
from tests.support.waiting import eventually

PEOPLE = {BOB: "Bob Builder", CAROL: "Carol Chen", DAVE: "Dave Diaz", ERIN: "Erin Evans", FRANK: "Frank Fisher"}


async def outbox(db: Path) -> list[str]:
    store = StateFile(db)
    try:
        return await store.keys_with_prefix("feed/outbox/")
    finally:
        store.close()


async def seed(tenant: Tenant, group: str, people: list[str]) -> None:
    """Eligibilities assigned by an admin outside the bot (the tenant's own admin path, with request history)."""
    ctx = ssl.create_default_context(cafile=tenant.ca_file)
    async with aiohttp.ClientSession() as http:
        for person in people:
            body = {"group_id": group, "principal_id": person, "access": "member", "justification": "onboarding"}
            async with http.post(f"{tenant.control_url}/seed/add_eligibility", json=body, ssl=ctx) as r:
                assert r.status == 201, await r.text()


def cards_naming(connector: FakeConnector) -> dict[str, int]:
    """How many feed cards in the channel name each person."""
    texts = [card_text(r.card) for r in channel_posts(connector) if r.card]
    return {name: sum(name in t for t in texts) for name in PEOPLE.values()}


async def feed_here(port: str, connector: FakeConnector, db: Path) -> None:
    activity = act.channel_message(connector.url, "feed here", ALICE)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
            assert r.status in (200, 201), await r.text()
    [answer] = [r for r in connector.messages(activity["conversation"]["id"]) if r.body.get("text")]
    assert "now posts here" in answer.body["text"]

    async def baseline() -> bool:  # the first cycle after `feed here` records what exists, and posts nothing
        snapshot = (await stored(db, "feed/snapshot")).get("feed/snapshot") or {}
        return bool(snapshot.get("groups"))

    await eventually(baseline, 20, "the baseline snapshot")


def feed_env(tenant: Tenant, db: Path, **extra: str) -> dict[str, str]:
    return bot_environment(
        tenant,
        free_port(),
        db,
        {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "5", "FEED_GROUPS": FEED_GROUPS, **extra},
    )


async def spawn(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """Start the bot without waiting for it to serve: with a kill hook its first cycle may end it before that."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "app.py"), cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def test_kill_9_at_every_step_of_a_cycle_loses_nothing_and_labels_the_one_possible_repeat(
    tmp_path: Path,
) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        db = tmp_path / "state.sqlite3"
        log = tmp_path / "bot.log"
        people = list(PEOPLE)

        # 1. Killed right after the 5 events were queued and the snapshot written: nothing posted yet.
        env = feed_env(tenant, db, PIMBOT_TEST_FEED_KILL_AT="queued")
        bot = await start_bot(env, log)
        await feed_here(env["PORT"], connector, db)
        await seed(tenant, EXCHANGE_ADMINS, people)
        await killed(bot)
        assert channel_posts(connector) == []
        assert len(await outbox(db)) == 5

        # 2. Restarted; killed right after the connector accepted the 2nd post, before it was marked posted.
        bot = await spawn(feed_env(tenant, db, PIMBOT_TEST_FEED_KILL_AT="posted:2"), log)
        await killed(bot)
        assert len([r for r in channel_posts(connector) if r.card]) == 2

        # 3. Restarted; the 2nd is posted again after a note saying it may repeat (the one window of one HTTP
        # response no bookkeeping closes), then killed after the next post was marked but before it left the outbox.
        bot = await spawn(feed_env(tenant, db, PIMBOT_TEST_FEED_KILL_AT="marked:2"), log)
        await killed(bot)

        # 4. Restarted without a hook: the marked entry is dropped unposted, the rest posted.
        bot = await start_bot(feed_env(tenant, db), log)
        try:

            async def drained() -> bool:
                return not await outbox(db) and len([r for r in channel_posts(connector) if r.card]) >= 6

            await eventually(drained, 45, "the outbox to drain")
            await asyncio.sleep(6)  # one more cycle: it must post nothing
        finally:
            bot.terminate()
            await bot.wait()

        posts = channel_posts(connector)
        counts = cards_naming(connector)
        second = next(name for name, n in counts.items() if n == 2)
        assert sorted(counts.values()) == [1, 1, 1, 1, 2], counts
        # The repeat is the card that was in flight at the kill, and the note comes right before it.
        notes = [i for i, r in enumerate(posts) if r.card is None]
        assert len(notes) == 1 and "restarted while posting" in str(posts[notes[0]].body.get("text"))
        assert second in card_text(posts[notes[0] + 1].card or {})
        assert second in card_text(posts[1].card or {})


async def test_two_processes_on_one_store_poll_one_at_a_time_and_hand_over_when_one_is_killed(
    tmp_path: Path,
) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        db = tmp_path / "state.sqlite3"
        env_a, env_b = feed_env(tenant, db), feed_env(tenant, db)
        bots = {
            "a": await start_bot(env_a, tmp_path / "a.log"),
            "b": await start_bot(env_b, tmp_path / "b.log"),
        }
        try:
            await feed_here(env_a["PORT"], connector, db)
            await seed(tenant, EXCHANGE_ADMINS, [BOB, CAROL, DAVE])

            def posted(n: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return len([r for r in channel_posts(connector) if r.card]) >= n

                return check

            await eventually(posted(3), 30, "three posts")
            await asyncio.sleep(11)  # two more cycles of each process
            assert cards_naming(connector) == {**{n: 1 for n in PEOPLE.values()}, "Erin Evans": 0, "Frank Fisher": 0}

            # Kill the process holding the lease; the other takes over once the lease expires.
            lease = (await stored(db, "lease/feed"))["lease/feed"]  # the store's lease record (bot.store.sqlite)
            holder_pid = int(str(lease["owner"]).split(":")[1])
            holder = next(name for name, p in bots.items() if p.pid == holder_pid)
            os.kill(holder_pid, signal.SIGKILL)
            await bots[holder].wait()
            await seed(tenant, INTUNE_ADMINS, [ERIN, FRANK])
            await eventually(posted(5), 45, "the other process to take over")
            await asyncio.sleep(6)
            assert cards_naming(connector) == {n: 1 for n in PEOPLE.values()}
            new_owner = (await stored(db, "lease/feed"))["lease/feed"]["owner"]
            assert int(str(new_owner).split(":")[1]) != holder_pid
        finally:
            for p in bots.values():
                if p.returncode is None:
                    p.terminate()
                    await p.wait()
