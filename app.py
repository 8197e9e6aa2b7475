"""Composition root: settings → msal → httpx → Graph client → PimService → PimBot → CloudAdapter → aiohttp app.

The only module that imports everything. Run: `python app.py` (settings from the environment; see README).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import signal
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol

import aiohttp
import httpx
import msal
import requests
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from bot.approvals import ApprovalRecords
from bot.conversations import Conversations, KnownGroupsRecord
from bot.demo import DemoCommands
from bot.ending import EndingSettings
from bot.extension.contract import PATH as EXTENSION_PATH
from bot.extension.contract import TokenRules
from bot.extension.endpoint import ExtensionEndpoint
from bot.extension.records import ExtensionRecords
from bot.extension.rules import FileRules
from bot.extension.tell import Teller
from bot.extension.tokens import CallerCheck
from bot.extension.upkeep import ExtensionUpkeep
from bot.feed import FeedDesk, FeedSettings
from bot.handler import PimBot, on_turn_error
from bot.health import HEALTH_KEY, Dependency, Health, ObservedTransport
from bot.live import LiveDesk
from bot.live import LiveSettings as LiveDeskSettings
from bot.liveness import Liveness
from bot.observe import tracing
from bot.observe.context import TURN, TurnScope
from bot.observe.logs import JsonFormatter
from bot.observe.metrics import TURN_SECONDS, TURNS, GraphMetrics, child, watch_send_waits
from bot.observe.ready import READINESS_KEY, Readiness, readyz
from bot.observe.serve import MetricsServer
from bot.pages import SIGN_IN_OFF, respond
from bot.reconcile import Reconciler
from bot.signin import CALLBACK_PATH, START_PATH, SsoSignIn, StepUp, build_step_up_msal
from bot.store import Store, StoreError
from bot.store.open import StoreLocation, open_store
from bot.transport import emit
from bot.transport.connector import FastBotFrameworkAuthentication, TokenSource
from bot.transport.credentials import BotCredentialsFactory, BotTokens
from bot.transport.deliveries import Deliveries
from bot.transport.openid import OpenIdKeys, install_openid_keys, uninstall_openid_keys
from bot.transport.proactive import BotConnector
from bot.transport.routes import Handler, errors_middleware, healthz, messages_handler
from bot.transport.sendlimit import ConversationLimiter
from bot.transport.turns import Turns
from bot.transport.typing import TypingIndicator
from core.admins import Admins
from core.errors import SignInRequired
from core.extension import Outcome
from core.ports import Clock, UserTokenProvider
from core.service import PimService
from graph.auditlog import AuditPacer
from graph.auth import AppTokenSource, SimulatedTenantTokens
from graph.client import GraphClient
from graph.clock import GraphClock
from graph.demo import SimulatedColleagues
from graph.extension import DirectoryFacts
from graph.feed import FeedReader
from graph.history import HistoryReader
from graph.pim import GraphPimDirectory
from graph.teamsapps import GraphAppInstaller
from graph.transport import GraphHttpClient, graph_transport
from settings import AppType, LogFormat, Settings, SettingsError, UserTokenMode, load_settings

log = logging.getLogger("pimbot")

RECONCILE_SECONDS = 5.0  # "I will tell you in a moment": how often unconfirmed writes are followed up
SHUTDOWN_DRAIN_SECONDS = 10.0  # how long a stopping bot lets running card updates finish (the poller does the rest)
DELIVERY_SWEEP_SECONDS = 60.0  # activities left unfinished by a dead process are found, expired markers deleted
GC_YOUNG_THRESHOLD = 7_000  # allocations between young collections (Python: 700); why, in main()


@dataclass(frozen=True)
class BotFrameworkConfig:
    """The attribute names botbuilder's ConfigurationBotFrameworkAuthentication reads with getattr
    (botbuilder/integration/aiohttp/configuration_bot_framework_authentication.py, 4.17.1).

    Any of the endpoint attributes set makes botbuilder use its parameterized authentication with exactly these
    endpoints, so CHANNEL_SERVICE (which only picks a built-in public/US Gov constant set) is not needed;
    VALIDATE_AUTHORITY only reaches botbuilder's private-cloud credentials, which this bot does not use.
    """

    APP_ID: str
    APP_PASSWORD: str = field(repr=False)
    APP_TYPE: str
    APP_TENANTID: str
    OAUTH_URL: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BotFrameworkConfig:
        e = settings.bot.endpoints
        return cls(
            APP_ID=settings.bot.app_id,
            APP_PASSWORD=settings.bot.app_password.reveal(),
            # botbuilder refuses SingleTenant without an app id; its MultiTenant branch is the one that allows the
            # anonymous local-development mode (load_settings only permits that with BOT_ALLOW_ANONYMOUS=1).
            APP_TYPE="MultiTenant" if settings.bot.anonymous else settings.bot.app_type.value,
            APP_TENANTID=settings.bot.app_tenant_id,
            OAUTH_URL=e.oauth_url,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=e.to_bot_from_channel_openid_metadata_url,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=e.to_bot_from_channel_token_issuer,
            TO_CHANNEL_FROM_BOT_LOGIN_URL=e.to_channel_from_bot_login_url,
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=e.to_channel_from_bot_oauth_scope,
        )


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    return ctx


def _trusting(settings: Settings, session: requests.Session) -> requests.Session:
    if settings.ca_file is not None:
        # requests lets REQUESTS_CA_BUNDLE silently override session.verify unless trust_env is off.
        session.trust_env = False
        session.verify = str(settings.ca_file)
    return session


def _msal_app(settings: Settings, session: requests.Session) -> msal.ConfidentialClientApplication:
    _trusting(settings, session)
    return msal.ConfidentialClientApplication(
        settings.graph.client_id,
        client_credential=settings.graph.client_secret.reveal(),
        authority=f"{settings.graph.authority_host}/{settings.graph.tenant_id}",
        # No instance discovery: the authority is configured exactly (sovereign clouds, the simulated tenant).
        instance_discovery=False,
        http_client=session,
        timeout=settings.graph.timeout_seconds,
    )


class Timer(Protocol):
    """Monotonic seconds and a sleep on that clock: what the send limiter, Graph's retries and the deadline of the
    HTTP answer wait on (tests pass virtual time)."""

    def __call__(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class _RealTime:
    def __call__(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Faults:
    """Where the crash tests (tests/adversarial) make this process die: SIGKILL when the admin feed's cycle or the
    approval flow reaches the named point ("queued", "posted:3", "claimed", …). Empty, as in production: never."""

    feed_kill_at: str = ""
    approval_kill_at: str = ""
    extension_kill_at: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        """PIMBOT_TEST_FEED_KILL_AT, PIMBOT_TEST_APPROVAL_KILL_AT, PIMBOT_TEST_EXTENSION_KILL_AT: how the crash
        tests, which run the bot as a process, set them."""
        return cls(
            env.get("PIMBOT_TEST_FEED_KILL_AT", ""),
            env.get("PIMBOT_TEST_APPROVAL_KILL_AT", ""),
            env.get("PIMBOT_TEST_EXTENSION_KILL_AT", ""),
        )

    @property
    def feed(self) -> Callable[[str], None] | None:
        return _kill_at(self.feed_kill_at) if self.feed_kill_at else None

    @property
    def approval(self) -> Callable[[str], None] | None:
        return _kill_at(self.approval_kill_at) if self.approval_kill_at else None

    @property
    def extension(self) -> Callable[[str], None] | None:
        return _kill_at(self.extension_kill_at) if self.extension_kill_at else None


@dataclass(frozen=True)
class Seams:
    """What tests put in place of the real thing; `Seams()` is production. `clock`: the bot's wall clock (Graph's
    Date header otherwise); `user_tokens`: delegated tokens (else as USER_TOKENS says); `timer`: monotonic time (the
    send limiter, the deadline of the HTTP answer, and Graph's retries unless `graph_sleep` is given);
    `reconcile_seconds`: how often writes whose answer was lost are followed up; `faults`: the crash tests' kill
    points."""

    clock: Clock | None = None
    user_tokens: UserTokenProvider | None = None
    timer: Timer | None = None
    graph_sleep: Callable[[float], Awaitable[None]] | None = None
    reconcile_seconds: float = RECONCILE_SECONDS
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True)
class _Clients:
    """What the parts talk to the world through, closed last (after the work that uses them)."""

    http: httpx.AsyncClient  # Graph, the simulated tenant, the OpenID keys
    connector_session: aiohttp.ClientSession  # the Bot Connector
    openid_keys: OpenIdKeys  # in botbuilder's key cache, fetching through `http` (bot.transport.openid)
    msal_session: requests.Session  # msal's, for the Graph app
    bot_session: requests.Session  # msal's, for the bot's own app
    credentials_factory: BotCredentialsFactory | None

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.connector_session.close()
        uninstall_openid_keys(self.openid_keys)
        self.msal_session.close()
        self.bot_session.close()
        if self.credentials_factory is not None:
            self.credentials_factory.close()


@dataclass(frozen=True)
class Parts:
    """One bot process's pieces, built by `build_parts` (the event loop must run). `start` runs the background loops
    (approval poll, admin feed, follow-ups of lost writes, sweep of delivery markers, heartbeat); `aclose` stops them
    and closes everything in the order that lets running work finish on open clients."""

    settings: Settings
    health: Health
    store: Store  # the bot's state (bot.store: SQLite or Azure Blob Storage, STORE)
    graph: GraphClient
    directory: GraphPimDirectory
    adapter: CloudAdapter  # botbuilder's, for the inbound route
    proactive: BotConnector  # the desks' side of the Bot Connector (bot.transport)
    liveness: Liveness
    feed: FeedDesk
    live: LiveDesk  # scheduled activations until they start, activations until the directory shows them (bot.live)
    bot: PimBot
    step_up: StepUp | None  # PUBLIC_BASE_URL unset: no step-up pages
    extension: ExtensionEndpoint | None  # PIM's custom extension (PIM_EXTENSION_APP_ID_URI unset: off)
    turns: Turns
    messages: Handler  # POST /api/messages
    poll: Callable[[], Awaitable[int]]  # one approval poll
    reconcile: Callable[[], Awaitable[int]]  # one round of follow-ups of lost writes
    reconcile_seconds: float
    clients: _Clients
    readiness: Readiness
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        if self.extension is not None:
            self.extension.start()  # the tenant's keys for PIM's tokens, fetched now
        every = self.settings.approvals.poll_seconds
        self._tasks.extend(
            asyncio.create_task(loop)
            for loop in (
                _every(every, self.poll, "the approval poll"),
                self.feed.run(),
                self.live.run(),
                _every(self.reconcile_seconds, self.reconcile, "following up unconfirmed writes"),
                _every(DELIVERY_SWEEP_SECONDS, self.turns.sweep, "the sweep of delivery markers"),
                _every(self.settings.ending.poll_seconds, self.bot.ending_cycle, "the check of access about to end"),
                self.liveness.run(),
            )
        )

    async def aclose(self) -> None:
        await self.turns.close()  # turns still running get a grace period, while the clients they use are open
        await self.health.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bot.drain(SHUTDOWN_DRAIN_SECONDS)  # card updates after approval clicks, before the clients close
        if self.extension is not None:
            await self.extension.drain(SHUTDOWN_DRAIN_SECONDS)  # feed posts and messages of PIM's calls
        await self.liveness.stop()
        with contextlib.suppress(Exception):
            await self.feed.release_lease()
        with contextlib.suppress(Exception):
            await self.bot.ending.release_lease()
        await self.clients.aclose()
        await self.store.aclose()


PARTS_KEY = web.AppKey("pim_bot_parts", Parts)


async def build_parts(settings: Settings, seams: Seams | None = None, *, health: Health | None = None) -> Parts:
    """Every piece of the bot, wired: clients, Graph, user tokens, the Bot Connector, the desks, the turn runner.
    `health` collects what the bot cannot reach (the app's, for GET /healthz)."""
    seams = seams or Seams()
    health = health or Health()
    graph_clock = GraphClock(settings.graph.base_url)
    clock = seams.clock or graph_clock
    timer = seams.timer or _RealTime()
    ssl_ctx = _ssl_context(settings)
    # The bot's state first: a store that cannot be opened (Blob Storage refusing the identity) stops the start
    # before any client is open (main says why).
    store = await open_store(_store_location(settings))
    log.info("state store: %s", _store_location(settings).describe())

    async def probe_graph() -> None:  # any HTTP answer (401 without a token) means Graph is reachable
        await http.get(settings.graph.base_url + "/")

    graph_reach = health.add("graph", Dependency("Microsoft Graph", settings.graph.base_url, probe_graph))
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    http = GraphHttpClient(
        transport=ObservedTransport(graph_transport(ssl_ctx, limits), {settings.graph.base_url: graph_reach}),
        verify=ssl_ctx,  # and limits: for the transports httpx mounts for HTTPS_PROXY & co.
        limits=limits,
        timeout=httpx.Timeout(settings.graph.timeout_seconds, connect=min(5.0, settings.graph.timeout_seconds)),
        event_hooks={"response": [graph_clock.on_response]},
    )
    connector_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=100),
        timeout=aiohttp.ClientTimeout(total=15),
    )
    # msal's constructor fetches the authority's OpenID configuration (synchronously: off the event loop). With
    # Entra unreachable the bot starts anyway and builds it in the background (bot.health).
    msal_session = requests.Session()
    graph_entra = health.add(
        "entra_graph",
        Dependency(
            "Microsoft Entra (the bot's Graph sign-in)",
            settings.graph.authority_host,
            functools.partial(asyncio.to_thread, _msal_app, settings, msal_session),
        ),
    )
    await graph_entra.connect()
    app_tokens = AppTokenSource(
        functools.partial(_client_token, graph_entra, [settings.graph.scope]),
        functools.partial(_forget_client_tokens, graph_entra),
    )
    graph = GraphClient(
        http, settings.graph.base_url, app_tokens, sleep=seams.graph_sleep or timer.sleep, observer=GraphMetrics()
    )
    directory = GraphPimDirectory(
        graph,
        clock,
        known_store=KnownGroupsRecord(store),
        activation_timeout=settings.graph.activation_timeout_seconds,
    )
    tokens: UserTokenProvider
    # -- user tokens: simulated tenant, or Teams SSO (per turn, from the token service at OAUTH_URL) --
    sign_in: SsoSignIn | None = None
    if seams.user_tokens is not None:
        tokens = seams.user_tokens
    elif settings.sign_in.user_tokens is UserTokenMode.SIMULATED:
        tokens = SimulatedTenantTokens(http, settings.sign_in.simulated_tenant_url)
    else:
        if not settings.sign_in.oauth_connection_name:  # load_settings checks it; guard direct callers
            raise SettingsError(["OAUTH_CONNECTION_NAME is missing (required with USER_TOKENS=sso)"])
        sign_in = SsoSignIn(store, settings.sign_in.oauth_connection_name, clock)
        tokens = _NoSignIn()  # never used: PimBot hands PimService a per-turn SsoTokenProvider
    # -- end user tokens --
    step_up = _step_up(settings, store, clock, msal_session) if settings.sign_in.public_base_url else None
    if step_up is not None:
        tokens = step_up.tokens(tokens)  # a kept step-up token first (SSO mode wraps its per-turn provider)
    # Inbound: botbuilder validates every channel token; only its key fetch is ours (bot.transport.openid).
    openid_keys = install_openid_keys(settings.bot.endpoints.to_bot_from_channel_openid_metadata_url, http)
    # Outbound: our own msal client for the bot's app (built off the loop: msal fetches OpenID metadata), for the
    # Bot Connector and, through the credentials factory, botbuilder's token service client (bot.transport.credentials).
    bot_session = requests.Session()
    bot_tokens = await _bot_tokens(settings, bot_session, health)
    credentials_factory = (
        None  # anonymous: botbuilder's own factory, which disables authentication
        if bot_tokens is None
        else BotCredentialsFactory(bot_tokens, str(settings.ca_file) if settings.ca_file else None)
    )
    inner = ConfigurationBotFrameworkAuthentication(
        BotFrameworkConfig.from_settings(settings), credentials_factory=credentials_factory
    )
    connector_tokens: TokenSource = bot_tokens.token if bot_tokens is not None else _anonymous_token
    limiter = ConversationLimiter(
        app_limits=((1.0, settings.bot.teams_requests_per_second),), clock=timer, sleep=timer.sleep
    )
    watch_send_waits(lambda: limiter.waited)
    emit.install()  # a finished turn is freed when it ends, not by the garbage collector (bot.transport.emit)
    adapter = CloudAdapter(
        FastBotFrameworkAuthentication(
            inner, connector_session, connector_tokens, settings.bot.endpoints.to_channel_from_bot_oauth_scope, limiter
        )
    )
    adapter.on_turn_error = on_turn_error
    proactive = BotConnector(adapter, settings.bot.app_id)  # the desks' side of the Bot Connector (bot.transport)
    conversations = Conversations(store)
    # The approval card says when PIM's custom extension passed a request on to approval (bot.extension).
    approval_records = ApprovalRecords(store, screening=ExtensionRecords(store).screening)
    # Before an activation that waits for approval is written, its group is remembered: a crash after the write
    # leaves the approval poller a group to find the request in (bot.approvals).
    service = PimService(directory, tokens, clock, before_approval_write=approval_records.serve_group)
    liveness = Liveness(store)  # this process's heartbeat: claims of a dead process are known at once
    await liveness.start()
    # PIM's audit log allows the app 5 requests per 10 s: the feed's reads and `audit export`'s pages spend one
    # budget, so one pacer for the process (graph.auditlog), on Graph's waits.
    graph_sleep = seams.graph_sleep or timer.sleep
    audit_pacer = AuditPacer(clock, graph_sleep)
    feed_reader = FeedReader(graph, pacer=audit_pacer)
    feed = FeedDesk(
        store,
        proactive,
        feed_reader,  # also PIM's audit log: approval outcomes, and with FEED_DISCOVER the groups it names
        clock,
        service.display_names,
        FeedSettings(
            groups=settings.feed.groups,
            channel=settings.feed.channel,
            discover=settings.feed.discover,
            digest_threshold=settings.feed.digest_threshold,
            poll_seconds=settings.feed.poll_seconds,
        ),
        fault=seams.faults.feed,
    )
    # `history` and `audit export`: requests and PIM's audit log, its pages paced within the audit API's budget.
    history = HistoryReader(graph, clock, audit_pacer, sleep=graph_sleep)
    live = LiveDesk(
        store,
        proactive,
        conversations,
        service,
        clock,
        LiveDeskSettings(settings.live.poll_seconds, settings.live.check_seconds, settings.live.notes),
    )
    bot = PimBot(
        service,
        conversations,
        clock,
        settings.access.allowed_tenants,
        sign_in=sign_in,
        reminder_minutes=settings.approvals.reminder_minutes,
        store=store,
        proactive=proactive,
        step_up=step_up,
        admins=Admins(directory, clock, user_ids=settings.access.admins, group_id=settings.access.admin_group),
        reconciler=Reconciler(store, clock),
        approval_channels=settings.approvals.channels,
        feed=feed,
        installer=GraphAppInstaller(graph, settings.bot.teams_app_catalog_id),
        liveness=liveness,
        approval_records=approval_records,
        fault=seams.faults.approval,
        demo=DemoCommands(SimulatedColleagues(http, settings.sign_in.simulated_tenant_url)) if settings.demo else None,
        typing=TypingIndicator(sleep=timer.sleep),
        history=history,
        exports=history,
        upload_session=connector_session,  # the file an admin accepts is PUT with it (bot.exports)
        export_max_days=settings.feed.export_max_days,
        loopback_uploads=settings.bot.anonymous,  # development only: the Bot Connector stand-in's upload URL is http
        ending=_ending_settings(settings),
        live=live,
    )
    # Each activity answered in time and acted on once (bot.transport.turns, bot.transport.deliveries): its lease
    # and TTL are on the clock every process shares.
    turns = Turns(Deliveries(store, clock), proactive, clock=timer, sleep=timer.sleep)
    teller = Teller(feed, clock)
    extension = _extension(
        settings, http, store, clock, DirectoryFacts(graph, directory, clock), teller, seams.faults.extension
    )
    # One process at a time (the feed's lease): feed events of PIM's calls a killed process left untold, and the
    # pruning of old decisions; also with the extension off (what it kept while it was on).
    feed.also_under_lease(ExtensionUpkeep(ExtensionRecords(store), teller, clock))
    return Parts(
        settings=settings,
        health=health,
        store=store,
        graph=graph,
        directory=directory,
        adapter=adapter,
        proactive=proactive,
        liveness=liveness,
        feed=feed,
        live=live,
        bot=bot,
        step_up=step_up,
        extension=extension,
        turns=turns,
        messages=messages_handler(adapter, bot, turns),
        poll=bot.poll_approvals,
        reconcile=bot.follow_up_unconfirmed,
        reconcile_seconds=seams.reconcile_seconds,
        clients=_Clients(http, connector_session, openid_keys, msal_session, bot_session, credentials_factory),
        readiness=Readiness(store, app_tokens, lambda: feed.lease_held),
    )


