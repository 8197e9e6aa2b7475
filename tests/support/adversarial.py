"""What the adversarial suite (tests/adversarial) needs: the bot served from a background thread for the HTTP body
fuzzer (`dev`: development mode; `prod`: production settings), the case budget (`--long`) and the figures printed at
the end of the run."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.stack import Channel, running_stack

T = TypeVar("T")


FIGURES: dict[str, Counter[str]] = {}  # per fuzz test: "cases", "status 201", …


def write_figures(
    request: pytest.FixtureRequest, heading: str, figures: Counter[str], totals: tuple[str, ...] = ("scenarios",)
) -> None:
    """Print a matrix's figures once its module has run: `heading`, then every count but the `totals` (which the
    heading quotes)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not figures:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(heading)
        for key, count in sorted(figures.items()):
            if key in totals:
                continue
            reporter.write_line(f"  {key}: {count}")


@dataclass(frozen=True)
class Budget:
    long: bool

    def cases(self, normal: int) -> int:
        """`normal` cases in the normal run, twenty times as many with --long."""
        return normal * 20 if self.long else normal


@pytest.fixture(scope="session")
def budget(request: pytest.FixtureRequest) -> Budget:
    return Budget(bool(request.config.getoption("--long", default=False)))


class Background:
    """An event loop in a thread: the servers live there; tests call into it with `run`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="adversarial-loop", daemon=True)
        self._thread.start()
        self._exits = AsyncExitStack()

    def run(self, coro: Awaitable[T], timeout: float = 120) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def enter(self, manager: AbstractAsyncContextManager[T]) -> T:
        return self.run(self._exits.enter_async_context(manager))

    def close(self) -> None:
        try:
            self.run(self._exits.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


class Problems(logging.Handler):
    """Every log record with a traceback or at ERROR and above, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)

    def take(self) -> list[str]:
        taken = [f"{r.name}: {r.getMessage()} {r.exc_info[1] if r.exc_info else ''!r}" for r in self.records]
        self.records.clear()
        return taken


@dataclass
class Served:
    """A running bot and what a fuzz case needs of it. `stack` is a tests.bot Stack or a tests.auth Stack."""

    background: Background
    stack: Any
    problems: Problems

    @property
    def url(self) -> str:
        return str(self.stack.server.make_url("/api/messages"))

    @property
    def service_url(self) -> str:
        return str(self.stack.service_url)

    def post(self, body: bytes | Callable[[], AsyncIterator[bytes]], headers: dict[str, str]) -> tuple[int, str]:
        """POST `body` (bytes, or a factory of chunks: sent chunked) and return the status and text."""

        async def send() -> tuple[int, str]:
            data = body() if callable(body) else body
            async with self.stack.http.post(self.url, data=data, headers=headers) as r:
                return r.status, await r.text()

        return self.background.run(send())

    def sent(self) -> int:
        return len(self.stack.connector.sent)

    def graph_calls(self) -> int:
        return sum(1 for e in self.stack.sim.tenant.log.recent() if e["path"].startswith("/v1.0"))


def _serve(manager: Callable[[Path], AbstractAsyncContextManager[Any]], tmp: Path) -> Iterator[Served]:
    background = Background()
    problems = Problems()
    logging.getLogger().addHandler(problems)
    try:
        yield Served(background, background.enter(manager(tmp)), problems)
    finally:
        logging.getLogger().removeHandler(problems)
        background.close()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Development mode (BOT_ALLOW_ANONYMOUS): every body reaches the parser and, if it is an activity, the bot."""
    yield from _serve(running_stack, tmp_path_factory.mktemp("dev"))


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Production settings: the channel's signing keys, the bot's own app, tokens checked on every request."""
    yield from _serve(lambda tmp: running_stack(tmp, channel=Channel.SIGNED), tmp_path_factory.mktemp("prod"))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Counter[str]:
    """The figures of one fuzz test ("cases", "status 201", …), printed in the terminal summary."""
    return FIGURES.setdefault(request.node.originalname, Counter())  # parametrized variants add up
