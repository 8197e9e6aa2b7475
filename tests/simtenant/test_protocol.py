"""Graph protocol behaviour: $filter requirement, paging, $select/$expand, $batch, policies, directory reads,
error envelopes."""

from __future__ import annotations

from simtenant.seed import (
    ALICE,
    BOB,
    CAROL,
    ERIN,
    EXCHANGE_ADMINS,
    FINANCE_PROD,
    HELPDESK_STAFF,
    PIM_APPROVERS,
    SECURITY_OPERATORS,
    TEAMS_ADMINS,
)
from tests.support.tenant import PIM, Client

COLLECTIONS = (
    "assignmentScheduleRequests",
    "assignmentSchedules",
    "assignmentScheduleInstances",
    "eligibilityScheduleRequests",
    "eligibilitySchedules",
    "eligibilityScheduleInstances",
)


async def test_plain_collections_require_group_or_principal_filter(client: Client) -> None:
    for collection in COLLECTIONS:
        for params in ({}, {"$filter": "accessId eq 'member'"}, {"$filter": f"principalId ne '{ALICE}'"}):
            response = await client.graph("GET", f"{PIM}/{collection}", params=params)
            assert (response.status, response.code) == (400, "MissingParameters"), (collection, params)
            assert response.message == "The required parameters GroupId or PrincipalId is missing"
        ok = await client.graph("GET", f"{PIM}/{collection}", params={"$filter": f"groupId eq '{EXCHANGE_ADMINS}'"})
        assert ok.status == 200, collection
        assert ok.body["@odata.context"].endswith(f"/$metadata#identityGovernance/privilegedAccess/group/{collection}")


async def test_filter_grammar(client: Client) -> None:
    path = f"{PIM}/eligibilityScheduleInstances"
    both = await client.graph(
        "GET", path, params={"$filter": f"principalId eq '{ALICE.upper()}' and accessId eq 'OWNER'"}
    )
    assert [row["accessId"] for row in both.body["value"]] == ["owner"]
    for bad in (
        f"principalId eq '{ALICE}' or groupId eq 'x'",
        "principalId gt 'a'",
        "nonsense eq 'x'",
        f"principalId eq {ALICE}",
    ):
        response = await client.graph("GET", path, params={"$filter": bad})
        assert (response.status, response.code) == (400, "BadRequest"), bad


async def test_paging_with_next_link(client: Client) -> None:
    await client.control("POST", "/settings", json={"page_size": 3})
    path = f"{PIM}/eligibilitySchedules"
    params = {"$filter": f"principalId eq '{ALICE}'", "$select": "id,groupId"}
    page = await client.graph("GET", path, params=params)
    seen = [row["id"] for row in page.body["value"]]
    assert len(seen) == 3 and set(page.body["value"][0]) == {"id", "groupId"}
    pages = 1
    while "@odata.nextLink" in page.body:
        link = page.body["@odata.nextLink"]
        assert link.startswith(client.sim.graph_base_url)
        page = await client.graph("GET", link)
        assert page.status == 200
        seen += [row["id"] for row in page.body["value"]]
        pages += 1
    total = len(client.sim.tenant.schedules_for("eligibility", principal_id=ALICE))
    assert len(seen) == len(set(seen)) == total == 8  # 6 direct in effect, 1 future, 1 inherited
    assert pages == 3
    top = await client.graph("GET", path, params={**params, "$top": "20"})
    assert len(top.body["value"]) == 8 and "@odata.nextLink" not in top.body