def _ending_settings(settings: Settings) -> EndingSettings:
    """ENDING_WARNING_MINUTES, ELIGIBILITY_WARNING_DAYS (None: off) and ENDING_POLL_SECONDS, for bot.ending."""
    minutes, days = settings.ending.warning_minutes, settings.ending.eligibility_days
    return EndingSettings(
        warning=timedelta(minutes=minutes) if minutes is not None else None,
        eligibility_within=timedelta(days=days) if days is not None else None,
        poll_seconds=settings.ending.poll_seconds,
    )


def create_app(settings: Settings, seams: Seams | None = None) -> web.Application:
    """The aiohttp application: its routes, and a lifecycle that builds the parts at start-up (`build_parts`: they
    need the running loop; `app[PARTS_KEY]` then) and closes them at shutdown. `seams`: what tests replace."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=512 * 1024)
    health = app[HEALTH_KEY] = Health()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        parts = app[PARTS_KEY] = await build_parts(settings, seams, health=health)
        app[READINESS_KEY] = parts.readiness
        metrics = MetricsServer(settings.observe.metrics_host, settings.observe.metrics_port)
        app[METRICS_KEY] = metrics
        parts.start()
        try:
            await metrics.start()
            yield
        finally:
            await metrics.stop()
            await parts.aclose()

    async def messages(request: web.Request) -> web.StreamResponse:
        # The router is frozen before the lifecycle runs; the real handler is built there (it needs the loop).
        # The turn's scope first: the turn (bot.transport.turns) names its activity there, the log lines read it.
        scope = TurnScope()
        TURN.set(scope)
        started = time.perf_counter()
        response = await app[PARTS_KEY].messages(request)
        _count_turn(scope, response.status, time.perf_counter() - started)
        return response

    async def step_up_page(request: web.Request) -> web.StreamResponse:
        step_up = app[PARTS_KEY].step_up
        if step_up is None:  # PUBLIC_BASE_URL unset: a link from before it was unset still gets a page
            return respond(SIGN_IN_OFF)
        if request.path == START_PATH:
            return await step_up.start(request)
        return await step_up.callback(request)

    app.router.add_post("/api/messages", messages)
    app.router.add_get(START_PATH, step_up_page)
    app.router.add_get(CALLBACK_PATH, step_up_page)
    app.router.add_post(CALLBACK_PATH, step_up_page)

    async def pim_extension(request: web.Request) -> web.StreamResponse:
        extension = app[PARTS_KEY].extension
        if extension is None:
            return web.json_response({"error": "the PIM custom extension is not configured on this bot"}, status=404)
        return await extension.handle(request)

    app.router.add_post(EXTENSION_PATH, pim_extension)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.cleanup_ctx.append(lifecycle)
    return app


METRICS_KEY = web.AppKey("metrics_server", MetricsServer)


def _count_turn(scope: TurnScope, status: int, seconds: float) -> None:
    """One answered POST /api/messages in the turn metrics: the outcome the turn set, else the one its status
    tells."""
    outcome = scope.outcome
    if not outcome:
        if status == 401:
            outcome = "unauthorized"
        elif 400 <= status < 500:
            outcome = "rejected"
        elif status >= 500:
            outcome = "error"
        else:
            outcome = "ok"
    child(TURNS, scope.kind, outcome).inc()
    child(TURN_SECONDS, scope.kind).observe(seconds)


async def _every(interval: float, sweep: Callable[[], Awaitable[int]], what: str) -> None:
    """`sweep` every `interval` seconds, the first after one interval; a failed sweep is retried at the next. Used
    for the approval poller (outside decisions reach every card within one interval, issue 4, point 7) and for
    following up writes whose answer was lost (issue 10, point 3: the checks are stored, a restart carries on)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep()
        except Exception:
            log.exception("%s failed", what)


