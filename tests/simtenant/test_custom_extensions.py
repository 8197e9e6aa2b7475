"""PIM custom extensions in the simulated tenant: the extension objects and the policy rule through Graph (/beta and
/v1.0), and the callout during selfActivate: the token PIM sends, timeout and retries, and each outcome obeyed.

The endpoint here is a small aiohttp app standing in for an operator's API (not the bot: tests/e2e drives the bot's
own endpoint); it answers what each test scripts and records what PIM sent it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jwt
import pytest

from simtenant.extensions import PIM_APP_ID, PRE_APPROVAL_RULE
from simtenant.seed import ALICE, ERIN, EXCHANGE_ADMINS, SECURITY_OPERATORS, TEAMS_ADMINS
from tests.support.pim_endpoint import Endpoint, decision
from tests.support.tenant import Client

EXT = "/identityGovernance/privilegedAccess/customExtensions"
ADMIN_SCOPES = "PrivilegedAccess-CustomExt.ReadWrite.All RoleManagementPolicy.ReadWrite.AzureADGroup"


async def admin_token(client: Client) -> str:
    """Erin holds Privileged Role Administrator in the demo tenant (User.is_admin)."""
    return await client.user_token(ERIN, scp=ADMIN_SCOPES)


def extension_body(url: str, *, timeout_ms: int = 2000, retries: int = 0, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.roleManagementCustomCalloutExtension",
        "id": str(uuid.uuid4()),
        "displayName": "Ticket check",
        "description": "Validates the ticket",
        "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": url},
        "clientConfiguration": {
            "@odata.type": "#microsoft.graph.customExtensionClientConfiguration",
            "timeoutInMilliseconds": timeout_ms,
            "maximumRetries": retries,
        },
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
            "resourceId": "api://127.0.0.1/4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9",
        },
        "resourceType": "entraGroups",
        "customAttributes": [],
    }
    body.update(extra)
    return body


async def beta(client: Client, method: str, path: str, token: str, **kwargs: Any) -> Any:
    url = client.sim.graph_base_url.replace("/v1.0", "/beta") + path
    return await client.graph(method, url, token=token, **kwargs)


async def link(client: Client, group_id: str, url: str, *, access: str = "member", **config: Any) -> str:
    """Create an extension and link it to the group's policy as an administrator would; returns the extension id."""
    token = await admin_token(client)
    created = await beta(client, "POST", EXT, token, json=extension_body(url, **config))
    assert created.status == 201, created.body
    policy_id = client.sim.tenant.policy(group_id, access).policy_id  # type: ignore[union-attr]
    rule = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule",
        "id": PRE_APPROVAL_RULE,
        "customExtensionId": created.body["id"],
        "isEnabled": True,
        "target": {"caller": "EndUser", "operations": ["All"], "level": "Assignment"},
    }
    patched = await beta(
        client, "PATCH", f"/policies/roleManagementPolicies/{policy_id}/rules/{PRE_APPROVAL_RULE}", token, json=rule
    )
    assert patched.status == 204, patched.body
    return str(created.body["id"])


# ---------------------------------------------------------------------------------------------------- objects