async def test_expand_and_select(client: Client) -> None:
    response = await client.graph(
        "GET",
        f"{PIM}/eligibilityScheduleInstances",
        params={
            "$filter": f"principalId eq '{ALICE}' and groupId eq '{TEAMS_ADMINS}'",
            "$expand": "group($select=id,displayName),principal($select=id)",
            "$select": "id,groupId,accessId",
        },
    )
    [row] = response.body["value"]
    assert set(row) == {"id", "groupId", "accessId", "group", "principal"}
    assert row["group"] == {"@odata.type": "#microsoft.graph.group", "id": TEAMS_ADMINS, "displayName": "Teams Admins"}
    assert row["principal"] == {"@odata.type": "#microsoft.graph.user", "id": ALICE}
    bad = await client.graph(
        "GET",
        f"{PIM}/eligibilityScheduleInstances",
        params={"$filter": f"principalId eq '{ALICE}'", "$expand": "manager"},
    )
    assert bad.status == 400
    bad_select = await client.graph(
        "GET",
        f"{PIM}/eligibilityScheduleInstances",
        params={"$filter": f"principalId eq '{ALICE}'", "$select": "shoeSize"},
    )
    assert bad_select.status == 400


async def test_navigation_and_get_by_id(client: Client) -> None:
    created = await client.activate(EXCHANGE_ADMINS)
    request_id = created.body["id"]
    group = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{request_id}/group")
    assert group.body["displayName"] == "Exchange-Admins"
    target = await client.graph(
        "GET",
        f"{PIM}/assignmentScheduleRequests/{request_id}",
        params={"$expand": "targetSchedule", "$select": "id,status"},
    )
    assert set(target.body) == {"@odata.context", "id", "status", "targetSchedule"}
    assert target.body["targetSchedule"]["assignmentType"] == "activated"
    schedule = await client.graph("GET", f"{PIM}/assignmentSchedules/{created.body['targetScheduleId']}")
    assert schedule.body["createdUsing"] == request_id
    missing = await client.graph("GET", f"{PIM}/assignmentScheduleInstances/nope")
    assert (missing.status, missing.code) == (404, "ResourceNotFound")


async def test_policies(client: Client) -> None:
    assignments = await client.graph(
        "GET",
        "/policies/roleManagementPolicyAssignments",
        params={
            "$filter": f"scopeId eq '{SECURITY_OPERATORS}' and scopeType eq 'Group' and roleDefinitionId eq 'member'",
            "$expand": "policy($expand=rules)",
        },
    )
    assert assignments.status == 200
    [assignment] = assignments.body["value"]
    assert assignment["id"] == f"{assignment['policyId']}_member"
    assert assignment["policyId"].startswith(f"Group_{SECURITY_OPERATORS}_")
    rules = {rule["id"]: rule for rule in assignment["policy"]["rules"]}
    assert len(rules) == 17
    approval = rules["Approval_EndUser_Assignment"]["setting"]
    assert approval["isApprovalRequired"] is True
    approvers = approval["approvalStages"][0]["primaryApprovers"]
    assert approvers == [
        {"@odata.type": "#microsoft.graph.singleUser", "userId": BOB, "description": "Bob Builder"},
        {"@odata.type": "#microsoft.graph.groupMembers", "groupId": PIM_APPROVERS, "description": "PIM-Approvers"},
    ]
    assert rules["Expiration_EndUser_Assignment"]["maximumDuration"] == "PT2H"
    assert rules["Enablement_EndUser_Assignment"]["@odata.type"] == (
        "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule"
    )
    assert rules["Expiration_Admin_Eligibility"]["maximumDuration"] == "P365D"
    assert rules["Notification_Approver_EndUser_Assignment"]["recipientType"] == "Approver"
    assert rules["Enablement_Admin_Eligibility"]["target"] == {
        "caller": "Admin",
        "operations": ["All"],
        "level": "Eligibility",
        "inheritableSettings": [],
        "enforcedSettings": [],
    }

    both = await client.graph(
        "GET",
        "/policies/roleManagementPolicyAssignments",
        params={"$filter": f"scopeId eq '{FINANCE_PROD}' and scopeType eq 'Group'"},
    )
    assert sorted(a["roleDefinitionId"] for a in both.body["value"]) == ["member", "owner"]
    assert "policy" not in both.body["value"][0]
    required = await client.graph("GET", "/policies/roleManagementPolicyAssignments")
    assert required.status == 400

    policies = await client.graph(
        "GET",
        "/policies/roleManagementPolicies",
        params={"$filter": f"scopeId eq '{FINANCE_PROD}' and scopeType eq 'Group'", "$expand": "rules"},
    )
    member = next(
        p
        for p in policies.body["value"]
        if p["id"] == both.body["value"][0]["policyId"] or p["id"] == both.body["value"][1]["policyId"]
    )
    assert len(member["rules"]) == 17
    rules_of = await client.graph("GET", f"/policies/roleManagementPolicies/{member['id']}/rules")
    auth = next(r for r in rules_of.body["value"] if r["id"] == "AuthenticationContext_EndUser_Assignment")
    assert "isEnabled" in auth

    token = await client.user_token(ALICE, scp="User.Read")
    denied = await client.graph("GET", f"/policies/roleManagementPolicies/{member['id']}/rules", token=token)
    assert (denied.status, denied.code) == (403, "PermissionScopeNotGranted")