def _kill_at(point: str) -> Callable[[str], None]:
    """SIGKILL this process when the feed or the approval flow reaches `point` (Faults)."""

    def fault(reached: str) -> None:
        if reached == point:
            log.warning("test hook: killing the process at %s", point)
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def _extension(
    settings: Settings,
    http: httpx.AsyncClient,
    store: Store,
    clock: Clock,
    facts: DirectoryFacts,
    teller: Teller,
    fault: Callable[[str], None] | None,
) -> ExtensionEndpoint | None:
    """PIM's custom extension (bot.extension), when PIM_EXTENSION_APP_ID_URI is set: tokens checked against the
    tenant's OpenID keys (fetched through `http`, which trusts CA_FILE), the rules file deciding with what `facts`
    reads, decisions kept in the store."""
    ext = settings.extension
    if not ext.on:
        return None
    rules = TokenRules(ext.app_id_uri, settings.graph.tenant_id, settings.graph.authority_host, ext.caller_app_ids)
    keys = OpenIdKeys(rules.metadata_url, http, what="the tenant")
    return ExtensionEndpoint(
        CallerCheck(rules, keys, clock),
        FileRules(ext.rules, facts, clock),
        ExtensionRecords(store),
        clock,
        deadline_seconds=ext.deadline_seconds,
        fallback=Outcome(ext.fallback),
        tell=teller,
        fault=fault,
    )


