"""The simulated Entra authorization endpoint and the `authorization_code` grant (OAuth 2.0 + OpenID Connect + PKCE).

What a real tenant does with a browser and a person at a keyboard is reduced to one HTML page and one form post:

  GET  /{tenant}/oauth2/v2.0/authorize          client_id, redirect_uri, response_type=code, scope, state, nonce,
                                                code_challenge (+ code_challenge_method=S256), claims, login_hint,
                                                prompt → a sign-in page listing the tenant's users and an "MFA" box
  POST /{tenant}/oauth2/v2.0/authorize/submit   request (the id the page carries), user (oid), mfa ("on" = the
                                                person completed MFA and the Conditional Access challenge)
                                                → 302 redirect_uri?code=…&state=…
  POST /{tenant}/oauth2/v2.0/token              grant_type=authorization_code, code, redirect_uri, code_verifier,
                                                client credentials (checked by app.py, as for every grant)

Choices (the reference is silent; Entra's documented behaviour where it is known):
* An unknown client_id or a redirect_uri that is not an absolute http(s) URL gets an error *page* (400), never a
  redirect, as Entra does (it will not send codes or errors to an unverified address). Registered redirect URIs are
  not modelled: any http(s) URI is accepted, and the code is bound to it — the token request must repeat it exactly.
* PKCE is required (msal always sends it): code_challenge_method must be S256; the token request's code_verifier
  must hash to the challenge (AADSTS50148 otherwise).
* A code is bound to client, redirect_uri, PKCE challenge, nonce, user and the granted amr/acrs; it lives ten minutes
  of *sim* time and is redeemable once. Any redemption attempt consumes it, so a replay or a failed attempt can never
  be retried with the same code (AADSTS54005 / AADSTS70008).
* `claims` (a claims challenge, JSON): with MFA ticked the sign-in satisfies it — amr gets "mfa" and acrs gets every
  `access_token.acrs` value/values it asks for. Without MFA the token carries amr ["pwd"] and no acrs, which is what
  an MFA-less sign-in yields, so Graph's PIM rules refuse it again.
* A pending sign-in page (the `request` id) is single use too and lives ten minutes.
* The token response has access_token (Graph audience, the tenant's delegated scopes), id_token (aud = client_id,
  iss = `{authority}/v2.0`, the nonce echoed verbatim — msal 1.39 sends sha256(nonce) and compares the id_token's
  `nonce` with that value; it validates nothing else in the id_token), client_info (uid/utid, what msal caches
  accounts by) and no refresh_token (the sim offers no refresh grant).
* `response_mode=form_post` (what msal 1.39 recommends, with a warning otherwise) answers the form submission with an
  auto-submitting HTML form that POSTs code/state/client_info to redirect_uri (so the code never sits in a URL);
  otherwise (`query`, the default) a 302 to redirect_uri?code=…&state=….
* No cookies, no sessions: every authorize shows the page (prompt is accepted and ignored).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from simtenant.model import Tenant

__all__ = ["AuthCodes", "CODE_LIFETIME", "Grant", "authorize_page", "authorize_submit", "redeem_code"]

CODE_LIFETIME = timedelta(minutes=10)
_LIMIT = 1024  # pending pages and codes kept at most (oldest dropped): the sim must not grow without bound


@dataclass(frozen=True, slots=True)
class _Pending:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scopes: tuple[str, ...]
    claims: str
    login_hint: str
    response_mode: str
    created: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """What a code stands for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    user_id: str
    mfa: bool
    acrs: tuple[str, ...]
    scopes: tuple[str, ...]
    created: datetime


