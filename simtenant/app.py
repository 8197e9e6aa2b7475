"""The HTTP face of the simulated tenant (aiohttp): Graph under /v1.0, the Entra token endpoint, and /_sim.

Thin on purpose: Graph requests become `graph_api.SimRequest`s; token and control requests call `Tenant` and
`TokenService` directly.

Entra endpoints (msal client credentials with `instance_discovery=False`, authority `{host}/{tenant}`):
  GET  /{tenant}/v2.0/.well-known/openid-configuration     (tenant = tenant id or domain)
  POST /{tenant}/oauth2/v2.0/token   grant_type=client_credentials (secret in form or HTTP Basic), or
       urn:ietf:params:oauth:grant-type:jwt-bearer (on-behalf-of; the assertion must be a delegated token this
       tenant issued, e.g. from /_sim/token with an "audience"; amr/acrs carry over; a `claims` request the
       assertion cannot satisfy → 400 interaction_required, as OBO cannot step up), or authorization_code
  POST /{tenant}/oauth2/v2.0/devicecode   the device authorization grant (simtenant.devicecode; the token endpoint
       redeems it with grant_type=urn:ietf:params:oauth:grant-type:device_code, no secret)
  GET  /{tenant}/oauth2/v2.0/authorize (+ POST …/authorize/submit, …/authorize/verify)   sign-in pages standing in
       for the browser sign-in: pick a user, then the MFA step (type the code shown, or continue without MFA); codes
       bound to client, redirect_uri, PKCE and nonce (simtenant.authorize). Also on a plain-http loopback listener
       when the server runs one (`create_sign_in_app`); the metadata's authorization_endpoint then points there.

Control API (/_sim, no auth, loopback callers only):
  GET  /_sim/info                     the startup JSON (urls, ids, ca_file)
  GET  /_sim/clock                    {"now": iso, "frozen": bool}
  POST /_sim/clock                    {"advance_seconds": n} | {"set": iso} | {"freeze": bool} | {"reset": true}
  POST /_sim/token                    {"oid"|"upn", "mfa": bool, "acrs": [..], "scp": "a b"?, "audience"?}
  GET|POST|DELETE /_sim/faults        list / add (see observe.Fault) / clear
  GET  /_sim/callouts                 every PIM custom-extension callout and its attempts (simtenant.extensions)
  GET  /_sim/devicecode               device codes waiting for a sign-in (simtenant.devicecode)
  POST /_sim/devicecode               {"user_code", "user"} signs the user in for it; {"user_code", "decline": true}
  GET  /_sim/stats, POST /_sim/stats/reset
  GET  /_sim/requests?limit=n         recent request log (newest last)
  POST /_sim/reset                    {"seed": "demo"|"bench:N"|"feed:N"|"empty"?, "clock": bool?, "faults": bool?}
  GET|POST /_sim/settings             {"wrapped_errors", "page_size", "policy_message_style",
                                       "expired_approval_status", "shuffle_batch_responses",
                                       "nested_group_approvers", "approvers_at_request",
                                       "get_by_ids_per_type"}
  POST /_sim/seed/{helper}            keyword arguments of Tenant.add_user | add_group | add_member |
                                      remove_member | add_eligibility | add_assignment | set_policy |
                                      add_team_schedule | add_shift (team_id, user_id, start, end, shared?)
  GET  /_sim/teams                    the Teams app catalog and personal-scope installations (simtenant.teams)
  POST /_sim/teams/apps               {"display_name", "bot_id", "azure_ad_app_id"?, "external_id"?,
                                       "distribution_method"?, "messaging_endpoint"?, "service_url"?, "bot_name"?}:
                                      an app in the catalog (an admin's upload); with a messaging endpoint, its bot
                                      is told of every installation (simtenant.teams_events) → {"id": catalog id}
  POST /_sim/teams/installations      {"user", "app"}: install for a user as a setup policy or the user would
  POST /_sim/act/request              {"user", "group"} | {"approver"}, "minutes"?, "justification"?: a colleague
                                      self-activates with their own token, as in the Entra portal (simtenant.colleagues;
                                      with "approver": a colleague eligible for a group that person approves)
  POST /_sim/act/assign               {"user", "group", "access"?, "days"?, "by"?, "justification"?}: an administrator
                                      makes the user eligible, as in the Entra portal (simtenant.colleagues)
  Both answer 201 {"status", "user", "group", "by", "request"} when Graph took it, Graph's status with {"error"}
  when it refused, 404/409 {"error"} when nobody could act (unknown name; every colleague already waiting)
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from simtenant.authorize import AuthCodes, CodeError, authorize_page, authorize_submit, authorize_verify, redeem_code
from simtenant.colleagues import Acted, ActError, admin_assigns, colleague_asks
from simtenant.devicecode import GRANT as DEVICE_GRANT
from simtenant.devicecode import INTERVAL_SECONDS as DEVICE_INTERVAL
from simtenant.devicecode import LIFETIME as DEVICE_LIFETIME
from simtenant.devicecode import DeviceCodes
from simtenant.entities import SubjectSet
from simtenant.graph_api import GraphApi, SimRequest, SimResponse
from simtenant.isotime import format_instant, parse_instant
from simtenant.model import Tenant
from simtenant.observe import ConnectionDropped, Fault
from simtenant.seed import reseed
from simtenant.teams import BotEndpoint
from simtenant.teams_events import TeamsEvents
from simtenant.tokens import TOKEN_LIFETIME, TokenError

__all__ = ["EVENTS_KEY", "INFO_KEY", "SIGN_IN_ORIGIN_KEY", "TENANT_KEY", "create_app", "create_sign_in_app"]

TENANT_KEY = web.AppKey("tenant", Tenant)
INFO_KEY = web.AppKey("info", dict)
CODES_KEY = web.AppKey("auth_codes", AuthCodes)
DEVICE_KEY = web.AppKey("device_codes", DeviceCodes)
SIGN_IN_ORIGIN_KEY = web.AppKey("sign_in_origin", str)  # "" unless the sign-in pages have their own listener
EVENTS_KEY = web.AppKey("teams_events", TeamsEvents)
API_KEY = web.AppKey("graph_api", GraphApi)
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
_JSON = "application/json"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type=_JSON,
        headers=headers,
    )


def _tenant(request: web.Request) -> Tenant:
    return request.app[TENANT_KEY]


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


# ---------------------------------------------------------------------------------------------------- Graph


def _make_graph_handler(api: GraphApi) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def graph(request: web.Request) -> web.StreamResponse:
        version = request.path.split("/", 2)[1]  # "v1.0" or "beta"
        path = request.path[len(version) + 1 :] or "/"
        sim = SimRequest(
            method=request.method,
            path=path,
            query={key: request.query[key] for key in request.query},
            headers=request.headers,
            body=await request.read(),
            base_url=f"{_origin(request)}/{version}",
            remote=request.remote,
            version=version,
        )
        try:
            response: SimResponse = await api.handle(sim)
        except ConnectionDropped:
            if request.transport is not None:
                request.transport.abort()  # an injected fault: the caller gets no answer at all
            raise web.HTTPServiceUnavailable() from None  # never written: the connection is gone
        if response.body is None:
            return web.Response(status=response.status, headers=response.headers)
        return _json(response.status, response.body, response.headers)

    return graph


# ---------------------------------------------------------------------------------------------------- Entra


def _known_tenant(tenant: Tenant, name: str) -> bool:
    return name.lower() in (tenant.tenant_id.lower(), tenant.domain.lower())


def _aad_error(status: int, error: str, code: int, description: str, **extra: Any) -> web.Response:
    trace = str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {uuid.uuid4()} "
        f"Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        **extra,
    }
    return _json(status, body)


async def authorize(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if not _known_tenant(tenant, request.match_info["tenant"]):
        return web.Response(status=400, text="AADSTS90002: tenant not found", content_type="text/plain")
    return authorize_page(request, tenant, request.app[CODES_KEY])


async def authorize_post(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if not _known_tenant(tenant, request.match_info["tenant"]):
        return web.Response(status=400, text="AADSTS90002: tenant not found", content_type="text/plain")
    return await authorize_submit(request, tenant, request.app[CODES_KEY])


async def authorize_mfa(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if not _known_tenant(tenant, request.match_info["tenant"]):
        return web.Response(status=400, text="AADSTS90002: tenant not found", content_type="text/plain")
    return await authorize_verify(request, tenant, request.app[CODES_KEY])


async def openid_configuration(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    name = request.match_info["tenant"]
    if not _known_tenant(tenant, name):
        return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{name}' not found.")
    fault = tenant.faults.take(request.method, request.path)  # a control: Entra's metadata unreachable for a while
    if fault is not None and fault.status is not None:
        await _sleep(fault.delay_seconds)
        return _token_fault(fault)
    base = f"{_origin(request)}/{tenant.tenant_id}"
    # The sign-in pages' origin: this one, or the plain-http loopback listener when it runs (simtenant.server), so a
    # browser opens them without a certificate warning. msal requires https only of the authority it is given.
    sign_in = request.app[SIGN_IN_ORIGIN_KEY] or _origin(request)
    return _json(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{_origin(request)}/oidc/userinfo",
            "authorization_endpoint": f"{sign_in}/{tenant.tenant_id}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "name", "acrs"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        },
    )


async def jwks(request: web.Request) -> web.Response:
    # Graph's tokens are HS256 with a private key (nobody but the sim verifies them); tokens for custom APIs (a PIM
    # custom extension's endpoint) are RS256 with the key published here (simtenant.tokens).
    return _json(200, _tenant(request).tokens.jwks())


def _count_token(request: web.Request) -> None:
    _tenant(request).stats.token_requests += 1


def _token_fault(fault: Fault) -> web.Response:
    status = fault.status or 500
    error = fault.code or ("temporarily_unavailable" if status >= 500 or status == 429 else "invalid_request")
    response = _aad_error(status, error, 90033, fault.error_message)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(int(fault.retry_after))
    return response


async def token(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    _count_token(request)
    fault = tenant.faults.take(request.method, request.path)
    if fault is not None and not fault.after_processing:
        await _sleep(fault.delay_seconds)
        if fault.status is not None:
            return _token_fault(fault)
    response = await _token(request, tenant)
    if fault is not None and fault.after_processing:
        await _sleep(fault.delay_seconds)
        if fault.status is not None:
            response = _token_fault(fault)
    tenant.log.add(
        {
            "time": format_instant(tenant.now()),
            "method": "POST",
            "path": request.path,
            "query": {},
            "caller": None,
            "oid": None,
            "app_id": None,
            "route": "token",
            "status": response.status,
            "inner": False,
            "error": None,
        }
    )
    return response


async def _token(request: web.Request, tenant: Tenant) -> web.Response:
    name = request.match_info["tenant"]
    if not _known_tenant(tenant, name):
        return _aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID.",
        )
    form = await request.post()
    client_id = str(form.get("client_id") or "")
    secret = str(form.get("client_secret") or "")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return _aad_error(400, "invalid_request", 900144, "The request body must contain client credentials.")
    grant = str(form.get("grant_type") or "")
    if not grant:
        return _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
        )
    if grant == DEVICE_GRANT:  # a public client: no secret (simtenant.devicecode)
        return _device_token(request, tenant, client_id, str(form.get("device_code") or ""))
    app = tenant.apps.get(client_id.lower())
    if app is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'.",
        )
    if not secret:
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if secret != app.client_secret:
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app.client_id}'.",
        )
    scopes = str(form.get("scope") or "").split()
    if grant == "client_credentials":
        if scopes != [GRAPH_DEFAULT_SCOPE] and scopes != ["https://graph.microsoft.com//.default"]:
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows must have a "
                f"scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        return _token_response(tenant.tokens.issue_app_token(app))
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _on_behalf_of(tenant, app.client_id, form, scopes)
    if grant == "authorization_code":
        issuer = f"{_origin(request)}/{tenant.tenant_id}/v2.0"
        try:
            return _json(200, redeem_code(tenant, request.app[CODES_KEY], app.client_id, form, issuer))
        except CodeError as exc:
            return _aad_error(400, "invalid_grant", exc.code, exc.description)
    return _aad_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


async def device_authorization(request: web.Request) -> web.Response:
    """POST /{tenant}/oauth2/v2.0/devicecode (simtenant.devicecode)."""
    tenant = _tenant(request)
    name = request.match_info["tenant"]
    if not _known_tenant(tenant, name):
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{name}' not found.")
    form = await request.post()
    client_id = str(form.get("client_id") or "")
    if not client_id:
        return _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
        )
    code = request.app[DEVICE_KEY].start(client_id, str(form.get("scope") or ""), tenant.now())
    verification = f"{_origin(request)}/_sim/devicecode"
    return _json(
        200,
        {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": verification,
            "expires_in": int(DEVICE_LIFETIME.total_seconds()),
            "interval": DEVICE_INTERVAL,
            "message": f"To sign in, use a web browser to open the page {verification} and enter the code "
            f"{code.user_code} to authenticate.",
        },
    )


def _device_token(request: web.Request, tenant: Tenant, client_id: str, device_code: str) -> web.Response:
    code = request.app[DEVICE_KEY].by_device.get(device_code)
    if code is None or code.client_id != client_id or code.redeemed:
        return _aad_error(400, "bad_verification_code", 70019, "Verification code is not valid.")
    if tenant.now() >= code.expires:
        return _aad_error(
            400, "expired_token", 70020, "The provided value for the input parameter 'device_code' expired."
        )
    if code.declined:
        return _aad_error(400, "authorization_declined", 70016, "The user declined the authorization request.")
    user = tenant.user(code.user_id) if code.user_id else None
    if user is None:
        return _aad_error(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    code.redeemed = True
    return _token_response(tenant.tokens.issue_user_token(user, client_id, code.scopes), code.scopes)


def _on_behalf_of(tenant: Tenant, client_id: str, form: Any, scopes: list[str]) -> web.Response:
    try:
        claims = tenant.tokens.assertion_claims(str(form.get("assertion") or ""))
    except TokenError as exc:
        return _aad_error(400, "invalid_grant", 50013, str(exc))
    user = tenant.user(str(claims.get("oid")))
    if user is None:
        return _aad_error(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    acrs = list(claims.get("acrs", []))
    wanted = str(form.get("claims") or "")
    if wanted:
        try:
            value = json.loads(wanted)["access_token"]["acrs"]["value"]
        except (ValueError, KeyError, TypeError):
            value = None
        if value is not None and value not in acrs:
            return _aad_error(
                400,
                "interaction_required",
                50076,
                "Due to a configuration change made by your administrator, or because you moved to a new location, "
                "you must use multi-factor authentication to access the resource.",
                suberror="basic_action",
                claims=wanted,
            )
    access = tenant.tokens.issue_user_token(
        user, client_id, tenant.delegated_scopes, mfa="mfa" in claims.get("amr", []), acrs=acrs
    )
    return _token_response(access, tenant.delegated_scopes)


def _token_response(access: str, scopes: Sequence[str] | None = None) -> web.Response:
    """The token endpoint's success response: `scope` for a delegated token only, as Microsoft's examples show it
    (Learn: "Microsoft identity platform and the OAuth 2.0 client credentials flow", "... device authorization grant
    flow", "... On-Behalf-Of flow", each under "Successful response"), valid for TOKEN_LIFETIME less a
    second."""
    lifetime = int(TOKEN_LIFETIME.total_seconds()) - 1
    body: dict[str, object] = {"token_type": "Bearer"}
    if scopes is not None:
        body["scope"] = " ".join(scopes)
    body.update(expires_in=lifetime, ext_expires_in=lifetime, access_token=access)
    return _json(200, body)


# ---------------------------------------------------------------------------------------------------- /_sim


@web.middleware
async def _loopback_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith("/_sim"):
        try:
            loopback = ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return _json(403, {"error": "the /_sim control API answers loopback callers only"})
    return await handler(request)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be JSON"}), content_type=_JSON) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}), content_type=_JSON)
    return data


def _bad(message: str) -> web.Response:
    return _json(400, {"error": message})


async def sim_info(request: web.Request) -> web.Response:
    return _json(200, request.app.get(INFO_KEY, {}))


def _clock_json(tenant: Tenant) -> dict[str, Any]:
    return {"now": format_instant(tenant.clock.now()), "frozen": tenant.clock.frozen}


async def get_clock(request: web.Request) -> web.Response:
    return _json(200, _clock_json(_tenant(request)))


async def post_clock(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    data = await _body(request)
    try:
        if data.get("reset"):
            tenant.clock.reset()
        if "set" in data:
            tenant.clock.set(parse_instant(str(data["set"])))
        if "advance_seconds" in data:
            seconds = float(data["advance_seconds"])
            if seconds < 0:
                return _bad("advance_seconds must not be negative (use set to go back)")
            tenant.clock.advance(timedelta(seconds=seconds))
        if "freeze" in data:
            tenant.clock.freeze() if data["freeze"] else tenant.clock.unfreeze()
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    tenant.tick()
    return _json(200, _clock_json(tenant))


async def sim_token(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    _count_token(request)
    data = await _body(request)
    user = tenant.user(str(data.get("oid") or data.get("upn") or ""))
    if user is None:
        return _json(404, {"error": f"no user {data.get('oid') or data.get('upn')!r}"})
    scp = data.get("scp")
    scopes = str(scp).split() if scp is not None else list(tenant.delegated_scopes)
    acrs = data.get("acrs") or []
    if not isinstance(acrs, list):
        return _bad("acrs must be a list")
    client_id = str(data.get("client_id") or tenant.default_client_id or "")
    audience = str(data.get("audience") or "https://graph.microsoft.com")
    access = tenant.tokens.issue_user_token(
        user, client_id, scopes, mfa=bool(data.get("mfa", False)), acrs=[str(a) for a in acrs], audience=audience
    )
    return _json(200, {"token_type": "Bearer", "access_token": access, "expires_in": 3600})


async def get_device_codes(request: web.Request) -> web.Response:
    """The device codes waiting for a user to sign in (simtenant.devicecode)."""
    pending = request.app[DEVICE_KEY].pending()
    return _json(
        200, {"pending": [{"user_code": c.user_code, "client_id": c.client_id, "scopes": c.scopes} for c in pending]}
    )


async def post_device_code(request: web.Request) -> web.Response:
    """{"user_code", "user"} signs that user in for the code; {"user_code", "decline": true} refuses it."""
    data = await _body(request)
    code = request.app[DEVICE_KEY].by_user_code(str(data.get("user_code") or ""))
    if code is None:
        return _json(404, {"error": "no such user code"})
    if data.get("decline"):
        code.declined = True
        return _json(200, {"declined": True})
    user = _tenant(request).user(str(data.get("user") or ""))
    if user is None:
        return _json(404, {"error": f"no user {data.get('user')!r}"})
    code.user_id = user.id
    return _json(200, {"user": user.id})


async def get_callouts(request: web.Request) -> web.Response:
    """Every PIM custom-extension callout so far, each with its attempts (simtenant.extensions)."""
    return _json(200, {"callouts": request.app[API_KEY].callouts})


async def get_faults(request: web.Request) -> web.Response:
    return _json(200, {"faults": [f.to_json() for f in _tenant(request).faults.list()]})


async def post_fault(request: web.Request) -> web.Response:
    try:
        fault = Fault.from_json(await _body(request))
    except ValueError as exc:
        return _bad(str(exc))
    _tenant(request).faults.add(fault)
    return _json(201, fault.to_json())


async def delete_faults(request: web.Request) -> web.Response:
    _tenant(request).faults.clear()
    return web.Response(status=204)


async def get_stats(request: web.Request) -> web.Response:
    return _json(200, _tenant(request).stats.to_json())


async def reset_stats(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    tenant.stats.reset()
    tenant.log.clear()
    return web.Response(status=204)


async def get_requests(request: web.Request) -> web.Response:
    limit = request.query.get("limit")
    entries = _tenant(request).log.recent(int(limit) if limit and limit.isdigit() else None)
    return _json(200, {"requests": entries})


async def post_reset(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    data = await _body(request)
    if data.get("clock"):
        tenant.clock.reset()
    try:
        reseed(tenant, data.get("seed"))
    except ValueError as exc:
        return _bad(str(exc))
    if data.get("faults", True):
        tenant.faults.clear()
    tenant.stats.reset()
    tenant.log.clear()
    tenant.reports_throttle.reset()
    return _json(200, {"seed": tenant.seed_spec, **_clock_json(tenant)})


async def get_settings(request: web.Request) -> web.Response:
    return _json(200, _tenant(request).settings.to_json())


async def post_settings(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    try:
        tenant.settings.update(await _body(request))
    except ValueError as exc:
        return _bad(str(exc))
    return _json(200, tenant.settings.to_json())


_SEED_HELPERS = (
    "add_user",
    "add_group",
    "add_member",
    "remove_member",
    "add_eligibility",
    "add_assignment",
    "set_policy",
    "add_team_schedule",
    "add_shift",
)


async def post_seed(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    helper = request.match_info["helper"]
    if helper not in _SEED_HELPERS:
        return _json(404, {"error": f"unknown seed helper {helper!r}; use one of {list(_SEED_HELPERS)}"})
    kwargs = await _body(request)
    try:
        for key in ("start", "end"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = parse_instant(kwargs[key])
        if "primary_approvers" in kwargs:
            kwargs["primary_approvers"] = [SubjectSet(*item) for item in kwargs["primary_approvers"]]
        result = getattr(tenant, helper)(**kwargs)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return _bad(f"{type(exc).__name__}: {exc}")
    ident = getattr(result, "id", None) or getattr(result, "policy_id", None)
    return _json(201, {"ok": True, "id": ident})


async def get_teams(request: web.Request) -> web.Response:
    teams = _tenant(request).teams
    catalog = [
        {"id": a.id, "externalId": a.external_id, "displayName": a.display_name, "botId": a.bot_id}
        for a in teams.catalog.values()
    ]
    installations = [
        {"id": i.id, "user": i.user_id, "app": i.app_id, "chatId": i.chat_id} for i in teams.installations.values()
    ]
    return _json(200, {"catalog": catalog, "installations": installations})


async def post_teams_app(request: web.Request) -> web.Response:
    data = await _body(request)
    name, bot_id = data.get("display_name"), data.get("bot_id")
    if not isinstance(name, str) or not name or (bot_id is not None and not isinstance(bot_id, str)):
        return _bad("display_name (and bot_id, if given) must be strings")
    endpoint = None
    if data.get("messaging_endpoint"):
        endpoint = BotEndpoint(
            str(data["messaging_endpoint"]), str(data.get("service_url") or ""), str(data.get("bot_name") or name)
        )
    tenant = _tenant(request)
    app = tenant.teams.publish(
        name,
        bot_id=str(bot_id).removeprefix("28:") if bot_id else None,
        azure_ad_app_id=str(data.get("azure_ad_app_id") or tenant.default_client_id or "") or None,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        distribution_method=str(data.get("distribution_method") or "organization"),
        endpoint=endpoint,
    )
    return _json(201, {"id": app.id})


async def post_teams_installation(request: web.Request) -> web.Response:
    data = await _body(request)
    tenant = _tenant(request)
    user = tenant.user(str(data.get("user") or ""))
    app = tenant.teams.app(str(data.get("app") or ""))
    if user is None or app is None:
        return _json(404, {"error": "no such user or catalog app"})
    if tenant.teams.installed(user.id, app.id) is not None:
        return _json(409, {"error": "already installed"})
    installation = tenant.teams.install(user.id, app.id)
    return _json(201, {"id": installation.id, "chatId": installation.chat_id})


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ActError(400, f"{key} must be a string")
    return value


def _whole(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
        raise ActError(400, f"{key} must be a whole number from {low} to {high}")
    return value


async def _acted(request: web.Request, act: Callable[[dict[str, Any]], Awaitable[Acted]]) -> web.Response:
    try:
        acted = await act(await _body(request))
    except ActError as exc:
        return _json(exc.status, {"error": exc.message})
    return _json(201 if acted.status < 300 else acted.status, acted.to_json())


async def post_act_request(request: web.Request) -> web.Response:
    base_url = _origin(request) + "/v1.0"

    async def act(data: dict[str, Any]) -> Acted:
        approver = _text(data, "approver")
        user, group = _text(data, "user"), _text(data, "group")
        if approver is None and not (user and group):
            raise ActError(400, "name a user and a group, or an approver")
        minutes = _whole(data, "minutes", 5, 24 * 60) or 60
        return await colleague_asks(
            request.app[API_KEY], base_url, user=user, group=group, approver=approver, minutes=minutes,
            justification=_text(data, "justification"),
        )  # fmt: skip

    return await _acted(request, act)


async def post_act_assign(request: web.Request) -> web.Response:
    base_url = _origin(request) + "/v1.0"

    async def act(data: dict[str, Any]) -> Acted:
        user, group, access = _text(data, "user"), _text(data, "group"), _text(data, "access") or "member"
        if not (user and group) or access not in ("member", "owner"):
            raise ActError(400, "name a user and a group (and access member or owner)")
        return await admin_assigns(
            request.app[API_KEY], base_url, user=user, group=group, access=access,
            days=_whole(data, "days", 1, 3650) or 180, by=_text(data, "by"), justification=_text(data, "justification"),
        )  # fmt: skip

    return await _acted(request, act)


# ---------------------------------------------------------------------------------------------------- app


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def create_app(tenant: Tenant, info: dict[str, Any] | None = None) -> web.Application:
    """The aiohttp application serving `tenant`. `info` is what GET /_sim/info answers."""
    app = web.Application(middlewares=[_loopback_only], client_max_size=4 * 1024 * 1024)
    app[TENANT_KEY] = tenant
    app[INFO_KEY] = info or {}
    app[CODES_KEY] = AuthCodes()
    app[DEVICE_KEY] = DeviceCodes()
    app[SIGN_IN_ORIGIN_KEY] = ""
    app[EVENTS_KEY] = TeamsEvents(tenant)
    app[API_KEY] = api = GraphApi(tenant)
    graph = _make_graph_handler(api)
    router = app.router
    router.add_route("*", "/v1.0/{tail:.*}", graph)
    # The same Graph on /beta: PIM custom extensions are documented there (and on v1.0), simtenant.extensions.
    router.add_route("*", "/beta/{tail:.*}", graph)
    router.add_get("/_sim/info", sim_info)
    router.add_get("/_sim/clock", get_clock)
    router.add_post("/_sim/clock", post_clock)
    router.add_post("/_sim/token", sim_token)
    router.add_get("/_sim/faults", get_faults)
    router.add_get("/_sim/callouts", get_callouts)
    router.add_get("/_sim/devicecode", get_device_codes)
    router.add_post("/_sim/devicecode", post_device_code)
    router.add_post("/_sim/faults", post_fault)
    router.add_delete("/_sim/faults", delete_faults)
    router.add_get("/_sim/stats", get_stats)
    router.add_post("/_sim/stats/reset", reset_stats)
    router.add_get("/_sim/requests", get_requests)
    router.add_post("/_sim/reset", post_reset)
    router.add_get("/_sim/settings", get_settings)
    router.add_post("/_sim/settings", post_settings)
    router.add_post("/_sim/seed/{helper}", post_seed)
    router.add_get("/_sim/teams", get_teams)
    router.add_post("/_sim/teams/apps", post_teams_app)
    router.add_post("/_sim/teams/installations", post_teams_installation)
    router.add_post("/_sim/act/request", post_act_request)
    router.add_post("/_sim/act/assign", post_act_assign)
    router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    router.add_get("/{tenant}/discovery/v2.0/keys", jwks)
    router.add_post("/{tenant}/oauth2/v2.0/token", token)
    router.add_post("/{tenant}/oauth2/v2.0/devicecode", device_authorization)
    _add_sign_in_routes(app)
    return app


def _add_sign_in_routes(app: web.Application) -> None:
    app.router.add_get("/{tenant}/oauth2/v2.0/authorize", authorize)
    app.router.add_post("/{tenant}/oauth2/v2.0/authorize/submit", authorize_post)
    app.router.add_post("/{tenant}/oauth2/v2.0/authorize/verify", authorize_mfa)


def create_sign_in_app(main: web.Application) -> web.Application:
    """The sign-in pages of `main` alone (the same tenant and pending sign-ins), for a plain-http loopback listener:
    no Graph, no token endpoint, no control API on it."""
    app = web.Application(client_max_size=64 * 1024)
    app[TENANT_KEY] = main[TENANT_KEY]
    app[CODES_KEY] = main[CODES_KEY]
    app[SIGN_IN_ORIGIN_KEY] = ""
    _add_sign_in_routes(app)
    return app