def _store_location(settings: Settings) -> StoreLocation:
    s = settings.store
    return StoreLocation(s.kind.value, s.state_db, s.account_url, s.connection_string.reveal(), s.container)


def _step_up(settings: Settings, store: Store, clock: Clock, session: requests.Session) -> StepUp:
    """The step-up sign-in pages (bot.signin.stepup), with their own msal client for the Graph app (no token cache),
    built on first use off the event loop."""
    built: list[msal.ConfidentialClientApplication] = []
    lock = asyncio.Lock()

    async def msal_app() -> msal.ConfidentialClientApplication:
        async with lock:
            if not built:
                _trusting(settings, session)
                built.append(
                    await asyncio.to_thread(
                        build_step_up_msal,
                        settings.graph.client_id,
                        settings.graph.client_secret.reveal(),
                        f"{settings.graph.authority_host}/{settings.graph.tenant_id}",
                        session,
                        settings.graph.timeout_seconds,
                    )
                )
            return built[0]

    return StepUp(store, clock, settings.sign_in.public_base_url, [settings.graph.scope], msal_app)


def _bot_authority(settings: Settings) -> str:
    """Where the bot's own token comes from: TO_CHANNEL_FROM_BOT_LOGIN_URL, whose tenant part (botframework.com in
    the presets) is the bot's own tenant for SingleTenant and UserAssignedMSI bots, as botbuilder does for the
    public and US Gov login hosts (PasswordServiceClientCredentialFactory → MicrosoftAppCredentials)."""
    login_url = settings.bot.endpoints.to_channel_from_bot_login_url
    if settings.bot.app_type is AppType.MULTI_TENANT:
        return login_url
    origin = "/".join(login_url.split("/")[:3])
    return f"{origin}/{settings.bot.app_tenant_id}"


