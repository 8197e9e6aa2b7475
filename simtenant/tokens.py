"""Access tokens the simulated tenant issues and verifies.

JWTs signed HS256 with a random key made per TokenService (one per process in practice). The bot never verifies
them (clients must treat access tokens as opaque); verifying them is the stand-in Graph's job. Lifetimes follow
the SIM clock: a token is issued at sim-now, valid for one hour, and refused (401) once the sim clock passes `exp`
— so advancing the clock by an hour expires every token, as a real hour would. `nbf` is checked with five minutes
of skew, so tokens issued before the clock is set back a little stay usable.

Claims: aud, iss, tid, iat, nbf, exp, appid, idtyp ("app" | "user"); app tokens add `roles`; delegated tokens add
oid, scp (space-separated), name, preferred_username, amr (["pwd"] or ["pwd","mfa"]) and optionally acrs.

Tokens for a custom API (`issue_api_token`: what Entra gives a first-party service such as PIM calling a custom
extension's endpoint, which that API validates itself) are signed RS256 with a key whose public half the tenant's
JWKS (`/{tenant}/discovery/v2.0/keys`, from the OpenID metadata's `jwks_uri`) publishes with its `kid`, as Entra's
are: "Microsoft Entra ID signs tokens with RS256; the key is in the JWKS the OpenID configuration names"
(learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-signature). v1 tokens carry `appid` and
`iss` = `https://sts.windows.net/{tid}/`; v2 tokens carry `azp` and `iss` = `{authority}/{tid}/v2.0`
(learn.microsoft.com/entra/identity-platform/access-token-claims-reference: `appid` "only present in v1.0 tokens",
`azp` "only present in v2.0 tokens").
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from simtenant.clock import SimClock
from simtenant.entities import App, Caller, User

__all__ = ["GRAPH_AUDIENCE", "TOKEN_LIFETIME", "TokenError", "TokenService"]

GRAPH_AUDIENCE = "https://graph.microsoft.com"
TOKEN_LIFETIME = timedelta(hours=1)
_NBF_SKEW = timedelta(minutes=5)
_CACHE_LIMIT = 4096


class TokenError(Exception):
    """The token is missing, malformed, badly signed, for another audience/tenant, or expired."""


class TokenService:
    def __init__(self, tenant_id: str, clock: SimClock) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, Caller] = {}
        self._signing: rsa.RSAPrivateKey | None = None  # made on first use: 2048-bit keys take ~50 ms
        self.signing_kid = secrets.token_hex(8)

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def _base_claims(self, app_id: str, idtyp: str) -> dict[str, Any]:
        now = self.clock.now()
        iat = int(now.timestamp())
        return {
            "aud": GRAPH_AUDIENCE,
            "iss": self.issuer,
            "tid": self.tenant_id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + int(TOKEN_LIFETIME.total_seconds()),
            "appid": app_id,
            "idtyp": idtyp,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }

    def issue_app_token(self, app: App) -> str:
        claims = self._base_claims(app.client_id, "app")
        claims["roles"] = sorted(app.roles)
        claims["oid"] = app.client_id  # the service principal; idtyp tells it apart from a user
        claims["sub"] = app.client_id
        return jwt.encode(claims, self._key, algorithm="HS256")

    def issue_user_token(
        self,
        user: User,
        app_id: str,
        scopes: Iterable[str],
        *,
        mfa: bool = False,
        acrs: Iterable[str] = (),
        audience: str = GRAPH_AUDIENCE,
    ) -> str:
        """A delegated token. `audience` other than Graph makes a token for another API (e.g. the bot's own
        `api://…` app, standing in for a Teams SSO token to exchange on-behalf-of); Graph refuses those."""
        claims = self._base_claims(app_id, "user")
        claims["aud"] = audience
        claims.update(
            oid=user.id,
            sub=user.id,
            scp=" ".join(scopes),
            name=user.display_name,
            preferred_username=user.user_principal_name,
            upn=user.user_principal_name,
            amr=["pwd", "mfa"] if mfa else ["pwd"],
        )
        acrs_list = list(acrs)
        if acrs_list:
            claims["acrs"] = acrs_list
        return jwt.encode(claims, self._key, algorithm="HS256")

    def issue_id_token(self, user: User, client_id: str, issuer: str, nonce: str, *, mfa: bool = False) -> str:
        """An OpenID Connect id_token for the authorization-code grant (simtenant.authorize): aud is the client,
        `nonce` is echoed as sent to the authorization endpoint."""
        claims = self._base_claims(client_id, "user")
        claims.update(
            aud=client_id,
            iss=issuer,
            oid=user.id,
            sub=user.id,
            name=user.display_name,
            preferred_username=user.user_principal_name,
            amr=["pwd", "mfa"] if mfa else ["pwd"],
            ver="2.0",
        )
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="HS256")

    @property
    def signing_key(self) -> rsa.RSAPrivateKey:
        """The private half of the key the JWKS publishes (RS256 tokens for custom APIs)."""
        if self._signing is None:
            self._signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._signing

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set of `jwks_uri`: the RS256 key's public half (kty, use, kid, n, e; Entra's keys also
        carry x5t and x5c, which verifiers that build the key from n and e do not need)."""
        numbers = self.signing_key.public_key().public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        key = {"kty": "RSA", "use": "sig", "kid": self.signing_kid, "n": b64(numbers.n), "e": b64(numbers.e)}
        return {"keys": [key]}

    def issue_api_token(
        self,
        app_id: str,
        audience: str,
        *,
        version: str = "1.0",
        authority: str = "https://login.microsoftonline.com",
        lifetime: timedelta = TOKEN_LIFETIME,
        issued_at: datetime | None = None,
    ) -> str:
        """An app-only token for a custom API (`audience`: its Application ID URI or client id), as Entra issues it
        to the app `app_id` (e.g. PIM's first-party app calling a custom extension), signed RS256 with the key the
        JWKS publishes. `version` "2.0": `azp` instead of `appid` and the v2 issuer `{authority}/{tid}/v2.0`."""
        now = issued_at or self.clock.now()
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer if version == "1.0" else f"{authority}/{self.tenant_id}/v2.0",
            "tid": self.tenant_id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + int(lifetime.total_seconds()),
            "oid": app_id,
            "sub": app_id,
            "idtyp": "app",
            "uti": secrets.token_urlsafe(16),
            "ver": version,
        }
        claims["appid" if version == "1.0" else "azp"] = app_id
        if version != "1.0":
            claims["azpacr"] = "2"  # "2": the client authenticated with a certificate (first-party services do)
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.signing_kid})

    def verify(self, token: str) -> Caller:
        """The caller behind a bearer token. Raises TokenError with Graph's wording."""
        caller = self._verified.get(token)
        if caller is None:
            caller = self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = caller
        now = self.clock.now()
        if caller.expires is not None and now >= caller.expires:
            raise TokenError("Lifetime validation failed, the token is expired.")
        if caller.not_before is not None and now + _NBF_SKEW < caller.not_before:
            raise TokenError("Lifetime validation failed, the token is not yet valid.")
        return caller

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.exceptions.DecodeError as exc:
            raise TokenError("IDX14100: JWT is not well formed.") from exc
        except jwt.exceptions.InvalidTokenError as exc:
            raise TokenError("Access token validation failure.") from exc
        return claims

    def assertion_claims(self, token: str) -> dict[str, Any]:
        """Claims of a delegated token this tenant issued, for any audience (an on-behalf-of assertion).
        Raises TokenError if it is not ours, not a user token, or expired by the sim clock."""
        claims = self._claims(token)
        if claims.get("tid") != self.tenant_id or claims.get("idtyp") != "user":
            raise TokenError("AADSTS50013: Assertion failed signature validation.")
        if self.clock.now() >= datetime.fromtimestamp(int(claims["exp"]), UTC):
            raise TokenError("AADSTS500133: Assertion is not within its valid time range.")
        return claims

    def _decode(self, token: str) -> Caller:
        claims = self._claims(token)
        if claims.get("aud") not in (GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/"):
            raise TokenError("Access token validation failure. Invalid audience.")
        if claims.get("tid") != self.tenant_id:
            raise TokenError("Access token validation failure. Invalid issuer.")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        not_before = datetime.fromtimestamp(int(claims.get("nbf", claims["iat"])), UTC)
        if claims.get("idtyp") == "app":
            return Caller(
                kind="app",
                app_id=str(claims["appid"]),
                roles=frozenset(claims.get("roles", [])),
                expires=expires,
                not_before=not_before,
            )
        return Caller(
            kind="user",
            app_id=str(claims["appid"]),
            oid=str(claims["oid"]),
            scopes=frozenset(str(claims.get("scp", "")).split()),
            amr=tuple(claims.get("amr", [])),
            acrs=tuple(claims.get("acrs", [])),
            expires=expires,
            not_before=not_before,
        )
