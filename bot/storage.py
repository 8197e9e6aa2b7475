"""A durable botbuilder `Storage` on SQLite, with ETag optimistic concurrency.

Semantics (the same as botbuilder's Cosmos/Blob storages, which MemoryStorage does not honour):
- every write stores a new e_tag, returned by `read` in the item's "e_tag";
- an item written with e_tag None or "*" overwrites whatever is there;
- an item written with another e_tag replaces the stored one only if the stored e_tag is that value, and is created
  if the key does not exist; otherwise `StorageConflict` ("Etag conflict", the text botbuilder's SSO middleware
  recognises) and nothing of that write is changed;
- an empty e_tag "" is refused.
A write of several keys is one transaction. Several processes may share one file (WAL, busy timeout).

It is a view of bot.store.sqlite.SqliteStore: the same table, etags and JSON, so a key written through one reads the
same through the other. New code uses the store (bot.store); botbuilder's own pieces need this `Storage`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botbuilder.core import Storage, StoreItem

from bot.store import ANY, Conflict
from bot.store.sqlite import SqliteStore, Write

__all__ = ["SqliteStorage", "StorageConflict"]


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
    """botbuilder Storage on a SQLite file, or on an open SqliteStore (which stays open when this closes)."""

    def __init__(self, path_or_store: str | Path | SqliteStore) -> None:
        super().__init__()
        self._owned = not isinstance(path_or_store, SqliteStore)
        self.store = path_or_store if isinstance(path_or_store, SqliteStore) else SqliteStore(path_or_store)

    async def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found = await self.store.get_many(keys)
        return {key: {**v.value, "e_tag": v.etag} for key, v in found.items()}

    async def write(self, changes: Mapping[str, Any]) -> None:
        if changes is None:
            raise TypeError("changes are required when writing")
        writes: list[Write] = []
        for key, item in changes.items():
            data = _as_dict(item)
            etag = data.pop("e_tag", None)
            if etag == "":
                raise ValueError(f"write of {key!r}: an empty e_tag is not allowed (use '*' to overwrite)")
            text = json.dumps(data, separators=(",", ":"), default=str)
            writes.append(Write(key, text, ANY if etag is None else etag, create_missing=True))
        try:
            await self.store.write_many(writes)
        except Conflict as e:
            raise StorageConflict(e.key) from None

    async def delete(self, keys: list[str]) -> None:
        await self.store.delete_many(keys)

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        """Keys starting with `prefix` (for sweeps over pending requests and the like)."""
        return [key async for key in self.store.keys(prefix)]

    def close(self) -> None:
        if self._owned:
            self.store.close()