def _bot_scope(settings: Settings) -> str:
    scope = settings.bot.endpoints.to_channel_from_bot_oauth_scope
    return scope if scope.endswith("/.default") else f"{scope}/.default"


async def _anonymous_token(_: str) -> str | None:
    return None


async def _bot_tokens(settings: Settings, session: requests.Session, health: Health) -> BotTokens | None:
    """The bot app's tokens (client credentials for its app id, or its user-assigned managed identity; msal caches
    them), for outbound Bot Connector and token service calls; None in anonymous (local development) mode. The
    client-credentials msal client is a `Dependency` (its constructor fetches the authority's metadata): while Entra
    is unreachable the bot runs, but cannot send anything."""
    if settings.bot.anonymous:
        return None
    _trusting(settings, session)
    acquire: Callable[[list[str]], dict[str, Any]]
    if settings.bot.app_type is AppType.USER_ASSIGNED_MSI:
        msi = msal.ManagedIdentityClient(
            msal.UserAssignedManagedIdentity(client_id=settings.bot.app_id), http_client=session
        )

        def acquire(scopes: list[str]) -> dict[str, Any]:
            resource = scopes[0].removesuffix("/.default")
            result: dict[str, Any] = msi.acquire_token_for_client(resource=resource)
            return result
    else:
        entra = health.add(
            "entra_bot",
            Dependency(
                "Microsoft Entra (the bot's own sign-in)",
                _bot_authority(settings),
                functools.partial(asyncio.to_thread, _bot_msal, settings, session),
            ),
        )
        await entra.connect()
        acquire = functools.partial(_client_token, entra)
    return BotTokens(settings.bot.app_id, acquire, _bot_scope(settings))


