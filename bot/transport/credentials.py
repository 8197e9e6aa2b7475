"""The bot's own app token (client credentials or managed identity, from OUR msal client) for every outbound call:
our Bot Connector client (async) and botbuilder's UserTokenClient (the token service at OAUTH_URL: GetToken,
exchange, GetSignInResource, SignOut), which msrest authenticates synchronously through an `AppCredentials`.

Why not botbuilder's own credentials: `ConfigurationServiceClientCredentialFactory` builds `MicrosoftAppCredentials`,
whose sync msal client does instance discovery against the public cloud and fetches tokens on the event loop; for a
login URL other than the public/US Gov ones it falls back to a private-cloud class configured through private
attributes. `BotCredentialsFactory` is handed to botbuilder as `credentials_factory=` instead: every credential it makes
draws from the one `BotTokens` the connector uses (same app id, authority, tenant, scope, CA).

Not blocking the event loop: msrest calls `signed_session` → `get_access_token` synchronously, on the loop, before
each token service request. `BotTokens` keeps the last token per scope with its expiry; the async path (`token`, used
by the connector and awaited by `FastBotFrameworkAuthentication.create_user_token_client` at the start of every turn,
before any token service call) refreshes it in a worker thread (`asyncio.to_thread`) once it is within
`REFRESH_MARGIN` of expiry. So the sync path finds a fresh token in memory: a dict look-up. Only if it somehow does
not (nothing async ran for most of an hour and the token is within `SYNC_MARGIN` of expiry) does it ask msal on the
loop, which msal answers from its own cache or, at worst, with one token request; that is logged.

TLS: msrest sends through `requests` with `verify=True` per request (it ignores `session.verify`), so the configured
CA file (CA_FILE / REQUESTS_CA_BUNDLE / SSL_CERT_FILE) is applied by an `HTTPAdapter` mounted on the session msrest
hands to `signed_session`.

No token value is ever logged or put into an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import requests
from botframework.connector.auth import AppCredentials, ServiceClientCredentialsFactory
from requests.adapters import HTTPAdapter

__all__ = ["BotCredentialsFactory", "BotTokenError", "BotTokens", "MsalAppCredentials"]

log = logging.getLogger(__name__)

REFRESH_MARGIN = 600.0  # seconds before expiry the async path fetches a new token (off the loop)
SYNC_MARGIN = 120.0  # below this the sync path may not use the kept token any more

Acquire = Callable[[list[str]], dict[str, Any]]  # scopes -> msal result (blocking; msal serves it from its cache)


class BotTokenError(PermissionError):
    """The bot's own token could not be obtained (no token value in the message)."""


def scope_for(audience: str) -> str:
    audience = audience.rstrip("/")
    return audience if audience.endswith("/.default") else f"{audience}/.default"


class BotTokens:
    """The bot app's access tokens, one per scope, kept with their expiry; msal does the fetching and caching."""

    def __init__(
        self, app_id: str, acquire: Acquire, default_audience: str, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.app_id = app_id
        self._acquire = acquire
        self.default_scope = scope_for(default_audience)
        self._now = now
        self._kept: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic expiry)
        self._lock = threading.Lock()
        self.sync_fetches = 0  # token requests made on the caller's thread (the event loop, for msrest)

    def _fresh(self, scope: str, margin: float) -> str | None:
        kept = self._kept.get(scope)
        if kept is not None and kept[1] - self._now() > margin:
            return kept[0]
        return None

    def _fetch(self, scope: str) -> str:
        """Blocking: msal's cache or one token request."""
        started = self._now()
        result = self._acquire([scope])
        access = result.get("access_token")
        if not isinstance(access, str) or not access:
            raise BotTokenError(
                f"no token for the bot app {self.app_id} (scope {scope}): {result.get('error')}: "
                f"{str(result.get('error_description', ''))[:300]}"
            )
        try:
            lifetime = float(result.get("expires_in", 0))
        except (TypeError, ValueError):
            lifetime = 0.0
        with self._lock:
            self._kept[scope] = (access, started + lifetime)
        return access

    async def token(self, audience: str | None = None) -> str:
        """`bot.transport.connector.TokenSource`: from memory while fresh, else fetched in a worker thread."""
        scope = scope_for(audience) if audience else self.default_scope
        fresh = self._fresh(scope, REFRESH_MARGIN)
        return fresh if fresh is not None else await asyncio.to_thread(self._fetch, scope)

    def token_now(self, scope: str) -> str:
        """For synchronous callers (msrest): the kept token; a blocking fetch only if none is usable."""
        fresh = self._fresh(scope, SYNC_MARGIN)
        if fresh is not None:
            return fresh
        self.sync_fetches += 1
        log.info("bot app token for %s fetched synchronously (no fresh token was kept)", scope)
        return self._fetch(scope)


class _CaFileAdapter(HTTPAdapter):
    """Verifies servers against the configured CA file even though msrest asks requests for `verify=True`."""

    def __init__(self, ca_file: str) -> None:
        super().__init__()
        self.ca_file = ca_file

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> requests.Response:  # fmt: skip
        return super().send(request, stream, timeout, self.ca_file if verify is not False else verify, cert, proxies)


class MsalAppCredentials(AppCredentials):
    """botbuilder/msrest credentials whose bearer comes from `BotTokens` (our msal client)."""

    def __init__(self, tokens: BotTokens, oauth_scope: str, ca_file: str | None = None) -> None:
        super().__init__(app_id=tokens.app_id, oauth_scope=oauth_scope)
        self._tokens = tokens
        self._scope = scope_for(oauth_scope) if oauth_scope else tokens.default_scope
        self._ca_file = ca_file
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._tokens.token_now(self._scope)

    def signed_session(self, session: requests.Session | None = None) -> requests.Session:
        session = super().signed_session(session)
        self._sessions.add(session)
        if self._ca_file is not None:
            adapter = session.adapters.get("https://")
            if not isinstance(adapter, _CaFileAdapter) or adapter.ca_file != self._ca_file:
                session.mount("https://", _CaFileAdapter(self._ca_file))
        return session

    def close(self) -> None:
        """Closes the sessions msrest signed with these credentials (their keep-alive connections)."""
        for session in list(self._sessions):
            session.close()

    def __repr__(self) -> str:
        return f"MsalAppCredentials(app_id={self.microsoft_app_id!r}, scope={self._scope!r})"


class BotCredentialsFactory(ServiceClientCredentialsFactory):
    """botbuilder's `credentials_factory=`: app id checks for inbound tokens, and credentials from `BotTokens`.

    The login endpoint botbuilder passes is TO_CHANNEL_FROM_BOT_LOGIN_URL, the same setting our msal client's authority
    was built from (with the bot's tenant for SingleTenant), so it is not used again here."""

    def __init__(self, tokens: BotTokens, ca_file: str | None = None) -> None:
        self._tokens = tokens
        self._ca_file = ca_file
        self._credentials: dict[str, MsalAppCredentials] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(app_id) and app_id == self._tokens.app_id

    async def is_authentication_disabled(self) -> bool:
        return False

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> MsalAppCredentials:
        if not await self.is_valid_app_id(app_id):
            raise PermissionError(f"no credentials for app id {app_id!r}: this bot is {self._tokens.app_id}")
        credentials = self._credentials.get(oauth_scope or "")
        if credentials is None:
            credentials = MsalAppCredentials(self._tokens, oauth_scope, self._ca_file)
            self._credentials[oauth_scope or ""] = credentials
        return credentials

    def close(self) -> None:
        """At shutdown: the token service connections msrest kept open."""
        for credentials in self._credentials.values():
            credentials.close()
