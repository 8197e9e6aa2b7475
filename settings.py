"""Settings: read once from the environment at start-up, typed, validated; secrets masked.

`load_settings(os.environ)` is called only by app.py. A missing or invalid key stops start-up with a message that
names every bad key at once. `Settings` is composed of one frozen group per concern, each read by a loader of its
own: the bot's identity and cloud (`bot`), Microsoft Graph (`graph`), where user tokens come from (`sign_in`), who may
use the bot and its admin commands (`access`), approvals (`approvals`), the admin feed (`feed`) and the state store
(`store`). A later group's defaults may come from an earlier one (Graph's app from the bot's, the allowed tenants
from Graph's tenant), so the loaders run in that order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from bot.extension.contract import PIM_CALLER_APP_ID
from core.extension_rules import RulesError, RuleSet, parse_rules

__all__ = [
    "CLOUDS",
    "AccessSettings",
    "AppType",
    "ApprovalSettings",
    "BotCloud",
    "BotSettings",
    "CloudEndpoints",
    "ExtensionSettings",
    "FeedSettings",
    "GraphSettings",
    "LogFormat",
    "ObservabilitySettings",
    "LiveSettings",
    "Secret",
    "Settings",
    "SettingsError",
    "SignInSettings",
    "StoreSettings",
    "UserTokenMode",
    "load_settings",
]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class AppType(StrEnum):
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"
    MULTI_TENANT = "MultiTenant"


class BotCloud(StrEnum):
    """Which Microsoft cloud the bot lives in (`BOT_CLOUD`): chooses the defaults of every endpoint setting."""

    PUBLIC = "public"
    USGOV = "usgov"
    CHINA = "china"


@dataclass(frozen=True)
class CloudEndpoints:
    """The endpoints of one cloud. Each is also a setting of the same (upper-case) name that overrides it.

    The Bot Framework names are the attributes botbuilder's ConfigurationBotFrameworkAuthentication reads.
    """

    graph_base_url: str
    authority_host: str
    oauth_url: str  # Bot Framework token service (user tokens, SSO)
    to_bot_from_channel_openid_metadata_url: str  # signing keys of inbound channel tokens
    to_bot_from_channel_token_issuer: str  # `iss` of inbound channel tokens
    to_channel_from_bot_login_url: str  # authority for the bot's own outbound token (tenant part replaced, below)
    to_channel_from_bot_oauth_scope: str  # resource of the bot's outbound token


CLOUDS: dict[BotCloud, CloudEndpoints] = {
    # botframework/connector/auth/authentication_constants.py (botframework-connector 4.17.1): OAUTH_URL,
    # TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, TO_BOT_FROM_CHANNEL_TOKEN_ISSUER, TO_CHANNEL_FROM_BOT_OAUTH_SCOPE;
    # the login URL is TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX + DEFAULT_CHANNEL_AUTH_TENANT, what its built-in public
    # cloud logs in at (its TO_CHANNEL_FROM_BOT_LOGIN_URL constant is a token endpoint, not an authority).
    BotCloud.PUBLIC: CloudEndpoints(
        graph_base_url="https://graph.microsoft.com/v1.0",
        authority_host="https://login.microsoftonline.com",
        oauth_url="https://api.botframework.com",
        to_bot_from_channel_openid_metadata_url="https://login.botframework.com/v1/.well-known/openidconfiguration",
        to_bot_from_channel_token_issuer="https://api.botframework.com",
        to_channel_from_bot_login_url="https://login.microsoftonline.com/botframework.com",
        to_channel_from_bot_oauth_scope="https://api.botframework.com",
    ),
    # botframework/connector/auth/government_constants.py (4.17.1): OAUTH_URL_GOV,
    # TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, TO_BOT_FROM_CHANNEL_TOKEN_ISSUER, TO_CHANNEL_FROM_BOT_LOGIN_URL
    # (its tenant part is replaced by MicrosoftAppTenantId for SingleTenant), TO_CHANNEL_FROM_BOT_OAUTH_SCOPE.
    # Graph: the US Government L4 (GCC High) endpoint; DoD tenants override GRAPH_BASE_URL (dod-graph.microsoft.us).
    BotCloud.USGOV: CloudEndpoints(
        graph_base_url="https://graph.microsoft.us/v1.0",
        authority_host="https://login.microsoftonline.us",
        oauth_url="https://api.botframework.azure.us",
        to_bot_from_channel_openid_metadata_url="https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
        to_bot_from_channel_token_issuer="https://api.botframework.us",
        to_channel_from_bot_login_url="https://login.microsoftonline.us/MicrosoftServices.onmicrosoft.us",
        to_channel_from_bot_oauth_scope="https://api.botframework.us",
    ),
    # botbuilder-python 4.17.1 has no China constants. From Microsoft Learn, Azure AI Bot Service, "Configure a bot
    # in Microsoft Azure operated by 21Vianet" (2024-09-23): OAuthUrl, ToChannelFromBotLoginUrl (MultiTenant form),
    # ToChannelFromBotOAuthScope, ToBotFromChannelTokenIssuer, ToBotFromChannelOpenIdMetadataUrl. The Entra host is
    # login.partner.microsoftonline.cn, as there: msal 1.39 calls login.chinacloudapi.cn `DEPRECATED_AZURE_CHINA`
    # (msal/authority.py).
    BotCloud.CHINA: CloudEndpoints(
        graph_base_url="https://microsoftgraph.chinacloudapi.cn/v1.0",
        authority_host="https://login.partner.microsoftonline.cn",
        oauth_url="https://token.botframework.azure.cn",
        to_bot_from_channel_openid_metadata_url="https://login.botframework.azure.cn/v1/.well-known/openidconfiguration",
        to_bot_from_channel_token_issuer="https://api.botframework.azure.cn",
        to_channel_from_bot_login_url="https://login.partner.microsoftonline.cn/microsoftservices.partner.onmschina.cn",
        to_channel_from_bot_oauth_scope="https://api.botframework.azure.cn",
    ),
}


class UserTokenMode(StrEnum):
    """Where delegated user tokens come from. `simulated`: the simulated tenant (demo, tests)."""

    SIMULATED = "simulated"
    SSO = "sso"  # Teams SSO through the Azure Bot OAuth connection (the identity issue)


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class BotSettings:
    """The bot's app registration and cloud: who it is to the Bot Framework and Teams."""

    app_id: str = ""
    app_password: Secret = field(default_factory=lambda: Secret(""))
    app_type: AppType = AppType.SINGLE_TENANT
    app_tenant_id: str = ""
    allow_anonymous: bool = False
    cloud: BotCloud = BotCloud.PUBLIC
    endpoints: CloudEndpoints = CLOUDS[BotCloud.PUBLIC]  # with the individual overrides applied
    teams_requests_per_second: int = 30  # Bot Connector calls per second over all conversations (bot.transport)
    teams_app_catalog_id: str = ""  # the bot's app in the org's Teams app catalog; empty: found by the bot id

    @property
    def anonymous(self) -> bool:
        return not self.app_id


