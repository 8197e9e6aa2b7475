"""Token endpoint (with a real msal client), token verification, faults, stats, clock and the control API."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import msal
import requests

from simtenant import RunningSimTenant
from simtenant.seed import ALICE, CLIENT_ID, EXCHANGE_ADMINS, FINANCE_PROD, TENANT_ID
from tests.support.tenant import PIM, Client

GUESSED_KEY = "a-guessed-key-that-is-long-enough-for-hs256"


def _msal_token(sim: RunningSimTenant, secret: str, authority: str | None = None) -> dict[str, Any]:
    session = requests.Session()
    session.verify = sim.ca_file
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override session.verify
    try:
        app = msal.ConfidentialClientApplication(
            sim.client_id,
            client_credential=secret,
            authority=authority or f"{sim.authority_host}/{sim.tenant_id}",
            instance_discovery=False,
            http_client=session,
        )
        result: dict[str, Any] = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        return result
    finally:
        session.close()


async def test_msal_client_credentials(client: Client) -> None:
    sim = client.sim
    result = await asyncio.to_thread(_msal_token, sim, sim.client_secret)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == f"https://sts.windows.net/{TENANT_ID}/"
    assert (claims["tid"], claims["appid"], claims["idtyp"]) == (TENANT_ID, CLIENT_ID, "app")
    assert claims["exp"] - claims["iat"] == 3600
    assert "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup" in claims["roles"]
    response = await client.graph("GET", f"/users/{ALICE}", token=result["access_token"])
    assert response.status == 200

    wrong = await asyncio.to_thread(_msal_token, sim, "not-the-secret")
    assert wrong["error"] == "invalid_client"
    assert wrong["error_description"].startswith("AADSTS7000215: Invalid client secret provided")
    by_domain = await asyncio.to_thread(_msal_token, sim, sim.client_secret, f"{sim.authority_host}/contoso.test")
    assert "access_token" in by_domain


async def test_token_endpoint_refusals(client: Client) -> None:
    url = f"{client.sim.authority_host}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": client.sim.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    unknown_tenant = await client.raw("POST", url, data=form)
    assert (unknown_tenant.status, unknown_tenant.body["error"]) == (400, "invalid_request")
    token_url = f"{client.sim.authority}/oauth2/v2.0/token"
    wrong = await client.raw("POST", token_url, data={**form, "client_secret": "nope"})
    assert (wrong.status, wrong.body["error"]) == (401, "invalid_client")
    scope = await client.raw("POST", token_url, data={**form, "scope": "User.Read"})
    assert (scope.status, scope.body["error"]) == (400, "invalid_scope")
    unknown_app = await client.raw("POST", token_url, data={**form, "client_id": "someone-else"})
    assert (unknown_app.status, unknown_app.body["error"]) == (400, "unauthorized_client")
    grant = await client.raw("POST", token_url, data={**form, "grant_type": "password"})
    assert (grant.status, grant.body["error"]) == (400, "unsupported_grant_type")


async def test_delegated_token_claims(client: Client) -> None:
    token = await client.user_token(ALICE, mfa=True, acrs=["c1"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["oid"], claims["idtyp"], claims["preferred_username"]) == (ALICE, "user", "alice@contoso.test")
    assert claims["amr"] == ["pwd", "mfa"] and claims["acrs"] == ["c1"]
    assert claims["scp"].split() == [
        "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
        "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
        "RoleManagementPolicy.Read.AzureADGroup",
        "User.Read",
    ]
    plain = jwt.decode(await client.user_token(ALICE), options={"verify_signature": False})
    assert plain["amr"] == ["pwd"] and "acrs" not in plain
    unknown = await client.control("POST", "/token", json={"oid": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status == 404


async def test_bad_missing_and_expired_tokens_are_401(client: Client) -> None:
    path = f"/users/{ALICE}"
    none = await client.graph("GET", path, token="")
    assert (none.status, none.code) == (401, "InvalidAuthenticationToken")
    assert "WWW-Authenticate" in none.headers
    garbage = await client.graph("GET", path, token="not-a-jwt")
    assert (garbage.status, garbage.code) == (401, "InvalidAuthenticationToken")
    forged = jwt.encode(
        {
            "aud": "https://graph.microsoft.com",
            "tid": TENANT_ID,
            "idtyp": "app",
            "appid": CLIENT_ID,
            "exp": 2**40,
            "iat": 0,
            "roles": ["User.Read.All"],
        },
        GUESSED_KEY,
        algorithm="HS256",
    )
    assert (await client.graph("GET", path, token=forged)).status == 401
    other_audience = await client.control("POST", "/token", json={"oid": ALICE, "audience": "api://bot"})
    assert (await client.graph("GET", "/me", token=other_audience.body["access_token"])).status == 401

    token = await client.app_token()
    await client.advance(3599)
    assert (await client.graph("GET", path, token=token)).status == 200
    await client.advance(1)
    expired = await client.graph("GET", path, token=token)
    assert (expired.status, expired.code) == (401, "InvalidAuthenticationToken")
    assert "expired" in expired.message


async def test_on_behalf_of_exchange_keeps_amr_and_cannot_step_up(client: Client) -> None:
    sso = await client.control(
        "POST",
        "/token",
        json={"oid": ALICE, "audience": f"api://botid-{CLIENT_ID}", "scp": "access_as_user", "mfa": True},
    )
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "client_id": CLIENT_ID,
        "client_secret": client.sim.client_secret,
        "assertion": sso.body["access_token"],
        "requested_token_use": "on_behalf_of",
        "scope": "https://graph.microsoft.com/.default",
    }
    token_url = f"{client.sim.authority}/oauth2/v2.0/token"
    exchanged = await client.raw("POST", token_url, data=form)
    assert exchanged.status == 200, exchanged.body
    claims = jwt.decode(exchanged.body["access_token"], options={"verify_signature": False})
    assert (claims["oid"], claims["amr"]) == (ALICE, ["pwd", "mfa"])
    challenge = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})
    stepped = await client.raw("POST", token_url, data={**form, "claims": challenge})
    assert (stepped.status, stepped.body["error"]) == (400, "interaction_required")
    refused = await client.activate(FINANCE_PROD, token=exchanged.body["access_token"])
    assert refused.code == "RoleAssignmentRequestAcrsValidationFailed"


async def test_throttling_fault_with_retry_after(client: Client) -> None:
    fault = {"method": "GET", "path": "/assignmentScheduleInstances", "status": 429, "retry_after": 3, "times": 2}
    created = await client.control("POST", "/faults", json=fault)
    assert created.status == 201
    params = {"$filter": f"principalId eq '{ALICE}'"}
    for _ in range(2):
        throttled = await client.graph("GET", f"{PIM}/assignmentScheduleInstances", params=params)
        assert (throttled.status, throttled.code) == (429, "TooManyRequests")
        assert throttled.headers["Retry-After"] == "3"
    assert (await client.graph("GET", f"{PIM}/assignmentScheduleInstances", params=params)).status == 200
    await client.control("POST", "/faults", json={"path": ".*", "status": 503, "times": None, "wrapped": True})
    wrapped = await client.graph("GET", f"/users/{ALICE}")
    assert (wrapped.status, wrapped.code) == (503, "UnknownError")
    assert (await client.control("DELETE", "/faults")).status == 204
    assert (await client.graph("GET", f"/users/{ALICE}")).status == 200
    bad = await client.control("POST", "/faults", json={"path": "(", "status": 500})
    assert bad.status == 400


async def test_after_processing_delay_lets_the_client_time_out_yet_the_work_is_done(client: Client) -> None:
    fault = {"method": "POST", "path": "assignmentScheduleRequests$", "delay_seconds": 1.0, "after_processing": True}
    await client.control("POST", "/faults", json=fault)
    token = await client.user_token(ALICE)
    timeout = aiohttp.ClientTimeout(total=0.3)
    body = {
        "action": "selfActivate",
        "principalId": ALICE,
        "groupId": EXCHANGE_ADMINS,
        "accessId": "member",
        "justification": "x",
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT1H"}},
    }
    started = time.monotonic()
    try:
        await client.graph("POST", f"{PIM}/assignmentScheduleRequests", token=token, json=body, timeout=timeout)
        raise AssertionError("the client should have timed out")
    except TimeoutError:
        pass
    assert time.monotonic() - started < 0.9
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]
    retry = await client.activate(EXCHANGE_ADMINS, token=token)
    assert retry.code == "RoleAssignmentExists"


async def test_a_dropped_connection_answers_nothing_after_the_work_or_instead_of_it(client: Client) -> None:
    token = await client.user_token(ALICE)
    after = {"method": "POST", "path": "assignmentScheduleRequests$", "drop": True, "after_processing": True}
    assert (await client.control("POST", "/faults", json=after)).status == 201
    try:
        await client.activate(EXCHANGE_ADMINS, token=token)
        raise AssertionError("the connection should have been dropped")
    except aiohttp.ServerDisconnectedError:
        pass
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]  # done, though nobody heard of it
    client.sim.tenant.advance(600)  # past PIM's five-minute rule: a deactivation would be carried out
    before = {"method": "POST", "path": "assignmentScheduleRequests$", "drop": True}
    listed = await client.control("POST", "/faults", json=before)
    assert listed.body["drop"] is True
    try:
        await client.deactivate(EXCHANGE_ADMINS)
        raise AssertionError("the connection should have been dropped")
    except aiohttp.ServerDisconnectedError:
        pass
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]  # not done
    assert (await client.deactivate(EXCHANGE_ADMINS)).status == 201  # times=1: used up


async def test_a_fault_can_let_the_first_matching_requests_through(client: Client) -> None:
    fault = {"method": "GET", "path": "/users/", "status": 503, "skip": 2, "times": 1}
    assert (await client.control("POST", "/faults", json=fault)).status == 201
    statuses = [(await client.graph("GET", f"/users/{ALICE}")).status for _ in range(4)]
    assert statuses == [200, 200, 503, 200]
    bad = await client.control("POST", "/faults", json={"path": ".*", "skip": -1})
    assert bad.status == 400


async def test_token_endpoint_faults(client: Client) -> None:
    await client.control("POST", "/faults", json={"path": "/oauth2/v2.0/token", "status": 503, "retry_after": 1})
    failed = await client.raw(
        "POST",
        f"{client.sim.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": client.sim.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert failed.status == 503 and failed.headers["Retry-After"] == "1"
    assert await client.app_token()


async def test_stats_and_request_log(client: Client) -> None:
    await client.control("POST", "/stats/reset")
    await client.app_token()
    await client.graph("GET", f"/users/{ALICE}")
    await client.graph("GET", f"{PIM}/eligibilityScheduleInstances", params={"$filter": f"principalId eq '{ALICE}'"})
    await client.graph("GET", f"{PIM}/eligibilityScheduleInstances")
    stats = (await client.control("GET", "/stats")).body
    assert stats["graph_requests"] == 3 and stats["token_requests"] == 1 and stats["batch_inner_requests"] == 0
    assert stats["by_route"] == {"GET users/{id}": 1, "GET eligibilityScheduleInstances": 2}
    assert stats["by_status"] == {"200": 2, "400": 1}
    log = (await client.control("GET", "/requests", params={"limit": "2"})).body["requests"]
    assert [entry["status"] for entry in log] == [200, 400]
    assert log[-1]["caller"] == "app" and log[-1]["error"] == "MissingParameters"
    assert log[-1]["path"].endswith("/eligibilityScheduleInstances")
    await client.control("POST", "/stats/reset")
    assert (await client.control("GET", "/stats")).body["graph_requests"] == 0


async def test_clock_control(client: Client) -> None:
    before = (await client.control("GET", "/clock")).body
    assert before["frozen"] is True
    target = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    moved = await client.control("POST", "/clock", json={"set": "2030-01-01T12:00:00Z"})
    assert datetime.fromisoformat(moved.body["now"]) == target
    advanced = await client.control("POST", "/clock", json={"advance_seconds": 90})
    assert datetime.fromisoformat(advanced.body["now"]) == target + timedelta(seconds=90)
    assert (await client.control("POST", "/clock", json={"advance_seconds": -1})).status == 400
    ticking = await client.control("POST", "/clock", json={"freeze": False})
    assert ticking.body["frozen"] is False
    reset = await client.control("POST", "/clock", json={"reset": True})
    assert abs((datetime.fromisoformat(reset.body["now"]) - datetime.now(UTC)).total_seconds()) < 5


async def test_reset_settings_seed_and_info(client: Client) -> None:
    await client.activate(EXCHANGE_ADMINS)
    settings = await client.control("POST", "/settings", json={"page_size": 2, "wrapped_errors": True})
    assert settings.body["page_size"] == 2
    assert (await client.control("POST", "/settings", json={"page_size": 0})).status == 400
    reset = await client.control("POST", "/reset", json={})
    assert reset.status == 200 and reset.body["seed"] == "demo"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []
    assert (await client.control("POST", "/reset", json={"seed": "nope"})).status == 400
    added = await client.control(
        "POST", "/seed/add_user", json={"user_id": "dddddddd-0000-4000-8000-000000000001", "display_name": "Gina Gold"}
    )
    assert added.status == 201
    eligible = await client.control(
        "POST",
        "/seed/add_eligibility",
        json={
            "group_id": EXCHANGE_ADMINS,
            "principal_id": "dddddddd-0000-4000-8000-000000000001",
            "end": "2099-01-01T00:00:00Z",
        },
    )
    assert eligible.status == 201
    assert (await client.activate(EXCHANGE_ADMINS, "dddddddd-0000-4000-8000-000000000001")).status == 201
    policy = await client.control(
        "POST", "/seed/set_policy", json={"group_id": EXCHANGE_ADMINS, "activation_max": "PT30M"}
    )
    assert policy.status == 201
    assert (await client.control("POST", "/seed/delete_everything", json={})).status == 404
    assert (await client.control("POST", "/seed/set_policy", json={"group_id": EXCHANGE_ADMINS, "x": 1})).status == 400
    info = (await client.control("GET", "/info")).body
    assert info == client.sim.to_json()