async def test_an_extension_is_created_read_listed_updated_and_deleted_on_beta(client: Client) -> None:
    token = await admin_token(client)
    body = extension_body("https://bot.contoso.com/api/pim/evaluate", timeout_ms=10000, retries=3)
    created = await beta(client, "POST", EXT, token, json=body)
    assert created.status == 201, created.body
    assert created.body["@odata.type"] == "#microsoft.graph.roleManagementCustomCalloutExtension"
    assert created.body["id"] == body["id"]
    assert created.body["clientConfiguration"]["timeoutInMilliseconds"] == 10000
    assert created.body["clientConfiguration"]["maximumRetries"] == 3
    assert created.body["endpointConfiguration"]["targetUrl"] == "https://bot.contoso.com/api/pim/evaluate"
    assert created.body["@odata.context"].endswith(
        "/beta/$metadata#identityGovernance/privilegedAccess/customExtensions/$entity"
    )

    listed = await beta(client, "GET", EXT, token, params={"$filter": "resourceType eq 'entraGroups'"})
    assert [row["id"] for row in listed.body["value"]] == [body["id"]]
    none = await beta(client, "GET", EXT, token, params={"$filter": "resourceType eq 'entraRoles'"})
    assert none.body["value"] == []

    patched = await beta(
        client, "PATCH", f"{EXT}/{body['id']}", token, json={"clientConfiguration": {"maximumRetries": 1}}
    )
    assert patched.status == 204
    read = await beta(client, "GET", f"{EXT}/{body['id']}", token)
    assert read.body["clientConfiguration"] == {
        "@odata.type": "#microsoft.graph.customExtensionClientConfiguration",
        "timeoutInMilliseconds": 10000,
        "maximumRetries": 1,
    }
    assert (await beta(client, "DELETE", f"{EXT}/{body['id']}", token)).status == 204
    gone = await beta(client, "GET", f"{EXT}/{body['id']}", token)
    assert gone.status == 404


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"clientConfiguration": {"timeoutInMilliseconds": 999, "maximumRetries": 0}}, "1000 through 60000"),
        ({"clientConfiguration": {"timeoutInMilliseconds": 60001, "maximumRetries": 0}}, "1000 through 60000"),
        ({"clientConfiguration": {"timeoutInMilliseconds": 5000, "maximumRetries": 6}}, "0 through 5"),
        ({"id": None}, "GUID"),
        ({"resourceType": "entraUsers"}, "resourceType"),
        ({"endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint",
                                    "targetUrl": "http://bot.contoso.com/x"}}, "HTTPS"),
        ({"authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"}},
         "azureAdTokenAuthentication"),
    ],
)  # fmt: skip
async def test_an_extension_out_of_the_documented_ranges_is_refused(
    client: Client, change: dict[str, Any], words: str
) -> None:
    body = extension_body("https://bot.contoso.com/api/pim/evaluate")
    body.update(change)
    if change.get("id", "") is None:
        del body["id"]
    refused = await beta(client, "POST", EXT, await admin_token(client), json=body)
    assert refused.status == 400
    assert words in refused.message
    assert client.sim.tenant.custom_extensions == {}


async def test_managing_extensions_needs_the_permission_and_the_role(client: Client) -> None:
    body = extension_body("https://bot.contoso.com/api/pim/evaluate")
    no_scope = await client.user_token(ERIN, scp="RoleManagementPolicy.ReadWrite.AzureADGroup")
    assert (await beta(client, "POST", EXT, no_scope, json=body)).status == 403
    not_admin = await client.user_token(ALICE, scp=ADMIN_SCOPES)  # the scope, but no Privileged Role Administrator
    refused = await beta(client, "POST", EXT, not_admin, json=body)
    assert refused.status == 403 and "Privileged Role Administrator" in refused.message
    assert (await beta(client, "POST", EXT, await admin_token(client), json=body)).status == 201


async def test_the_rule_appears_in_the_policy_once_linked_and_names_the_extension(client: Client) -> None:
    policy_id = client.sim.tenant.policy(TEAMS_ADMINS, "member").policy_id  # type: ignore[union-attr]
    rules_path = f"/policies/roleManagementPolicies/{policy_id}/rules"
    token = await admin_token(client)
    before = await beta(client, "GET", f"{rules_path}/{PRE_APPROVAL_RULE}", token)
    assert before.status == 404
    ext_id = await link(client, TEAMS_ADMINS, "https://bot.contoso.com/api/pim/evaluate")
    rule = await client.graph("GET", f"{rules_path}/{PRE_APPROVAL_RULE}", token=token)  # v1.0 too
    assert rule.status == 200
    assert rule.body["@odata.type"] == "#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule"
    assert rule.body["customExtensionId"] == ext_id and rule.body["isEnabled"] is True
    assert rule.body["target"]["caller"] == "EndUser" and rule.body["target"]["level"] == "Assignment"
    listed = await client.graph("GET", rules_path, token=token)
    assert PRE_APPROVAL_RULE in [r["id"] for r in listed.body["value"]]
    in_use = await beta(client, "DELETE", f"{EXT}/{ext_id}", token)
    assert in_use.status == 400


async def test_a_rule_naming_an_unknown_extension_is_refused(client: Client) -> None:
    policy_id = client.sim.tenant.policy(TEAMS_ADMINS, "member").policy_id  # type: ignore[union-attr]
    refused = await beta(
        client,
        "PATCH",
        f"/policies/roleManagementPolicies/{policy_id}/rules/{PRE_APPROVAL_RULE}",
        await admin_token(client),
        json={
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule",
            "customExtensionId": str(uuid.uuid4()),
            "isEnabled": True,
        },
    )
    assert refused.status == 400 and "does not exist" in refused.message
    assert client.sim.tenant.policy(TEAMS_ADMINS, "member").extension_rules == {}  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------- callout