def _bot_msal(settings: Settings, session: requests.Session) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        settings.bot.app_id,
        client_credential=settings.bot.app_password.reveal(),
        authority=_bot_authority(settings),
        # The authority is configured exactly (sovereign clouds, stand-ins): no instance discovery.
        instance_discovery=False,
        http_client=session,
        timeout=10,
    )


def _client_token(entra: Dependency[msal.ConfidentialClientApplication], scopes: list[str]) -> dict[str, Any]:
    """Blocking: msal's cache, or one token request; `Unreachable` while Entra has not been reached."""
    result: dict[str, Any] = entra.get().acquire_token_for_client(scopes=scopes)
    return result


def _forget_client_tokens(entra: Dependency[msal.ConfidentialClientApplication]) -> None:
    entra.get().remove_tokens_for_client()


class _NoSignIn:
    """The service-wide token provider in SSO mode: tokens belong to a turn, so reaching this is asking to sign in."""

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        raise SignInRequired()

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        pass


# -- log redaction: defence in depth, so no library at DEBUG (msrest's HTTP logger, msal, urllib3 URLs) prints a token
# or a secret. The log scan (tests/auth/test_secrets_in_logs.py) finds none without it; this keeps it so. --
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Rewrites every record's message and traceback: JWT-looking strings, bearer values and known secrets go."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return _BEARER.sub(lambda m: m.group(1) + _REDACTED, _JWT.sub(_REDACTED, text))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install_log_redaction(settings: Settings, logger: logging.Logger | None = None) -> RedactingFilter:
    """On every handler of the root logger (filters on a logger do not see records propagated from its children)."""
    secrets = [settings.bot.app_password.reveal(), settings.graph.client_secret.reveal()]
    # The Blob store's connection string, and the account key or SAS token inside it, however a log quotes them.
    connection_string = settings.store.connection_string.reveal()
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    secrets += [connection_string, parts.get("AccountKey", ""), parts.get("SharedAccessSignature", "")]
    # Application Insights' connection string (tracing): its instrumentation key lets anyone send telemetry there.
    insights = settings.observe.azure_monitor.reveal()
    secrets += [insights, *(p.split("=", 1)[1] for p in insights.split(";") if p.startswith("InstrumentationKey="))]
    redacting = RedactingFilter(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redacting)
    return redacting


