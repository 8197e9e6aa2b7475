"""The bot's SQLite state file read and written by a test as a second process would: the keys the bot stores
(bot.store.keys) and their JSON, each value with its etag under `e_tag` (so a test can tell a rewrite from no
write)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.store import ANY
from bot.store.sqlite import SqliteStore

__all__ = ["StateFile"]


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self._store = SqliteStore(path)

    async def read(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The values of those of `keys` that exist, each with its `e_tag`."""
        found: dict[str, dict[str, Any]] = {}
        for key in keys:
            version = await self._store.get(key)
            if version is not None:
                found[key] = {**version.value, "e_tag": version.etag}
        return found

    async def write(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Each value written over whatever is there (an `e_tag` field is dropped)."""
        for key, value in changes.items():
            await self._store.put_if(key, {k: v for k, v in value.items() if k != "e_tag"}, ANY)

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        return [key async for key in self._store.keys(prefix)]

    def close(self) -> None:
        self._store.close()
