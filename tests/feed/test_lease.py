"""The feed's lease on the shared store (issue 5, point 4): one poller at a time across processes, renewed while held,
taken over once it lapses, on the store's lease primitive. Each lease has its own SQLite connection, as separate
processes would; the store's clock is the lease's. And FEED_GROUPS resolved again every hour."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.feed import FeedDesk, FeedSettings
from bot.feed.lease import PollerLease, lease_ttl
from bot.store.sqlite import SqliteStore
from core.feed import AuditRead, FeedEvent, GroupState
from core.models import Group
from tests.support.core_fakes import FixedClock
from tests.support.feed import NoConnector, Wall


async def no_names(ids: Sequence[str]) -> dict[str, str]:
    return {}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def stores(tmp_path: Path, clock: FixedClock) -> Iterator[list[SqliteStore]]:
    opened = [SqliteStore(tmp_path / "state.sqlite3", clock=clock) for _ in range(5)]
    yield opened
    for s in opened:
        s.close()


def lease(store: SqliteStore, owner: str, wall: Wall | None = None) -> PollerLease:
    return PollerLease(store, owner, timedelta(seconds=30), wall=wall or Wall())


async def test_the_holder_renews_and_others_wait_for_the_lapse(stores: list[SqliteStore], clock: FixedClock) -> None:
    a, b = lease(stores[0], "host-a:101:aa"), lease(stores[1], "host-b:202:bb")
    assert await a.hold()
    assert not await b.hold()
    clock.advance(timedelta(seconds=20))
    assert await a.hold()  # renewed: now valid until +50
    clock.advance(timedelta(seconds=20))
    assert not await b.hold()
    clock.advance(timedelta(seconds=11))  # a missed its renewals (killed): the lease lapsed
    assert await b.hold()
    assert not await a.hold() and not a.held
    found = await stores[2].get("lease/feed")
    assert found is not None and found.value["owner"] == "host-b:202:bb"


async def test_keep_renews_once_half_of_the_lease_is_used_up(stores: list[SqliteStore]) -> None:
    wall = Wall()
    a = lease(stores[0], "host-a:101:aa", wall)
    assert not await a.keep()  # not held: nothing to keep
    assert await a.hold()
    before = await stores[0].get("lease/feed")
    wall.now += 14
    assert await a.keep()
    assert await stores[0].get("lease/feed") == before  # not renewed yet
    wall.now += 1
    assert await a.keep()
    assert await stores[0].get("lease/feed") != before


async def test_of_five_racing_for_a_free_lease_exactly_one_wins(stores: list[SqliteStore]) -> None:
    leases = [lease(s, f"host-{i}:{i}:x") for i, s in enumerate(stores)]
    won = await asyncio.gather(*(x.hold() for x in leases))
    assert sorted(won) == [False, False, False, False, True]


async def test_a_clean_shutdown_hands_the_lease_over_at_once(stores: list[SqliteStore]) -> None:
    a, b = lease(stores[0], "host-a:101:aa"), lease(stores[1], "host-b:202:bb")
    assert await a.hold()
    await a.release()
    assert await b.hold()


def test_the_lease_lasts_a_few_cycles_within_what_every_backend_offers() -> None:
    assert lease_ttl(5) == timedelta(seconds=15)
    assert lease_ttl(1) == timedelta(seconds=15)
    assert lease_ttl(10) == timedelta(seconds=20)  # lapses within two intervals: taken over within three
    assert lease_ttl(60) == timedelta(seconds=60)


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

    async def read_pim_audit(self, since: datetime | None) -> AuditRead:
        return AuditRead()


async def test_feed_groups_are_resolved_again_every_hour(stores: list[SqliteStore]) -> None:
    wall, source = Wall(), CountingSource()
    settings = FeedSettings(groups=("Exchange-Admins",))
    feed = FeedDesk(stores[0], NoConnector(), source, FixedClock(), no_names, settings, wall=wall)
    assert [g.display_name for g in await feed.monitored()] == ["Exchange-Admins"]
    wall.now += 3599
    await feed.monitored()
    assert source.resolved == 1
    wall.now += 1
    await feed.monitored()
    assert source.resolved == 2


async def test_the_lease_logs_name_the_lease_not_always_the_feed(
    stores: list[SqliteStore], clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The `live` and `ending` desks hold a PollerLease of their own name: its log lines say which lease moved."""
    caplog.set_level("INFO", logger="bot.feed.lease")
    a = PollerLease(stores[0], "host-a:101:aa", timedelta(seconds=30), wall=Wall(), name="ending")
    b = PollerLease(stores[1], "host-b:202:bb", timedelta(seconds=30), wall=Wall(), name="ending")
    assert await a.hold()
    clock.advance(timedelta(seconds=31))
    assert await b.hold()
    assert not await a.hold()
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "ending lease taken by host-a:101:aa",
        "ending lease taken by host-b:202:bb",
        "ending lease lost by host-a:101:aa",
    ]
