"""The feed's lease on the shared store (issue 5, point 4): one poller at a time across processes, renewed while held,
taken over once it expires. Each desk has its own SQLite connection, as separate processes would. And FEED_GROUPS
resolved again every hour."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from bot.feed import FeedDesk
from bot.storage import SqliteStorage
from core.feed import FeedEvent, GroupState
from core.models import Group
from tests.core.fakes import FixedClock


async def no_names(ids: Sequence[str]) -> dict[str, str]:
    return {}


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[SqliteStorage]]:
    opened = [SqliteStorage(tmp_path / "state.sqlite3") for _ in range(5)]
    yield opened
    for s in opened:
        s.close()


def desk(store: SqliteStorage, owner: str, wall: Wall) -> FeedDesk:
    # Owners on other hosts: their liveness cannot be checked, only their lease's expiry.
    return FeedDesk(store, None, FixedClock(), no_names, owner=owner, lease_seconds=30, wall=wall)


async def test_the_holder_renews_and_others_wait_for_the_expiry(stores: list[SqliteStorage]) -> None:
    wall = Wall()
    a, b = desk(stores[0], "host-a:101:aa", wall), desk(stores[1], "host-b:202:bb", wall)
    assert await a.take_lease()
    assert not await b.take_lease()
    wall.now += 20
    assert await a.take_lease()  # renewed: now valid until +50
    wall.now += 20
    assert not await b.take_lease()
    wall.now += 11  # a missed its renewals (killed): the lease expired
    assert await b.take_lease()
    assert not await a.take_lease()
    assert await b.lease_holder() == ("host-b:202:bb", wall.now + 30)


async def test_of_five_racing_for_a_free_lease_exactly_one_wins(stores: list[SqliteStorage]) -> None:
    wall = Wall()
    desks = [desk(s, f"host-{i}:{i}:x", wall) for i, s in enumerate(stores)]
    won = await asyncio.gather(*(d.take_lease() for d in desks))
    assert sorted(won) == [False, False, False, False, True]


async def test_a_clean_shutdown_hands_the_lease_over_at_once(stores: list[SqliteStorage]) -> None:
    wall = Wall()
    a, b = desk(stores[0], "host-a:101:aa", wall), desk(stores[1], "host-b:202:bb", wall)
    assert await a.take_lease()
    await a.release_lease()
    assert await b.take_lease()


class CountingSource:
    """A feed source that only counts how often FEED_GROUPS is resolved."""

    def __init__(self) -> None:
        self.resolved = 0

    async def resolve_groups(self, names_or_ids: Sequence[str]) -> list[Group]:
        self.resolved += 1
        return [Group(f"id-{n}", n) for n in names_or_ids]

    async def poll(
        self, group_ids: Sequence[str], previous: Mapping[str, GroupState], now: datetime
    ) -> tuple[dict[str, GroupState], list[FeedEvent]]:
        return {}, []


async def test_feed_groups_are_resolved_again_every_hour(stores: list[SqliteStorage]) -> None:
    wall, source = Wall(), CountingSource()
    feed = FeedDesk(stores[0], source, FixedClock(), no_names, groups=("Exchange-Admins",), wall=wall)
    assert [g.display_name for g in await feed.monitored()] == ["Exchange-Admins"]
    wall.now += 3599
    await feed.monitored()
    assert source.resolved == 1
    wall.now += 1
    await feed.monitored()
    assert source.resolved == 2