async def test_a_delegated_policy_read_needs_the_group_owner_member_or_an_admin_role(client: Client) -> None:
    """Microsoft's policy pages are silent on the signed-in user for PIM for Groups; the sim applies the rule of every
    other PIM-for-Groups read (owner, member or a directory role) so the product cannot depend on more."""
    member_policy = client.sim.tenant.policy(EXCHANGE_ADMINS, "member")
    assert member_policy is not None
    reads = [
        (
            "/policies/roleManagementPolicyAssignments",
            {
                "$filter": f"scopeId eq '{EXCHANGE_ADMINS}' and scopeType eq 'Group' and roleDefinitionId eq 'member'",
                "$expand": "policy($expand=rules)",
            },
        ),
        ("/policies/roleManagementPolicies", {"$filter": f"scopeId eq '{EXCHANGE_ADMINS}' and scopeType eq 'Group'"}),
        (f"/policies/roleManagementPolicyAssignments/{member_policy.policy_id}_member", {}),
        (f"/policies/roleManagementPolicies/{member_policy.policy_id}", {}),
        (f"/policies/roleManagementPolicies/{member_policy.policy_id}/rules", {}),
        (f"/policies/roleManagementPolicies/{member_policy.policy_id}/rules/Expiration_EndUser_Assignment", {}),
    ]
    # Alice is eligible for Exchange-Admins, which makes her neither owner nor member; she holds no admin role.
    for path, params in reads:
        refused = await client.graph("GET", path, params=params, as_user=ALICE)
        assert (refused.status, refused.code) == (403, "Authorization_RequestDenied"), path
        assert (await client.graph("GET", path, params=params)).status == 200, path  # app-only
        assert (await client.graph("GET", path, params=params, as_user=ERIN)).status == 200, path  # an admin role

    client.sim.tenant.add_member(EXCHANGE_ADMINS, CAROL, "owner")
    path, params = reads[0]
    assert (await client.graph("GET", path, params=params, as_user=CAROL)).status == 200
    assert (await client.activate(EXCHANGE_ADMINS)).status == 201  # a member for the hour she activated
    assert (await client.graph("GET", path, params=params, as_user=ALICE)).status == 200

    # Changing the rules needs ownership or the admin role, as well as the ReadWrite scope.
    rule = f"/policies/roleManagementPolicies/{member_policy.policy_id}/rules/Expiration_EndUser_Assignment"
    body = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": True,
        "maximumDuration": "PT6H",
    }
    scopes = "RoleManagementPolicy.ReadWrite.AzureADGroup"
    alice = await client.user_token(ALICE, scp=scopes)
    refused = await client.graph("PATCH", rule, json=body, token=alice)
    assert (refused.status, refused.code) == (403, "Authorization_RequestDenied")
    carol = await client.user_token(CAROL, scp=scopes)
    assert (await client.graph("PATCH", rule, json=body, token=carol)).status == 204


