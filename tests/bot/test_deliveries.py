"""bot.transport.deliveries on the SQLite store several processes share: one claim per delivery, leases, takeover, TTL
sweep."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.store import ANY
from bot.store.keys import delivery as marker_key
from bot.store.sqlite import SqliteStore
from bot.transport.deliveries import DONE, RUNNING, Deliveries
from tests.support.core_fakes import FixedClock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.sqlite3")
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


async def marker(store: SqliteStore, activity_id: str = "1") -> dict[str, object]:
    found = await store.get(marker_key("a:1", activity_id))
    assert found is not None
    return found.value


async def test_concurrent_deliveries_to_two_processes_make_exactly_one_claim(tmp_path: Path, clock: FixedClock) -> None:
    stores = [SqliteStore(tmp_path / "state.sqlite3") for _ in range(4)]
    try:
        claims = await asyncio.gather(*(Deliveries(s, clock).claim("a:1", "1") for s in stores for _ in range(5)))
    finally:
        for s in stores:
            s.close()
    assert sum(c.acting for c in claims) == 1
    assert {c.state for c in claims if not c.acting} == {RUNNING}


async def test_a_later_delivery_finds_the_first_ones_answer(store: SqliteStore, clock: FixedClock) -> None:
    first = Deliveries(store, clock)
    claim = await first.claim("a:1", "1")
    await first.finish(claim, {"status": 200, "body": {"value": "card"}})

    again = await Deliveries(store, clock).claim("a:1", "1")

    assert (again.acting, again.state, again.response) == (False, DONE, {"status": 200, "body": {"value": "card"}})
    assert await Deliveries(store, clock).claim("a:2", "1") != again  # another conversation: its own activity


async def test_a_running_delivery_whose_lease_ran_out_is_taken_over(store: SqliteStore, clock: FixedClock) -> None:
    dead = Deliveries(store, clock)
    await dead.claim("a:1", "1")
    clock.advance(timedelta(seconds=29))
    assert not (await Deliveries(store, clock).claim("a:1", "1")).acting  # still within its lease

    clock.advance(timedelta(seconds=2))
    heir = Deliveries(store, clock)
    claim = await heir.claim("a:1", "1")

    assert claim.acting and claim.taken_over
    assert (await marker(store))["owner"] == heir.owner


async def test_a_renewed_lease_keeps_the_delivery_from_being_taken_over(store: SqliteStore, clock: FixedClock) -> None:
    slow = Deliveries(store, clock)
    claim = await slow.claim("a:1", "1")
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        assert await slow.renew(claim)
        assert not (await Deliveries(store, clock).claim("a:1", "1")).acting


async def test_a_process_that_lost_its_claim_does_not_overwrite_the_heirs_marker(
    store: SqliteStore, clock: FixedClock
) -> None:
    stalled = Deliveries(store, clock)
    lost = await stalled.claim("a:1", "1")
    clock.advance(timedelta(seconds=31))
    heir = Deliveries(store, clock)
    await heir.claim("a:1", "1")

    assert not await stalled.renew(lost)
    await stalled.finish(lost, {"status": 200, "body": "stale"})

    found = await marker(store)
    assert (found["owner"], found["state"]) == (heir.owner, RUNNING)


async def test_finish_near_the_end_of_the_lease_checks_ownership_first(store: SqliteStore, clock: FixedClock) -> None:
    late = Deliveries(store, clock)
    claim = await late.claim("a:1", "1")
    clock.advance(timedelta(seconds=25))  # 5 s of lease left: another process could take over any moment

    await late.finish(claim, None)

    found = await marker(store)
    assert (found["owner"], found["state"]) == (late.owner, DONE)


async def test_markers_expire_and_are_swept(store: SqliteStore, clock: FixedClock) -> None:
    deliveries = Deliveries(store, clock)
    for activity_id in ("1", "2"):
        await deliveries.finish(await deliveries.claim("a:1", activity_id), None)
    clock.advance(timedelta(minutes=9))
    await deliveries.finish(await deliveries.claim("a:1", "3"), None)
    clock.advance(timedelta(minutes=2))

    await store.put_if("delivery/without-expiry", {"state": "no expiry"}, ANY)
    await store.put_if("deliveryx", {"expires": 0.0}, ANY)  # not a marker
    assert await deliveries.sweep() == 2
    assert [key async for key in store.keys("delivery")] == [
        marker_key("a:1", "3"),
        "delivery/without-expiry",
        "deliveryx",
    ]
    assert (await deliveries.claim("a:1", "1")).acting  # past its TTL an activity id counts as new


REFERENCE = {"conversation": {"id": "a:1"}, "serviceUrl": "https://smba.example/"}


async def test_a_delivery_left_running_by_a_dead_process_is_an_orphan_once(
    tmp_path: Path, store: SqliteStore, clock: FixedClock
) -> None:
    dead = Deliveries(store, clock)
    await dead.claim("a:1", "1", REFERENCE)
    await dead.finish(await dead.claim("a:1", "2", REFERENCE), None)  # finished: never an orphan
    clock.advance(timedelta(seconds=30 + 119))
    assert await Deliveries(store, clock).orphans(timedelta(minutes=2)) == []  # a redelivery may still come

    clock.advance(timedelta(seconds=2))
    other = SqliteStore(tmp_path / "state.sqlite3")
    try:
        found = await asyncio.gather(*(Deliveries(s, clock).orphans(timedelta(minutes=2)) for s in (store, other)))
    finally:
        other.close()

    assert sorted(found, key=len) == [[], [(marker_key("a:1", "1"), REFERENCE)]]  # one process tells, once
    closed = await marker(store)
    assert (closed["state"], closed["abandoned"], "reference" in closed) == (DONE, True, False)
    assert not (await Deliveries(store, clock).claim("a:1", "1")).acting  # a very late redelivery: not acted on
