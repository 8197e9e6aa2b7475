"""The OAuth 2.0 device authorization grant (RFC 8628) as Entra serves it, for admin command lines that sign in an
operator with a delegated token (the custom-extension setup: `python -m admin extension setup`).

Microsoft identity platform, "OAuth 2.0 device authorization grant"
(learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
* `POST /{tenant}/oauth2/v2.0/devicecode` (client_id, scope) → 200 {device_code, user_code, verification_uri,
  expires_in, interval, message}; the client shows `message` and polls the token endpoint;
* `POST /{tenant}/oauth2/v2.0/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code`, client_id and
  device_code → 400 `authorization_pending` until the user signed in, then the tokens; `expired_token` after
  expires_in; `bad_verification_code` for a code never issued; `authorization_declined` if the user refused.
  A public client: no secret.

The sim's choices: `interval` is 1 s (Entra says 5) so a test does not wait; the user "signs in" through the control
API (`POST /_sim/devicecode {"user_code", "user"}`, or `"decline": true`) instead of a browser page; any client id is
accepted (the first-party Microsoft Graph Command Line Tools app exists in every tenant); the access token is for
Graph with the Graph scopes asked for (as if consented), for the user who signed in.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["GRANT", "DeviceCode", "DeviceCodes"]

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LIFETIME = timedelta(minutes=15)
INTERVAL_SECONDS = 1
_NOT_GRAPH = {"openid", "profile", "offline_access", "email"}


@dataclass(slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires: datetime
    user_id: str | None = None
    declined: bool = False
    redeemed: bool = False


@dataclass(slots=True)
class DeviceCodes:
    by_device: dict[str, DeviceCode] = field(default_factory=dict)

    def start(self, client_id: str, scope: str, now: datetime) -> DeviceCode:
        user_code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9))
        # "https://graph.microsoft.com/User.Read" → "User.Read" (the Graph resource of any cloud)
        graph = tuple(s.rsplit("/", 1)[-1] for s in scope.split() if s.lower() not in _NOT_GRAPH)
        code = DeviceCode(secrets.token_urlsafe(32), user_code, client_id, graph, now + LIFETIME)
        self.by_device[code.device_code] = code
        return code

    def by_user_code(self, user_code: str) -> DeviceCode | None:
        return next((c for c in self.by_device.values() if c.user_code == user_code.strip().upper()), None)

    def pending(self) -> list[DeviceCode]:
        return [c for c in self.by_device.values() if c.user_id is None and not c.declined]
