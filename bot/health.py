"""What the bot needs from outside, whether it can reach it, and the retries that bring it back by themselves.

Why: msal's client constructor fetches its authority's OpenID metadata (authority discovery). With Microsoft Entra
unreachable at start (DNS, a firewall, an outage) it raised, and the process died with a traceback; a supervisor
restarting it in a loop cures nothing. Each such client is now a `Dependency`: one attempt at start-up, and if that
fails the bot starts without it and keeps trying in the background (bounded exponential backoff with jitter). Until it
is reached, what needs it fails at once with `Unreachable`, which the callers turn into a kind "cannot reach" answer.
Microsoft Graph is needed by no start-up step: it is watched on every request by `ObservedTransport` (any HTTP answer
means reachable, a failed connection does not) and, once seen unreachable, probed in the background until it answers.

`GET /healthz` shows `Health.report()`: per dependency whether it was reached, since when, the host (and port), the
number of attempts and the type of the last error — never a URL path or query, a token, a secret or an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from aiohttp import web

__all__ = ["HEALTH_KEY", "Dependency", "Health", "ObservedTransport", "Unreachable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_RETRY = 1.0  # seconds after a failed attempt; doubled after each further failure
MAX_RETRY = 60.0


class Unreachable(ConnectionError):
    """A dependency the bot has not reached yet. The message names it and its host, nothing else."""


@dataclass
class Status:
    what: str  # for people: "Microsoft Entra (the bot's Graph sign-in)"
    host: str  # host[:port]
    reachable: bool | None = None  # None: not tried yet
    since: float | None = None  # wall-clock seconds when `reachable` last changed
    attempts: int = 0
    error: str = ""  # the last failure's exception type
    retry_at: float | None = None  # wall-clock seconds of the next background attempt

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "host": self.host,
            "reachable": self.reachable,
            "since": _iso(self.since),
            "attempts": self.attempts,
            "error": self.error or None,
            "next_attempt": _iso(self.retry_at),
        }


class Dependency(Generic[T]):
    """Something outside, reached by `attempt` (a client built, or a probe answered). `connect()` makes one attempt
    and, if it fails, leaves the rest to a background task; `get()` is the attempt's result once there is one."""

    def __init__(
        self,
        what: str,
        url: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.status = Status(what, _host_port(url))
        self._attempt = attempt
        self._first_retry, self._max_retry = first_retry, max_retry
        self._sleep, self._wall = sleep, wall
        self._value: T | None = None
        self._has_value = False
        self._task: asyncio.Task[None] | None = None

    def get(self) -> T:
        if not self._has_value:
            raise Unreachable(f"{self.status.what} ({self.status.host}) has not been reached yet")
        return self._value  # type: ignore[return-value]  # set together with _has_value

    async def connect(self) -> None:
        """One attempt now; when it fails, the next ones in the background until one succeeds."""
        if not await self._try():
            self._retry_in_background()

    def reached(self) -> None:
        """Something answered from there (called on every Graph request: cheap when nothing changes)."""
        if self.status.reachable is not True:
            self._mark(True, "")

    def lost(self, error: BaseException) -> None:
        """A connection there failed: say so, and probe until it answers again."""
        if self.status.reachable is not False:
            self._mark(False, type(error).__name__)
            log.warning("%s (%s) cannot be reached: %s", self.status.what, self.status.host, type(error).__name__)
        self._retry_in_background()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _try(self) -> bool:
        self.status.attempts += 1
        try:
            value = await self._attempt()
        except Exception as e:  # any failure to reach it: DNS, refused, TLS, a timeout, a bad answer
            if self.status.reachable is not False:
                log.warning("%s (%s) cannot be reached: %s", self.status.what, self.status.host, type(e).__name__)
            self._mark(False, type(e).__name__)
            return False
        self._value, self._has_value = value, True
        if self.status.reachable is not True:
            log.info("%s (%s) reached after %d attempt(s)", self.status.what, self.status.host, self.status.attempts)
        self._mark(True, "")
        return True

    def _retry_in_background(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._keep_trying())

    async def _keep_trying(self) -> None:
        delay = self._first_retry
        while True:
            wait = delay * (0.5 + random.random() / 2)  # jitter: several bot processes do not retry in step
            self.status.retry_at = self._wall() + wait
            await self._sleep(wait)
            if await self._try():
                return
            delay = min(delay * 2, self._max_retry)

    def _mark(self, reachable: bool, error: str) -> None:
        if self.status.reachable is not reachable:
            self.status.since = self._wall()
        self.status.reachable, self.status.error = reachable, error
        if reachable:
            self.status.retry_at = None


class Health:
    """The bot's dependencies by name; `report()` is what /healthz answers."""

    def __init__(self) -> None:
        self.checks: dict[str, Dependency[Any]] = {}

    def add(self, name: str, dependency: Dependency[T]) -> Dependency[T]:
        self.checks[name] = dependency
        return dependency

    def report(self) -> dict[str, Any]:
        states = {name: d.status for name, d in self.checks.items()}
        down = [s for s in states.values() if s.reachable is False]
        return {
            "status": "degraded" if down else "ok",
            "unreachable": [f"{s.what} at {s.host}" for s in down],
            "checks": {name: s.to_json() for name, s in states.items()},
        }

    async def close(self) -> None:
        for dependency in self.checks.values():
            await dependency.close()


HEALTH_KEY = web.AppKey("health", Health)


class ObservedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that tells `Dependency`s, by host and port, whether their requests got through."""

    def __init__(self, inner: httpx.AsyncBaseTransport, watched: dict[str, Dependency[Any]]) -> None:
        self._inner = inner
        self._watched = {_host_port(url): dependency for url, dependency in watched.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        dependency = self._watched.get(f"{url.host}:{url.port}" if url.port else url.host)
        try:
            response = await self._inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            if dependency is not None:
                dependency.lost(e)
            raise
        if dependency is not None:
            dependency.reached()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _host_port(url: str) -> str:
    """host[:port] of a URL, without any user or password it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
