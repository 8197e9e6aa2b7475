"""The bearer token of a PIM custom-extension call, checked as bot.extension.contract says: the signature against the
tenant's OpenID keys (fetched and cached by bot.transport.signing_keys.OpenIdKeys, the refresh policy of the channel's
keys), then the claims (`TokenRules.refusal`), on the bot's clock."""

from __future__ import annotations

import logging
from typing import Any

import jwt

from bot.extension.contract import TokenRules
from bot.transport.signing_keys import OpenIdKeys
from core.ports import Clock

__all__ = ["CallerCheck", "Unauthorized"]

log = logging.getLogger(__name__)

_MAX_TOKEN_CHARS = 16 * 1024


class Unauthorized(Exception):
    """The caller is not PIM of this tenant calling this API; the message says why (for the log and the 401)."""


class CallerCheck:
    def __init__(self, rules: TokenRules, keys: OpenIdKeys, clock: Clock) -> None:
        self.rules = rules
        self._keys = keys
        self._clock = clock

    async def warm(self) -> None:
        """The tenant's keys fetched at start: PIM's first call is answered without waiting for them."""
        await self._keys.prefetch()

    async def claims(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a token PIM sent for this API; Unauthorized otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no bearer token")
        if len(token) > _MAX_TOKEN_CHARS:
            raise Unauthorized("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise Unauthorized("the token is not a JWT") from e
        if header.get("alg") != "RS256":  # Entra signs access tokens RS256; never `none` nor a shared secret
            raise Unauthorized(f"the token is signed with {header.get('alg')!r}, not RS256")
        kid = header.get("kid")
        try:
            key = await self._keys.get(kid if isinstance(kid, str) else None)
        except PermissionError as e:
            raise Unauthorized(str(e)) from e
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=["RS256"],
                # Audience, issuer and lifetime are checked by TokenRules on the bot's clock (several accepted forms).
                options={"verify_aud": False, "verify_iss": False, "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )  # fmt: skip
        except jwt.InvalidSignatureError as e:
            raise Unauthorized("the token's signature does not verify") from e
        except jwt.InvalidTokenError as e:
            raise Unauthorized(f"the token is not valid: {e}") from e
        refusal = self.rules.refusal(claims, self._clock.now())
        if refusal is not None:
            raise Unauthorized(refusal)
        return claims
