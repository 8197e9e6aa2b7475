"""Signing keys behind an OpenID metadata URL (`jwks_uri`), fetched asynchronously through our httpx client and cached:
the channel's (for botbuilder's JWT validation, installed by bot.transport.openid) and the tenant's (for PIM's
custom-extension calls, bot.extension.tokens). No Bot Framework here, so the second user needs none.

Refresh policy: keys older than a day are refreshed; an unknown `kid` refreshes at most once an hour (so forged
`kid`s cannot make the bot hammer the metadata host); a failed refresh keeps the keys it had.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from jwt.algorithms import RSAAlgorithm

__all__ = ["OpenIdKeys", "SigningKey"]

log = logging.getLogger(__name__)

_MAX_AGE = timedelta(days=1)
_UNKNOWN_KID_REFRESH = timedelta(hours=1)
_RETRY_AFTER_FAILURE = timedelta(minutes=1)


@dataclass(frozen=True)
class SigningKey:
    """The shape botbuilder's JwtTokenExtractor reads: `public_key` and `endorsements`."""

    public_key: Any
    endorsements: list[str]


class OpenIdKeys:
    def __init__(
        self, metadata_url: str, http: httpx.AsyncClient, *, timeout: float = 10.0, what: str = "the channel"
    ) -> None:
        """`what`: whose keys, for the log and the refusal (also used for the tenant's keys behind a PIM custom
        extension's caller tokens, bot.extension)."""
        self.url = metadata_url
        self._what = what
        self._http = http
        self._timeout = timeout
        self._keys: dict[str, SigningKey] = {}
        self._fetched: datetime | None = None
        self._failed: datetime | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def get(self, key_id: str | None) -> SigningKey:
        """The key `key_id` names; PermissionError if the metadata does not list it (a forged or stale token)."""
        if self._stale(_MAX_AGE):
            await self._refresh(_MAX_AGE)
        key = self._keys.get(key_id or "")
        if key is None and self._stale(_UNKNOWN_KID_REFRESH):
            await self._refresh(_UNKNOWN_KID_REFRESH)
            key = self._keys.get(key_id or "")
        if key is None:
            raise PermissionError(f"the token's signing key is not in {self._what}'s OpenID metadata")
        return key

    async def prefetch(self) -> None:
        """Fetch the keys now (at start), so the first token to check does not wait for the metadata host; a failure
        is logged and the first check tries again."""
        if self._stale(_MAX_AGE):
            try:
                await self._refresh(_MAX_AGE)
            except PermissionError:
                pass  # logged by _refresh

    def _stale(self, age: timedelta) -> bool:
        return self._fetched is None or self._fetched < datetime.now() - age

    async def _refresh(self, age: timedelta) -> None:
        async with self._lock:
            if not self._stale(age):  # another request refreshed while this one waited
                return
            if self._keys and self._failed is not None and self._failed > datetime.now() - _RETRY_AFTER_FAILURE:
                return  # the host just failed: serve the keys we have rather than wait on it with every request
            try:
                metadata = await self._json(self.url)
                jwks = await self._json(str(metadata["jwks_uri"]))
                keys: dict[str, SigningKey] = {}
                for jwk in jwks["keys"]:
                    if jwk.get("kty") != "RSA" or not jwk.get("kid"):
                        continue
                    keys[str(jwk["kid"])] = SigningKey(
                        RSAAlgorithm.from_jwk(json.dumps(jwk)), [str(e) for e in jwk.get("endorsements", [])]
                    )
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
                # Keep the previous keys (if any): a metadata outage must not reject tokens signed by known keys.
                self._failed = datetime.now()
                log.warning("cannot refresh %s's signing keys from %s: %r", self._what, self.url, e)
                if not self._keys:
                    raise PermissionError(f"{self._what}'s signing keys are unavailable") from e
                return
            self._keys, self._fetched = keys, datetime.now()
            self.refreshes += 1
            log.info("%s's signing keys refreshed from %s: %d keys", self._what, self.url, len(keys))

    async def _json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, timeout=self._timeout)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return data
