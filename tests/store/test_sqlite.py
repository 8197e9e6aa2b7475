"""What only the SQLite backend promises: botbuilder's Storage view (bot.storage.SqliteStorage) and the store
(bot.store.sqlite.SqliteStore) are two views of one table, so a key written through one reads the same through the
other while modules move from the first to the second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import SqliteStorage, StorageConflict
from bot.store import Conflict, Versioned
from bot.store.sqlite import SqliteStore


@pytest.fixture
async def views(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStorage]]:
    store = SqliteStore(tmp_path / "state.sqlite3")
    yield store, SqliteStorage(store)
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


async def test_a_second_file_handle_closes_without_closing_a_shared_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    SqliteStorage(store).close()
    assert await store.put_if("k", {}, None)
    own = SqliteStorage(tmp_path / "state.sqlite3")
    assert set(await own.read(["k"])) == {"k"}
    own.close()
    await store.aclose()
    store.close()  # twice is harmless


async def test_two_connections_to_one_file_agree_as_well(tmp_path: Path) -> None:
    store, storage = SqliteStore(tmp_path / "state.sqlite3"), SqliteStorage(tmp_path / "state.sqlite3")
    etag = await store.put_if("k", {"v": 1}, None)
    assert await storage.read(["k"]) == {"k": {"v": 1, "e_tag": etag}}
    storage.close()
    await store.aclose()


async def test_the_botbuilder_prefix_listing_is_case_sensitive(views: tuple[SqliteStore, SqliteStorage]) -> None:
    store, storage = views
    await storage.write({"Request/1": {}, "request/1": {}, "request-card/1": {}})
    assert await storage.keys_with_prefix("request/") == ["request/1"]  # SQL's LIKE matched Request/1 too