@dataclass(frozen=True)
class GraphSettings:
    """Microsoft Graph: where, as which app of which tenant, how patiently."""

    base_url: str = "https://graph.microsoft.com/v1.0"
    scope: str = ""  # default: the origin of base_url + "/.default"
    authority_host: str = "https://login.microsoftonline.com"
    tenant_id: str = ""
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    timeout_seconds: float = 8.0
    # A selfActivate waits for PIM, which may wait for a custom extension (this bot, issue 15): its timeout × (its
    # retries + 1). Longer than that, or the bot gives up on an activation PIM is still deciding.
    activation_timeout_seconds: float = 65.0


@dataclass(frozen=True)
class SignInSettings:
    """Where users' delegated tokens come from, and the step-up sign-in pages."""

    user_tokens: UserTokenMode = UserTokenMode.SSO
    simulated_tenant_url: str = ""
    oauth_connection_name: str = ""  # the Azure Bot's OAuth connection (USER_TOKENS=sso)
    public_base_url: str = ""  # where users' browsers reach the bot (step-up sign-in pages); empty: step-up off


@dataclass(frozen=True)
class AccessSettings:
    """Who may use the bot, and who its admin commands."""

    allowed_tenants: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()  # Entra object ids allowed to run admin commands
    admin_group: str = ""  # an Entra group whose (transitive) members may run admin commands


@dataclass(frozen=True)
class ApprovalSettings:
    """Approval requests: how often PIM is polled for outside decisions, when approvers are reminded, and the
    approvals channels set in settings."""

    poll_seconds: float = 60.0
    reminder_minutes: int = 60
    channels: tuple[tuple[str, str], ...] = ()  # (PIM group id, Teams channel id "19:…@thread.tacv2")


@dataclass(frozen=True)
class FeedSettings:
    """The admin feed (issue 5): where it posts, what it monitors, how often, when a burst becomes a digest."""

    channel: str = ""  # the feed's channel conversation id (instead of `feed here`)
    groups: tuple[str, ...] = ()  # monitored groups, names or ids (empty: none)
    poll_seconds: float = 60.0
    digest_threshold: int = 10
    discover: bool = False  # also monitor the PIM groups found in the PIM audit log (needs AuditLog.Read.All)
    export_max_days: int = 92  # AUDIT_EXPORT_MAX_DAYS: the longest period `audit export` covers; 0: no export


@dataclass(frozen=True)
class EndingSettings:
    """Warnings before access ends (issue 14 points 3 and 4): how long before an activation ends its card comes
    (None: off), how many days before an eligibility ends (None: off), and how often both are checked."""

    warning_minutes: int | None = 10
    eligibility_days: int | None = 14
    poll_seconds: float = 60.0


@dataclass(frozen=True)
class LiveSettings:
    """After an activation (issue 14 points 1 and 2): how often scheduled starts and not-yet-visible memberships are
    checked, how long the bot keeps checking that Graph's directory shows an activation, and per-group notes on what
    may still lag."""

    poll_seconds: float = 15.0  # LIVE_POLL_SECONDS
    check_seconds: float = 300.0  # LIVE_CHECK_SECONDS; 0: no check at all
    notes: tuple[tuple[str, str], ...] = ()  # LIVE_NOTES: (group name or id, note)


