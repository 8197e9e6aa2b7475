"""Settings: read once from the environment at start-up, typed, validated; secrets masked.

`load_settings(os.environ)` is called only by app.py. A missing or invalid key stops start-up with a message that
names every bad key at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["AppType", "Secret", "Settings", "SettingsError", "UserTokenMode", "load_settings"]

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


class UserTokenMode(StrEnum):
    """Where delegated user tokens come from. `simulated`: the simulated tenant (demo, tests)."""

    SIMULATED = "simulated"
    SSO = "sso"  # Teams SSO through the Azure Bot OAuth connection (the identity issue)


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3978
    app_id: str = ""
    app_password: Secret = field(default_factory=lambda: Secret(""))
    app_type: AppType = AppType.SINGLE_TENANT
    app_tenant_id: str = ""
    allow_anonymous: bool = False
    allowed_tenants: tuple[str, ...] = ()
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_scope: str = ""  # default: the origin of graph_base_url + "/.default"
    authority_host: str = "https://login.microsoftonline.com"
    graph_tenant_id: str = ""
    graph_client_id: str = ""
    graph_client_secret: Secret = field(default_factory=lambda: Secret(""))
    graph_timeout_seconds: float = 8.0
    user_tokens: UserTokenMode = UserTokenMode.SSO
    simulated_tenant_url: str = ""
    ca_file: Path | None = None
    state_db: Path = Path("var/state.sqlite3")
    log_level: str = "INFO"

    @property
    def anonymous(self) -> bool:
        return not self.app_id


def _bool(env: Mapping[str, str], key: str, problems: list[str]) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(f"{key}={env[key]!r} is not a boolean (use 1/0, true/false, yes/no)")
    return False


def _url(env: Mapping[str, str], key: str, default: str, problems: list[str]) -> str:
    value = env.get(key, default).strip().rstrip("/")
    if not re.match(r"^https://[^/\s]+(/\S*)?$", value):
        problems.append(f"{key}={value!r} must be an https:// URL")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables; raise SettingsError naming every bad or missing key."""
    problems: list[str] = []
    port_raw = env.get("PORT", "3978")
    port = 0
    if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
        problems.append(f"PORT={port_raw!r} must be a port number (0-65535)")
    else:
        port = int(port_raw)

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

    graph_tenant_id = env.get("GRAPH_TENANT_ID", app_tenant_id).strip()
    if not _GUID.match(graph_tenant_id):
        problems.append(
            "GRAPH_TENANT_ID (or MicrosoftAppTenantId) is missing or not a GUID: the tenant whose PIM is used"
        )
    graph_client_id = env.get("GRAPH_CLIENT_ID", app_id).strip()
    if not _GUID.match(graph_client_id):
        problems.append("GRAPH_CLIENT_ID (or MicrosoftAppId) is missing or not a GUID: the app that reads Graph")
    graph_client_secret = Secret(env.get("GRAPH_CLIENT_SECRET", app_password.reveal()))
    if not graph_client_secret:
        problems.append("GRAPH_CLIENT_SECRET (or MicrosoftAppPassword) is missing: the client secret for Graph reads")

    allowed_raw = env.get("ALLOWED_TENANTS", graph_tenant_id)
    allowed = tuple(t.strip().lower() for t in allowed_raw.split(",") if t.strip())
    for t in allowed:
        if not _GUID.match(t):
            problems.append(f"ALLOWED_TENANTS has {t!r}, which is not a tenant GUID")

    mode_raw = env.get("USER_TOKENS", UserTokenMode.SSO.value).strip().lower()
    try:
        user_tokens = UserTokenMode(mode_raw)
    except ValueError:
        user_tokens = UserTokenMode.SSO
        problems.append(f"USER_TOKENS={mode_raw!r} must be one of {', '.join(m.value for m in UserTokenMode)}")
    simulated_tenant_url = env.get("SIMULATED_TENANT_URL", "").strip().rstrip("/")
    if user_tokens is UserTokenMode.SIMULATED and not simulated_tenant_url:
        problems.append("SIMULATED_TENANT_URL is missing (required with USER_TOKENS=simulated)")
    if user_tokens is UserTokenMode.SSO:
        problems.append(
            "USER_TOKENS=sso (Teams SSO through the Azure Bot OAuth connection) is not available yet; "
            "use USER_TOKENS=simulated with the simulated tenant"
        )

    timeout_raw = env.get("GRAPH_TIMEOUT_SECONDS", "8")
    try:
        timeout = float(timeout_raw)
        if not 0.1 <= timeout <= 60:
            raise ValueError
    except ValueError:
        timeout = 8.0
        problems.append(f"GRAPH_TIMEOUT_SECONDS={timeout_raw!r} must be a number of seconds between 0.1 and 60")

    ca_raw = env.get("CA_FILE") or env.get("SSL_CERT_FILE") or ""
    ca_file = Path(ca_raw) if ca_raw else None
    if ca_file is not None and not ca_file.is_file():
        problems.append(f"CA_FILE/SSL_CERT_FILE={ca_raw!r} is not a readable file")

    graph_base_url = _url(env, "GRAPH_BASE_URL", Settings.graph_base_url, problems)
    origin = "/".join(graph_base_url.split("/")[:3])
    graph_scope = env.get("GRAPH_SCOPE", f"{origin}/.default").strip()
    if not re.match(r"^https://\S+/\.default$", graph_scope):
        problems.append(f"GRAPH_SCOPE={graph_scope!r} must be an https:// resource followed by /.default")

    log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR")

    settings = Settings(
        host=env.get("HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=port,
        app_id=app_id,
        app_password=app_password,
        app_type=app_type,
        app_tenant_id=app_tenant_id,
        allow_anonymous=allow_anonymous,
        allowed_tenants=allowed,
        graph_base_url=graph_base_url,
        graph_scope=graph_scope,
        authority_host=_url(env, "AUTHORITY_HOST", Settings.authority_host, problems),
        graph_tenant_id=graph_tenant_id,
        graph_client_id=graph_client_id,
        graph_client_secret=graph_client_secret,
        graph_timeout_seconds=timeout,
        user_tokens=user_tokens,
        simulated_tenant_url=simulated_tenant_url,
        ca_file=ca_file,
        state_db=Path(env.get("STATE_DB", str(Settings.state_db))),
        log_level=log_level,
    )
    if problems:
        raise SettingsError(problems)
    return settings
