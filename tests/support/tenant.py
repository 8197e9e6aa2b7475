"""The simulated tenant served over real HTTPS, and a small Graph client for driving it (its `sim` and `client`
fixtures: a demo tenant per test, on a frozen clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import msal
import pytest
import requests

from simtenant import RunningSimTenant, SimClock, build_tenant, run_simtenant
from simtenant.seed import ALICE

PIM = "/identityGovernance/privilegedAccess/group"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]  # the scopes of an app token for Graph


@asynccontextmanager
async def msal_app(sim: RunningSimTenant) -> AsyncIterator[msal.ConfidentialClientApplication]:
    """msal's confidential client of the tenant's app registration, over a requests session that trusts the tenant's
    test CA, for app tokens (`acquire_token_for_client(scopes=GRAPH_DEFAULT)`) as the bot gets them."""
    with requests.Session() as session:
        session.verify = sim.ca_file
        session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override session.verify
        # msal's constructor fetches the OpenID configuration synchronously: off the loop serving the tenant.
        yield await asyncio.to_thread(
            msal.ConfidentialClientApplication, sim.client_id, client_credential=sim.client_secret,
            authority=sim.authority, instance_discovery=False, http_client=session,
        )  # fmt: skip


@dataclass
class Resp:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None

    @property
    def message(self) -> str:
        return (self.body or {}).get("error", {}).get("message", "") if isinstance(self.body, dict) else ""


class Client:
    def __init__(self, sim: RunningSimTenant, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self._app_token: str | None = None

    async def raw(self, method: str, url: str, **kwargs: Any) -> Resp:
        async with self.session.request(method, url, **kwargs) as response:
            text = await response.text()
            body = None
            if text:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = text
            return Resp(response.status, body, response.headers)

    async def app_token(self) -> str:
        if self._app_token is None:
            response = await self.raw(
                "POST",
                f"{self.sim.authority}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.sim.client_id,
                    "client_secret": self.sim.client_secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            assert response.status == 200, response.body
            self._app_token = response.body["access_token"]
        return self._app_token

    async def user_token(self, oid: str = ALICE, **claims: Any) -> str:
        response = await self.control("POST", "/token", json={"oid": oid, **claims})
        assert response.status == 200, response.body
        token: str = response.body["access_token"]
        return token

    async def control(self, method: str, path: str, **kwargs: Any) -> Resp:
        return await self.raw(method, self.sim.control_url + path, **kwargs)

    async def graph(
        self, method: str, path: str, *, token: str | None = None, as_user: str | None = None, **kwargs: Any
    ) -> Resp:
        """Call Graph; by default with the app token, `as_user=oid` with a delegated one, `token=""` with none."""
        if token is None:
            token = await (self.user_token(as_user) if as_user else self.app_token())
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("https://") else self.sim.graph_base_url + path
        return await self.raw(method, url, headers=headers, **kwargs)

    async def activate(
        self,
        group_id: str,
        principal_id: str = ALICE,
        *,
        access: str = "member",
        duration: str | None = "PT1H",
        justification: str | None = "Investigating INC-1",
        ticket: str | None = None,
        token: str | None = None,
        **extra: Any,
    ) -> Resp:
        body: dict[str, Any] = {
            "action": "selfActivate",
            "principalId": principal_id,
            "groupId": group_id,
            "accessId": access,
            "justification": justification,
            "scheduleInfo": {
                "startDateTime": None,
                "expiration": {"type": "afterDuration", "duration": duration} if duration else {"type": "noExpiration"},
            },
        }
        if ticket:
            body["ticketInfo"] = {"ticketNumber": ticket, "ticketSystem": "ServiceNow"}
        body.update(extra)
        if token is None:
            token = await self.user_token(principal_id)
        return await self.graph("POST", f"{PIM}/assignmentScheduleRequests", token=token, json=body)

    async def deactivate(self, group_id: str, principal_id: str = ALICE, access: str = "member") -> Resp:
        body = {"action": "selfDeactivate", "principalId": principal_id, "groupId": group_id, "accessId": access}
        return await self.graph("POST", f"{PIM}/assignmentScheduleRequests", as_user=principal_id, json=body)

    async def advance(self, seconds: float) -> None:
        response = await self.control("POST", "/clock", json={"advance_seconds": seconds})
        assert response.status == 200
        if seconds >= 3600:
            self._app_token = None  # tokens live an hour of sim time

    async def now(self) -> datetime:
        response = await self.control("GET", "/clock")
        return datetime.fromisoformat(response.body["now"])


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimTenant]:
    tenant = build_tenant("demo", clock=SimClock(frozen=True))
    async with run_simtenant(tenant=tenant) as running:
        yield running


@pytest.fixture
async def client(sim: RunningSimTenant) -> AsyncIterator[Client]:
    connector = aiohttp.TCPConnector(ssl=sim.ssl_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Client(sim, session)
