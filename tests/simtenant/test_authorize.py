"""The simulated authorization endpoint and the authorization_code grant, driven by a real msal client."""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import msal
import requests

from simtenant import RunningSimTenant, run_simtenant
from simtenant.seed import ALICE, BOB, FINANCE_PROD, PRIVILEGED_ROLE_ADMINS
from tests.fakes.signin_page import sign_in_on_page
from tests.support.tenant import Client

REDIRECT = "http://127.0.0.1:9/auth/stepup/callback"
SCOPES = ["https://graph.microsoft.com/PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"]
ACRS_C1 = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})


def _msal(sim: RunningSimTenant) -> tuple[msal.ConfidentialClientApplication, requests.Session]:
    session = requests.Session()
    session.verify = sim.ca_file
    session.trust_env = False
    app = msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=sim.client_secret,
        authority=f"{sim.authority_host}/{sim.tenant_id}",
        instance_discovery=False,
        http_client=session,
    )
    return app, session


async def _sign_in(client: Client, auth_uri: str, user: str, *, mfa: bool) -> dict[str, str]:
    """Sign in on the pages as `user` (with or without the MFA step); what the browser brings back to the redirect."""
    answered = await sign_in_on_page(client.session, auth_uri, user, mfa=mfa)
    if answered.status == 200:  # response_mode=form_post: an auto-submitting form to the redirect URI
        assert f"action='{REDIRECT}'" in answered.page
        return dict(re.findall(r"name='([^']+)' value='([^']*)'", answered.page))
    assert answered.status == 302, answered
    assert answered.location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(answered.location).query))


async def test_msal_auth_code_flow_with_claims_challenge_gives_mfa_and_acrs(client: Client) -> None:
    sim = client.sim
    app, session = await asyncio.to_thread(_msal, sim)
    try:
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow,
            SCOPES,
            redirect_uri=REDIRECT,
            claims_challenge=ACRS_C1,
            login_hint="alice@contoso.test",
            response_mode="form_post",
        )
        assert "claims=" in flow["auth_uri"]
        query = await _sign_in(client, flow["auth_uri"], ALICE, mfa=True)
        assert query["state"] == flow["state"]
        result: dict[str, Any] = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, query)
        assert "access_token" in result, result
        assert result["id_token_claims"]["oid"] == ALICE
        caller = sim.tenant.tokens.verify(result["access_token"])
        assert caller.oid == ALICE and "mfa" in caller.amr and caller.acrs == ("c1",)
        # The token satisfies Finance-Prod's authentication context.
        activated = await client.activate(FINANCE_PROD, token=result["access_token"])
        assert activated.status == 201, activated.body
        # The code is single use.
        again = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, query)
        assert again.get("error") == "invalid_grant"
    finally:
        session.close()


async def test_without_mfa_ticked_the_token_does_not_satisfy_the_policy(client: Client) -> None:
    sim = client.sim
    app, session = await asyncio.to_thread(_msal, sim)
    try:
        with warnings.catch_warnings():  # query mode on purpose (msal recommends form_post)
            warnings.simplefilter("ignore", UserWarning)
            flow = await asyncio.to_thread(app.initiate_auth_code_flow, SCOPES, redirect_uri=REDIRECT)
        query = await _sign_in(client, flow["auth_uri"], BOB, mfa=False)
        result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, query)
        caller = sim.tenant.tokens.verify(result["access_token"])
        assert caller.oid == BOB and "mfa" not in caller.amr and caller.acrs == ()
        alice_flow = await asyncio.to_thread(
            app.initiate_auth_code_flow, SCOPES, redirect_uri=REDIRECT, response_mode="form_post"
        )
        query = await _sign_in(client, alice_flow["auth_uri"], ALICE, mfa=False)
        result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, alice_flow, query)
        refused = await client.activate(PRIVILEGED_ROLE_ADMINS, token=result["access_token"])
        assert refused.status == 400 and "MfaRule" in refused.message
    finally:
        session.close()


async def test_code_is_bound_to_redirect_uri_and_pkce_verifier(client: Client) -> None:
    sim = client.sim
    app, session = await asyncio.to_thread(_msal, sim)
    try:
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow, SCOPES, redirect_uri=REDIRECT, response_mode="form_post"
        )
        query = await _sign_in(client, flow["auth_uri"], ALICE, mfa=True)
        token_url = f"{sim.authority}/oauth2/v2.0/token"
        base = {
            "grant_type": "authorization_code",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "code": query["code"],
        }
        wrong_verifier = await client.raw(
            "POST", token_url, data={**base, "redirect_uri": REDIRECT, "code_verifier": "x" * 43}
        )
        assert wrong_verifier.status == 400 and wrong_verifier.body["error_codes"] == [50148]
        # Any attempt consumed the code: the right verifier no longer helps.
        right = await client.raw(
            "POST", token_url, data={**base, "redirect_uri": REDIRECT, "code_verifier": flow["code_verifier"]}
        )
        assert right.status == 400 and right.body["error_codes"] == [54005]

        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow, SCOPES, redirect_uri=REDIRECT, response_mode="form_post"
        )
        query = await _sign_in(client, flow["auth_uri"], ALICE, mfa=True)
        other_redirect = await client.raw(
            "POST",
            token_url,
            data={
                **base,
                "code": query["code"],
                "redirect_uri": REDIRECT + "x",
                "code_verifier": flow["code_verifier"],
            },
        )
        assert other_redirect.status == 400 and other_redirect.body["error_codes"] == [50011]
        wrong_secret = await client.raw(
            "POST",
            token_url,
            data={**base, "client_secret": "nope", "redirect_uri": REDIRECT, "code_verifier": flow["code_verifier"]},
        )
        assert wrong_secret.status == 401
    finally:
        session.close()