class StoreKind(StrEnum):
    SQLITE = "sqlite"  # one file (STATE_DB): one host
    AZUREBLOB = "azureblob"  # an Azure Blob Storage container: several instances


@dataclass(frozen=True)
class StoreSettings:
    """The state store (bot.store): STORE=sqlite (the embedded default, STATE_DB) or STORE=azureblob
    (bot.store.azureblob: AZURE_STORAGE_CONTAINER in the account of AZURE_STORAGE_ACCOUNT_URL, signed in with
    DefaultAzureCredential, or of AZURE_STORAGE_CONNECTION_STRING)."""

    kind: StoreKind = StoreKind.SQLITE
    state_db: Path = Path("var/state.sqlite3")
    account_url: str = ""
    connection_string: Secret = Secret("")
    container: str = ""


class LogFormat(StrEnum):
    TEXT = "text"  # one line: time level logger message
    JSON = "json"  # one JSON object per line (bot.observe.logs)


@dataclass(frozen=True)
class ObservabilitySettings:
    """What an operator sees (bot.observe): the log format, the Prometheus metrics' port, OpenTelemetry tracing.

    `metrics_port` None: no /metrics at all; 0: any free port (tests). `tracing` "": off (no OpenTelemetry module is
    imported), else the exporter, "otlp" or "console"; the OTEL_* variables are read by the OpenTelemetry SDK itself,
    checked here so that a typo stops the start instead of silently exporting nothing."""

    log_format: LogFormat = LogFormat.TEXT
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    tracing: str = ""
    service_name: str = "pim-teams-bot"
    azure_monitor: Secret = Secret("")  # APPLICATIONINSIGHTS_CONNECTION_STRING: traces to Application Insights


@dataclass(frozen=True)
class ExtensionSettings:
    """The bot as PIM's custom extension (issue 15, bot.extension): on when `app_id_uri` is set (the audience PIM's
    tokens must carry); the rules file (`rules_file`, TOML) decides, none: every request goes on (`Approved`)."""

    app_id_uri: str = ""  # PIM_EXTENSION_APP_ID_URI: api://{bot host}/{client id}; empty: the endpoint is off
    rules_file: Path | None = None  # PIM_EXTENSION_RULES
    rules: RuleSet = RuleSet()  # the file's rules, checked at start (none: every request goes on)
    caller_app_ids: tuple[str, ...] = (PIM_CALLER_APP_ID,)  # PIM_EXTENSION_CALLER_APP_ID: PIM's first-party app
    deadline_seconds: float = 5.0  # PIM_EXTENSION_DEADLINE_SECONDS: answer within this (below the extension's timeout)
    fallback: str = "Approved"  # PIM_EXTENSION_FALLBACK: Approved or Denied, when the rules cannot decide in time

    @property
    def on(self) -> bool:
        return bool(self.app_id_uri)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3978
    bot: BotSettings = BotSettings()
    graph: GraphSettings = GraphSettings()
    sign_in: SignInSettings = SignInSettings()
    access: AccessSettings = AccessSettings()
    approvals: ApprovalSettings = ApprovalSettings()
    feed: FeedSettings = FeedSettings()
    ending: EndingSettings = EndingSettings()
    live: LiveSettings = LiveSettings()
    store: StoreSettings = StoreSettings()
    extension: ExtensionSettings = ExtensionSettings()
    observe: ObservabilitySettings = ObservabilitySettings()
    demo: bool = False  # BOT_DEMO: the demo's `demo …` commands (only with USER_TOKENS=simulated; never in production)
    ca_file: Path | None = None
    log_level: str = "INFO"


def _bounded(
    env: Mapping[str, str],
    key: str,
    default: float,
    low: float,
    high: float,
    what: str,
    problems: list[str],
    *,
    whole: bool = False,
) -> float:
    """A number from `key` between `low` and `high` (inclusive); the default, and a problem naming `what` it must
    be, when it is not one."""
    raw = env.get(key, f"{default:g}")
    try:
        value = int(raw) if whole else float(raw)
        if not low <= value <= high:
            raise ValueError
    except ValueError:
        problems.append(f"{key}={raw!r} must be {what} between {low:g} and {high:g}")
        return default
    return value


def _bool(env: Mapping[str, str], key: str, problems: list[str]) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(f"{key}={env[key]!r} is not a boolean (use 1/0, true/false, yes/no)")
    return False


def _url(env: Mapping[str, str], key: str, default: str, problems: list[str], *, strip_slash: bool = True) -> str:
    value = env.get(key, "").strip() or default
    if strip_slash:
        value = value.rstrip("/")
    if not re.match(r"^https://[^/\s]+(/\S*)?$", value):
        problems.append(f"{key}={value!r} must be an https:// URL")
    return value


E = TypeVar("E", bound=StrEnum)


def _choice(env: Mapping[str, str], key: str, default: E, problems: list[str], must: str = "") -> E:
    """The member of `default`'s enum that `key` names, in any case; unset or empty: `default`. Anything else is a
    problem (`key='value' must …`, by default naming every choice), and `default` stands in so that every other
    setting is still checked."""
    raw = env.get(key, "").strip().lower() or default.value
    kind = type(default)
    try:
        return kind(raw)
    except ValueError:
        problems.append(f"{key}={raw!r} {must or 'must be one of ' + ', '.join(c.value for c in kind)}")
        return default


