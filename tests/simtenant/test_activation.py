"""selfActivate / selfDeactivate: the happy path and every refusal, with Graph's exact status and code."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import unquote

from simtenant.seed import (
    ALICE,
    BOB,
    EXCHANGE_ADMINS,
    FINANCE_PROD,
    FRANK,
    HELPDESK_TIER1,
    INTUNE_ADMINS,
    PRIVILEGED_ROLE_ADMINS,
    SHAREPOINT_ADMINS,
    TEAMS_ADMINS,
)
from tests.support.tenant import PIM, Client


def rules_failed(message: str) -> list[str]:
    prefix = "The following policy rules failed: "
    assert message.startswith(prefix), message
    parsed: list[str] = json.loads(message[len(prefix) :])
    return parsed


async def test_self_activate_provisions_an_instance_and_adds_the_member(client: Client) -> None:
    now = await client.now()
    created = await client.activate(EXCHANGE_ADMINS, duration="PT2H")
    assert created.status == 201
    body = created.body
    assert body["status"] == "Provisioned"
    assert body["action"] == "selfActivate"
    assert body["@odata.context"].endswith(
        "/$metadata#identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity"
    )
    assert body["targetScheduleId"] == f"{EXCHANGE_ADMINS}_member_{body['id']}"
    assert body["approvalId"] is None and body["customData"] is None
    assert body["ticketInfo"] == {"ticketNumber": None, "ticketSystem": None}
    assert body["createdBy"]["user"]["id"] == ALICE
    assert set(body) >= {"completedDateTime", "createdDateTime", "isValidationOnly", "scheduleInfo", "justification"}

    instances = await client.graph(
        "GET", f"{PIM}/assignmentScheduleInstances", params={"$filter": f"principalId eq '{ALICE}'"}
    )
    assert instances.status == 200
    [instance] = instances.body["value"]
    assert instance["assignmentType"] == "activated"
    assert instance["memberType"] == "direct"
    assert instance["assignmentScheduleId"] == body["targetScheduleId"]
    assert instance["startDateTime"] is not None
    start = now.replace(tzinfo=now.tzinfo)
    assert instance["endDateTime"] is not None
    assert (client.sim.tenant.schedules["assignment"][body["targetScheduleId"].lower()].end - start) == timedelta(
        hours=2
    )

    members = await client.graph("GET", f"/groups/{EXCHANGE_ADMINS}/members")
    assert [m["id"] for m in members.body["value"]] == [ALICE]


async def test_activation_ends_at_its_end_time_on_the_sim_clock(client: Client) -> None:
    await client.activate(EXCHANGE_ADMINS, duration="PT1H")
    await client.advance(3599)
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]
    await client.advance(2)
    instances = await client.graph(
        "GET", f"{PIM}/assignmentScheduleInstances", params={"$filter": f"groupId eq '{EXCHANGE_ADMINS}'"}
    )
    assert instances.body["value"] == []
    members = await client.graph("GET", f"/groups/{EXCHANGE_ADMINS}/members")
    assert members.body["value"] == []
    # reactivation is allowed right away
    assert (await client.activate(EXCHANGE_ADMINS)).status == 201


async def test_owner_activation_adds_an_owner(client: Client) -> None:
    created = await client.activate(EXCHANGE_ADMINS, access="owner", duration="PT4H")
    assert created.status == 201
    owners = await client.graph("GET", f"/groups/{EXCHANGE_ADMINS}/owners")
    assert [o["id"] for o in owners.body["value"]] == [ALICE]


async def test_app_only_token_cannot_self_activate(client: Client) -> None:
    refused = await client.activate(EXCHANGE_ADMINS, token=await client.app_token())
    assert (refused.status, refused.code) == (403, "Authorization_RequestDenied")


async def test_delegated_token_for_someone_else_is_refused(client: Client) -> None:
    refused = await client.activate(EXCHANGE_ADMINS, ALICE, token=await client.user_token(BOB))
    assert (refused.status, refused.code) == (403, "Authorization_RequestDenied")


async def test_missing_scope_is_permission_scope_not_granted(client: Client) -> None:
    token = await client.user_token(ALICE, scp="PrivilegedAssignmentSchedule.Read.AzureADGroup User.Read")
    refused = await client.activate(EXCHANGE_ADMINS, token=token)
    assert (refused.status, refused.code) == (403, "PermissionScopeNotGranted")
    assert "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup" in refused.message


async def test_not_eligible_is_eligibility_rule(client: Client) -> None:
    refused = await client.activate(EXCHANGE_ADMINS, BOB)
    assert (refused.status, refused.code) == (400, "RoleAssignmentRequestPolicyValidationFailed")
    assert refused.message == 'The following policy rules failed: ["EligibilityRule"]'


async def test_lapsed_and_future_eligibilities_do_not_count(client: Client) -> None:
    for group in (SHAREPOINT_ADMINS, INTUNE_ADMINS):
        refused = await client.activate(group)
        assert rules_failed(refused.message) == ["EligibilityRule"], group


async def test_too_long_too_short_and_missing_expiration_are_expiration_rule(client: Client) -> None:
    for duration in ("PT9H", "PT4M", None):
        refused = await client.activate(EXCHANGE_ADMINS, duration=duration)
        assert refused.status == 400, duration
        assert rules_failed(refused.message) == ["ExpirationRule"], duration


async def test_calendar_durations_are_invalid_requests(client: Client) -> None:
    refused = await client.activate(EXCHANGE_ADMINS, duration="P6M")
    assert (refused.status, refused.code) == (400, "InvalidRoleAssignmentRequest")


async def test_justification_and_ticket_rules_are_listed_together(client: Client) -> None:
    refused = await client.activate(TEAMS_ADMINS, duration="PT5H", justification="  ")
    assert rules_failed(refused.message) == ["ExpirationRule", "JustificationRule", "TicketingRule"]
    ok = await client.activate(TEAMS_ADMINS, duration="PT4H", ticket="INC-4711")
    assert ok.status == 201


async def test_mfa_rule_needs_mfa_in_the_token(client: Client) -> None:
    refused = await client.activate(PRIVILEGED_ROLE_ADMINS, duration="PT30M")
    assert rules_failed(refused.message) == ["MfaRule"]
    token = await client.user_token(ALICE, mfa=True)
    assert (await client.activate(PRIVILEGED_ROLE_ADMINS, duration="PT30M", token=token)).status == 201


async def test_text_style_policy_message(client: Client) -> None:
    await client.control("POST", "/settings", json={"policy_message_style": "text"})
    refused = await client.activate(PRIVILEGED_ROLE_ADMINS, duration="PT30M", justification=None)
    assert refused.message == (
        "The following policy rules failed: JustificationRule - Justification is required; "
        "MfaRule - Multi-factor authentication is required"
    )


# The claims as real tenants send them: URL-encoded after `&claims=` (Azure/azure-powershell#25421).
C1_ENCODED = "%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%20%22value%22%3A%22c1%22%7D%7D%7D"


async def test_authentication_context_needs_acrs_claim(client: Client) -> None:
    refused = await client.activate(FINANCE_PROD)
    assert (refused.status, refused.code) == (400, "RoleAssignmentRequestAcrsValidationFailed")
    assert refused.message == f"&claims={C1_ENCODED}"
    assert json.loads(unquote(refused.message.split("claims=")[1])) == {
        "access_token": {"acrs": {"essential": True, "value": "c1"}}
    }
    mfa_only = await client.user_token(ALICE, mfa=True)  # MFA alone is not the authentication context
    assert (await client.activate(FINANCE_PROD, token=mfa_only)).code == "RoleAssignmentRequestAcrsValidationFailed"
    token = await client.user_token(ALICE, acrs=["c1"])
    assert (await client.activate(FINANCE_PROD, token=token)).status == 201


async def test_acrs_failure_in_wrapped_mode(client: Client) -> None:
    await client.control("POST", "/settings", json={"wrapped_errors": True})
    refused = await client.activate(FINANCE_PROD)
    assert (refused.status, refused.code) == (400, "UnknownError")
    assert json.loads(refused.message) == {
        "errorCode": "RoleAssignmentRequestAcrsValidationFailed",
        "message": f"&claims={C1_ENCODED}",
    }


async def test_already_active_is_role_assignment_exists(client: Client) -> None:
    assert (await client.activate(EXCHANGE_ADMINS)).status == 201
    again = await client.activate(EXCHANGE_ADMINS)
    assert (again.status, again.code) == (400, "RoleAssignmentExists")


async def test_group_inherited_eligibility_can_be_activated(client: Client) -> None:
    created = await client.activate(HELPDESK_TIER1, FRANK)
    assert created.status == 201
    assert client.sim.tenant.members(HELPDESK_TIER1) == [FRANK]
    using = await client.graph(
        "GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}", params={"$expand": "activatedUsing"}
    )
    assert using.body["activatedUsing"]["principalId"].lower() != FRANK.lower()  # the group's eligibility


async def test_future_start_is_granted_then_provisioned(client: Client) -> None:
    start = (await client.now()) + timedelta(hours=1)
    token = await client.user_token(ALICE)
    body = {
        "action": "selfActivate",
        "principalId": ALICE,
        "groupId": EXCHANGE_ADMINS,
        "accessId": "member",
        "justification": "later",
        "scheduleInfo": {
            "startDateTime": start.isoformat(),
            "expiration": {"type": "afterDuration", "duration": "PT1H"},
        },
    }
    created = await client.graph("POST", f"{PIM}/assignmentScheduleRequests", token=token, json=body)
    assert created.body["status"] == "Granted"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []
    await client.advance(3600)
    fetched = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert fetched.body["status"] == "Provisioned"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]


async def test_validation_only_stores_nothing(client: Client) -> None:
    checked = await client.activate(EXCHANGE_ADMINS, isValidationOnly=True)
    assert checked.status == 201 and checked.body["status"] == "Granted"
    assert (await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{checked.body['id']}")).status == 404
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []


async def test_malformed_bodies_are_bad_requests(client: Client) -> None:
    token = await client.user_token(ALICE)
    path = f"{PIM}/assignmentScheduleRequests"
    for body in (
        {"action": "selfActivate", "groupId": EXCHANGE_ADMINS, "accessId": "member"},
        {"action": "fly", "principalId": ALICE, "groupId": EXCHANGE_ADMINS, "accessId": "member"},
        {
            "action": "selfActivate",
            "principalId": ALICE,
            "groupId": EXCHANGE_ADMINS,
            "accessId": "member",
            "justifcation": "typo",
        },
    ):
        response = await client.graph("POST", path, token=token, json=body)
        assert (response.status, response.code) == (400, "BadRequest"), body
    broken = await client.graph(
        "POST", path, token=token, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (broken.status, broken.code) == (400, "BadRequest")


async def test_enum_input_is_case_insensitive_and_output_camel_case(client: Client) -> None:
    token = await client.user_token(ALICE)
    body = {
        "action": "SelfActivate",
        "principalId": ALICE.upper(),
        "groupId": EXCHANGE_ADMINS,
        "accessId": "Member",
        "justification": "x",
        "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": "PT1H"}},
    }
    created = await client.graph("POST", f"{PIM}/assignmentScheduleRequests", token=token, json=body)
    assert created.status == 201
    assert (created.body["action"], created.body["accessId"]) == ("selfActivate", "member")
    assert created.body["scheduleInfo"]["expiration"]["type"] == "afterDuration"


async def test_self_deactivate_rules(client: Client) -> None:
    missing = await client.deactivate(EXCHANGE_ADMINS)
    assert (missing.status, missing.code) == (400, "RoleAssignmentDoesNotExist")
    await client.activate(EXCHANGE_ADMINS)
    await client.advance(299)
    early = await client.deactivate(EXCHANGE_ADMINS)
    assert (early.status, early.code) == (400, "ActiveDurationTooShort")
    assert early.message == "The Active duration is too short. Miniumum Required is 5 minutes."
    await client.advance(1)
    done = await client.deactivate(EXCHANGE_ADMINS)
    assert done.status == 201
    assert done.body["status"] == "Revoked" and done.body["action"] == "selfDeactivate"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []
    instances = await client.graph(
        "GET", f"{PIM}/assignmentScheduleInstances", params={"$filter": f"principalId eq '{ALICE}'"}
    )
    assert instances.body["value"] == []


async def test_admin_assigned_membership_cannot_be_self_deactivated(client: Client) -> None:
    client.sim.tenant.add_assignment(EXCHANGE_ADMINS, ALICE, end=(await client.now()) + timedelta(days=1))
    await client.advance(600)
    refused = await client.deactivate(EXCHANGE_ADMINS)
    assert (refused.status, refused.code) == (400, "RoleAssignmentDoesNotExist")
    again = await client.activate(EXCHANGE_ADMINS)
    assert (again.status, again.code) == (400, "RoleAssignmentExists")
