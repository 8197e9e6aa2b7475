"""The bot with PRODUCTION settings (app id, secret, SingleTenant, tenant id, every endpoint a local HTTPS stand-in):
the Bot Framework channel's OpenID keys, the Entra token endpoint for the bot's app, the simulated tenant (Graph), and
a recording Bot Connector that verifies the bot's bearer on every call. `prod_sso` adds Teams SSO (USER_TOKENS=sso):
the Bot Framework token service stand-in at OAUTH_URL, over HTTPS, refusing any call without the bot's valid bearer."""

from __future__ import annotations

import secrets
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import Seams, create_app
from settings import load_settings
from simtenant import run_simtenant
from tests.fakes.botframework import IdentityStandIns, running_identity
from tests.fakes.connector import FakeConnector, running_connector
from tests.fakes.ports import ReservedPort
from tests.fakes.token_service import FakeTokenService, running_token_service

CONNECTION = "graph-sso"


@dataclass
class ProdStack:
    sim: Any  # simtenant.RunningSimTenant
    ids: IdentityStandIns
    connector: FakeConnector
    server: TestServer
    http: aiohttp.ClientSession
    app_id: str
    app_secret: str
    env: dict[str, str]
    minted: list[str] = field(default_factory=list)  # every channel token made, for log scans
    token_service: FakeTokenService | None = None  # with prod_sso

    @property
    def service_url(self) -> str:
        return self.connector.url

    def token(self, activity: dict[str, Any], **bend: Any) -> str:
        """A channel token for `activity`, as the Bot Connector signs it; keyword arguments make it bad."""
        token = self.ids.channel.activity_token(self.app_id, str(activity["serviceUrl"]), **bend)
        self.minted.append(token)
        return token

    async def post(self, activity: dict[str, Any], authorization: str | None = "signed") -> tuple[int, Any]:
        headers = {}
        if authorization == "signed":
            headers["Authorization"] = f"Bearer {self.token(activity)}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        async with self.http.post(self.server.make_url("/api/messages"), json=activity, headers=headers) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, body

    def graph_calls(self) -> list[dict[str, Any]]:
        return [e for e in self.sim.tenant.log.recent() if e["path"].startswith("/v1.0")]


def production_env(sim: Any, ids: IdentityStandIns, tmp_path: Path, app_id: str, app_secret: str) -> dict[str, str]:
    ca_bundle = ids.ca.bundle(tmp_path / "ca-bundle.pem", Path(sim.ca_file))
    return {
        "MicrosoftAppId": app_id,
        "MicrosoftAppPassword": app_secret,
        "MicrosoftAppType": "SingleTenant",
        "MicrosoftAppTenantId": sim.tenant_id,
        # Graph reads with the simulated tenant's app (GRAPH_* default to the bot's app in a real deployment).
        "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret,
        "GRAPH_BASE_URL": sim.graph_base_url,
        "GRAPH_SCOPE": "https://graph.microsoft.com/.default",
        "AUTHORITY_HOST": sim.authority_host,
        "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": ids.channel.metadata_url,
        "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": ids.channel.issuer,
        # The tenant part is replaced by MicrosoftAppTenantId (SingleTenant), as in the public preset.
        "TO_CHANNEL_FROM_BOT_LOGIN_URL": f"{ids.login.url}/botframework.com",
        "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": ids.login.resource,
        "OAUTH_URL": f"{ids.login.url}/token-service",  # user tokens (SSO) are not exercised here
        "CA_FILE": str(ca_bundle),
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": sim.control_url,
        "STATE_DB": str(tmp_path / "state.sqlite3"),
        "GRAPH_TIMEOUT_SECONDS": "2",
    }


@asynccontextmanager
async def production_stack(tmp_path: Path, *, sso: bool = False, https: bool = False) -> AsyncIterator[ProdStack]:
    """`https`: the bot itself is served over HTTPS (the test CA) at PUBLIC_BASE_URL, so its step-up sign-in pages
    are on, as in production; the stack's client session trusts the test CA and the simulated tenant's."""
    async with (
        run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim,
        running_identity() as ids,
        running_connector(ssl_context=ids.ca.server_context()) as connector,
    ):
        app_id, app_secret = str(uuid.uuid4()), f"bot~{secrets.token_urlsafe(24)}"
        ids.login.register(app_id, app_secret, sim.tenant_id)
        connector.verify_bearer = ids.login.verify
        env = production_env(sim, ids, tmp_path, app_id, app_secret)
        async with running_token_service(
            sim, CONNECTION, f"api://botid-{app_id}", ssl_context=ids.ca.server_context()
        ) as token_service:
            token_service.verify_bearer = ids.login.verify
            if sso:
                env.update(USER_TOKENS="sso", OAUTH_CONNECTION_NAME=CONNECTION, OAUTH_URL=token_service.url)
                env.pop("SIMULATED_TENANT_URL")
            reserved = ReservedPort() if https else None
            if reserved is not None:
                env["PUBLIC_BASE_URL"] = f"https://127.0.0.1:{reserved.port}"
            settings = load_settings(env)
            assert not settings.bot.anonymous
            app = create_app(settings, Seams(clock=sim.tenant.clock))
            server = (
                TestServer(app, host="127.0.0.1", port=reserved.port, socket_factory=reserved.factory)
                if reserved is not None
                else TestServer(app, host="127.0.0.1")
            )
            await server.start_server(ssl=ids.ca.server_context() if https else None)
            trust = ssl.create_default_context(cafile=env["CA_FILE"]) if https else None
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust) if trust else None) as http:
                    yield ProdStack(
                        sim, ids, connector, server, http, app_id, app_secret, env,
                        token_service=token_service if sso else None,
                    )  # fmt: skip
            finally:
                await server.close()


@pytest.fixture
async def prod(tmp_path: Path) -> AsyncIterator[ProdStack]:
    async with production_stack(tmp_path) as stack:
        yield stack


@pytest.fixture
async def prod_sso(tmp_path: Path) -> AsyncIterator[ProdStack]:
    async with production_stack(tmp_path, sso=True) as stack:
        yield stack


@pytest.fixture
async def prod_stepup(tmp_path: Path) -> AsyncIterator[ProdStack]:
    """Production settings with Teams SSO, the bot served over HTTPS at PUBLIC_BASE_URL: step-up sign-in on."""
    async with production_stack(tmp_path, sso=True, https=True) as stack:
        yield stack
