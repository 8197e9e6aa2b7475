"""The real stack as processes, once per test run: the simulated tenant, the bot (`python app.py`), the Playground.

Started with devtools.stack, exactly as `make demo` starts it. All tests share one tenant, so the `fresh` fixture
reseeds it (POST /_sim/reset, clock back to real time) and then asks the bot for `status`: a status read bypasses
the bot's 60 s snapshot cache and replaces the cached snapshot, so the bot's view matches the reseeded tenant before
the test sends anything.

A missing node_modules or chromium fails these tests; they never skip.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from devtools.stack import (
    PLAYGROUND_BIN,
    Tenant,
    bot_environment,
    bot_process,
    free_port,
    playground,
    simulated_tenant,
    write_playground_config,
)
from tests.support.cards import maybe_element
from tests.support.playground import PlaygroundClient

PIM = "/identityGovernance/privilegedAccess/group"


@dataclass(frozen=True)
class E2EStack:
    tenant: Tenant
    bot_port: int
    playground_url: str
    bot_log: Path
    directory: Path

    def bot_log_tail(self, chars: int = 4000) -> str:
        try:
            return "--- bot log (tail) ---\n" + self.bot_log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def require_playground() -> None:
    if not PLAYGROUND_BIN.exists():
        pytest.fail(
            f"the Agents Playground is not installed ({PLAYGROUND_BIN} is missing): run `npm ci` (or `make setup`)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    require_playground()
    base = tmp_path_factory.mktemp("e2e-stack")
    with ExitStack() as stack:
        tenant, _ = stack.enter_context(simulated_tenant(base / "simtenant"))
        bot_port = free_port()
        # No cards of access about to end between a command and its answer (tests/e2e/test_demo_ending.py has them).
        settings = {"GRAPH_TIMEOUT_SECONDS": "5", "ENDING_POLL_SECONDS": "3600"}
        env = bot_environment(tenant, bot_port, base / "state.sqlite3", settings)
        stack.enter_context(bot_process(env, base / "bot.log"))
        pg_dir = base / "playground"
        write_playground_config(pg_dir, tenant.tenant_id)
        pg_port = free_port()
        stack.enter_context(playground(pg_dir, bot_port, pg_port))
        yield E2EStack(tenant, bot_port, f"http://127.0.0.1:{pg_port}", base / "bot.log", base)


class SimControl:
    """The simulated tenant over HTTPS: its /_sim control API and Graph reads with an app token."""

    def __init__(self, tenant: Tenant, http: aiohttp.ClientSession) -> None:
        self.tenant = tenant
        self.http = http
        self.ssl = ssl.create_default_context(cafile=tenant.ca_file)
        self._app_token: str | None = None

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.tenant.control_url}{path}", json=body, ssl=self.ssl) as r:
            text = await r.text()
            assert r.status < 300, f"{method} /_sim{path} -> {r.status}: {text}"
            return await r.json(content_type=None) if text else None

    async def reset(self) -> None:
        await self.control("POST", "/reset", {"seed": "demo", "clock": True})

    async def requests(self) -> list[dict[str, Any]]:
        return list((await self.control("GET", "/requests"))["requests"])

    async def graph(self, path: str, **params: str) -> Any:
        """GET a Graph path as the app (client credentials), refreshing the token once on 401."""
        for attempt in range(2):
            if self._app_token is None or attempt:
                self._app_token = await self._fetch_app_token()
            async with self.http.get(
                f"{self.tenant.graph_base_url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {self._app_token}"},
                ssl=self.ssl,
            ) as r:
                if r.status == 401 and not attempt:
                    continue
                body = await r.json(content_type=None)
                assert r.status == 200, f"GET {path} -> {r.status}: {body}"
                return body
        raise AssertionError("unreachable")

    async def _fetch_app_token(self) -> str:
        async with self.http.post(
            f"{self.tenant.authority_host}/{self.tenant.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.tenant.client_id,
                "client_secret": self.tenant.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
            ssl=self.ssl,
        ) as r:
            body = await r.json(content_type=None)
            assert r.status == 200, body
            return str(body["access_token"])

    async def assignment_request(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.graph(f"{PIM}/assignmentScheduleRequests/{request_id}")
        return body

    async def assignment_requests(self, principal_id: str) -> list[dict[str, Any]]:
        body = await self.graph(f"{PIM}/assignmentScheduleRequests", **{"$filter": f"principalId eq '{principal_id}'"})
        return list(body["value"])


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One client for the run, on the session's event loop. That loop runs only while an end-to-end test or fixture
    does, so a TLS connection aiohttp closed gracefully (keep-alive expiry, `Connection: close`) may still be waiting
    for the simulated tenant's close_notify when the last one ends, and its socket outlived the loop: the flaky
    "unclosed transport" ResourceWarning of clean-clone runs (caught with an ad-hoc plugin listing the transports left
    open on a closed loop after each test; the socket was made by `fresh`'s `sim.reset()`). aiohttp's
    `enable_cleanup_closed` keeps those connections and aborts them when the session closes, on the Pythons whose
    asyncio leaks them (before 3.12.8; aiohttp itself says which, and warns if asked on the others)."""
    async with aiohttp.ClientSession(connector=lasting_connector(), timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def lasting_connector(**options: Any) -> aiohttp.TCPConnector:
    """The connector of a client that outlives the test which opened its connections (`http`'s docstring);
    tests/test_support_connector.py holds that none of its sockets outlives its event loop."""
    return aiohttp.TCPConnector(enable_cleanup_closed=aiohttp.connector.NEEDS_CLEANUP_CLOSED, **options)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sim(e2e_stack: E2EStack, http: aiohttp.ClientSession) -> SimControl:
    return SimControl(e2e_stack.tenant, http)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg(e2e_stack: E2EStack, http: aiohttp.ClientSession) -> AsyncIterator[PlaygroundClient]:
    """One WebSocket for the whole run, connected before any test: it takes the Playground's buffered history (drained
    by sync()), and later clients (the browser test's page) see only what happens while they are open."""
    client = PlaygroundClient(e2e_stack.playground_url, http, diagnostics=e2e_stack.bot_log_tail)
    await client.connect()
    try:
        await client.sync()
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(pg: PlaygroundClient, sim: SimControl) -> PlaygroundClient:
    """A reseeded tenant at real time, and a bot whose cached view of Alice matches it."""
    await sim.reset()
    pg.drain()
    await pg.say("status")
    # Skip anything still on its way from an earlier test (e.g. the welcome card a browser's install event caused).
    while not maybe_element(card := (await pg.next_card()).card or {}, "eligible-heading"):
        pass
    assert maybe_element(card, "active-empty") is not None, f"after the reset the bot still shows active groups: {card}"
    return pg
