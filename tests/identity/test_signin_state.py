"""What a sign-in keeps while the user is away (bot.signin.state), on a store shared by two bot processes: each record
reads back as it was written, is taken by exactly one of two racing takers, and a command too old is not resumed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.signin.state import (
    PENDING_TTL,
    PendingCommand,
    PendingCommands,
    SignInCard,
    SignInCards,
    StepUpFlow,
    StepUpLink,
)
from bot.store.sqlite import SqliteStore
from bot.turn import UserInput
from core.models import Actor
from tests.support.core_fakes import NOW, FixedClock

ALICE = Actor("alice-oid", "tenant", "Alice", time_zone="Europe/Paris", channel_user_id="29:alice", locale="fr-FR")
REFERENCE = {"conversation": {"id": "a:1"}, "serviceUrl": "https://smba.example/", "tenantId": "tenant"}


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two bot processes' stores on one state file."""
    pair = (SqliteStore(tmp_path / "state.sqlite3"), SqliteStore(tmp_path / "state.sqlite3"))
    yield pair
    for store in pair:
        await store.aclose()


def test_every_record_reads_back_as_written() -> None:
    pending = PendingCommand(UserInput(data={"pim": 1, "verb": "activate"}), REFERENCE, NOW, "Europe/Paris", "fr-FR")
    assert PendingCommand.from_json(pending.to_json()) == pending
    card = SignInCard("activity-1", REFERENCE)
    assert SignInCard.from_json(card.to_json()) == card
    link = StepUpLink(ALICE, '{"access_token":{}}', "acrs:c1", None, NOW)
    assert StepUpLink.from_json(link.to_json()) == link
    flow = StepUpFlow(ALICE, "mfa", {"state": "s", "auth_uri": "https://login.example/"}, NOW)
    assert StepUpFlow.from_json(flow.to_json()) == flow


@pytest.mark.parametrize(
    "value",
    [{"at": "not a time", "reference": {}}, {"reference": {}}, {"at": NOW.isoformat(), "reference": "x"}],
    ids=["bad time", "no time", "reference not an object"],
)
def test_an_unreadable_record_raises_instead_of_reading_half(value: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PendingCommand.from_json(value)


async def test_of_two_processes_taking_one_pending_command_one_gets_it(stores: tuple[SqliteStore, SqliteStore]) -> None:
    clock = FixedClock()
    a, b = (PendingCommands(store, clock) for store in stores)
    await a.remember(ALICE, PendingCommand(UserInput("activate X 1h"), REFERENCE, clock.now()))
    taken = await asyncio.gather(a.take(ALICE), b.take(ALICE))
    assert [t.input.text if t else None for t in taken].count("activate X 1h") == 1
    assert await a.take(ALICE) is None


async def test_the_latest_command_replaces_an_older_one_and_an_old_one_is_not_resumed(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    clock = FixedClock()
    pending = PendingCommands(stores[0], clock)
    await pending.remember(ALICE, PendingCommand(UserInput("status"), REFERENCE, clock.now()))
    await pending.remember(ALICE, PendingCommand(UserInput("activate X"), REFERENCE, clock.now()))
    taken = await pending.take(ALICE)
    assert taken is not None and taken.input == UserInput("activate X")
    await pending.remember(ALICE, PendingCommand(UserInput("activate X"), REFERENCE, clock.now()))
    clock.advance(PENDING_TTL + timedelta(seconds=1))
    assert await pending.take(ALICE) is None


async def test_a_sign_in_card_is_retired_once(stores: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = (SignInCards(store) for store in stores)
    await a.remember(ALICE, SignInCard("activity-1", REFERENCE))
    await a.remember(ALICE, SignInCard("activity-2", REFERENCE))  # only the latest is retired
    taken = await asyncio.gather(a.take(ALICE), b.take(ALICE))
    assert [t.activity_id for t in taken if t is not None] == ["activity-2"]