def _endpoints(env: Mapping[str, str], problems: list[str]) -> tuple[BotCloud, CloudEndpoints]:
    cloud = _choice(env, "BOT_CLOUD", BotCloud.PUBLIC, problems)
    preset = CLOUDS[cloud]
    values = {
        # The issuer is compared verbatim with the token's `iss`: a trailing slash is kept as written.
        name: _url(env, name.upper(), default, problems, strip_slash=name != "to_bot_from_channel_token_issuer")
        for name, default in vars(preset).items()
    }
    return cloud, CloudEndpoints(**values)


_CHANNEL_ID = re.compile(r"^19:[^\s,;=/]+@thread\.(tacv2|skype)$", re.IGNORECASE)


def _channel_from_link(value: str) -> str:
    """A Teams channel id as written, or taken out of the channel's link (Get link to channel), where it is
    percent-encoded: `https://teams.microsoft.com/l/channel/19%3A…%40thread.tacv2/General?groupId=…`."""
    link = re.search(r"/channel/([^/?#\s]+)", value)
    return unquote(link.group(1)) if link else value


def _approval_channels(raw: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    """`APPROVAL_CHANNELS`: `<group object id>=<channel id>` pairs separated by commas or new lines. The channel id is
    what Teams shows in a channel's link (Get link to channel): `19:…@thread.tacv2`, percent-encoded in the link
    itself, so the link is accepted too."""
    pairs: list[tuple[str, str]] = []
    for item in re.split(r"[,\n]", raw):
        if not item.strip():
            continue
        group, sep, channel = (part.strip() for part in item.partition("="))
        channel = _channel_from_link(channel)
        if not sep or not _GUID.match(group) or not _CHANNEL_ID.match(channel):
            problems.append(
                f"APPROVAL_CHANNELS has {item.strip()!r}: write <group object id>=<channel id>, the channel id as in "
                "the channel's link (19:…@thread.tacv2)"
            )
            continue
        if any(g == group.lower() for g, _ in pairs):
            problems.append(f"APPROVAL_CHANNELS names group {group} twice: a group has one approvals channel")
            continue
        pairs.append((group.lower(), channel))
    return tuple(pairs)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables; raise SettingsError naming every bad or missing key."""
    problems: list[str] = []
    port_raw = env.get("PORT", "3978")
    port = 0
    if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
        problems.append(f"PORT={port_raw!r} must be a port number (0-65535)")
    else:
        port = int(port_raw)
    bot = _bot(env, problems)
    graph = _graph(env, bot, problems)
    access = _access(env, graph, problems)
    sign_in = _sign_in(env, bot, problems)
    # The demo's commands act in the simulated tenant (a colleague asks for a group): never against a real tenant.
    demo = _bool(env, "BOT_DEMO", problems)
    if demo and sign_in.user_tokens is not UserTokenMode.SIMULATED:
        problems.append("BOT_DEMO is for the demo only: it needs USER_TOKENS=simulated (the simulated tenant)")
    approvals = _approvals(env, problems)
    feed = _feed(env, problems)
    ending = _ending(env, problems)

    # Extra CAs (a TLS-inspecting proxy, the test stand-ins): our own clients (httpx, aiohttp, msal, the OpenID key
    # fetch) trust CA_FILE, or else the bundle the standard variables name.
    ca_key = next((k for k in ("CA_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE") if env.get(k, "").strip()), None)
    ca_file = Path(env[ca_key].strip()) if ca_key else None
    if ca_key and ca_file is not None and not ca_file.is_file():
        problems.append(f"{ca_key}={env[ca_key]!r} is not a readable file")

    log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR")

    host = env.get("HOST", "127.0.0.1").strip() or "127.0.0.1"
    settings = Settings(
        host=host,
        port=port,
        bot=bot,
        graph=graph,
        sign_in=sign_in,
        access=access,
        approvals=approvals,
        feed=feed,
        ending=ending,
        live=_live(env, problems),
        store=_store(env, problems),
        extension=_extension(env, bot, sign_in, problems),
        observe=_observe(env, host, port, problems),
        demo=demo,
        ca_file=ca_file,
        log_level=log_level,
    )
    if problems:
        raise SettingsError(problems)
    return settings


_TRACE_EXPORTERS = ("otlp", "console")


def _observe(env: Mapping[str, str], host: str, port: int, problems: list[str]) -> ObservabilitySettings:
    """LOG_FORMAT, METRICS_PORT / METRICS_HOST, and whether the OTEL_* variables turn tracing on."""
    log_format = _choice(env, "LOG_FORMAT", LogFormat.TEXT, problems, "must be text or json")
    metrics_port: int | None = None
    metrics_raw = env.get("METRICS_PORT", "").strip()
    if metrics_raw:
        if not metrics_raw.isdigit() or not 0 <= int(metrics_raw) <= 65535:
            problems.append(f"METRICS_PORT={metrics_raw!r} must be a port number (0-65535), or empty for no metrics")
        elif port and int(metrics_raw) == port:
            problems.append(
                f"METRICS_PORT={metrics_raw} is the bot's PORT: metrics go on a port of their own, which the "
                "internet-facing messaging endpoint does not expose"
            )
        else:
            metrics_port = int(metrics_raw)
    metrics_host = env.get("METRICS_HOST", "").strip() or host
    return ObservabilitySettings(
        log_format=log_format,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        tracing=_tracing(env, problems),
        service_name=env.get("OTEL_SERVICE_NAME", "").strip() or ObservabilitySettings.service_name,
        azure_monitor=Secret(env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()),
    )


def _tracing(env: Mapping[str, str], problems: list[str]) -> str:
    """The trace exporter the OTEL_* variables ask for ("" for none), as the OpenTelemetry SDK reads them: off with
    OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none; on with OTEL_TRACES_EXPORTER=otlp|console, or with an OTLP
    endpoint or an Application Insights connection string set. Only OTLP over HTTP is installed (the `tracing`
    extra), so OTEL_EXPORTER_OTLP_PROTOCOL=grpc is refused rather than exporting nothing."""
    protocols = {
        k: env.get(k, "").strip() for k in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    }
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoints = [k for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") if env.get(k, "")]
    azure = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if exporter == "none" or (not exporter and not endpoints and not azure):
        return ""
    exporter = exporter or "otlp"
    if exporter not in _TRACE_EXPORTERS:
        problems.append(f"OTEL_TRACES_EXPORTER={exporter!r}: this bot exports traces with otlp, console or none")
        return ""
    for key in endpoints:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", env[key].strip()):
            problems.append(f"{key}={env[key]!r} must be an http:// or https:// URL (OTLP over HTTP, port 4318)")
    for key, protocol in protocols.items():
        if protocol and protocol != "http/protobuf":
            problems.append(f"{key}={protocol!r}: this bot exports OTLP over HTTP only (http/protobuf)")
    needed = "azure.monitor.opentelemetry" if azure else "opentelemetry.sdk"
    if not _installed(needed):
        extra = "azure-monitor-opentelemetry" if azure else "the tracing extra: pip install 'pim-teams-bot[tracing]'"
        problems.append(f"tracing is configured (OTEL_* variables) but {needed} is not installed: install {extra}")
    return exporter


def _installed(module: str) -> bool:
    """Whether `module` can be imported (its parent packages are imported to find it: only asked when tracing is
    on)."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")


