"""The simulated Entra authorization endpoint and the `authorization_code` grant (OAuth 2.0 + OpenID Connect + PKCE).

What a real tenant does with a browser and a person at a keyboard is reduced to two HTML pages and three form posts:

  GET  /{tenant}/oauth2/v2.0/authorize          client_id, redirect_uri, response_type=code, scope, state, nonce,
                                                code_challenge (+ code_challenge_method=S256), claims, login_hint,
                                                prompt → a sign-in page listing the tenant's users
  POST /{tenant}/oauth2/v2.0/authorize/submit   request (the id the page carries), user (oid)
                                                → the MFA page: "your authenticator app shows 123456", a code field,
                                                and "continue without MFA"
  POST /{tenant}/oauth2/v2.0/authorize/verify   request, otp (the code typed in) or skip=1
                                                → 302 redirect_uri?code=…&state=… (or the form_post page)
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
* `amr` carries "mfa" only when the person really did the MFA step: typed the one-time code the page shows (the
  stand-in for an authenticator app). "Continue without MFA" (a tenant where nothing forces MFA at this sign-in)
  gives amr ["pwd"]. amr values: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
  ("pwd" password, "mfa" multifactor authentication). A claims request for `amr` changes nothing: Microsoft
  documents claims requests for authentication contexts and client capabilities, not for amr
  (https://learn.microsoft.com/entra/identity-platform/claims-challenge). Three wrong codes end the sign-in
  (AADSTS500121, Entra's "authentication failed during strong authentication request").
* `acrs` carries an authentication context only when the sign-in's claims request asked for it
  (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, or `values`: the claims-challenge page above and
  https://learn.microsoft.com/entra/identity-platform/developer-guide-conditional-access-authentication-context),
  and only after the MFA step: the simulated tenant's Conditional Access policy for every authentication context
  requires MFA (its grant control). A sign-in that skips MFA gets no acrs, so Graph's PIM refuses its token again.
* A pending sign-in page (the `request` id) is single use too and lives ten minutes.
* The token response has access_token (Graph audience, the tenant's delegated scopes), id_token (aud = client_id,
  iss = `{authority}/v2.0`, the nonce echoed verbatim — msal 1.39 sends sha256(nonce) and compares the id_token's
  `nonce` with that value; it validates nothing else in the id_token), client_info (uid/utid, what msal caches
  accounts by) and no refresh_token (the sim offers no refresh grant).
* `response_mode=form_post` (what msal 1.39 recommends, with a warning otherwise) answers the last form submission
  with an auto-submitting HTML form that POSTs code/state/client_info to redirect_uri (so the code never sits in a
  URL); otherwise (`query`, the default) a 302 to redirect_uri?code=…&state=….
* No cookies, no sessions: every authorize shows the page (prompt is accepted and ignored).
* The pages may also be served on a plain-http loopback listener (simtenant.server, `sign_in_http`), the origin a
  browser opens without a certificate warning; the token endpoint stays HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from simtenant.model import Tenant

__all__ = [
    "AuthCodes",
    "CODE_LIFETIME",
    "Grant",
    "authorize_page",
    "authorize_submit",
    "authorize_verify",
    "redeem_code",
]

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
class _Verifying:
    """A sign-in waiting for its MFA step: who signs in, and the code "their authenticator app" shows."""

    pending: _Pending
    user_id: str
    code: str
    attempts: int = 0


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
    """Pending sign-in pages, sign-ins waiting for MFA and issued codes, in memory (per sim process)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._verifying: dict[str, _Verifying] = {}
        self._codes: dict[str, Grant] = {}

    def add_pending(self, pending: _Pending) -> str:
        return _add(self._pending, pending)

    def take_pending(self, key: str) -> _Pending | None:
        return self._pending.pop(key, None)

    def add_verifying(self, verifying: _Verifying) -> str:
        return _add(self._verifying, verifying)

    def take_verifying(self, key: str) -> _Verifying | None:
        return self._verifying.pop(key, None)

    def add_code(self, grant: Grant) -> str:
        _trim(self._codes)
        code = secrets.token_urlsafe(32)
        self._codes[code] = grant
        return code

    def take_code(self, code: str) -> Grant | None:
        return self._codes.pop(code, None)


