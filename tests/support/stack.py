"""The bot stack of the HTTP tests, built in one place: the simulated tenant (HTTPS), the recording Bot Connector, and
the bot itself served in-process over real HTTP (aiohttp's TestServer on a local port).

Two choices shape it, as they shape a deployment:

- `Tokens`, how the bot gets a user's Graph token: SIMULATED (USER_TOKENS=simulated, the simulated tenant mints it:
  the demo) or SSO (Teams SSO: the Bot Framework token service stand-in at OAUTH_URL, over the tenant's sign-ins).
- `Channel`, who may post to /api/messages: ANONYMOUS (BOT_ALLOW_ANONYMOUS, development mode: no channel token) or
  SIGNED (production settings: the bot's own app id and secret, SingleTenant, the channel's OpenID keys and the Entra
  token endpoint as local HTTPS stand-ins; the Bot Connector and the token service check the bot's bearer on every
  call).

So the three stacks the suite uses are one builder: `stack` (SIMULATED, ANONYMOUS), `sso` (SSO, ANONYMOUS; two bot
instances behind one load balancer) and `prod` / `prod_sso` / `prod_stepup` (SIGNED; step-up serves the bot over
HTTPS at PUBLIC_BASE_URL). `quick=True` is the stack for fault tests: a 0.5 s Graph timeout, the Graph client's waits
between retries on the simulated clock (no test sleeps through a backoff or a Retry-After) and no background sweeps.

SSO with an anonymous channel: load_settings refuses SSO without an app id (the real token service serves only a
registered bot), so the settings are switched to SSO with `dataclasses.replace`; and botbuilder's anonymous user token
client has no app id (get_sign_in_resource refuses it), so for the stack's lifetime the turn gets a client for
SSO_BOT_APP_ID at OAUTH_URL without a bearer (the stand-in does not check one there). The bearer path is the SIGNED
stack's.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.auth._user_token_client_impl import _UserTokenClientImpl

from app import PARTS_KEY, Seams, create_app
from bot.transport.connector import FastBotFrameworkAuthentication
from devtools.teams.activities import BOT_ID, BOT_NAME
from devtools.teams.connector import FakeConnector, running_connector
from settings import Settings, UserTokenMode, load_settings
from simtenant import RunningSimTenant, run_simtenant
from tests.fakes.botframework import IdentityStandIns, running_identity
from tests.fakes.ports import ReservedPort
from tests.fakes.token_service import FakeTokenService, running_token_service
from tests.fakes.virtual_time import ManualClock

TEAMS_APP_ID = "5c2b1a3d-7e4f-4a6b-9c8d-0e1f2a3b4c5d"  # the bot's Teams app manifest id (the catalog's externalId)
CONNECTION = "graph-sso"  # the OAuth connection name of the SSO stacks
# The anonymous SSO stack's app id, as the token service stand-in knows it.
SSO_BOT_APP_ID = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
SSO_BOT_API = f"api://botid-{SSO_BOT_APP_ID}"
GRAPH_TIMEOUT = 0.5  # the quick stack's Graph timeout: "slower than the timeout" costs half a second
# ... activations too (in production they wait longer, for the custom extension: GRAPH_ACTIVATION_TIMEOUT_SECONDS)
QUICK_GRAPH = {"GRAPH_TIMEOUT_SECONDS": str(GRAPH_TIMEOUT), "GRAPH_ACTIVATION_TIMEOUT_SECONDS": str(GRAPH_TIMEOUT)}
SIGNED = "signed"  # Stack.post's default authorization: a valid channel token when the channel is SIGNED


class Tokens(enum.Enum):
    """How the bot gets a user's Graph token."""

    SIMULATED = "simulated"
    SSO = "sso"


class Channel(enum.Enum):
    """Who may post to /api/messages."""

    ANONYMOUS = "anonymous"
    SIGNED = "signed"


