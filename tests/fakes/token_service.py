"""A stateful stand-in of the Bot Framework token service (token.botframework.com), the REST API botbuilder's
`UserTokenClient` calls (botframework/connector/token_api in botframework-connector 4.17.1):

  GET    /api/usertoken/GetToken?userId&connectionName&channelId[&code]     200 TokenResponse | 404
  GET    /api/botsignin/GetSignInResource?state[&finalRedirect]            200 SignInUrlResponse
  POST   /api/usertoken/exchange?userId&connectionName&channelId {token}   200 TokenResponse | 400 ErrorResponse
  DELETE /api/usertoken/SignOut?userId&connectionName&channelId            200
  GET    /api/usertoken/GetTokenStatus?userId&channelId                    200 [TokenStatus]

Seed / behave / observe:
* `sso_token(oid)`: what the Teams client sends in signin/tokenExchange: a token for the bot's own API
  (`api://botid-...`) minted by the simulated tenant. `exchange` does the on-behalf-of at the simulated tenant's token
  endpoint, as Bot Service does, so only a valid SSO token exchanges and the result is a Graph token Graph accepts.
* `button_sign_in(user_id, oid)`: the OAuth card's button flow: a Graph token for `oid` waits under a magic code
  that GetToken with `code` redeems (for that user only).
* `put_token(user_id, token)`: the stand-in can be told to hold any token for a user (another user's, another
  tenant's) to test the bot's oid/tid binding; `fail_exchanges` makes the next exchanges fail (consent required).
* GetToken refreshes a Graph token it holds once that has expired on the simulated tenant's clock, as the real service
  does with the refresh token it keeps: a new token for the same user from the simulated tenant (`refreshes` counts).
* `calls` records (operation, userId); `exchanges` counts exchange calls.

Authenticate (when told to, as the real one always does): `verify_bearer` checks every call's bearer token (raises if
it is not the bot's valid token, e.g. `BotLogin.verify`); a call without a valid one is answered 401, kept in
`refused` and not in `calls`; `bearers` keeps the claims of every accepted bearer.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeTokenService:
    sim: Any  # simtenant.RunningSimTenant
    connection_name: str
    bot_api: str  # the App ID URI the SSO token is for, api://botid-{appId}
    url: str = ""
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (userId, connection) -> Graph token
    magic_codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (userId, token)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_exchanges: int = 0
    refreshes: int = 0
    verify_bearer: Callable[[str], Any] | None = None
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, why
    bearers: list[dict[str, Any]] = field(default_factory=list)  # claims of each accepted bearer
    _http: httpx.AsyncClient | None = None

    # ---- seed -------------------------------------------------------------------------------------------------

    async def _sim_token(self, oid: str, **extra: Any) -> str:
        assert self._http is not None
        r = await self._http.post(f"{self.sim.control_url}/token", json={"oid": oid, **extra})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def sso_token(self, oid: str) -> str:
        return await self._sim_token(oid, audience=self.bot_api)

    async def graph_token(self, oid: str) -> str:
        return await self._sim_token(oid)

    async def button_sign_in(self, user_id: str, oid: str) -> str:
        code = f"{uuid.uuid4().int % 1_000_000:06d}"
        self.magic_codes[code] = (user_id, await self.graph_token(oid))
        return code

    def put_token(self, user_id: str, token: str) -> None:
        self.tokens[(user_id, self.connection_name)] = token

    def has_token(self, user_id: str) -> bool:
        return (user_id, self.connection_name) in self.tokens

    @property
    def exchanges(self) -> int:
        return sum(1 for op, _ in self.calls if op == "exchange")

    # ---- behave -----------------------------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.verify_bearer is not None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            try:
                if scheme != "Bearer" or not token:
                    raise ValueError("no bearer token")
                claims = self.verify_bearer(token)
            except Exception as e:
                self.refused.append((request.method, request.path, f"{type(e).__name__}: {e}"))
                return self._error(401, "Unauthorized", "Authorization has been denied for this request.")
            self.bearers.append(dict(claims or {}))
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/api/usertoken/GetToken", self._get_token)
        app.router.add_get("/api/botsignin/GetSignInResource", self._sign_in_resource)
        app.router.add_post("/api/usertoken/exchange", self._exchange)
        app.router.add_delete("/api/usertoken/SignOut", self._sign_out)
        app.router.add_get("/api/usertoken/GetTokenStatus", self._status)
        return app

    def _token_response(self, token: str) -> web.Response:
        return web.json_response(
            {"channelId": "msteams", "connectionName": self.connection_name, "token": token, "expiration": ""}
        )

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def _get_token(self, request: web.Request) -> web.Response:
        q = request.query
        user, connection, code = q.get("userId", ""), q.get("connectionName", ""), q.get("code")
        self.calls.append(("GetToken" + ("+code" if code else ""), user))
        if code:
            waiting = self.magic_codes.pop(code, None)
            if waiting is not None and waiting[0] == user:
                self.tokens[(user, connection)] = waiting[1]
        token = self.tokens.get((user, connection))
        if token is None:
            return self._error(404, "TokenNotFound", "no token for this user and connection")
        claims = _payload(token)
        if isinstance(claims.get("exp"), int) and self.sim.tenant.clock.now().timestamp() >= claims["exp"]:
            token = await self.graph_token(str(claims["oid"]))
            self.tokens[(user, connection)] = token
            self.refreshes += 1
        return self._token_response(token)

    async def _sign_in_resource(self, request: web.Request) -> web.Response:
        state = json.loads(base64.b64decode(request.query["state"]))
        self.calls.append(("GetSignInResource", str(state.get("conversation", {}).get("user", {}).get("id", ""))))
        assert state["connectionName"] == self.connection_name, state
        return web.json_response(
            {
                "signInLink": f"{self.url}/api/oauth/signin?signin={uuid.uuid4().hex}",
                "tokenExchangeResource": {"id": str(uuid.uuid4()), "uri": self.bot_api, "providerId": "aad"},
            }
        )

    async def _exchange(self, request: web.Request) -> web.Response:
        q = request.query
        user, connection = q.get("userId", ""), q.get("connectionName", "")
        self.calls.append(("exchange", user))
        body = await request.json()
        if self.fail_exchanges > 0:
            self.fail_exchanges -= 1
            return self._error(400, "ConsentRequired", "the user has not consented")
        # Bot Service does on-behalf-of with the connection's app: only a valid SSO token of this tenant exchanges.
        assert self._http is not None
        r = await self._http.post(
            f"{self.sim.authority_host}/{self.sim.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "client_id": self.sim.client_id,
                "client_secret": self.sim.client_secret,
                "assertion": str(body.get("token") or ""),
                "scope": "https://graph.microsoft.com/.default",
                "requested_token_use": "on_behalf_of",
            },
        )
        if r.status_code != 200:
            return self._error(400, "ExchangeFailed", "the token could not be exchanged")
        token = str(r.json()["access_token"])
        self.tokens[(user, connection)] = token
        return self._token_response(token)

    async def _sign_out(self, request: web.Request) -> web.Response:
        q = request.query
        self.calls.append(("SignOut", q.get("userId", "")))
        self.tokens.pop((q.get("userId", ""), q.get("connectionName", "")), None)
        return web.json_response({})

    async def _status(self, request: web.Request) -> web.Response:
        user = request.query.get("userId", "")
        self.calls.append(("GetTokenStatus", user))
        return web.json_response(
            [
                {
                    "channelId": "msteams",
                    "connectionName": self.connection_name,
                    "hasToken": self.has_token(user),
                    "serviceProviderDisplayName": "Azure Active Directory v2",
                }
            ]
        )


def _payload(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified ({} for anything else: tokens seeded with `put_token` may be any string)."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


@asynccontextmanager
async def running_token_service(
    sim: Any, connection_name: str, bot_api: str, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[FakeTokenService]:
    service = FakeTokenService(sim, connection_name, bot_api)
    async with httpx.AsyncClient(verify=sim.ssl_context()) as http:
        service._http = http
        server = TestServer(service.app(), host="127.0.0.1")
        await server.start_server(ssl=ssl_context)
        service.url = str(server.make_url("")).rstrip("/")
        try:
            yield service
        finally:
            await server.close()