def log_uncaught() -> None:
    """Errors nobody catches (the main thread's, other threads', unraisable ones in __del__) and warnings go through
    the logging handlers, and so through their redaction, instead of straight to stderr (issue 10, point 2). Errors
    of a request or of a task are logged already: by bot.transport.routes.errors_middleware, aiohttp and asyncio's
    loggers."""
    uncaught = logging.getLogger("pimbot.uncaught")

    def main_thread(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        uncaught.critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))

    def other_thread(args: threading.ExceptHookArgs) -> None:
        thread = args.thread.name if args.thread is not None else "?"
        uncaught.error("uncaught %s in thread %s", args.exc_type.__name__, thread, exc_info=args.exc_value)

    def unraisable(args: sys.UnraisableHookArgs) -> None:
        uncaught.error("%s: %r", args.err_msg or "unraisable exception", args.object, exc_info=args.exc_value)

    sys.excepthook = main_thread
    threading.excepthook = other_thread
    sys.unraisablehook = unraisable
    logging.captureWarnings(True)


# -- end log redaction --


def main() -> None:
    try:
        settings = load_settings(os.environ)
    except SettingsError as e:
        print(f"pim-bot: cannot start.\n{e}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    # httpx's INFO line per request ("HTTP Request: POST …") cost ~0.05 ms of CPU per Graph call (issue 16) and names
    # user ids in URLs; /metrics counts the calls and their ids stamp the turn's later lines. LOG_LEVEL=DEBUG shows it.
    logging.getLogger("httpx").setLevel(logging.NOTSET if settings.log_level == "DEBUG" else logging.WARNING)
    if settings.observe.log_format is LogFormat.JSON:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    install_log_redaction(settings)
    log_uncaught()
    if settings.bot.anonymous:
        log.warning(
            "BOT_ALLOW_ANONYMOUS is on: inbound requests are NOT authenticated. Local development and demos only."
        )
    # Before the app and its clients exist: the instrumentation hooks into aiohttp's and httpx's classes.
    traced = (
        tracing.start(
            settings.observe.tracing,
            settings.observe.service_name,
            settings.graph.base_url,
            settings.observe.azure_monitor.reveal(),
        )
        if settings.observe.tracing
        else None
    )
    app = create_app(settings, Seams(faults=Faults.from_env(os.environ)))
    # What start-up made (every module, class and function: most of the heap) lives as long as the process: out of
    # the collector's sight, a full collection scans only what the turns made (issue 16: ~7% of a warm turn's CPU
    # went to collections, a third of it to full ones over the start-up objects).
    gc.collect()
    gc.freeze()
    # A turn makes and drops thousands of containers (parsed JSON, activities, httpx and aiohttp objects), nearly all
    # freed by their reference counts, not by the collector. At Python's default of 700 the collector still ran
    # every few turns over whatever the turns in flight held (2,243 collections, 1.18 s over 9,000 warm turns at 8
    # clients: about 5% of a turn's CPU); at 7,000 it ran 32 times (0.11 s). The turns leave no cyclic garbage
    # (tests/bot/test_turn_freed.py), so collecting later keeps no more memory than a few thousand objects.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    except StoreError as e:  # the state store refused or could not be reached at start: say why, no stack trace
        log.error("cannot start: %s", e)
        if settings.observe.log_format is not LogFormat.JSON:  # a JSON log stays one object per line
            print(f"pim-bot: cannot start.\n{e}", file=sys.stderr)
        sys.exit(2)
    finally:
        if traced is not None:
            traced.shutdown()  # the spans still buffered are exported


if __name__ == "__main__":
    main()