@dataclass
class Stack:
    """A running stack. `servers`: the bot instances (one unless asked for more), all on one state file."""

    sim: RunningSimTenant
    connector: FakeConnector
    servers: list[TestServer]
    http: aiohttp.ClientSession
    state_db: Path
    env: dict[str, str] = field(default_factory=dict)  # the bot's environment (its settings before any replace)
    settings: Settings | None = None
    token_service: FakeTokenService | None = None  # with Tokens.SSO
    ids: IdentityStandIns | None = None  # with Channel.SIGNED: the channel's keys, the bot's login
    app_id: str = ""
    app_secret: str = ""
    minted: list[str] = field(default_factory=list)  # every channel token made, for log scans

    @property
    def server(self) -> TestServer:
        return self.servers[0]

    @property
    def service_url(self) -> str:
        return self.connector.url

    def token(self, activity: dict[str, Any], **bend: Any) -> str:
        """A channel token for `activity`, as the Bot Connector signs it; keyword arguments make it bad."""
        assert self.ids is not None, "channel tokens need the SIGNED channel"
        token = self.ids.channel.activity_token(self.app_id, str(activity["serviceUrl"]), **bend)
        self.minted.append(token)
        return token

    async def post(
        self, activity: dict[str, Any], authorization: str | None = SIGNED, *, instance: int = 0
    ) -> tuple[int, Any]:
        """POST an activity to a bot instance. `authorization`: SIGNED (a valid channel token on a SIGNED stack,
        none on an ANONYMOUS one), None (no header) or the header's value."""
        headers = {}
        if authorization == SIGNED:
            if self.ids is not None:
                headers["Authorization"] = f"Bearer {self.token(activity)}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        url = self.servers[instance].make_url("/api/messages")
        async with self.http.post(url, json=activity, headers=headers) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, body

    def graph_calls(self) -> list[dict[str, Any]]:
        return [e for e in self.sim.tenant.log.recent() if e["path"].startswith("/v1.0")]

    async def publish_bot(self, **extra: Any) -> str:
        """Put the bot's app in the simulated tenant's org catalog, its messaging endpoint this bot's (an admin's
        upload): the bot can then install it for people, and Teams tells the bot of every installation."""
        body = {
            "display_name": BOT_NAME,
            "bot_id": BOT_ID,
            "external_id": TEAMS_APP_ID,
            "messaging_endpoint": str(self.server.make_url("/api/messages")),
            "service_url": self.service_url,
            "bot_name": BOT_NAME,
            **extra,
        }
        published = await self.sim_control("POST", "/teams/apps", body)
        self.connector.personal_chat = self.sim.tenant.teams.personal_chat  # Teams knows who has the app
        app_id: str = published["id"]
        return app_id

    async def sim_control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(
            method, f"{self.sim.control_url}{path}", json=body, ssl=self.sim.ssl_context()
        ) as r:
            assert r.status < 300, await r.text()
            return await r.json(content_type=None) if r.content_length != 0 else None


def bot_env(sim: Any, state_db: Path, **extra: str) -> dict[str, str]:
    """The development settings (anonymous channel, simulated user tokens) on `sim`, with `extra` on top."""
    env = {
        "MicrosoftAppId": "",
        "BOT_ALLOW_ANONYMOUS": "1",
        "GRAPH_BASE_URL": sim.graph_base_url,
        "GRAPH_SCOPE": "https://graph.microsoft.com/.default",
        "AUTHORITY_HOST": sim.authority_host,
        "GRAPH_TENANT_ID": sim.tenant_id,
        "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret,
        "CA_FILE": str(sim.ca_file),
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": sim.control_url,
        "STATE_DB": str(state_db),
        "GRAPH_TIMEOUT_SECONDS": "2",
        # Tests run the check of access about to end themselves (`ending_cycle`), on the simulated clock.
        "ENDING_POLL_SECONDS": "3600",
    }
    env.update(extra)
    return env


def production_env(sim: Any, ids: IdentityStandIns, tmp_path: Path, app_id: str, app_secret: str) -> dict[str, str]:
    """The production settings (the bot's own app, SingleTenant, every endpoint a local HTTPS stand-in) on `sim`."""
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
        "ENDING_POLL_SECONDS": "3600",
    }


def seams(sim: RunningSimTenant, *, quick: bool = False, timer: Any = None) -> Seams:
    """The bot's seams on `sim`: its clock; `timer`, its monotonic time; `quick`, Graph's waits on the simulated clock
    and no background follow-ups."""
    if not quick:
        return Seams(clock=sim.tenant.clock, timer=timer)

    async def virtual_sleep(seconds: float) -> None:
        sim.tenant.advance(seconds)
        await asyncio.sleep(0)

    return Seams(clock=sim.tenant.clock, timer=timer, graph_sleep=virtual_sleep, reconcile_seconds=3600)


