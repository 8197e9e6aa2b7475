"""SqliteStorage: botbuilder's Storage contract with real ETag optimistic concurrency, across processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from botbuilder.core import StoreItem

from bot.storage import SqliteStorage, StorageConflict


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStorage]:
    s = SqliteStorage(tmp_path / "state.sqlite3")
    yield s
    s.close()


async def test_write_read_delete_round_trip(store: SqliteStorage) -> None:
    await store.write({"a": {"n": 1, "nested": {"x": [1, 2]}}, "b": {"n": 2}})
    got = await store.read(["a", "b", "missing"])
    assert set(got) == {"a", "b"}
    assert got["a"]["nested"] == {"x": [1, 2]} and got["a"]["e_tag"]
    await store.delete(["a"])
    assert set(await store.read(["a", "b"])) == {"b"}


async def test_each_write_gets_a_new_etag_and_a_stale_one_is_refused(store: SqliteStorage) -> None:
    await store.write({"k": {"v": 1}})
    first = (await store.read(["k"]))["k"]
    await store.write({"k": {"v": 2, "e_tag": first["e_tag"]}})
    second = (await store.read(["k"]))["k"]
    assert second["v"] == 2 and second["e_tag"] != first["e_tag"]
    with pytest.raises(StorageConflict, match="Etag conflict"):
        await store.write({"k": {"v": 3, "e_tag": first["e_tag"]}})
    assert (await store.read(["k"]))["k"]["v"] == 2


async def test_star_overwrites_and_empty_etag_is_refused(store: SqliteStorage) -> None:
    await store.write({"k": {"v": 1}})
    await store.write({"k": {"v": 9, "e_tag": "*"}})
    assert (await store.read(["k"]))["k"]["v"] == 9
    with pytest.raises(ValueError, match="empty e_tag"):
        await store.write({"k": {"v": 10, "e_tag": ""}})


async def test_a_conflict_rolls_back_the_whole_write(store: SqliteStorage) -> None:
    await store.write({"a": {"v": 1}, "b": {"v": 1}})
    stale = (await store.read(["b"]))["b"]["e_tag"]
    await store.write({"b": {"v": 2, "e_tag": "*"}})
    with pytest.raises(StorageConflict):
        await store.write({"a": {"v": 100}, "b": {"v": 100, "e_tag": stale}})
    got = await store.read(["a", "b"])
    assert got["a"]["v"] == 1 and got["b"]["v"] == 2


async def test_a_conditional_write_creates_a_missing_key_once(store: SqliteStorage) -> None:
    # botbuilder's SSO de-duplication writes an item whose e_tag is the exchange id: the first one wins.
    await store.write({"sso/1": StoreItem(e_tag="exchange-1")})
    with pytest.raises(StorageConflict):
        await store.write({"sso/1": StoreItem(e_tag="exchange-1")})


async def test_concurrent_read_modify_write_has_exactly_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    one, two = SqliteStorage(path), SqliteStorage(path)  # two bot processes on one file
    try:
        await one.write({"counter": {"n": 0}})
        seen = (await two.read(["counter"]))["counter"]

        async def bump(s: SqliteStorage) -> bool:
            try:
                await s.write({"counter": {"n": seen["n"] + 1, "e_tag": seen["e_tag"]}})
                return True
            except StorageConflict:
                return False

        results = await asyncio.gather(bump(one), bump(two), bump(one), bump(two))
        assert results.count(True) == 1
        assert (await one.read(["counter"]))["counter"]["n"] == 1
    finally:
        one.close()
        two.close()


async def test_keys_with_prefix_escapes_like_wildcards(store: SqliteStorage) -> None:
    await store.write({"request/a_1": {}, "request/ab1": {}, "ref/x": {}})
    assert await store.keys_with_prefix("request/a_") == ["request/a_1"]
    assert await store.keys_with_prefix("request/") == ["request/a_1", "request/ab1"]
