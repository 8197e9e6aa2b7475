"""The bot in-process over HTTP with USER_TOKENS=sso: user tokens from a stand-in of the Bot Framework token service
(OAUTH_URL), Graph from the simulated tenant, replies to the recording Bot Connector.

The bot runs in anonymous mode here (no channel tokens to sign; tests/auth covers those), so the settings are built
from the anonymous test environment and switched to SSO with `dataclasses.replace`: load_settings itself refuses SSO
without an app id, since the real token service serves only a registered bot. For the same reason botbuilder's
anonymous user token client has no app id (get_sign_in_resource refuses it): `user_token_client` gives the turn a
client for BOT_APP_ID at OAUTH_URL, without a bearer (the stand-in does not check one). The bearer path belongs to
the authenticated end-to-end tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.auth._user_token_client_impl import _UserTokenClientImpl

from app import Seams, create_app
from bot.transport.connector import FastBotFrameworkAuthentication
from settings import Settings, UserTokenMode, load_settings
from simtenant import run_simtenant
from tests.bot.conftest import bot_env
from tests.fakes.connector import FakeConnector, running_connector
from tests.fakes.token_service import FakeTokenService, running_token_service

CONNECTION = "graph-sso"
BOT_APP_ID = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
BOT_API = f"api://botid-{BOT_APP_ID}"


@dataclass
class SsoStack:
    sim: Any
    connector: FakeConnector
    token_service: FakeTokenService
    servers: list[TestServer]
    http: aiohttp.ClientSession
    settings: Settings

    @property
    def service_url(self) -> str:
        return self.connector.url

    async def post(self, activity: dict[str, Any], instance: int = 0) -> tuple[int, Any]:
        async with self.http.post(self.servers[instance].make_url("/api/messages"), json=activity) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, body


@asynccontextmanager
async def bot_server(settings: Settings, sim: Any) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(settings, Seams(clock=sim.tenant.clock)), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def user_token_client(monkeypatch: pytest.MonkeyPatch) -> None:
    async def create(self: FastBotFrameworkAuthentication, claims_identity: Any) -> Any:
        oauth_url = self._inner._inner._oauth_url  # what ConfigurationBotFrameworkAuthentication got as OAUTH_URL
        return _UserTokenClientImpl(BOT_APP_ID, MicrosoftAppCredentials(None, None), oauth_url)

    monkeypatch.setattr(FastBotFrameworkAuthentication, "create_user_token_client", create)


@pytest.fixture
async def sso(tmp_path: Path, user_token_client: None) -> AsyncIterator[SsoStack]:
    async with (
        run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim,
        running_connector() as connector,
        running_token_service(sim, CONNECTION, BOT_API) as token_service,
    ):
        base = load_settings(bot_env(sim, tmp_path / "state.sqlite3"))
        settings = replace(
            base,
            sign_in=replace(base.sign_in, user_tokens=UserTokenMode.SSO, oauth_connection_name=CONNECTION),
            bot=replace(base.bot, endpoints=replace(base.bot.endpoints, oauth_url=token_service.url)),
        )
        async with bot_server(settings, sim) as one, bot_server(settings, sim) as two:
            async with aiohttp.ClientSession() as http:
                yield SsoStack(sim, connector, token_service, [one, two], http, settings)
