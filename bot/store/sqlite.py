"""The store on a SQLite file: the embedded default (STATE_DB), one table `items(key, etag, value)`.

Every etag is a fresh uuid4 hex. Writes are `BEGIN IMMEDIATE` transactions, so several processes share one
file (WAL, a busy timeout); the blocking sqlite calls of one store run on one thread of its own, in order.

Except the small ones that need not wait: a read or write of a few keys is first tried on the event loop's thread,
on a second connection that never waits for a lock (busy timeout 0) and never checkpoints. Handing a call to the
store's thread and back costs ~55 µs of CPU (two thread wake-ups and the loop's self-pipe), more than the call
itself (a one-key write ~22 µs, a read ~9 µs), and a warm activation makes four. When the file is locked (another
process, or the store's thread, writing) the attempt fails at once, having written nothing, and the call goes to the
store's thread as before. Commits are as durable as there (WAL, synchronous=NORMAL: no fsync per commit); the WAL is
checkpointed on the store's thread, every few hundred such writes, so the loop never waits for an fsync (writes
go to that thread, behind it, until it is done).

Leases are records (`lease/{name}` = owner and expiry on the store's clock) taken and renewed by compare-and-swap;
processes sharing a file must have clocks that agree within a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.store import ANY, Conflict, Json, Lease, Store, Versioned, check_key, check_lease, encode
from bot.store import keys as keyspace
from core.ports import Clock

__all__ = ["SqliteStore", "Write"]

T = TypeVar("T")
log = logging.getLogger(__name__)
PAGE = 500  # keys per listing query (and per IN (...) of a many-key read)
INLINE_KEYS = 8  # a read or write of at most this many keys is tried on the loop's thread first (module doc)
CHECKPOINT_EVERY = 256  # writes made on the loop's thread between two checkpoints on the store's thread
_SURROGATES = range(0xD800, 0xE000)


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Write:
    """One key of a `write_many` transaction: JSON `text` under `key` if `etag` allows (as `put_if`)."""

    key: str
    text: str
    etag: str | None


class SqliteStore(Store):
    """bot.store.Store on a SQLite file (module doc). `clock`: the leases' time, the system's by default."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self._path = str(path)
        self._clock = clock or _SystemClock()
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, etag TEXT NOT NULL, value TEXT NOT NULL)"
        )
        # The loop thread's connection (module doc); none for ":memory:", where a second connection is another database.
        self._inline: sqlite3.Connection | None = None
        if self._path != ":memory:":
            self._inline = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=0)
            self._inline.execute("PRAGMA synchronous=NORMAL")
            self._inline.execute("PRAGMA busy_timeout=0")
            self._inline.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints (they fsync) on the store's thread
        self._inline_writes = 0
        self._checkpointing: Future[None] | None = None
        self._closed = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ---- the interface ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> Versioned | None:
        check_key(key)
        return (await self.get_many([key])).get(key)

    async def put_if(self, key: str, value: Json, etag: str | None) -> str:
        check_key(key)
        return (await self.write_many([Write(key, encode(key, value), etag)]))[0]

    async def delete(self, key: str, etag: str | None = None) -> bool:
        check_key(key)
        return await self._run(self._delete, key, etag)

    async def keys(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[str]:
        async for key, _ in self._scan(prefix, limit, with_values=False):
            yield key

    async def items(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[tuple[str, Versioned]]:
        async for key, found in self._scan(prefix, limit, with_values=True):
            assert found is not None
            yield key, found

    async def acquire(self, name: str, owner: str, ttl: timedelta) -> Lease | None:
        check_lease(name, owner, ttl)
        key = check_key(keyspace.lease(name))
        found = await self.get(key)
        now = self._clock.now()
        if found is not None and found.value.get("owner") != owner and _expires(found.value) > now:
            return None
        return await self._hold(name, owner, ttl, found.etag if found is not None else None)

    async def renew(self, lease: Lease) -> Lease | None:
        return await self._hold(lease.name, lease.owner, lease.ttl, lease.token)

    async def release(self, lease: Lease) -> bool:
        try:
            return await self.delete(keyspace.lease(lease.name), lease.token)
        except Conflict:
            return False

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # ---- what only this backend offers: several keys in one transaction -------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        """The values of those of `keys` that exist."""
        if not keys:
            return {}
        if self._inline is not None and not self._closed and len(keys) <= INLINE_KEYS:
            try:
                return _get_many(self._inline, list(keys))
            except sqlite3.OperationalError as e:
                if not _busy(e):
                    raise
        return await self._run(self._get_many, list(keys))

    async def write_many(self, writes: Sequence[Write]) -> list[str]:
        """Several keys in one transaction: all written (their new etags, in order) or, on a Conflict, none."""
        if not writes:
            return []
        if self._inline is not None and not self._closed and len(writes) <= INLINE_KEYS and not self._checkpoint_due():
            try:
                etags = _write_many(self._inline, list(writes))
            except sqlite3.OperationalError as e:  # rolled back: nothing written
                if not _busy(e):
                    raise
            else:
                self._inline_writes += 1
                if self._inline_writes % CHECKPOINT_EVERY == 0:
                    self._checkpointing = self._executor.submit(self._checkpoint)
                return etags
        return await self._run(self._write_many, list(writes))

    def _checkpoint_due(self) -> bool:
        """A checkpoint is queued or running on the store's thread: writes wait behind it there, so that it moves the
        whole WAL into the file and the next write starts the WAL over (as SQLite's own checkpoint after a commit
        does) instead of appending to it."""
        return self._checkpointing is not None and not self._checkpointing.done()

    def close(self) -> None:
        """Wait for what is queued, then close the file (twice is harmless)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
        self._db.close()

    # ---- on the store's thread ----------------------------------------------------------------------------------

    def _get_many(self, keys: list[str]) -> dict[str, Versioned]:
        return _get_many(self._db, keys)

    def _write_many(self, writes: list[Write]) -> list[str]:
        return _write_many(self._db, writes)

    def _checkpoint(self) -> None:
        """Move the WAL's pages into the file (what SQLite's auto-checkpoint does after a commit on this thread)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as e:  # the next one will; the WAL only grows meanwhile
            log.warning("sqlite checkpoint failed: %s", e)

    def _delete(self, key: str, etag: str | None) -> bool:
        if etag is None or etag == ANY:
            return self._db.execute("DELETE FROM items WHERE key=?", (key,)).rowcount > 0
        deleted = self._db.execute("DELETE FROM items WHERE key=? AND etag=?", (key, etag)).rowcount
        if deleted:
            return True
        if self._db.execute("SELECT 1 FROM items WHERE key=?", (key,)).fetchone() is not None:
            raise Conflict(key)
        return False

    def _page(self, low: str, high: str | None, after: str | None, n: int, with_values: bool) -> list[Any]:
        columns = "key, etag, value" if with_values else "key"
        sql, args = f"SELECT {columns} FROM items WHERE key >= ?", [low]
        if high is not None:
            sql, args = sql + " AND key < ?", [*args, high]
        if after is not None:
            sql, args = sql + " AND key > ?", [*args, after]
        return self._db.execute(sql + " ORDER BY key LIMIT ?", [*args, n]).fetchall()

    # ---- helpers ------------------------------------------------------------------------------------------------

    async def _scan(
        self, prefix: str, limit: int | None, *, with_values: bool
    ) -> AsyncIterator[tuple[str, Versioned | None]]:
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        low, high = _bounds(prefix)
        left = limit if limit is not None else -1
        after: str | None = None
        while left != 0:
            n = PAGE if left < 0 else min(PAGE, left)
            rows = await self._run(self._page, low, high, after, n, with_values)
            for row in rows:
                yield row[0], (Versioned(json.loads(row[2]), row[1]) if with_values else None)
            if len(rows) < n:
                return
            after = rows[-1][0]
            left = left - len(rows) if left > 0 else left

    async def _hold(self, name: str, owner: str, ttl: timedelta, etag: str | None) -> Lease | None:
        expires = self._clock.now() + ttl
        value = {"owner": owner, "expires": expires.timestamp()}
        try:
            token = await self.put_if(keyspace.lease(name), value, etag)
        except Conflict:
            return None
        return Lease(name, owner, expires, ttl, token)


def _get_many(db: sqlite3.Connection, keys: list[str]) -> dict[str, Versioned]:
    out: dict[str, Versioned] = {}
    for i in range(0, len(keys), PAGE):
        chunk = keys[i : i + PAGE]
        marks = ",".join("?" * len(chunk))
        for key, etag, value in db.execute(f"SELECT key, etag, value FROM items WHERE key IN ({marks})", chunk):
            out[key] = Versioned(json.loads(value), etag)
    return out


def _write_many(db: sqlite3.Connection, writes: list[Write]) -> list[str]:
    """`writes` in one transaction on `db`: all of them, or on any failure (a Conflict, a lock) none."""
    etags: list[str] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for w in writes:
            new = uuid.uuid4().hex
            if w.etag == ANY:
                db.execute(
                    "INSERT INTO items(key, etag, value) VALUES(?,?,?) "
                    "ON CONFLICT(key) DO UPDATE SET etag=excluded.etag, value=excluded.value",
                    (w.key, new, w.text),
                )
            else:
                row = db.execute("SELECT etag FROM items WHERE key=?", (w.key,)).fetchone()
                if row is None and w.etag is None:
                    db.execute("INSERT INTO items(key, etag, value) VALUES(?,?,?)", (w.key, new, w.text))
                elif row is not None and w.etag is not None and row[0] == w.etag:
                    db.execute("UPDATE items SET etag=?, value=? WHERE key=?", (new, w.text, w.key))
                else:
                    raise Conflict(w.key)
            etags.append(new)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return etags


def _busy(error: sqlite3.OperationalError) -> bool:
    """The file is locked (SQLITE_BUSY, SQLITE_LOCKED): nothing was done, the call may go to the store's thread."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def _expires(value: Json) -> datetime:
    return datetime.fromtimestamp(float(value.get("expires") or 0), UTC)


def _bounds(prefix: str) -> tuple[str, str | None]:
    """The keys starting with `prefix` are those >= the first and < the second (None: no upper bound). SQLite
    compares TEXT as UTF-8 bytes, which orders as code points do, as Python's str does."""
    stem = prefix.rstrip(chr(0x10FFFF))
    if not stem:
        return prefix, None
    nxt = ord(stem[-1]) + 1
    return prefix, stem[:-1] + chr(_SURROGATES.stop if nxt in _SURROGATES else nxt)
