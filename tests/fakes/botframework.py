"""Local HTTPS stand-ins of the identity endpoints a production bot talks to, with a throwaway CA (trustme).

`ChannelIdentity` — the Bot Framework channel side (login.botframework.com):
  seed: RSA signing keys (one endorsed for `msteams`, one endorsed only for another channel);
  behave: `/v1/.well-known/openidconfiguration` and `/v1/.well-known/keys` (JWKS with `endorsements`), and
  `activity_token(...)`, which signs an activity token as the Bot Connector does (RS256, `kid`, `iss`, `aud` = the
  bot's app id, `serviceurl`, `nbf`/`exp`); every claim can be bent to make a bad token;
  observe: `metadata_requests`, `key_requests`.
`BotLogin` — the Entra token endpoint for the bot's own app (login.microsoftonline.com/{tenant}):
  seed: `register(app_id, secret, tenant)`; behave: tenant OpenID configuration + client credentials for the Bot
  Framework scope only, RS256 tokens shaped like Entra's v1 tokens (aud, iss `https://sts.windows.net/{tid}/`, appid,
  tid); observe: `issued` (every token value, for log scans) and `verify(token)`, which the recording Bot Connector
  uses to check the bearer on every outbound call.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com"


@dataclass
class SigningKey:
    kid: str
    endorsements: list[str]
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), repr=False
    )

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        data.update(kid=self.kid, use="sig", alg="RS256", endorsements=list(self.endorsements))
        return data


class TestCA:
    """One trustme CA per test run; `bundle(path, *extra_pems)` writes a CA file a client can trust."""

    __test__ = False

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="pim-bot identity stand-ins")
        self._leaf = self.ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def bundle(self, path: Path, *extra: Path) -> Path:
        pems = [self.ca.cert_pem.bytes()] + [Path(p).read_bytes() for p in extra]
        path.write_bytes(b"\n".join(pems))
        return path


class ChannelIdentity:
    """The Bot Framework channel's token signing, as seen by a bot."""

    def __init__(self, issuer: str = BOT_FRAMEWORK_ISSUER) -> None:
        self.issuer = issuer
        self.teams_key = SigningKey(f"teams-{uuid.uuid4().hex[:8]}", ["msteams", "skype"])
        self.webchat_key = SigningKey(f"webchat-{uuid.uuid4().hex[:8]}", ["webchat"])
        self.published = [self.teams_key, self.webchat_key]
        self.url = ""
        self.metadata_requests = 0
        self.key_requests = 0
        self.delay_seconds = 0.0  # a slow metadata host

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def activity_token(
        self,
        app_id: str,
        service_url: str,
        *,
        key: SigningKey | None = None,
        kid: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        lifetime: int = 3600,
        issued_ago: int = 0,
        algorithm: str = "RS256",
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A token as the Bot Connector sends it with an activity; each argument bends one claim for bad cases."""
        key = key or self.teams_key
        now = int(time.time()) - issued_ago
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": now - 5,
            "exp": now + lifetime,
            "iss": issuer or self.issuer,
            "aud": audience or app_id,
        }
        claims.update(extra or {})
        headers = {"kid": kid or key.kid, "x5t": kid or key.kid}
        return jwt.encode(claims, key.private, algorithm=algorithm, headers=headers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        return app

    async def _metadata(self, _: web.Request) -> web.Response:
        self.metadata_requests += 1
        await asyncio.sleep(self.delay_seconds)
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _: web.Request) -> web.Response:
        self.key_requests += 1
        return web.json_response({"keys": [k.jwk() for k in self.published]})


@dataclass
class _App:
    app_id: str
    secret: str
    tenant: str


class BotLogin:
    """The Entra token endpoint for the bot's own app registration (client credentials only)."""

    def __init__(self, scope_resource: str = BOT_FRAMEWORK_SCOPE) -> None:
        self.resource = scope_resource
        self.key = SigningKey(f"entra-{uuid.uuid4().hex[:8]}", [])
        self.apps: dict[str, _App] = {}
        self.issued: list[str] = []
        self.token_requests: list[dict[str, str]] = []  # form fields, client_secret masked
        self.url = ""

    def register(self, app_id: str, secret: str, tenant: str) -> None:
        self.apps[app_id.lower()] = _App(app_id, secret, tenant.lower())

    def issuer_for(self, tenant: str) -> str:
        return f"https://sts.windows.net/{tenant}/"

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a token this endpoint issued for the Bot Framework resource; jwt errors otherwise."""
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self.key.kid:
            raise jwt.InvalidTokenError("unknown signing key")
        claims: dict[str, Any] = jwt.decode(
            token, self.key.private.public_key(), algorithms=["RS256"], audience=self.resource
        )
        app = self.apps.get(str(claims.get("appid", "")).lower())
        if app is None or claims.get("iss") != self.issuer_for(app.tenant) or claims.get("tid") != app.tenant:
            raise jwt.InvalidTokenError("token not issued to a registered bot app by its tenant")
        return claims

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        return app

    async def _openid(self, request: web.Request) -> web.Response:
        base = f"{self.url}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"].lower()
        form = {k: str(v) for k, v in (await request.post()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        self.token_requests.append({**form, "tenant": tenant, "client_secret": "***" if secret else ""})
        app = self.apps.get(client_id.lower())
        if app is None or app.tenant != tenant:
            return _aad_error(400, "unauthorized_client", f"AADSTS700016: Application '{client_id}' not found.")
        if not secrets.compare_digest(secret, app.secret):
            return _aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type.")
        if form.get("scope", "").split() != [f"{self.resource}/.default"]:
            return _aad_error(400, "invalid_scope", f"AADSTS1002012: scope {form.get('scope')!r} is not valid.")
        now = int(time.time())
        claims = {
            "aud": self.resource,
            "iss": self.issuer_for(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "appid": app.app_id,
            "appidacr": "1",
            "idp": self.issuer_for(tenant),
            "tid": tenant,
            "ver": "1.0",
        }
        token = jwt.encode(claims, self.key.private, algorithm="RS256", headers={"kid": self.key.kid})
        self.issued.append(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )


def _aad_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


@dataclass
class IdentityStandIns:
    ca: TestCA
    channel: ChannelIdentity
    login: BotLogin


@asynccontextmanager
async def running_identity(ca: TestCA | None = None) -> AsyncIterator[IdentityStandIns]:
    """Both stand-ins over HTTPS on 127.0.0.1, each on its own port (they are different hosts in production)."""
    ca = ca or TestCA()
    channel, login = ChannelIdentity(), BotLogin()
    servers = [TestServer(channel.app(), host="127.0.0.1"), TestServer(login.app(), host="127.0.0.1")]
    for server in servers:
        await server.start_server(ssl=ca.server_context())
    channel.url = str(servers[0].make_url("")).rstrip("/")
    login.url = str(servers[1].make_url("")).rstrip("/")
    try:
        yield IdentityStandIns(ca, channel, login)
    finally:
        for server in servers:
            await server.close()