async def test_the_callout_carries_the_request_and_a_token_signed_for_the_api(
    client: Client, endpoint: Endpoint
) -> None:
    endpoint.answers = [decision("Approved", "Valid ticket")]
    await link(client, TEAMS_ADMINS, endpoint.url)
    created = await client.activate(TEAMS_ADMINS, ticket="INC-4711", justification="rollout")
    assert created.status == 201, created.body
    assert created.body["status"] == "Provisioned"

    [call] = endpoint.calls
    payload = call["payload"]
    assert payload["@odata.type"] == "#microsoft.graph.privilegedAccessGroupAssignmentScheduleRequest"
    assert payload["id"] == created.body["id"]  # the request PIM keeps is the one the endpoint was shown
    assert (payload["action"], payload["principalId"], payload["groupId"], payload["accessId"]) == (
        "selfActivate", ALICE, TEAMS_ADMINS, "member"
    )  # fmt: skip
    assert payload["ticketInfo"]["ticketNumber"] == "INC-4711"
    assert payload["justification"] == "rollout"
    assert payload["scheduleInfo"]["expiration"]["duration"] == "PT1H"

    scheme, _, token = call["authorization"].partition(" ")
    assert scheme == "Bearer"
    metadata = await client.raw("GET", f"{client.sim.authority}/v2.0/.well-known/openid-configuration")
    keys = await client.raw("GET", metadata.body["jwks_uri"])
    key = jwt.PyJWKSet.from_dict(keys.body)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="api://127.0.0.1/4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
    )
    assert claims["appid"] == PIM_APP_ID
    assert claims["iss"] == f"https://sts.windows.net/{client.sim.tenant_id}/"
    assert claims["tid"] == client.sim.tenant_id
    # Graph refuses that token: it is for the API, not for Graph.
    assert (await client.graph("GET", f"/groups/{TEAMS_ADMINS}", token=token)).status == 401