def _store(env: Mapping[str, str], problems: list[str]) -> StoreSettings:
    kind_raw = env.get("STORE", StoreKind.SQLITE.value).strip().lower() or StoreKind.SQLITE.value
    state_db = Path(env.get("STATE_DB", str(StoreSettings.state_db)))
    try:
        kind = StoreKind(kind_raw)
    except ValueError:
        problems.append(f"STORE={kind_raw!r} must be sqlite (one host, STATE_DB) or azureblob (Azure Blob Storage)")
        return StoreSettings(state_db=state_db)
    account_url = env.get("AZURE_STORAGE_ACCOUNT_URL", "").strip().rstrip("/")
    connection_string = Secret(env.get("AZURE_STORAGE_CONNECTION_STRING", "").strip())
    container = env.get("AZURE_STORAGE_CONTAINER", "").strip()
    if kind is StoreKind.AZUREBLOB:
        if not account_url and not connection_string:
            problems.append(
                "STORE=azureblob needs AZURE_STORAGE_ACCOUNT_URL (https://<account>.blob.core.windows.net, signed in "
                "with the managed identity) or AZURE_STORAGE_CONNECTION_STRING"
            )
        elif account_url and connection_string:
            problems.append("set AZURE_STORAGE_ACCOUNT_URL or AZURE_STORAGE_CONNECTION_STRING, not both")
        elif account_url and not account_url.startswith("https://"):
            problems.append(f"AZURE_STORAGE_ACCOUNT_URL={account_url!r} must be an https:// URL")
        if not container:
            problems.append("STORE=azureblob needs AZURE_STORAGE_CONTAINER (the container the bot keeps its state in)")
        elif not _CONTAINER.match(container):
            problems.append(
                f"AZURE_STORAGE_CONTAINER={container!r} is not a container name: 3-63 lowercase letters, digits and "
                "single dashes, starting and ending with a letter or digit"
            )
    return StoreSettings(kind, state_db, account_url, connection_string, container)