async def test_policy_rule_patch_needs_readwrite_and_changes_enforcement(client: Client) -> None:
    policy = client.sim.tenant.policy(EXCHANGE_ADMINS, "member")
    assert policy is not None
    path = f"/policies/roleManagementPolicies/{policy.policy_id}/rules/Enablement_EndUser_Assignment"
    body = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_EndUser_Assignment",
        "enabledRules": ["Justification", "Ticketing"],
    }
    refused = await client.graph("PATCH", path, json=body)
    assert (refused.status, refused.code) == (403, "PermissionScopeNotGranted")
    client.sim.tenant.apps[client.sim.client_id].roles |= {"RoleManagementPolicy.ReadWrite.AzureADGroup"}
    client._app_token = None
    assert (await client.graph("PATCH", path, json=body)).status == 204
    refused_activation = await client.activate(EXCHANGE_ADMINS)
    assert refused_activation.message == 'The following policy rules failed: ["TicketingRule"]'


async def test_users_groups_and_members(client: Client) -> None:
    user = await client.graph("GET", f"/users/{ALICE}", params={"$select": "id,displayName,userPrincipalName"})
    assert user.body == {
        "@odata.context": f"{client.sim.graph_base_url}/$metadata#users/$entity",
        "@odata.type": "#microsoft.graph.user",
        "id": ALICE,
        "displayName": "Alice Admin",
        "userPrincipalName": "alice@contoso.test",
    }
    by_upn = await client.graph("GET", "/users/bob@contoso.test")
    assert by_upn.body["id"] == BOB
    missing = await client.graph("GET", "/users/00000000-0000-0000-0000-000000000000")
    assert (missing.status, missing.code) == (404, "Request_ResourceNotFound")
    me = await client.graph("GET", "/me", as_user=ALICE)
    assert me.body["id"] == ALICE
    other = await client.graph("GET", f"/users/{BOB}", as_user=ALICE)  # User.Read covers only oneself
    assert (other.status, other.code) == (403, "Authorization_RequestDenied")

    named = await client.graph("GET", "/groups", params={"$filter": "displayName eq 'Teams Admins'"})
    assert [g["id"] for g in named.body["value"]] == [TEAMS_ADMINS]
    client.sim.tenant.add_group("bbbbbbbb-0000-4000-8000-000000000099", "O'Brien Admins")
    quoted = await client.graph("GET", "/groups", params={"$filter": "displayName eq 'O''Brien Admins'"})
    assert len(quoted.body["value"]) == 1
    group = await client.graph("GET", f"/groups/{HELPDESK_STAFF}")
    assert group.body["displayName"] == "Helpdesk-Staff"
    members = await client.graph("GET", f"/groups/{HELPDESK_STAFF}/members", params={"$select": "id"})
    assert [m["id"] for m in members.body["value"]] == [ALICE, "aaaaaaaa-0000-4000-8000-000000000006"]
    delegated = await client.graph("GET", f"/groups/{HELPDESK_STAFF}", as_user=ALICE)
    assert delegated.status == 403
    obj = await client.graph("GET", f"/directoryObjects/{HELPDESK_STAFF}")
    assert obj.body["@odata.type"] == "#microsoft.graph.group"
    client.sim.tenant.apps[client.sim.client_id].roles |= {"Directory.Read.All"}
    client._app_token = None
    by_ids = await client.graph("POST", "/directoryObjects/getByIds", json={"ids": [ALICE, HELPDESK_STAFF, "x"]})
    assert [o["id"] for o in by_ids.body["value"]] == [ALICE, HELPDESK_STAFF]


async def test_unknown_routes_and_methods(client: Client) -> None:
    unknown = await client.graph("GET", f"{PIM}/somethingElse")
    assert (unknown.status, unknown.code) == (400, "BadRequest")
    wrong_method = await client.graph("DELETE", f"{PIM}/assignmentScheduleRequests")
    assert wrong_method.status == 405


