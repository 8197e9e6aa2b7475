"""Composition root: settings → msal → httpx → Graph client → PimService → PimBot → CloudAdapter → aiohttp app.

The only module that imports everything. Run: `python app.py` (settings from the environment; see README).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import msal
import requests
from aiohttp import web
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from bot.connector import FastBotFrameworkAuthentication
from bot.handler import PimBot, on_turn_error
from bot.records import Records
from bot.routes import healthz, messages_handler
from bot.storage import SqliteStorage
from core.ports import Clock, UserTokenProvider
from core.service import PimService
from graph.auth import AppTokenSource, SimulatedTenantTokens
from graph.client import GraphClient
from graph.clock import GraphClock
from graph.pim import GraphPimDirectory
from settings import Settings, SettingsError, UserTokenMode, load_settings

log = logging.getLogger("pimbot")

APP_KEY = web.AppKey("pim_bot_parts", dict)


@dataclass(frozen=True)
class BotFrameworkConfig:
    """The attribute names botbuilder's ConfigurationBotFrameworkAuthentication reads with getattr."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    return ctx


def _msal_app(settings: Settings, session: requests.Session) -> msal.ConfidentialClientApplication:
    if settings.ca_file is not None:
        # requests lets REQUESTS_CA_BUNDLE silently override session.verify unless trust_env is off.
        session.trust_env = False
        session.verify = str(settings.ca_file)
    return msal.ConfidentialClientApplication(
        settings.graph_client_id,
        client_credential=settings.graph_client_secret.reveal(),
        authority=f"{settings.authority_host}/{settings.graph_tenant_id}",
        # No instance discovery: the authority is configured exactly (sovereign clouds, the simulated tenant).
        instance_discovery=False,
        http_client=session,
        timeout=settings.graph_timeout_seconds,
    )


def create_app(
    settings: Settings, *, clock: Clock | None = None, user_tokens: UserTokenProvider | None = None
) -> web.Application:
    """The aiohttp application. `clock` and `user_tokens` are seams for tests (the simulated tenant's clock)."""
    graph_clock = GraphClock(settings.graph_base_url)
    clock = clock or graph_clock
    app = web.Application(middlewares=[aiohttp_error_middleware], client_max_size=512 * 1024)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        ssl_ctx = _ssl_context(settings)
        http = httpx.AsyncClient(
            verify=ssl_ctx,
            timeout=httpx.Timeout(settings.graph_timeout_seconds, connect=min(5.0, settings.graph_timeout_seconds)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            event_hooks={"response": [graph_clock.on_response]},
        )
        connector_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=100),
            timeout=aiohttp.ClientTimeout(total=15),
        )
        storage = SqliteStorage(settings.state_db)
        # msal's constructor fetches the OpenID configuration synchronously: keep it off the event loop.
        msal_session = requests.Session()
        msal_app = await asyncio.to_thread(_msal_app, settings, msal_session)
        app_tokens = AppTokenSource(functools.partial(msal_app.acquire_token_for_client, scopes=[settings.graph_scope]))
        graph = GraphClient(http, settings.graph_base_url, app_tokens)
        directory = GraphPimDirectory(graph, clock)
        tokens: UserTokenProvider
        if user_tokens is not None:
            tokens = user_tokens
        elif settings.user_tokens is UserTokenMode.SIMULATED:
            tokens = SimulatedTenantTokens(http, settings.simulated_tenant_url)
        else:  # load_settings refuses SSO until the identity work lands; keep the guard for direct callers
            raise SettingsError(["USER_TOKENS=sso is not available yet"])
        service = PimService(directory, tokens, clock)
        records = Records(storage)
        bot = PimBot(service, records, clock, settings.allowed_tenants)
        # botbuilder refuses SingleTenant without an app id; its MultiTenant branch is the one that allows the
        # anonymous local-development mode (load_settings only permits that with BOT_ALLOW_ANONYMOUS=1).
        app_type = "MultiTenant" if settings.anonymous else settings.app_type.value
        bf_config = BotFrameworkConfig(
            settings.app_id, settings.app_password.reveal(), app_type, settings.app_tenant_id
        )
        inner = ConfigurationBotFrameworkAuthentication(bf_config)
        adapter = CloudAdapter(
            FastBotFrameworkAuthentication(inner, connector_session, _connector_tokens(inner, settings))
        )
        adapter.on_turn_error = on_turn_error
        app[APP_KEY].update(
            storage=storage,
            bot=bot,
            adapter=adapter,
            directory=directory,
            graph=graph,
            messages=messages_handler(adapter, bot),
        )
        try:
            yield
        finally:
            await http.aclose()
            await connector_session.close()
            msal_session.close()
            storage.close()

    app[APP_KEY] = {}

    async def messages(request: web.Request) -> web.StreamResponse:
        # The router is frozen before the lifecycle runs; the real handler is built there (it needs the loop).
        handler = app[APP_KEY]["messages"]
        response: web.StreamResponse = await handler(request)
        return response

    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(lifecycle)
    return app


def _connector_tokens(inner: ConfigurationBotFrameworkAuthentication, settings: Settings) -> Any:
    """Bearer tokens for outbound Bot Connector calls; none in anonymous (local development) mode."""
    if settings.anonymous:

        async def none(_: str) -> str | None:
            return None

        return none
    factory = inner._inner._credentials_factory  # botbuilder keeps the credential factory private (4.17.1, final)

    async def token(audience: str) -> str | None:
        credentials = await factory.create_credentials(settings.app_id, audience, None, True)
        return str(await asyncio.to_thread(credentials.get_access_token))

    return token


def main() -> None:
    try:
        settings = load_settings(os.environ)
    except SettingsError as e:
        print(f"pim-bot: cannot start.\n{e}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    if settings.anonymous:
        log.warning(
            "BOT_ALLOW_ANONYMOUS is on: inbound requests are NOT authenticated. Local development and demos only."
        )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
