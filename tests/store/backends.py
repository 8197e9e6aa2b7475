"""The store backends the contract suite runs against (tests/store/test_contract.py): one class each.

A backend opens handles on one store, as separate processes would (each handle its own connection), gives a child
process a spec to open the same store with (`open_spec`), and moves the leases' clock. Adding a backend is one class
here and one entry in BACKENDS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.store import Store
from bot.store.sqlite import SqliteStore
from tests.core.fakes import FixedClock

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Backend(Protocol):
    clock: FixedClock

    def open(self) -> Store:
        """A new handle on the one store under test, with its own connection."""
        ...

    def spec(self) -> str:
        """What a child process passes to `open_spec` to open the same store."""
        ...

    async def advance(self, by: timedelta) -> None:
        """Let `by` pass on the clock the store's leases run on."""
        ...

    async def close(self) -> None:
        """Close every handle opened."""
        ...


class Sqlite:
    """SQLite files (bot.store.sqlite): every handle its own connection to one file; leases on a virtual clock."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "state.sqlite3"
        self.clock = FixedClock(START)
        self._opened: list[SqliteStore] = []

    def open(self) -> Store:
        store = SqliteStore(self.path, clock=self.clock)
        self._opened.append(store)
        return store

    def spec(self) -> str:
        return f"sqlite:{self.path}"

    async def advance(self, by: timedelta) -> None:
        self.clock.advance(by)

    async def close(self) -> None:
        for store in self._opened:
            await store.aclose()


BACKENDS: dict[str, Callable[[Path], Backend]] = {"sqlite": Sqlite}


def open_spec(spec: str, now: datetime) -> Store:
    """The store a child process opens from `Backend.spec()`, its leases' clock standing at `now`."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SqliteStore(where, clock=FixedClock(now))
    raise ValueError(f"unknown store spec {spec!r}")