async def test_error_envelope_and_client_request_id(client: Client) -> None:
    response = await client.graph(
        "GET", f"{PIM}/assignmentSchedules", headers={"client-request-id": "my-correlation-id"}
    )
    error = response.body["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["innerError"]["client-request-id"] == "my-correlation-id"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert response.headers["client-request-id"] == "my-correlation-id"
    assert response.headers["request-id"] == error["innerError"]["request-id"]


async def test_wrapped_error_mode(client: Client) -> None:
    await client.control("POST", "/settings", json={"wrapped_errors": True})
    token = await client.user_token(ALICE, scp="User.Read")
    response = await client.activate(EXCHANGE_ADMINS, token=token)
    assert (response.status, response.code) == (403, "UnknownError")
    assert response.message == (
        '{"errorCode":"PermissionScopeNotGranted","message":"Authorization failed due to missing permission scope '
        'PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup."}'
    )
    missing = await client.graph("GET", f"{PIM}/assignmentSchedules")
    assert missing.code == "UnknownError" and "MissingParameters" in missing.message
    directory = await client.graph("GET", "/users/nobody")  # the directory does not wrap
    assert directory.code == "Request_ResourceNotFound"


async def test_batch(client: Client) -> None:
    token = await client.user_token(ALICE)
    requests = [
        {"id": "1", "method": "GET", "url": f"{PIM}/eligibilityScheduleInstances?$filter=principalId eq '{ALICE}'"},
        {
            "id": "2",
            "method": "GET",
            "url": "identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
        },  # no filter, no slash
        {
            "id": "3",
            "method": "POST",
            "url": f"{PIM}/assignmentScheduleRequests",
            "headers": {"Content-Type": "application/json", "client-request-id": "inner-3"},
            "body": {
                "action": "selfActivate",
                "principalId": ALICE,
                "groupId": EXCHANGE_ADMINS,
                "accessId": "member",
                "justification": "batch",
                "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT1H"}},
            },
        },
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["2"]},
        {"id": "5", "method": "GET", "url": "/me", "dependsOn": ["3"]},
    ]
    response = await client.graph("POST", "/$batch", token=token, json={"requests": requests})
    assert response.status == 200
    by_id = {r["id"]: r for r in response.body["responses"]}
    assert by_id["1"]["status"] == 200 and len(by_id["1"]["body"]["value"]) == 7
    assert (by_id["2"]["status"], by_id["2"]["body"]["error"]["code"]) == (400, "MissingParameters")
    assert by_id["3"]["status"] == 201 and by_id["3"]["body"]["status"] == "Provisioned"
    assert by_id["3"]["headers"]["client-request-id"] == "inner-3"
    assert by_id["4"]["status"] == 424
    assert by_id["5"]["status"] == 200 and by_id["5"]["body"]["id"] == ALICE
    stats = (await client.control("GET", "/stats")).body
    assert (stats["graph_requests"], stats["batch_inner_requests"]) == (1, 5)

    too_many = [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]
    assert (await client.graph("POST", "/$batch", token=token, json={"requests": too_many})).status == 400
    duplicate = [{"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}]
    dup = await client.graph("POST", "/$batch", token=token, json={"requests": duplicate})
    assert (dup.status, dup.code) == (400, "BadRequest")
    no_type = [{"id": "1", "method": "POST", "url": "/directoryObjects/getByIds", "body": {"ids": []}}]
    assert (await client.graph("POST", "/$batch", token=token, json={"requests": no_type})).status == 400
    absolute = [{"id": "1", "method": "GET", "url": f"{client.sim.graph_base_url}/me"}]
    inner = await client.graph("POST", "/$batch", token=token, json={"requests": absolute})
    assert inner.body["responses"][0]["status"] == 400
    unauthenticated = await client.graph("POST", "/$batch", token="", json={"requests": duplicate[:1]})
    assert unauthenticated.status == 401


async def test_batch_inner_requests_are_throttled_individually(client: Client) -> None:
    fault = {"method": "GET", "path": "/users/", "status": 429, "retry_after": 2, "times": 1}
    assert (await client.control("POST", "/faults", json=fault)).status == 201
    requests = [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}"} for i in range(3)]
    response = await client.graph("POST", "/$batch", json={"requests": requests})
    statuses = [r["status"] for r in response.body["responses"]]
    assert statuses == [429, 200, 200]
    assert response.body["responses"][0]["headers"]["Retry-After"] == "2"
