"""bot.store.sqlite: the small reads and writes tried on the event loop's thread first. When the file is locked they
wait on the store's thread as before, having written nothing; the WAL they grow is checkpointed all the same."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from bot.store import ANY
from bot.store.sqlite import CHECKPOINT_EVERY, SqliteStore


async def test_a_write_while_another_process_writes_waits_for_it_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    try:
        await store.put_if("k/1", {"v": 1}, None)
        other = sqlite3.connect(path, isolation_level=None)  # as a second process would hold the file
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE items SET value=? WHERE key=?", ('{"v": 2}', "k/1"))
        write = asyncio.ensure_future(store.put_if("k/2", {"v": "new"}, None))
        await asyncio.sleep(0.3)
        assert not write.done()  # waiting for the lock (on the store's thread), not failed, not written around it
        other.execute("COMMIT")
        await asyncio.wait_for(write, 5)
        found = await store.get("k/2")
        assert found is not None and found.value == {"v": "new"}
        kept = await store.get("k/1")
        assert kept is not None and kept.value == {"v": 2}  # the other writer's commit, read back
        other.close()
    finally:
        await store.aclose()


async def test_a_read_while_another_process_writes_reads_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    try:
        await store.put_if("k/1", {"v": 1}, None)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE items SET value=? WHERE key=?", ('{"v": 2}', "k/1"))
        found = await asyncio.wait_for(store.get("k/1"), 1)
        assert found is not None and found.value == {"v": 1}
        other.execute("ROLLBACK")
        other.close()
    finally:
        await store.aclose()


async def test_the_wal_of_many_small_writes_is_checkpointed(tmp_path: Path) -> None:
    """Writes on the loop's thread never checkpoint themselves (a checkpoint fsyncs): the store's thread does, every
    CHECKPOINT_EVERY of them, so the WAL is reused instead of growing with every write (~18 MB here without)."""
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    try:
        value = {"text": "x" * 6000}  # two pages and more per write
        for i in range(CHECKPOINT_EVERY * 16):
            await store.put_if(f"k/{i % 50}", value, ANY)
            if i % CHECKPOINT_EVERY == 0:
                await store.delete("k/none")  # behind any checkpoint queued on the store's thread
        wal = await asyncio.to_thread(os.path.getsize, f"{path}-wal")
        assert wal < 8_000_000, wal
        found = await store.get("k/7")
        assert found is not None and found.value == value
    finally:
        await store.aclose()
