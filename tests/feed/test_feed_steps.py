"""The cycle's writes on a store without transactions (bot.feed.desk): the outbox, the snapshot, the audit watermark
and the accounts are written one at a time, so a process may die between any two. Each change is then posted once
all the same, by the next cycle, with no note of a possible repeat (that note is for a post in flight only). And an
event queued twice (a poller that lost its lease queued it too) is posted once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from bot.feed.outbox import Outbox
from bot.feed.store import PostedMarks
from bot.store.sqlite import SqliteStore
from cards.wording import FEED_MAY_REPEAT
from core.feed import EventKind, FeedEvent
from core.models import Access
from simtenant import seed
from tests.support.core_fakes import NOW, FixedClock
from tests.support.feed import CHANNEL_SETTING, Env, RecordingConnector

PEOPLE = (seed.BOB, seed.CAROL, seed.DAVE)
OWNER = "host-a:101:aa"  # the restarted process has the lease again at once


class Died(Exception):
    """The process stops here."""


@pytest.mark.parametrize("point", ["queued:outbox", "queued:snapshot", "queued:watermark", "queued"])
async def test_a_cycle_cut_after_any_of_its_writes_posts_each_change_once(env: Env, point: str) -> None:
    dying = {"armed": False}

    def fault(at: str) -> None:
        if dying["armed"] and at == point:
            raise Died(at)

    connector = RecordingConnector()
    store = SqliteStore(env.path)
    try:
        desk = env.desk(store, proactive=connector, owner=OWNER, fault=fault)
        await desk.set_channel(CHANNEL_SETTING)
        assert await desk.cycle() == 0  # the baseline
        for person in PEOPLE:  # an admin outside the bot
            env.tenant.add_eligibility(seed.EXCHANGE_ADMINS, person, "member")
        env.wall.now += 60
        dying["armed"] = True
        with pytest.raises(Died):
            await desk.cycle()
        assert connector.posts == []
    finally:
        store.close()

    store = SqliteStore(env.path)  # the process restarted on the same store
    try:
        desk = env.desk(store, proactive=connector, owner=OWNER)
        env.wall.now += 60
        assert await desk.cycle() == len(PEOPLE)
        env.wall.now += 60
        assert await desk.cycle() == 0
        assert FEED_MAY_REPEAT not in connector.posts
        for person in PEOPLE:
            name = env.tenant.user(person).display_name
            assert sum(name in json.dumps(post) for post in connector.posts) == 1, name
        found = await store.get("feed/posted")
        assert found is not None and PostedMarks.from_json(found.value).total == len(PEOPLE)
        assert [key async for key in store.keys("feed/outbox/")] == []
    finally:
        store.close()


async def test_an_event_queued_twice_is_posted_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    connector = RecordingConnector()
    outbox = Outbox(store, connector, FixedClock(), lambda point: None)
    event = FeedEvent("eligible|g|p", EventKind.ELIGIBLE_CREATED, "g", "p", Access.MEMBER)

    async def names(events: Sequence[FeedEvent]) -> dict[str, str]:
        return {}

    async def held() -> bool:
        return True

    try:
        await outbox.queue([event], NOW, digest=False)
        await outbox.queue([event], NOW + timedelta(seconds=1), digest=False)  # by a poller that lost the lease
        assert len([key async for key in store.keys("feed/outbox/")]) == 2
        assert await outbox.post(CHANNEL_SETTING, names, held) == 1
        assert len(connector.posts) == 1
        assert [key async for key in store.keys("feed/outbox/")] == []
    finally:
        store.close()