@asynccontextmanager
async def bot_server(
    settings: Settings,
    seams: Seams | None = None,
    *,
    reserved: ReservedPort | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[TestServer]:
    """One bot process (in-process app) on a local port, `reserved` if given, over HTTPS with `tls`."""
    app = create_app(settings, seams)
    server = (
        TestServer(app, host="127.0.0.1", port=reserved.port, socket_factory=reserved.factory)
        if reserved is not None
        else TestServer(app, host="127.0.0.1")
    )
    await server.start_server(ssl=tls)
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def anonymous_user_token_client() -> AsyncIterator[None]:
    """The turn's user token client for SSO_BOT_APP_ID at OAUTH_URL, without a bearer (see the module's docstring)."""

    async def create(self: FastBotFrameworkAuthentication, claims_identity: Any) -> Any:
        oauth_url = self._inner._inner._oauth_url  # what ConfigurationBotFrameworkAuthentication got as OAUTH_URL
        return _UserTokenClientImpl(SSO_BOT_APP_ID, MicrosoftAppCredentials(None, None), oauth_url)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastBotFrameworkAuthentication, "create_user_token_client", create)
        yield


@asynccontextmanager
async def running_stack(
    tmp_path: Path,
    *,
    tokens: Tokens = Tokens.SIMULATED,
    channel: Channel = Channel.ANONYMOUS,
    https: bool = False,
    public_url: bool = False,
    instances: int = 1,
    quick: bool = False,
    sign_in_http: bool = False,
    cls: type[Stack] = Stack,
    **settings_env: str,
) -> AsyncIterator[Any]:
    """The stack for as long as the block runs. `https`: the bot served over HTTPS (the test CA) at PUBLIC_BASE_URL,
    so its step-up sign-in pages are on, as in production (SIGNED only); `public_url`: the same over plain HTTP (as in
    the demo); `sign_in_http`: the simulated tenant's sign-in pages over HTTP; `cls`: a Stack subclass to yield (its
    extra fields set by the caller); `settings_env`: more environment for the bot's settings."""
    signed = channel is Channel.SIGNED
    async with AsyncExitStack() as exits:
        sim = await exits.enter_async_context(
            run_simtenant(seed="demo", state_dir=tmp_path / "sim", sign_in_http=sign_in_http)
        )
        ids = await exits.enter_async_context(running_identity()) if signed else None
        tls = ids.ca.server_context() if ids is not None else None
        connector = await exits.enter_async_context(running_connector(ssl_context=tls))
        state_db = tmp_path / "state.sqlite3"
        app_id, app_secret = "", ""
        overrides = (QUICK_GRAPH if quick else {}) | settings_env
        if ids is not None:
            app_id, app_secret = str(uuid.uuid4()), f"bot~{secrets.token_urlsafe(24)}"
            ids.login.register(app_id, app_secret, sim.tenant_id)
            connector.verify_bearer = ids.login.verify
            env = production_env(sim, ids, tmp_path, app_id, app_secret) | overrides
        else:
            env = bot_env(sim, state_db, **overrides)
        token_service: FakeTokenService | None = None
        if signed or tokens is Tokens.SSO:
            audience = f"api://botid-{app_id}" if signed else SSO_BOT_API
            token_service = await exits.enter_async_context(
                running_token_service(sim, CONNECTION, audience, ssl_context=tls)
            )
            if ids is not None:
                token_service.verify_bearer = ids.login.verify
        reserved = ReservedPort() if https or public_url else None
        if reserved is not None:
            env["PUBLIC_BASE_URL"] = f"{'https' if https else 'http'}://127.0.0.1:{reserved.port}"
        settings = _settings(env, tokens, signed, token_service)
        if tokens is Tokens.SSO and not signed:
            await exits.enter_async_context(anonymous_user_token_client())
        servers = [
            await exits.enter_async_context(
                bot_server(
                    settings, seams(sim, quick=quick), reserved=reserved if i == 0 else None, tls=tls if https else None
                )
            )
            for i in range(instances)
        ]
        # The test client trusts what the bot trusts: the simulated tenant's CA, and the test CA of a SIGNED stack.
        trust = ssl.create_default_context(cafile=env["CA_FILE"])
        http = await exits.enter_async_context(aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)))
        yield cls(
            sim, connector, servers, http, state_db, env, settings,
            token_service=token_service if tokens is Tokens.SSO else None,
            ids=ids, app_id=app_id, app_secret=app_secret,
        )  # fmt: skip