async def test_auto_approved_skips_the_approval_stage(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [decision("AutoApproved", "On call in Ops Rotation")]
    await link(client, SECURITY_OPERATORS, endpoint.url)
    created = await client.activate(SECURITY_OPERATORS)
    assert created.status == 201, created.body
    assert created.body["status"] == "Provisioned"
    assert created.body["approvalId"] is None
    assert client.sim.tenant.is_member(SECURITY_OPERATORS, ALICE)


async def test_approved_goes_on_to_the_approvers(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [decision("Approved")]
    await link(client, SECURITY_OPERATORS, endpoint.url)
    created = await client.activate(SECURITY_OPERATORS)
    assert created.status == 201
    assert created.body["status"] == "PendingApproval"
    assert created.body["approvalId"] == created.body["id"]
    assert not client.sim.tenant.is_member(SECURITY_OPERATORS, ALICE)


async def test_denied_refuses_with_the_reasons_and_changes_nothing(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [decision("Denied", "Ticket INC-1 is closed", "Use an open incident")]
    await link(client, TEAMS_ADMINS, endpoint.url)
    refused = await client.activate(TEAMS_ADMINS, ticket="INC-1")
    assert refused.status == 400
    assert refused.code == "RoleAssignmentRequestPolicyValidationFailed"
    assert refused.message.startswith('The following policy rules failed: ["CustomExtensionRule"]')
    assert "Ticket INC-1 is closed" in refused.message and "Use an open incident" in refused.message
    assert not client.sim.tenant.is_member(TEAMS_ADMINS, ALICE)
    assert client.sim.tenant.requests_for("assignment", principal_id=ALICE) == []


async def test_denied_as_a_status_when_the_tenant_answers_that_way(client: Client, endpoint: Endpoint) -> None:
    await client.control("POST", "/settings", json={"extension_denial_style": "status"})
    endpoint.answers = [decision("Denied", "No")]
    await link(client, TEAMS_ADMINS, endpoint.url)
    created = await client.activate(TEAMS_ADMINS, ticket="INC-1")
    assert created.status == 201
    assert created.body["status"] == "Denied"
    assert not client.sim.tenant.is_member(TEAMS_ADMINS, ALICE)


async def test_a_policy_rule_is_still_checked_before_the_extension_is_called(
    client: Client, endpoint: Endpoint
) -> None:
    endpoint.answers = [decision("AutoApproved")]
    await link(client, TEAMS_ADMINS, endpoint.url)
    refused = await client.activate(TEAMS_ADMINS)  # Teams Admins wants a ticket
    assert refused.status == 400 and "TicketingRule" in refused.message
    assert endpoint.calls == []


async def test_a_5xx_is_retried_up_to_maximum_retries(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [(503, {}), (500, {}), decision("Approved")]
    await link(client, EXCHANGE_ADMINS, endpoint.url, retries=2)
    created = await client.activate(EXCHANGE_ADMINS)
    assert created.status == 201 and created.body["status"] == "Provisioned"
    assert len(endpoint.calls) == 3
    assert {call["payload"]["id"] for call in endpoint.calls} == {created.body["id"]}  # the same request each time


async def test_after_the_last_retry_the_request_is_refused_by_default(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [(502, {})]
    await link(client, EXCHANGE_ADMINS, endpoint.url, retries=1)
    refused = await client.activate(EXCHANGE_ADMINS)
    assert refused.status == 400 and "CustomExtensionRule" in refused.message
    assert len(endpoint.calls) == 2
    assert not client.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE)
    await client.control("POST", "/settings", json={"extension_failure": "continue"})
    created = await client.activate(EXCHANGE_ADMINS)
    assert created.status == 201 and created.body["status"] == "Provisioned"


async def test_a_4xx_or_an_unreadable_answer_is_not_retried(client: Client, endpoint: Endpoint) -> None:
    endpoint.answers = [(200, {"evaluationOutcome": "Maybe"})]
    await link(client, EXCHANGE_ADMINS, endpoint.url, retries=3)
    refused = await client.activate(EXCHANGE_ADMINS)
    assert refused.status == 400
    assert len(endpoint.calls) == 1


async def test_the_timeout_is_honoured_and_a_slow_answer_is_retried(client: Client, endpoint: Endpoint) -> None:
    async def slow(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        await asyncio.sleep(3)
        return decision("Approved")

    endpoint.answers = [slow, decision("AutoApproved")]
    await link(client, SECURITY_OPERATORS, endpoint.url, timeout_ms=1000, retries=1)
    started = time.monotonic()
    created = await client.activate(SECURITY_OPERATORS)
    elapsed = time.monotonic() - started
    assert created.status == 201 and created.body["status"] == "Provisioned"  # the retry's AutoApproved
    assert 1.0 <= elapsed < 2.5, elapsed
    callouts = await client.control("GET", "/callouts")
    [callout] = callouts.body["callouts"]
    assert [a.get("error") for a in callout["attempts"]] == ["timeout", None]
    assert callout["attempts"][0]["seconds"] < 1.5


async def test_the_tenant_keeps_serving_while_it_waits_for_the_endpoint(client: Client, endpoint: Endpoint) -> None:
    """While the callout waits, Graph answers other calls, the endpoint's own look-ups included: no deadlock."""
    seen: list[int] = []

    async def looks_up(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        read = await client.graph("GET", f"/users/{payload['principalId']}")
        seen.append(read.status)
        return decision("Approved")

    endpoint.answers = [looks_up]
    await link(client, EXCHANGE_ADMINS, endpoint.url)
    created = await client.activate(EXCHANGE_ADMINS)
    assert created.status == 201
    assert seen == [200]


async def test_a_second_request_while_the_first_is_evaluated_is_refused(client: Client, endpoint: Endpoint) -> None:
    release, called = asyncio.Event(), asyncio.Event()

    async def waits(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        called.set()
        await release.wait()
        return decision("Approved")

    endpoint.answers = [waits]
    await link(client, EXCHANGE_ADMINS, endpoint.url, timeout_ms=5000)
    first = asyncio.create_task(client.activate(EXCHANGE_ADMINS))
    await called.wait()
    second = await client.activate(EXCHANGE_ADMINS)
    release.set()
    assert second.status == 400 and second.code == "PendingRoleAssignmentRequest"
    assert (await first).status == 201


async def test_each_evaluation_is_in_the_audit_log_with_its_evaluation_id(client: Client, endpoint: Endpoint) -> None:
    answer = decision("AutoApproved", "On call")
    endpoint.answers = [answer]
    await link(client, SECURITY_OPERATORS, endpoint.url)
    created = await client.activate(SECURITY_OPERATORS)
    entries = [
        e
        for e in client.sim.tenant.audit.entries()
        if e["activityDisplayName"] == "Custom extension evaluated (PIM activation)"
    ]
    [entry] = entries
    details = {d["key"]: d["value"] for d in entry["additionalDetails"]}
    assert details["EvaluationId"] == answer[1]["evaluationId"]
    assert details["EvaluationOutcome"] == "AutoApproved"
    assert json.loads(details["Reason"]) == ["On call"]
    assert created.body["id"] in json.dumps(entry)


async def test_v2_tokens_carry_azp_and_the_client_id_as_audience(client: Client, endpoint: Endpoint) -> None:
    await client.control("POST", "/settings", json={"extension_token_version": 2})
    endpoint.answers = [decision("Approved")]
    await link(client, EXCHANGE_ADMINS, endpoint.url)
    assert (await client.activate(EXCHANGE_ADMINS)).status == 201
    token = endpoint.calls[0]["authorization"].split(" ", 1)[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["azp"] == PIM_APP_ID and "appid" not in claims
    assert claims["aud"] == "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
    assert claims["iss"] == f"{client.sim.authority}/v2.0"
