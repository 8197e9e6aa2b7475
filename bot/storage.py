"""A durable botbuilder `Storage` on SQLite, with ETag optimistic concurrency.

Semantics (the same as botbuilder's Cosmos/Blob storages, which MemoryStorage does not honour):
- every write stores a new e_tag, returned by `read` in the item's "e_tag";
- an item written with e_tag None or "*" overwrites whatever is there;
- an item written with another e_tag replaces the stored one only if the stored e_tag is that value, and is created
  if the key does not exist; otherwise `StorageConflict` ("Etag conflict", the text botbuilder's SSO middleware
  recognises) and nothing of that write is changed;
- an empty e_tag "" is refused.
A write of several keys is one transaction. Several processes may share one file (WAL, busy timeout).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botbuilder.core import Storage, StoreItem

__all__ = ["SqliteStorage", "StorageConflict"]


_UNDER = "key LIKE ? ESCAPE '\\'"  # with _like_prefix(prefix): the keys starting with prefix
_BELOW = "json_extract(value, ?) < ?"  # with ("$.field", number): the items whose number field is below it


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class StorageConflict(KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Etag conflict: {key!r} was changed by someone else")
        self.key = key


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if isinstance(item, StoreItem) or hasattr(item, "__dict__"):
        return {k: v for k, v in vars(item).items() if not k.startswith("_")}
    raise TypeError(f"cannot store {type(item).__name__}: use a dict or a StoreItem")


class SqliteStorage(Storage):
    """botbuilder Storage on a SQLite file. Blocking sqlite calls run on one dedicated thread, in order."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-storage")
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, etag TEXT NOT NULL, value TEXT NOT NULL)"
        )

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        return dict(await self._run(self._read, list(keys)))

    def _read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for key, etag, value in self._db.execute(
                f"SELECT key, etag, value FROM items WHERE key IN ({marks})", chunk
            ):
                item = json.loads(value)
                item["e_tag"] = etag
                out[key] = item
        return out

    async def write(self, changes: Mapping[str, Any]) -> None:
        if changes is None:
            raise TypeError("changes are required when writing")
        if not changes:
            return
        prepared: list[tuple[str, str | None, str]] = []
        for key, item in changes.items():
            data = _as_dict(item)
            etag = data.pop("e_tag", None)
            if etag == "":
                raise ValueError(f"write of {key!r}: an empty e_tag is not allowed (use '*' to overwrite)")
            prepared.append((key, etag, json.dumps(data, separators=(",", ":"), default=str)))
        await self._run(self._write, prepared)

    def _write(self, prepared: list[tuple[str, str | None, str]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for key, etag, value in prepared:
                new_etag = uuid.uuid4().hex
                if etag is None or etag == "*":
                    db.execute(
                        "INSERT INTO items(key, etag, value) VALUES(?,?,?) "
                        "ON CONFLICT(key) DO UPDATE SET etag=excluded.etag, value=excluded.value",
                        (key, new_etag, value),
                    )
                    continue
                row = db.execute("SELECT etag FROM items WHERE key=?", (key,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO items(key, etag, value) VALUES(?,?,?)", (key, new_etag, value))
                elif row[0] == etag:
                    db.execute("UPDATE items SET etag=?, value=? WHERE key=?", (new_etag, value, key))
                else:
                    raise StorageConflict(key)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self._run(self._delete, list(keys))

    def _delete(self, keys: list[str]) -> None:
        self._db.executemany("DELETE FROM items WHERE key=?", [(k,) for k in keys])

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        """Keys starting with `prefix` (for sweeps over pending requests and the like)."""
        rows = await self._run(
            lambda: self._db.execute(
                f"SELECT key FROM items WHERE {_UNDER} ORDER BY key", (_like_prefix(prefix),)
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def read_expired(self, prefix: str, field: str, before: float) -> dict[str, dict[str, Any]]:
        """The items under `prefix` whose number `field` is below `before` (items without it are not), with their
        e_tag, by one statement."""
        rows = await self._run(
            lambda: self._db.execute(
                f"SELECT key, etag, value FROM items WHERE {_UNDER} AND {_BELOW}",
                (_like_prefix(prefix), f"$.{field}", before),
            ).fetchall()
        )
        return {key: json.loads(value) | {"e_tag": etag} for key, etag, value in rows}

    async def delete_expired(self, prefix: str, field: str, before: float) -> int:
        """Delete the items under `prefix` whose number `field` is below `before` (a TTL sweep, one statement);
        how many were deleted."""
        deleted: int = await self._run(
            lambda: (
                self._db.execute(
                    f"DELETE FROM items WHERE {_UNDER} AND {_BELOW}", (_like_prefix(prefix), f"$.{field}", before)
                ).rowcount
            )
        )
        return deleted

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._db.close()
