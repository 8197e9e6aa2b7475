"""Signing keys of inbound channel tokens, fetched asynchronously, for botbuilder's own JWT validation.

Why: botbuilder 4.17.1 (`botframework/connector/auth/jwt_token_extractor.py`, `_OpenIdMetadata`) refreshes the
Bot Framework OpenID keys with blocking `requests.get` and no timeout, on the event loop, inside the request that
needs them: a slow or unreachable metadata host stalls every turn. It also raises IndexError for an unknown `kid`
(so its "refresh when a key is not found" never runs) and trusts only the CAs `requests` picks from the environment.

`install_openid_keys(url, http)` puts an `OpenIdKeys` into botbuilder's process-wide `JwtTokenExtractor.metadataCache`
under the metadata URL botbuilder is configured with; botbuilder then calls our `get(kid)` and does the rest of the
validation itself (endorsements, algorithm, signature, issuer, audience, serviceurl, lifetime). Same refresh policy:
keys older than a day are refreshed; an unknown `kid` refreshes at most once an hour (so forged `kid`s cannot make
the bot hammer the metadata host).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from jwt.algorithms import RSAAlgorithm

__all__ = ["OpenIdKeys", "SigningKey", "install_openid_keys", "uninstall_openid_keys"]

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
    def __init__(self, metadata_url: str, http: httpx.AsyncClient, *, timeout: float = 10.0) -> None:
        self.url = metadata_url
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
            raise PermissionError("the token's signing key is not in the channel's OpenID metadata")
        return key

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
                log.warning("cannot refresh the channel signing keys from %s: %r", self.url, e)
                if not self._keys:
                    raise PermissionError("the channel's signing keys are unavailable") from e
                return
            self._keys, self._fetched = keys, datetime.now()
            self.refreshes += 1
            log.info("channel signing keys refreshed from %s: %d keys", self.url, len(keys))

    async def _json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, timeout=self._timeout)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return data


def install_openid_keys(metadata_url: str, http: httpx.AsyncClient) -> OpenIdKeys:
    """Make botbuilder fetch the keys behind `metadata_url` through `http` (process-wide, keyed by URL)."""
    keys = OpenIdKeys(metadata_url, http)
    JwtTokenExtractor.metadataCache[metadata_url] = keys
    return keys


def uninstall_openid_keys(keys: OpenIdKeys) -> None:
    if JwtTokenExtractor.metadataCache.get(keys.url) is keys:
        del JwtTokenExtractor.metadataCache[keys.url]
