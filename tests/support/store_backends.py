"""The store backends the contract suite runs against (tests/store/test_contract.py): one class each.

A backend opens handles on one store, as separate processes would (each handle its own connection), gives a child
process a spec to open the same store with (`open_spec`), and moves the leases' clock. Adding a backend is one class
here and one entry in BACKENDS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from bot.store import Store
from bot.store.azureblob import AzureBlobStore
from bot.store.sqlite import SqliteStore
from devtools.azurite import Azurite, running_azurite
from tests.support.core_fakes import FixedClock

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

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
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


class AzureBlob:
    """Azure Blob Storage (bot.store.azureblob) on Azurite, Microsoft's emulator: a container of its own per test,
    every handle its own client. Leases lapse on Azurite's clock, which is real time: `advance` waits that long (and
    moves the clock the store dates its leases with)."""

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        azurite: Azurite = request.getfixturevalue("azurite")
        self.connection_string = azurite.connection_string
        self.container = azurite.container_name()
        self.clock = FixedClock(START)
        self._opened: list[AzureBlobStore] = []

    def open(self) -> Store:
        store = AzureBlobStore.from_connection_string(self.connection_string, self.container, clock=self.clock)
        self._opened.append(store)
        return store

    async def create(self) -> None:
        first = AzureBlobStore.from_connection_string(self.connection_string, self.container)
        try:
            await first.ensure_container()
        finally:
            await first.aclose()

    def spec(self) -> str:
        return f"azureblob:{self.container}|{self.connection_string}"

    async def advance(self, by: timedelta) -> None:
        await asyncio.sleep(by.total_seconds())
        self.clock.advance(by)

    async def close(self) -> None:
        for store in self._opened:
            await store.aclose()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {"sqlite": Sqlite, "azureblob": AzureBlob}


def open_spec(spec: str, now: datetime) -> Store:
    """The store a child process opens from `Backend.spec()`, its leases' clock standing at `now`."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SqliteStore(where, clock=FixedClock(now))
    if kind == "azureblob":
        container, _, connection_string = where.partition("|")
        return AzureBlobStore.from_connection_string(connection_string, container, clock=FixedClock(now))
    raise ValueError(f"unknown store spec {spec!r}")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as running:
        yield running


# Azurite is a process of its own (started once per session, on first use): its cases are `process` tests.
MARKS = {"azureblob": pytest.mark.process}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in sorted(BACKENDS)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = BACKENDS[request.param](request, tmp_path)
    if isinstance(opened, AzureBlob):
        await opened.create()
    yield opened
    await opened.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
