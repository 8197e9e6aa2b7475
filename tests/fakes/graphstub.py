"""A scripted stand-in for Graph behind `httpx.MockTransport`: routes answer with canned Graph JSON, `$batch` is
unpacked and its items dispatched to the same routes (dependsOn and 424 included), and every request is recorded.

The stateful simulated tenant (simtenant/) is the faithful fake; this one is for shapes and faults in unit tests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

BASE = "https://graph.test/v1.0"
APP_TOKEN = "app-token"


@dataclass
class Call:
    method: str
    path: str  # decoded, relative to the version root: /identityGovernance/...
    query: dict[str, str]
    body: Any
    headers: Mapping[str, str]
    in_batch: bool = False


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], "Reply | dict[str, Any]"]


def error(status: int, code: str, message: str = "", headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"request-id": "req-1", "date": "2025-01-01T00:00:00"},
            }
        },
        headers or {},
    )


def wrapped(status: int, code: str, message: str) -> Reply:
    """The PIM double-wrapped form: UnknownError with the real error as JSON in the message."""
    return error(status, "UnknownError", json.dumps({"errorCode": code, "message": message}))


class GraphStub:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.http_requests: list[httpx.Request] = []  # what went over the (mock) wire
        self.calls: list[Call] = []  # every Graph call, batch items unpacked

    # seed
    def on(self, method: str, path: str, handler: Handler | Reply | dict[str, Any]) -> None:
        """`path` is a regex matched against the whole decoded path (no query)."""
        if not callable(handler):
            canned = handler
            handler = lambda call: canned  # noqa: E731
        self.routes.insert(0, (method.upper(), re.compile(path + r"\Z"), handler))

    # observe
    def sent(self, method: str | None = None, path_part: str = "") -> list[Call]:
        return [c for c in self.calls if (method is None or c.method == method) and path_part in c.path]

    @property
    def round_trips(self) -> int:
        return len(self.http_requests)

    # behave
    def transport(self, delay: float = 0.0) -> httpx.MockTransport:
        """`delay` > 0 makes every answer take that long (to let concurrent callers overlap)."""
        if not delay:
            return httpx.MockTransport(lambda request: self.handle(request))  # late-bound: tests may wrap handle

        async def slow(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(delay)
            return self.handle(request)

        return httpx.MockTransport(slow)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.http_requests.append(request)
        url = str(request.url)
        assert url.startswith(BASE), url
        relative = url[len(BASE) :]
        body = json.loads(request.content) if request.content else None
        if relative.split("?")[0] == "/$batch":
            return httpx.Response(200, json=self._batch(body, request.headers))
        reply = self.dispatch(request.method, relative, body, request.headers)
        return httpx.Response(reply.status, json=reply.body, headers=reply.headers)

    def dispatch(
        self, method: str, relative_url: str, body: Any, headers: Mapping[str, str], in_batch: bool = False
    ) -> Reply:
        parts = urlsplit(relative_url)
        call = Call(method, unquote(parts.path), dict(parse_qsl(parts.query)), body, headers, in_batch)
        self.calls.append(call)
        for route_method, pattern, handler in self.routes:
            if route_method == method and pattern.match(call.path):
                answer = handler(call)
                return answer if isinstance(answer, Reply) else Reply(200 if method == "GET" else 201, answer)
        return error(404, "ResourceNotFound", f"no route for {method} {call.path}")

    def _batch(self, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        items = body["requests"]
        assert len(items) <= 20, "Graph refuses batches over 20"
        statuses: dict[str, int] = {}
        responses = []
        for item in items:
            if any(statuses.get(dep, 424) >= 400 for dep in item.get("dependsOn", [])):
                reply = error(424, "FailedDependency", "a request this one depends on failed")
            else:
                if item.get("body") is not None:
                    assert item.get("headers", {}).get("Content-Type") == "application/json"
                reply = self.dispatch(item["method"], item["url"], item.get("body"), headers, in_batch=True)
            statuses[item["id"]] = reply.status
            responses.append({"id": item["id"], "status": reply.status, "headers": reply.headers, "body": reply.body})
        return {"responses": list(reversed(responses))}  # Graph answers in any order


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class Sleeps:
    """An injected `sleep` that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def app_token() -> str:
    return APP_TOKEN


def app_token_source(
    http: httpx.AsyncClient, authority: str, client_id: str, secret: str
) -> Callable[[], Awaitable[str]]:
    """App-only tokens from the simulated tenant's token endpoint (client credentials), as msal would get them."""

    async def token() -> str:
        response = await http.post(
            f"{authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return token
