"""The simulated authorization endpoint and the authorization_code grant, driven by a real msal client."""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msal
import requests

from simtenant import RunningSimTenant
from simtenant.seed import ALICE, BOB, FINANCE_PROD, PRIVILEGED_ROLE_ADMINS
from tests.simtenant.conftest import Client

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
    """Open the sign-in page, submit it as `user`; the query the browser would bring back to the redirect URI."""
    page = await client.raw("GET", auth_uri)
    assert page.status == 200, page.body
    request_id = re.search(r"name='request' value='([^']+)'", str(page.body))
    action = re.search(r"action='([^']+)'", str(page.body))
    assert request_id and action
    origin = f"{urlsplit(auth_uri).scheme}://{urlsplit(auth_uri).netloc}"
    form = {"request": request_id.group(1), "user": user, **({"mfa": "on"} if mfa else {})}
    async with client.session.post(origin + action.group(1), data=form, allow_redirects=False) as r:
        if r.status == 200:  # response_mode=form_post: an auto-submitting form to the redirect URI
            text = await r.text()
            assert f"action='{REDIRECT}'" in text
            return dict(re.findall(r"name='([^']+)' value='([^']*)'", text))
        assert r.status == 302, await r.text()
        location = r.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(location).query))


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
    stale = await client.raw("POST", url + "/submit", data={"request": "unknown", "user": ALICE, "mfa": "on"})
    assert stale.status == 400
