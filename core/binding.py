"""The identity binding every PIM write depends on: a delegated token is used only for the user it was issued to.

Teams tells the bot who acts (`from.aadObjectId` and the tenant in channel data); the token service hands the bot a
token. Before the token is used, its `oid` and `tid` must equal the acting user's object id and tenant, or nothing is
written. Only the claims are read here (base64url JSON of the payload); the signature is Graph's business, and Graph
rejects a forged token anyway. A token that cannot be read fails the check.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from core.errors import IdentityMismatch

__all__ = ["require_binding", "token_claims"]


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified. Raises IdentityMismatch("token") if it is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise IdentityMismatch("token")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise IdentityMismatch("token") from None
    if not isinstance(claims, dict):
        raise IdentityMismatch("token")
    return claims


def require_binding(token: str, object_id: str, tenant_id: str) -> None:
    """Raise IdentityMismatch unless the token's `oid` is `object_id` and its `tid` is `tenant_id` (GUIDs, compared
    case-insensitively). The tenant is checked first: another tenant's token is wrong whoever it names."""
    claims = token_claims(token)
    if str(claims.get("tid") or "").lower() != tenant_id.lower() or not tenant_id:
        raise IdentityMismatch("tid")
    if str(claims.get("oid") or "").lower() != object_id.lower() or not object_id:
        raise IdentityMismatch("oid")