def _settings(env: dict[str, str], tokens: Tokens, signed: bool, token_service: FakeTokenService | None) -> Settings:
    if tokens is Tokens.SSO and signed:
        assert token_service is not None
        env.update(USER_TOKENS="sso", OAUTH_CONNECTION_NAME=CONNECTION, OAUTH_URL=token_service.url)
        env.pop("SIMULATED_TENANT_URL")
    settings = load_settings(env)
    assert settings.bot.anonymous is not signed
    if tokens is Tokens.SSO and not signed:
        assert token_service is not None
        settings = replace(
            settings,
            sign_in=replace(settings.sign_in, user_tokens=UserTokenMode.SSO, oauth_connection_name=CONNECTION),
            bot=replace(settings.bot, endpoints=replace(settings.bot.endpoints, oauth_url=token_service.url)),
        )
    return settings


@asynccontextmanager
async def no_bot_yet(tmp_path: Path) -> AsyncIterator[Stack]:
    """The stack without a bot: the simulated tenant, the Bot Connector stand-in and a client. Bots join it with
    `another_bot`, each with its own settings and time (the stack's `servers` stay empty)."""
    async with (
        run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim,
        running_connector() as connector,
        aiohttp.ClientSession() as http,
    ):
        yield Stack(sim, connector, [], http, tmp_path / "state.sqlite3")


@asynccontextmanager
async def another_bot(
    stack: Stack, *, timer: Any = None, quick: bool = False, **settings_env: str
) -> AsyncIterator[Stack]:
    """Another bot process (in-process, development settings) on the stack's tenant, connector and state file: a
    restarted bot, or a second instance behind the same load balancer. `timer`: its monotonic time (app.Timer;
    virtual in tests); `quick`: as the quick stack's bot."""
    overrides = (QUICK_GRAPH if quick else {}) | settings_env
    settings = load_settings(bot_env(stack.sim, stack.state_db, **overrides))
    async with bot_server(settings, seams(stack.sim, quick=quick, timer=timer)) as server:
        yield Stack(stack.sim, stack.connector, [server], stack.http, stack.state_db, stack.env, settings)


START = 1000.0  # where a bot's virtual monotonic time starts (bot_on)


def bot_on(stack: Stack, clock: ManualClock) -> AbstractAsyncContextManager[Stack]:
    """A bot process (in-process app) on the stack's tenant, connector and state file, on virtual monotonic time."""
    return another_bot(stack, timer=clock)


async def follow_up(stack: Stack, server: TestServer | None = None) -> int:
    """One sweep of the unconfirmed writes (what the bot does every few seconds); how many were settled."""
    ended: int = await (server or stack.server).app[PARTS_KEY].reconcile()
    return ended


async def ending_cycle(stack: Stack, instance: int = 0) -> int:
    """One cycle of the check of access about to end (bot.ending), what the bot does every ENDING_POLL_SECONDS."""
    done: int = await stack.servers[instance].app[PARTS_KEY].bot.ending_cycle()
    return done


async def poll(stack: Stack) -> int:
    """One sweep of the approval poller."""
    changed: int = await stack.server.app[PARTS_KEY].poll()
    return changed


# ---- fixtures (the conftests expose them where they are used) ----------------------------------------------------


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as served:
        yield served


@pytest.fixture
async def sso(tmp_path: Path) -> AsyncIterator[Stack]:
    """Teams SSO through the token service stand-in, two bot instances on one state file."""
    async with running_stack(tmp_path, tokens=Tokens.SSO, instances=2) as served:
        yield served


@pytest.fixture
async def prod(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, channel=Channel.SIGNED) as served:
        yield served


@pytest.fixture
async def prod_sso(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, tokens=Tokens.SSO, channel=Channel.SIGNED) as served:
        yield served


@pytest.fixture
async def prod_stepup(tmp_path: Path) -> AsyncIterator[Stack]:
    """Production settings with Teams SSO, the bot served over HTTPS at PUBLIC_BASE_URL: step-up sign-in on."""
    async with running_stack(tmp_path, tokens=Tokens.SSO, channel=Channel.SIGNED, https=True) as served:
        yield served