def _bot(env: Mapping[str, str], problems: list[str]) -> BotSettings:
    app_id = env.get("MicrosoftAppId", "").strip()
    app_password = Secret(env.get("MicrosoftAppPassword", ""))
    allow_anonymous = _bool(env, "BOT_ALLOW_ANONYMOUS", problems)
    app_type_raw = env.get("MicrosoftAppType", AppType.SINGLE_TENANT.value).strip()
    try:
        app_type = AppType(app_type_raw)
    except ValueError:
        app_type = AppType.SINGLE_TENANT
        problems.append(f"MicrosoftAppType={app_type_raw!r} must be one of {', '.join(t.value for t in AppType)}")
    app_tenant_id = env.get("MicrosoftAppTenantId", "").strip()

    if not app_id:
        if not allow_anonymous:
            problems.append(
                "MicrosoftAppId is missing. Set it (with MicrosoftAppPassword and MicrosoftAppTenantId) for a real "
                "deployment, or set BOT_ALLOW_ANONYMOUS=1 for local development only: without an app id the bot "
                "accepts unauthenticated requests."
            )
    else:
        if not _GUID.match(app_id):
            problems.append(f"MicrosoftAppId={app_id!r} is not a GUID")
        if app_type is AppType.SINGLE_TENANT and not app_password:
            problems.append("MicrosoftAppPassword is missing (required for MicrosoftAppType=SingleTenant)")
        if app_type in (AppType.SINGLE_TENANT, AppType.USER_ASSIGNED_MSI) and not _GUID.match(app_tenant_id):
            problems.append(f"MicrosoftAppTenantId is missing or not a GUID (required for {app_type.value})")

    # Teams allows an app 30 requests per second per tenant (teams-platform.md §6.1; older Learn quotes say 50).
    teams_rps = int(
        _bounded(env, "TEAMS_REQUESTS_PER_SECOND", 30, 1, 1000, "a whole number of requests", problems, whole=True)
    )
    # -- reaching approvers: the bot's app in the org catalog, to install it for them (bot.approvals.reach) --
    teams_app_catalog_id = env.get("TEAMS_APP_CATALOG_ID", "").strip()
    if teams_app_catalog_id and not _GUID.match(teams_app_catalog_id):
        problems.append(
            f"TEAMS_APP_CATALOG_ID={teams_app_catalog_id!r} must be the bot's app's id in the Teams app catalog, a "
            "GUID (docs/deploy.md, section 4)"
        )
    # -- end reaching approvers --
    cloud, endpoints = _endpoints(env, problems)
    return BotSettings(
        app_id=app_id,
        app_password=app_password,
        app_type=app_type,
        app_tenant_id=app_tenant_id,
        allow_anonymous=allow_anonymous,
        cloud=cloud,
        endpoints=endpoints,
        teams_requests_per_second=teams_rps,
        teams_app_catalog_id=teams_app_catalog_id.lower(),
    )


def _graph(env: Mapping[str, str], bot: BotSettings, problems: list[str]) -> GraphSettings:
    """Graph's app and tenant default to the bot's own."""
    tenant_id = env.get("GRAPH_TENANT_ID", bot.app_tenant_id).strip()
    if not _GUID.match(tenant_id):
        problems.append(
            "GRAPH_TENANT_ID (or MicrosoftAppTenantId) is missing or not a GUID: the tenant whose PIM is used"
        )
    client_id = env.get("GRAPH_CLIENT_ID", bot.app_id).strip()
    if not _GUID.match(client_id):
        problems.append("GRAPH_CLIENT_ID (or MicrosoftAppId) is missing or not a GUID: the app that reads Graph")
    client_secret = Secret(env.get("GRAPH_CLIENT_SECRET", bot.app_password.reveal()))
    if not client_secret:
        problems.append("GRAPH_CLIENT_SECRET (or MicrosoftAppPassword) is missing: the client secret for Graph reads")
    timeout = _bounded(env, "GRAPH_TIMEOUT_SECONDS", 8.0, 0.1, 60, "a number of seconds", problems)
    # PIM custom extensions: up to 60 s × 6 attempts (Graph customExtensionClientConfiguration), docs/deploy.md.
    activation_timeout = _bounded(
        env, "GRAPH_ACTIVATION_TIMEOUT_SECONDS", 65.0, 0.1, 400, "a number of seconds", problems
    )
    if activation_timeout < timeout:
        problems.append(
            f"GRAPH_ACTIVATION_TIMEOUT_SECONDS={activation_timeout:g} is shorter than "
            f"GRAPH_TIMEOUT_SECONDS={timeout:g}: an activation waits at least as long as any Graph call"
        )
    base_url = bot.endpoints.graph_base_url
    origin = "/".join(base_url.split("/")[:3])
    scope = env.get("GRAPH_SCOPE", f"{origin}/.default").strip()
    if not re.match(r"^https://\S+/\.default$", scope):
        problems.append(f"GRAPH_SCOPE={scope!r} must be an https:// resource followed by /.default")
    return GraphSettings(
        base_url=base_url,
        scope=scope,
        authority_host=bot.endpoints.authority_host,
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        timeout_seconds=timeout,
        activation_timeout_seconds=activation_timeout,
    )