class AuthCodes:
    """Pending sign-in pages and issued codes, in memory (per sim process)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._codes: dict[str, Grant] = {}

    def add_pending(self, pending: _Pending) -> str:
        _trim(self._pending)
        key = secrets.token_urlsafe(16)
        self._pending[key] = pending
        return key

    def take_pending(self, key: str) -> _Pending | None:
        return self._pending.pop(key, None)

    def add_code(self, grant: Grant) -> str:
        _trim(self._codes)
        code = secrets.token_urlsafe(32)
        self._codes[code] = grant
        return code

    def take_code(self, code: str) -> Grant | None:
        return self._codes.pop(code, None)


def _trim(items: dict[str, Any]) -> None:
    while len(items) >= _LIMIT:
        items.pop(next(iter(items)))


def requested_acrs(claims: str) -> tuple[str, ...]:
    """The acrs values a claims challenge asks for: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
    (or `"values": [...]`). Anything unreadable asks for none."""
    try:
        acrs = json.loads(claims)["access_token"]["acrs"]
    except (ValueError, KeyError, TypeError):
        return ()
    if not isinstance(acrs, dict):
        return ()
    listed = acrs.get("values")
    values: list[Any] = listed if isinstance(listed, list) else [acrs.get("value")]
    return tuple(sorted({str(v) for v in values if isinstance(v, str) and v}))


def _page(status: int, title: str, body: str) -> web.Response:
    return web.Response(
        status=status,
        text=f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        content_type="text/html",
    )


def _error_page(message: str) -> web.Response:
    return _page(400, "Sign-in error", f"<p>{html.escape(message)}</p>")


def _valid_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def _redirect(uri: str, params: dict[str, str]) -> web.Response:
    sep = "&" if "?" in uri else "?"
    return web.Response(status=302, headers={"Location": f"{uri}{sep}{urlencode(params)}"})


def authorize_page(request: web.Request, tenant: Tenant, codes: AuthCodes) -> web.Response:
    q = request.query
    client_id = q.get("client_id", "")
    redirect_uri = q.get("redirect_uri", "")
    if tenant.apps.get(client_id.lower()) is None:
        return _error_page(f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.")
    if not _valid_redirect(redirect_uri):
        return _error_page("AADSTS50011: The redirect URI specified in the request is not valid.")
    state = q.get("state", "")
    if q.get("response_type") != "code":
        params = {"error": "unsupported_response_type", "error_description": "AADSTS700054: use response_type=code"}
        return _redirect(redirect_uri, {**params, "state": state} if state else params)
    if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
        params = {"error": "invalid_request", "error_description": "AADSTS9002325: PKCE (S256) is required."}
        return _redirect(redirect_uri, {**params, "state": state} if state else params)
    pending = _Pending(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        nonce=q.get("nonce", ""),
        code_challenge=q["code_challenge"],
        scopes=tuple(q.get("scope", "").split()),
        claims=q.get("claims", ""),
        login_hint=q.get("login_hint", ""),
        response_mode="form_post" if q.get("response_mode") == "form_post" else "query",
        created=tenant.now(),
    )
    key = codes.add_pending(pending)
    hint = pending.login_hint.lower()
    options = []
    for user in sorted(tenant.users.values(), key=lambda u: u.display_name):
        chosen = " selected" if hint and user.user_principal_name.lower() == hint else ""
        options.append(
            f"<option value='{html.escape(user.id)}'{chosen}>"
            f"{html.escape(user.display_name)} ({html.escape(user.user_principal_name)})</option>"
        )
    asked = requested_acrs(pending.claims)
    need = "multi-factor authentication" + (f" and authentication context {', '.join(asked)}" if asked else "")
    body = (
        f"<p>Simulated Entra sign-in for the app {html.escape(client_id)}. This sign-in asks for {html.escape(need)}."
        f"</p><form method='post' action='{html.escape(request.path)}/submit'>"
        f"<input type='hidden' name='request' value='{html.escape(key)}'>"
        f"<label>User <select name='user'>{''.join(options)}</select></label> "
        "<label><input type='checkbox' name='mfa' value='on' checked> MFA completed</label> "
        "<button type='submit'>Sign in</button></form>"
    )
    return _page(200, "Sign in", body)


async def authorize_submit(request: web.Request, tenant: Tenant, codes: AuthCodes) -> web.Response:
    form = await request.post()
    pending = codes.take_pending(str(form.get("request") or ""))
    if pending is None or tenant.now() - pending.created > CODE_LIFETIME:
        return _error_page("AADSTS90014: This sign-in page has expired or was already used. Start again.")
    user = tenant.user(str(form.get("user") or ""))
    if user is None:
        return _error_page("AADSTS50034: The user account does not exist in this directory.")
    mfa = str(form.get("mfa") or "") == "on"
    grant = Grant(
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        code_challenge=pending.code_challenge,
        nonce=pending.nonce,
        user_id=user.id,
        mfa=mfa,
        acrs=requested_acrs(pending.claims) if mfa else (),
        scopes=pending.scopes,
        created=tenant.now(),
    )
    code = codes.add_code(grant)
    params = {"code": code, "client_info": _client_info(user.id, tenant.tenant_id)}
    if pending.state:
        params["state"] = pending.state
    if pending.response_mode == "form_post":
        return _form_post(pending.redirect_uri, params)
    return _redirect(pending.redirect_uri, params)


def _form_post(uri: str, params: dict[str, str]) -> web.Response:
    fields = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in params.items()
    )
    body = (
        f"<form method='post' action='{html.escape(uri)}'>{fields}<noscript><button type='submit'>Continue</button>"
        "</noscript></form><script>document.forms[0].submit()</script>"
    )
    return _page(200, "Signing you in", body)


def _client_info(uid: str, utid: str) -> str:
    raw = json.dumps({"uid": uid, "utid": utid}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CodeError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def redeem_code(tenant: Tenant, codes: AuthCodes, client_id: str, form: Any, issuer: str) -> dict[str, Any]:
    """The token response for `grant_type=authorization_code`. Raises CodeError (→ 400 invalid_grant)."""
    grant = codes.take_code(str(form.get("code") or ""))
    if grant is None:
        raise CodeError(54005, "OAuth2 Authorization code was already redeemed or is not valid.")
    if tenant.now() - grant.created > CODE_LIFETIME:
        raise CodeError(70008, "The provided authorization code or refresh token has expired.")
    if grant.client_id.lower() != client_id.lower():
        raise CodeError(70000, "The provided authorization code was issued to another client.")
    if str(form.get("redirect_uri") or "") != grant.redirect_uri:
        raise CodeError(50011, "The redirect URI does not match the one the authorization code was issued for.")
    verifier = str(form.get("code_verifier") or "")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    if not verifier or challenge.decode().rstrip("=") != grant.code_challenge:
        raise CodeError(50148, "The code_verifier does not match the code_challenge supplied in the request.")
    user = tenant.user(grant.user_id)
    if user is None:
        raise CodeError(50034, "The user account does not exist in the directory.")
    access = tenant.tokens.issue_user_token(user, client_id, tenant.delegated_scopes, mfa=grant.mfa, acrs=grant.acrs)
    id_token = tenant.tokens.issue_id_token(user, client_id, issuer, grant.nonce, mfa=grant.mfa)
    lifetime = 3599
    return {
        "token_type": "Bearer",
        "scope": " ".join(tenant.delegated_scopes),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
        "id_token": id_token,
        "client_info": _client_info(user.id, tenant.tenant_id),
    }
