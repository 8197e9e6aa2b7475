"""Signing keys of inbound channel tokens, fetched asynchronously, for botbuilder's own JWT validation.

Why: botbuilder 4.17.1 (`botframework/connector/auth/jwt_token_extractor.py`, `_OpenIdMetadata`) refreshes the
Bot Framework OpenID keys with blocking `requests.get` and no timeout, on the event loop, inside the request that
needs them: a slow or unreachable metadata host stalls every turn. It also raises IndexError for an unknown `kid`
(so its "refresh when a key is not found" never runs) and trusts only the CAs `requests` picks from the environment.

`install_openid_keys(url, http)` puts an `OpenIdKeys` (bot.transport.signing_keys: the fetch and its refresh
policy) into botbuilder's process-wide `JwtTokenExtractor.metadataCache` under the metadata URL botbuilder is
configured with; botbuilder then calls our `get(kid)` and does the rest of the validation itself (endorsements,
algorithm, signature, issuer, audience, serviceurl, lifetime).
"""

from __future__ import annotations

import httpx
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

from bot.transport.signing_keys import OpenIdKeys, SigningKey

__all__ = ["OpenIdKeys", "SigningKey", "install_openid_keys", "uninstall_openid_keys"]


def install_openid_keys(metadata_url: str, http: httpx.AsyncClient) -> OpenIdKeys:
    """Make botbuilder fetch the keys behind `metadata_url` through `http` (process-wide, keyed by URL)."""
    keys = OpenIdKeys(metadata_url, http)
    JwtTokenExtractor.metadataCache[metadata_url] = keys
    return keys


def uninstall_openid_keys(keys: OpenIdKeys) -> None:
    if JwtTokenExtractor.metadataCache.get(keys.url) is keys:
        del JwtTokenExtractor.metadataCache[keys.url]