def _access(env: Mapping[str, str], graph: GraphSettings, problems: list[str]) -> AccessSettings:
    """The allowed tenants default to Graph's; admins: who may run the admin commands (`approvals here …`, `feed
    here`), nobody when none is set."""
    allowed_raw = env.get("ALLOWED_TENANTS", graph.tenant_id)
    allowed = tuple(t.strip().lower() for t in allowed_raw.split(",") if t.strip())
    for t in allowed:
        if not _GUID.match(t):
            problems.append(f"ALLOWED_TENANTS has {t!r}, which is not a tenant GUID")
    admins = tuple(a.strip().lower() for a in env.get("BOT_ADMINS", "").split(",") if a.strip())
    for admin in admins:
        if not _GUID.match(admin):
            problems.append(f"BOT_ADMINS has {admin!r}, which is not an Entra object id (a GUID)")
    admin_group = env.get("BOT_ADMIN_GROUP", "").strip()
    if admin_group and not _GUID.match(admin_group):
        problems.append(f"BOT_ADMIN_GROUP={admin_group!r} is not an Entra group object id (a GUID)")
    return AccessSettings(allowed_tenants=allowed, admins=admins, admin_group=admin_group.lower())


def _sign_in(env: Mapping[str, str], bot: BotSettings, problems: list[str]) -> SignInSettings:
    mode_raw = env.get("USER_TOKENS", UserTokenMode.SSO.value).strip().lower()
    try:
        user_tokens = UserTokenMode(mode_raw)
    except ValueError:
        user_tokens = UserTokenMode.SSO
        problems.append(f"USER_TOKENS={mode_raw!r} must be one of {', '.join(m.value for m in UserTokenMode)}")
    simulated_tenant_url = env.get("SIMULATED_TENANT_URL", "").strip().rstrip("/")
    if user_tokens is UserTokenMode.SIMULATED and not simulated_tenant_url:
        problems.append("SIMULATED_TENANT_URL is missing (required with USER_TOKENS=simulated)")
    # -- Teams SSO user tokens (USER_TOKENS=sso) --
    # The token service keys tokens by the bot's app id and authenticates the bot: there is no anonymous SSO.
    oauth_connection_name = env.get("OAUTH_CONNECTION_NAME", "").strip()
    if user_tokens is UserTokenMode.SSO:
        if not oauth_connection_name:
            problems.append(
                "OAUTH_CONNECTION_NAME is missing (required with USER_TOKENS=sso): the name of the Azure Bot's OAuth "
                "connection setting"
            )
        if not bot.app_id:
            problems.append(
                "USER_TOKENS=sso needs the bot's MicrosoftAppId (the token service serves only a registered bot); "
                "for local development without one use USER_TOKENS=simulated"
            )
    # -- end Teams SSO --
    # -- step-up sign-in (MFA / authentication context): the bot's own pages, reached by the user's browser --
    # https in production (the redirect URI Entra sends codes to); plain http only to a loopback host, and only in
    # the anonymous local-development mode (BOT_ALLOW_ANONYMOUS=1), for the demo and the tests.
    public_base_url = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    if public_base_url and not re.match(r"^https://[^/\s]+(/\S*)?$", public_base_url):
        local = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/\S*)?$", public_base_url)
        if not (local and bot.allow_anonymous and not bot.app_id):
            problems.append(
                f"PUBLIC_BASE_URL={public_base_url!r} must be an https:// URL (http://127.0.0.1:port only with "
                "BOT_ALLOW_ANONYMOUS=1 and no MicrosoftAppId)"
            )
    # -- end step-up --
    return SignInSettings(user_tokens, simulated_tenant_url, oauth_connection_name, public_base_url)


def _approvals(env: Mapping[str, str], problems: list[str]) -> ApprovalSettings:
    # How often open requests are checked for decisions made outside the bot.
    poll = _bounded(env, "APPROVAL_POLL_SECONDS", 60.0, 5, 3600, "a number of seconds", problems)
    # A request still pending this long gets one reminder to its approvers.
    reminder = int(
        _bounded(env, "APPROVAL_REMINDER_MINUTES", 60, 1, 22 * 60, "a whole number of minutes", problems, whole=True)
    )
    # Approvals channels from settings (admins can also type `approvals here <group>` in the channel).
    channels = _approval_channels(env.get("APPROVAL_CHANNELS", ""), problems)
    return ApprovalSettings(poll_seconds=poll, reminder_minutes=reminder, channels=channels)


def _live(env: Mapping[str, str], problems: list[str]) -> LiveSettings:
    notes: list[tuple[str, str]] = []
    for part in env.get("LIVE_NOTES", "").split(";"):
        if not part.strip():
            continue
        group, sep, note = part.partition("=")
        if not sep or not group.strip() or not note.strip() or len(note) > 300:
            problems.append(
                f"LIVE_NOTES entry {part.strip()[:60]!r} must be “<group name or id>=<note>” (a note of at most 300 "
                "characters; entries separated by ';')"
            )
            continue
        notes.append((group.strip(), " ".join(note.split())))
    return LiveSettings(
        poll_seconds=_bounded(env, "LIVE_POLL_SECONDS", 15.0, 5, 300, "a number of seconds", problems),
        check_seconds=_bounded(env, "LIVE_CHECK_SECONDS", 300.0, 0, 3600, "a number of seconds", problems),
        notes=tuple(notes),
    )