async def test_authorize_refusals(client: Client) -> None:
    sim = client.sim
    url = f"{sim.authority}/oauth2/v2.0/authorize"
    unknown = await client.raw("GET", url, params={"client_id": "nobody", "redirect_uri": REDIRECT})
    assert unknown.status == 400
    bad_redirect = await client.raw("GET", url, params={"client_id": sim.client_id, "redirect_uri": "javascript:x"})
    assert bad_redirect.status == 400
    async with client.session.get(
        url,
        params={"client_id": sim.client_id, "redirect_uri": REDIRECT, "response_type": "code", "state": "s"},
        allow_redirects=False,
    ) as r:
        assert (
            r.status == 302 and "error=invalid_request" in r.headers["Location"] and "state=s" in r.headers["Location"]
        )
    stale = await client.raw("POST", url + "/submit", data={"request": "unknown", "user": ALICE})
    assert stale.status == 400
    stale_mfa = await client.raw("POST", url + "/verify", data={"request": "unknown", "skip": "1"})
    assert stale_mfa.status == 400


async def _token_after(client: Client, *, claims: str | None, mfa: bool) -> Any:
    """Alice signs in through msal's auth-code flow (asking for `claims`); the caller her access token stands for."""
    app, session = await asyncio.to_thread(_msal, client.sim)
    try:
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow,
            SCOPES,
            redirect_uri=REDIRECT,
            claims_challenge=claims,
            response_mode="form_post",
        )
        query = await _sign_in(client, flow["auth_uri"], ALICE, mfa=mfa)
        result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, query)
        return client.sim.tenant.tokens.verify(result["access_token"])
    finally:
        session.close()


AMR_MFA = json.dumps({"access_token": {"amr": {"essential": True, "values": ["mfa"]}}})


async def test_acrs_only_for_a_context_the_sign_in_asked_for_and_mfa_only_when_done(client: Client) -> None:
    unasked = await _token_after(client, claims=None, mfa=True)
    assert ("mfa" in unasked.amr, unasked.acrs) == (True, ())
    asked = await _token_after(client, claims=ACRS_C1, mfa=True)
    assert ("mfa" in asked.amr, asked.acrs) == (True, ("c1",))
    skipped = await _token_after(client, claims=ACRS_C1, mfa=False)  # Conditional Access for c1 wants MFA
    assert ("mfa" in skipped.amr, skipped.acrs) == (False, ())
    # An amr claims request is not something Entra documents: it makes no MFA happen by itself.
    amr_asked = await _token_after(client, claims=AMR_MFA, mfa=False)
    assert amr_asked.amr == ("pwd",) and amr_asked.acrs == ()


async def test_a_wrong_code_asks_again_and_three_end_the_sign_in(client: Client) -> None:
    sim = client.sim
    app, session = await asyncio.to_thread(_msal, sim)
    try:
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow, SCOPES, redirect_uri=REDIRECT, response_mode="form_post"
        )
        answered = await sign_in_on_page(client.session, flow["auth_uri"], ALICE, otp="000000x")
        page = answered.page
        for attempt in (2, 3):
            assert "not right" in page and "otp-shown" in page
            action = re.search(r"action='([^']+)'", page)
            request_id = re.search(r"name='request' value='([^']+)'", page)
            assert action and request_id
            form = {"request": request_id.group(1), "otp": "nope"}
            again = await client.raw("POST", sim.authority_host + action.group(1), data=form)
            page = str(again.body)
            assert again.status == (200 if attempt < 3 else 400)
        assert "AADSTS500121" in page
    finally:
        session.close()


async def test_sign_in_pages_on_a_plain_http_loopback_listener_with_an_https_token_endpoint() -> None:
    async with (
        run_simtenant(seed="demo", sign_in_http=True) as sim,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=sim.ssl_context())) as http,
    ):
        assert sim.sign_in_origin.startswith("http://127.0.0.1:")
        client = Client(sim, http)
        metadata = await client.raw("GET", f"{sim.authority}/v2.0/.well-known/openid-configuration")
        assert metadata.body["authorization_endpoint"] == f"{sim.sign_in_origin}/{sim.tenant_id}/oauth2/v2.0/authorize"
        assert metadata.body["token_endpoint"].startswith("https://")
        # msal takes the metadata as it is: the browser goes to the http page, msal redeems the code over https.
        caller = await _token_after(client, claims=ACRS_C1, mfa=True)
        assert caller.oid == ALICE and caller.acrs == ("c1",)
        # Only the sign-in pages are on plain http.
        for path in ("/v1.0/me", f"/{sim.tenant_id}/oauth2/v2.0/token", "/_sim/info"):
            async with http.request("POST" if "token" in path else "GET", sim.sign_in_origin + path) as r:
                assert r.status in (404, 405), path
