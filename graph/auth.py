"""Where Graph tokens come from, and how they go on a request.

* `TokenAuth`: an `httpx.Auth` flow that puts a token on each request and, when Graph refuses it as stale, sends the
  request once more with a fresh one.
* `AppTokenSource`: app-only tokens from a sync callable (msal's `acquire_token_for_client`, bound by app.py;
  graph/ never imports msal), run off the event loop; it is the `TokenAuth` GraphClient sends app-only calls with.
* `SimulatedTenantTokens`: delegated tokens from the simulated tenant's control endpoint, a
  `core.ports.UserTokenProvider` for demos and tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import DirectoryUnavailable, EntraUnreachable, PermissionDenied
from graph.cache import Cache
from graph.errors import parse_error

__all__ = ["AppTokenSource", "SimulatedTenantTokens", "TokenAuth"]

log = logging.getLogger(__name__)

# msal/AAD error codes that mean "our credentials or consent are wrong", not "try again later".
_PERMISSION_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", "access_denied", "consent_required"}
)


class TokenAuth(httpx.Auth):
    """Bearer authentication from an async token source, as an httpx auth flow (for `httpx.AsyncClient`).

    The token goes on each request. A 401 without a claims challenge means Graph refused the token itself (a token
    source caches by its own clock: msal by wall time, while Graph may count otherwise, e.g. when the simulated
    tenant's clock is moved): with `refresh`, which drops the kept token, the request goes once more with a fresh one.
    A claims challenge asks for a stronger sign-in, which a fresh token of the same kind would not satisfy: the 401
    is the caller's.
    """

    def __init__(
        self, token: Callable[[], Awaitable[str]], refresh: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._token = token
        self._refresh = refresh

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._token()}"
        response = yield request
        if response.status_code != 401 or self._refresh is None:
            return
        await response.aread()
        if parse_error(response.status_code, response.headers, response.content).claims:
            return
        log.info(
            "Graph answered 401 to %s %s: sending it once more with a fresh token",
            request.method,
            request.url.path,
        )
        await self._refresh()
        request.headers["Authorization"] = f"Bearer {await self._token()}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("TokenAuth gets its token asynchronously: use it with httpx.AsyncClient")


class AppTokenSource(TokenAuth):
    """`await source()` → an app-only access token; as an `httpx.Auth`, the app-only token on a request, refreshed
    once on a 401 when `forget` can drop msal's cached copy (msal: `remove_tokens_for_client`).

    `acquire` is e.g. `functools.partial(msal_app.acquire_token_for_client, scopes=[".../.default"])`; msal ≥ 1.23
    serves it from its own cache. Both are sync (and may do network I/O), hence `asyncio.to_thread`. The token msal
    gave is kept here too, until `margin` seconds before msal would refresh it (`refresh_in`, else `expires_in`): a
    thread hop and msal's cache search cost ~0.4 ms of CPU on every app-only call (issue 16), for the same token.
    Dropping it (`forget`, on a 401) drops this copy as well.
    """

    def __init__(
        self,
        acquire: Callable[[], Mapping[str, Any]],
        forget: Callable[[], Any] | None = None,
        *,
        margin: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._acquire = acquire
        self._margin = margin
        self._monotonic = monotonic
        self._kept: tuple[str, float] | None = None  # (token, until) on `monotonic`
        refresh = None
        if forget is not None:
            drop = forget

            async def refresh() -> None:
                self._kept = None
                await asyncio.to_thread(drop)

        super().__init__(self.__call__, refresh)

    async def __call__(self) -> str:
        kept = self._kept
        if kept is not None and self._monotonic() < kept[1]:
            return kept[0]
        asked = self._monotonic()
        try:
            result = await asyncio.to_thread(self._acquire)
        except Exception as exc:  # msal surfaces network failures as requests/urllib exceptions
            raise EntraUnreachable(f"token endpoint unreachable: {type(exc).__name__}: {exc}") from exc
        token = result.get("access_token") if isinstance(result, Mapping) else None
        if isinstance(token, str) and token:
            self._keep(token, result, asked)
            return token
        error = str(result.get("error", "")) if isinstance(result, Mapping) else ""
        description = str(result.get("error_description", "")) if isinstance(result, Mapping) else ""
        detail = f"app token: {error or 'no access_token'}: {description}".strip(": ")
        if error in _PERMISSION_ERRORS:
            raise PermissionDenied(detail)
        raise DirectoryUnavailable(detail)

    def _keep(self, token: str, result: Mapping[str, Any], asked: float) -> None:
        """Keep `token` for as long as msal would hand it out unchanged, less the margin; not at all without a
        lifetime (nothing is assumed)."""
        lifetimes = [v for v in (result.get("refresh_in"), result.get("expires_in")) if _seconds(v) is not None]
        if not lifetimes:
            return
        keep = min(_seconds(v) or 0.0 for v in lifetimes) - self._margin
        self._kept = (token, asked + keep) if keep > 0 else None


def _seconds(value: object) -> float | None:
    """A lifetime msal reports (an int, sometimes a numeric string), or None."""
    if isinstance(value, bool):
        return None
    try:
        return float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Minted:
    token: str
    keep_for: float  # seconds


_Claims = tuple[str, bool, tuple[str, ...]]  # user, mfa, acrs


class SimulatedTenantTokens:
    """Delegated tokens minted by the simulated tenant: `POST {control_url}/token` with
    `{"oid", "mfa", "acrs"}` → `{"access_token", "expires_in"}`. Cached per user (and per claim set) until
    `refresh_margin` seconds before expiry.

    `mfa`/`acrs` set what ordinary tokens carry; `step_up_token` asks for a stronger one (what a real sign-in with a
    claims challenge would produce).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        control_url: str,
        *,
        mfa: bool = False,
        acrs: Sequence[str] = (),
        refresh_margin: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._control_url = control_url.rstrip("/")
        self._mfa = mfa
        self._acrs = tuple(acrs)
        self._refresh_margin = refresh_margin
        # one mint per user and claim set, even when several turns ask at once
        self._tokens: Cache[_Claims, _Minted] = Cache(lambda minted: minted.keep_for, clock=monotonic)

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        return await self._token(user_object_id, self._mfa, self._acrs)

    async def step_up_token(self, user_object_id: str, *, mfa: bool = True, acrs: Sequence[str] = ()) -> str:
        return await self._token(user_object_id, mfa or self._mfa, tuple(sorted({*self._acrs, *acrs})))

    def forget(self, user_object_id: str) -> None:
        self._tokens.discard_where(lambda key, _: key[0] == user_object_id)

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        """Graph refused a cached token: the cache counts lifetimes on this process's clock, the tenant on its own
        (the simulated tenant's clock can be moved a day ahead), so drop it; the next call mints a fresh one."""
        self.forget(user_object_id)

    async def _token(self, oid: str, mfa: bool, acrs: tuple[str, ...]) -> str:
        return (await self._tokens.get((oid, mfa, acrs), lambda: self._mint(oid, mfa, acrs))).token

    async def _mint(self, oid: str, mfa: bool, acrs: tuple[str, ...]) -> _Minted:
        try:
            response = await self._http.post(
                f"{self._control_url}/token", json={"oid": oid, "mfa": mfa, "acrs": list(acrs)}
            )
        except httpx.TransportError as exc:
            raise DirectoryUnavailable(f"simulated token endpoint: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403, 404):
            raise PermissionDenied(f"simulated token endpoint refused {oid}: {response.status_code}")
        if response.status_code >= 400:
            raise DirectoryUnavailable(f"simulated token endpoint: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DirectoryUnavailable("simulated token endpoint: not JSON") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise DirectoryUnavailable("simulated token endpoint: no access_token")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return _Minted(token, max(lifetime - self._refresh_margin, 0.0))
