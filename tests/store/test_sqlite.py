"""What only the SQLite backend promises: botbuilder's Storage (bot.storage.SqliteStorage) and the store
(bot.store.sqlite.SqliteStore) on one file are two views of one table, so a key written through one reads the same
through the other while modules move from the first to the second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import SqliteStorage, StorageConflict
from bot.store import Conflict, Versioned
from bot.store.sqlite import SqliteStore


@pytest.fixture
async def views(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStorage]]:
    store, storage = SqliteStore(tmp_path / "state.sqlite3"), SqliteStorage(tmp_path / "state.sqlite3")
    yield store, storage
    storage.close()
    await store.aclose()


async def test_a_botbuilder_write_reads_the_same_through_the_store(views: tuple[SqliteStore, SqliteStorage]) -> None:
    store, storage = views
    await storage.write({"k": {"v": 1, "nested": {"a": [1, 2]}}})
    item = (await storage.read(["k"]))["k"]
    assert await store.get("k") == Versioned({"v": 1, "nested": {"a": [1, 2]}}, item["e_tag"])


async def test_a_store_write_reads_the_same_through_botbuilder(views: tuple[SqliteStore, SqliteStorage]) -> None:
    store, storage = views
    etag = await store.put_if("k", {"v": 1}, None)
    assert await storage.read(["k"]) == {"k": {"v": 1, "e_tag": etag}}


async def test_an_etag_from_one_view_guards_a_write_through_the_other(views: tuple[SqliteStore, SqliteStorage]) -> None:
    store, storage = views
    etag = await store.put_if("k", {"v": 1}, None)
    await storage.write({"k": {"v": 2, "e_tag": etag}})
    with pytest.raises(Conflict):
        await store.put_if("k", {"v": 3}, etag)
    fresh = await store.get("k")
    assert fresh is not None and fresh.value == {"v": 2}
    await store.put_if("k", {"v": 4}, fresh.etag)
    with pytest.raises(StorageConflict, match="Etag conflict"):
        await storage.write({"k": {"v": 5, "e_tag": fresh.etag}})
