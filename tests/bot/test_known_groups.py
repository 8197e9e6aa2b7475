"""The groups seen in eligibilities, kept in the shared store for after a restart (bot.conversations.KnownGroupsRecord
for graph.known): merged across processes, bounded, written only when something changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.conversations import KnownGroupsRecord
from bot.store import ANY, keys
from bot.store.sqlite import SqliteStore
from core.models import Access, Group
from graph.known import KnownGroups

EXCHANGE = Group("bbbbbbbb-0000-4000-8000-000000000001", "Exchange-Admins")
TEAMS = Group("bbbbbbbb-0000-4000-8000-000000000002", "Teams Admins")
HELPDESK = Group("bbbbbbbb-0000-4000-8000-000000000006", "Helpdesk-Tier1")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.sqlite3")
    yield s
    s.close()


async def etag(store: SqliteStore) -> str | None:
    found = await store.get(keys.KNOWN_GROUPS)
    return found.etag if found is not None else None


async def test_a_restarted_process_knows_the_groups_seen_before(store: SqliteStore) -> None:
    before = KnownGroups(KnownGroupsRecord(store))
    await before.saw([(EXCHANGE, Access.MEMBER), (TEAMS, Access.OWNER)])

    after = KnownGroups(KnownGroupsRecord(store))

    assert await after.all() == [(EXCHANGE, Access.MEMBER), (TEAMS, Access.OWNER)]


async def test_written_only_when_a_group_is_new_or_renamed(store: SqliteStore) -> None:
    known = KnownGroups(KnownGroupsRecord(store))
    await known.saw([(EXCHANGE, Access.MEMBER)])
    first = await etag(store)

    await known.saw([(EXCHANGE, Access.MEMBER)])  # seen again, as it was
    assert await etag(store) == first
    await KnownGroups(KnownGroupsRecord(store)).saw([(EXCHANGE, Access.MEMBER)])  # and after a restart
    assert await etag(store) == first

    await known.saw([(Group(EXCHANGE.id, "Exchange-Admins-EU"), Access.MEMBER)])  # renamed
    assert await etag(store) != first
    assert await KnownGroupsRecord(store).load() == [(Group(EXCHANGE.id, "Exchange-Admins-EU"), Access.MEMBER)]


async def test_two_processes_on_one_store_keep_each_others_groups(store: SqliteStore) -> None:
    one, two = KnownGroups(KnownGroupsRecord(store)), KnownGroups(KnownGroupsRecord(store))
    await one.all()
    await two.all()  # both loaded the empty store

    await one.saw([(EXCHANGE, Access.MEMBER)])
    await two.saw([(HELPDESK, Access.MEMBER)])

    assert await KnownGroupsRecord(store).load() == [(EXCHANGE, Access.MEMBER), (HELPDESK, Access.MEMBER)]


async def test_bounded_the_earliest_seen_go_first(store: SqliteStore) -> None:
    groups = [(Group(f"group-{n}", f"G{n}"), Access.MEMBER) for n in range(5)]
    known = KnownGroups(KnownGroupsRecord(store), limit=3)

    await known.saw(groups[:2])
    await known.saw(groups[2:])

    assert await known.all() == groups[2:]
    assert await KnownGroupsRecord(store).load() == groups[2:]


async def test_an_unreadable_row_is_skipped_not_fatal(store: SqliteStore) -> None:
    rows = [["x"], [EXCHANGE.id, EXCHANGE.display_name, "member"], ["y", "Y", "no such access"]]
    await store.put_if(keys.KNOWN_GROUPS, {"groups": rows}, ANY)

    assert await KnownGroups(KnownGroupsRecord(store)).all() == [(EXCHANGE, Access.MEMBER)]