def _add(items: dict[str, Any], item: Any) -> str:
    _trim(items)
    key = secrets.token_urlsafe(16)
    items[key] = item
    return key


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
    contexts = [_context_label(tenant, value) for value in asked]
    need = f" This sign-in asks for the authentication context {', '.join(contexts)}." if contexts else ""
    body = (
        f"<p>Simulated Entra sign-in for the app {html.escape(client_id)}.{html.escape(need)}</p>"
        f"<form method='post' action='{html.escape(request.path)}/submit'>"
        f"<input type='hidden' name='request' value='{html.escape(key)}'>"
        f"<label>User <select name='user'>{''.join(options)}</select></label> "
        "<button type='submit'>Next</button></form>"
    )
    return _page(200, "Sign in", body)


def _context_label(tenant: Tenant, value: str) -> str:
    context = tenant.authentication_contexts.get(value.lower())
    return f"{value} ({context.display_name})" if context else value


async def authorize_submit(request: web.Request, tenant: Tenant, codes: AuthCodes) -> web.Response:
    """The person chose who signs in: the MFA step follows."""
    form = await request.post()
    pending = codes.take_pending(str(form.get("request") or ""))
    if pending is None or tenant.now() - pending.created > CODE_LIFETIME:
        return _error_page("AADSTS90014: This sign-in page has expired or was already used. Start again.")
    user = tenant.user(str(form.get("user") or ""))
    if user is None:
        return _error_page("AADSTS50034: The user account does not exist in this directory.")
    verifying = _Verifying(pending, user.id, f"{secrets.randbelow(1_000_000):06d}")
    return _mfa_page(_verify_path(request.path), codes.add_verifying(verifying), verifying, wrong=False)


def _verify_path(submit_path: str) -> str:
    return submit_path.rsplit("/", 1)[0] + "/verify"


def _mfa_page(action: str, key: str, verifying: _Verifying, *, wrong: bool) -> web.Response:
    again = "<p role='alert'>That code is not right. Try again.</p>" if wrong else ""
    request_field = f"<input type='hidden' name='request' value='{html.escape(key)}'>"
    body = (
        f"{again}<p>Verify your identity. Your authenticator app shows the code "
        f"<strong id='otp-shown'>{verifying.code}</strong>.</p>"
        f"<form method='post' action='{html.escape(action)}'>{request_field}"
        "<label>Code <input name='otp' inputmode='numeric' autocomplete='one-time-code'></label> "
        "<button type='submit' id='verify'>Verify</button></form>"
        f"<form method='post' action='{html.escape(action)}'>{request_field}"
        "<input type='hidden' name='skip' value='1'>"
        "<button type='submit' id='skip-mfa'>Continue without MFA</button></form>"
    )
    return _page(200, "Verify your identity", body)


async def authorize_verify(request: web.Request, tenant: Tenant, codes: AuthCodes) -> web.Response:
    """The MFA step: the right code (mfa), or skipped (no mfa); then the code goes to the redirect URI."""
    form = await request.post()
    verifying = codes.take_verifying(str(form.get("request") or ""))
    if verifying is None or tenant.now() - verifying.pending.created > CODE_LIFETIME:
        return _error_page("AADSTS90014: This sign-in page has expired or was already used. Start again.")
    skipped = str(form.get("skip") or "") == "1"
    if not skipped and not secrets.compare_digest(str(form.get("otp") or "").strip(), verifying.code):
        if verifying.attempts >= 2:
            return _error_page("AADSTS500121: Authentication failed during strong authentication request.")
        retry = replace(verifying, attempts=verifying.attempts + 1)
        return _mfa_page(request.path, codes.add_verifying(retry), retry, wrong=True)
    pending, mfa = verifying.pending, not skipped
    grant = Grant(
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        code_challenge=pending.code_challenge,
        nonce=pending.nonce,
        user_id=verifying.user_id,
        mfa=mfa,
        acrs=requested_acrs(pending.claims) if mfa else (),
        scopes=pending.scopes,
        created=tenant.now(),
    )
    code = codes.add_code(grant)
    params = {"code": code, "client_info": _client_info(verifying.user_id, tenant.tenant_id)}
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