def _feed(env: Mapping[str, str], problems: list[str]) -> FeedSettings:
    channel = _channel_from_link(env.get("FEED_CHANNEL", "").strip())
    if channel and not _CHANNEL_ID.match(channel):
        problems.append(
            f"FEED_CHANNEL={channel!r} must be a Teams channel id like 19:…@thread.tacv2, or the channel's link"
        )
    return FeedSettings(
        channel=channel,
        groups=tuple(g.strip() for g in env.get("FEED_GROUPS", "").split(",") if g.strip()),
        poll_seconds=_bounded(env, "FEED_POLL_SECONDS", 60.0, 5, 3600, "a number of seconds", problems),
        digest_threshold=int(
            _bounded(env, "FEED_DIGEST_THRESHOLD", 10, 1, 100, "a whole number", problems, whole=True)
        ),
        discover=_bool(env, "FEED_DISCOVER", problems),
        export_max_days=int(
            _bounded(env, "AUDIT_EXPORT_MAX_DAYS", 92, 0, 366, "a whole number of days", problems, whole=True)
        ),
    )


def _extension(
    env: Mapping[str, str], bot: BotSettings, sign_in: SignInSettings, problems: list[str]
) -> ExtensionSettings:
    """PIM's custom extension (bot.extension.contract): the Application ID URI PIM's tokens are for, defaulting to
    `api://{PUBLIC_BASE_URL host}/{MicrosoftAppId}` once a rules file is set; the rules; the caller; time."""
    rules_raw = env.get("PIM_EXTENSION_RULES", "").strip()
    rules_file = Path(rules_raw) if rules_raw else None
    rules = RuleSet()
    if rules_file is not None:
        try:
            rules = parse_rules(rules_file.read_text(encoding="utf-8"), rules_file.name)
        except OSError:
            problems.append(f"PIM_EXTENSION_RULES={rules_raw!r} is not a readable file (the custom extension's rules)")
        except UnicodeDecodeError:
            problems.append(f"PIM_EXTENSION_RULES={rules_raw!r} is not UTF-8 text (a TOML file)")
        except RulesError as e:
            problems.extend(f"PIM_EXTENSION_RULES: {p}" for p in e.problems)
    uri = env.get("PIM_EXTENSION_APP_ID_URI", "").strip()
    host = urlsplit(sign_in.public_base_url).netloc if sign_in.public_base_url else ""
    if not uri and rules_file is not None:
        if host and bot.app_id:
            uri = f"api://{host}/{bot.app_id}"
        else:
            problems.append(
                "PIM_EXTENSION_APP_ID_URI is missing: with PIM_EXTENSION_RULES set, the Application ID URI PIM's "
                "tokens are for (api://{bot host}/{client id}) is needed, or PUBLIC_BASE_URL and MicrosoftAppId to "
                "make it"
            )
    if uri and not re.match(r"^api://[^/\s]+/\S+$", uri):
        problems.append(
            f"PIM_EXTENSION_APP_ID_URI={uri!r} must be an Application ID URI like api://bot.contoso.com/<client id>"
        )
    callers = tuple(
        c.strip().lower() for c in env.get("PIM_EXTENSION_CALLER_APP_ID", PIM_CALLER_APP_ID).split(",") if c.strip()
    )
    if not callers or any(not _GUID.match(c) for c in callers):
        problems.append("PIM_EXTENSION_CALLER_APP_ID must be PIM's app id (a GUID; several comma-separated)")
    deadline = _bounded(env, "PIM_EXTENSION_DEADLINE_SECONDS", 5.0, 0.5, 59, "a number of seconds", problems)
    fallback = env.get("PIM_EXTENSION_FALLBACK", "Approved").strip()
    if fallback.casefold() not in ("approved", "denied"):
        problems.append(
            f"PIM_EXTENSION_FALLBACK={fallback!r} must be Approved (PIM's normal approval applies) or Denied"
        )
        fallback = "Approved"
    return ExtensionSettings(
        app_id_uri=uri,
        rules_file=rules_file,
        rules=rules,
        caller_app_ids=callers or (PIM_CALLER_APP_ID,),
        deadline_seconds=deadline,
        fallback="Denied" if fallback.casefold() == "denied" else "Approved",
    )


def _off_or_bounded(
    env: Mapping[str, str], key: str, default: int, low: int, high: int, what: str, problems: list[str]
) -> int | None:
    """`off` (also 0, none, false, no): None; else a whole number between `low` and `high` (`_bounded`)."""
    raw = env.get(key, "").strip().lower()
    if raw in {"off", "0", "none", "false", "no"}:
        return None
    return int(_bounded(env, key, default, low, high, what, problems, whole=True))


def _ending(env: Mapping[str, str], problems: list[str]) -> EndingSettings:
    # The card before an activation ends; PIM's shortest activation is 5 minutes, the longest 24 hours.
    warning = _off_or_bounded(
        env, "ENDING_WARNING_MINUTES", 10, 1, 24 * 60, "a whole number of minutes (or off)", problems
    )
    # The card before an eligibility ends; PIM mails its own notice 14 days before (groups-renew-extend.md).
    days = _off_or_bounded(env, "ELIGIBILITY_WARNING_DAYS", 14, 1, 90, "a whole number of days (or off)", problems)
    poll = _bounded(env, "ENDING_POLL_SECONDS", 60.0, 15, 3600, "a number of seconds", problems)
    return EndingSettings(warning_minutes=warning, eligibility_days=days, poll_seconds=poll)
