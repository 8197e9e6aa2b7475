"""The follow-ups of writes whose answer was lost (bot.reconcile) on a store shared by several bot processes: each try
of a check is claimed by one process, the next one waits for its time, and a check ends once the person is told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.reconcile import RETRY_AFTER, Check, Reconciler
from bot.store.sqlite import SqliteStore
from core.models import Actor, Decision
from tests.support.core_fakes import FixedClock

ALICE = Actor("alice-oid", "tenant", "Alice")


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Reconciler, Reconciler, FixedClock]]:
    """Two bot processes' reconcilers on one state file."""
    clock = FixedClock()
    stores = [SqliteStore(tmp_path / "state.sqlite3") for _ in range(2)]
    yield Reconciler(stores[0], clock), Reconciler(stores[1], clock), clock
    for store in stores:
        await store.aclose()


class FollowUps:
    """The bot's side of a check: records each try and says whether the person was told."""

    def __init__(self, told: bool) -> None:
        self.told = told
        self.tries: list[tuple[str, bool]] = []

    async def __call__(self, check: Check, settled: bool, final: bool) -> bool:
        assert check.decision is not None and check.decision.request_id == "req-1"
        self.tries.append((check.key, final))
        await asyncio.sleep(0)  # let the other process's sweep run meanwhile
        return self.told


async def test_of_two_processes_sweeping_at_once_one_runs_each_try(
    two: tuple[Reconciler, Reconciler, FixedClock],
) -> None:
    a, b, clock = two
    await a.remember_decision(ALICE, {"conversation": {"id": "c"}}, "req-1", Decision.APPROVE, "ok")
    follow_up = FollowUps(told=False)
    assert await asyncio.gather(a.sweep(follow_up), b.sweep(follow_up)) == [0, 0]
    assert len(follow_up.tries) == 1
    await asyncio.gather(a.sweep(follow_up), b.sweep(follow_up))
    assert len(follow_up.tries) == 1  # the next try waits for its time
    clock.advance(RETRY_AFTER[0])
    await asyncio.gather(a.sweep(follow_up), b.sweep(follow_up))
    assert len(follow_up.tries) == 2


async def test_a_check_ends_when_the_person_is_told_or_at_the_last_try(
    two: tuple[Reconciler, Reconciler, FixedClock],
) -> None:
    a, b, clock = two
    await a.remember_decision(ALICE, {}, "req-1", Decision.DENY, "no")
    told = FollowUps(told=True)
    assert await b.sweep(told) == 1
    assert await a.sweep(told) == 0 and len(told.tries) == 1

    await a.remember_decision(ALICE, {}, "req-1", Decision.DENY, "no")
    untold = FollowUps(told=False)
    for i, wait in enumerate([timedelta(0), *RETRY_AFTER[:-1]]):
        clock.advance(wait)
        await (a, b)[i % 2].sweep(untold)
    assert [final for _, final in untold.tries] == [False] * (len(RETRY_AFTER) - 1) + [True]
    clock.advance(RETRY_AFTER[-1])
    await a.sweep(untold)
    assert len(untold.tries) == len(RETRY_AFTER)  # the last try ended it, though nobody was told
