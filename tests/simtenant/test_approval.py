"""Approval-required activation: pending request, approval object, decisions, expiry, cancel."""

from __future__ import annotations

from simtenant.seed import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    EXCHANGE_ADMINS,
    FRANK,
    HELPDESK_STAFF,
    PIM_APPROVERS,
    SECURITY_OPERATORS,
)
from tests.support.tenant import PIM, Client, Resp

APPROVALS = f"{PIM}/assignmentApprovals"


async def _pending(client: Client) -> Resp:
    created = await client.activate(SECURITY_OPERATORS, duration="PT2H", justification="Incident 42")
    assert created.status == 201, created.body
    return created


async def _stage_id(client: Client, request_id: str, user: str = BOB) -> str:
    approval = await client.graph("GET", f"{APPROVALS}/{request_id}", as_user=user)
    assert approval.status == 200, approval.body
    stage_id: str = approval.body["stages"][0]["id"]
    return stage_id


async def _decide(client: Client, request_id: str, user: str, result: str, justification: str | None = "ok") -> Resp:
    stage = await _stage_id(client, request_id, user)
    body = {"reviewResult": result}
    if justification is not None:
        body["justification"] = justification
    return await client.graph("PATCH", f"{APPROVALS}/{request_id}/stages/{stage}", as_user=user, json=body)


async def test_approval_required_request_is_pending_with_one_stage(client: Client) -> None:
    created = await _pending(client)
    body = created.body
    assert body["status"] == "PendingApproval"
    assert body["completedDateTime"] is None
    assert body["approvalId"] == body["id"]
    assert client.sim.tenant.members(SECURITY_OPERATORS) == []

    as_bob = await client.graph("GET", f"{APPROVALS}/{body['id']}", as_user=BOB)
    [stage] = as_bob.body["stages"]
    assert stage["assignedToMe"] is True
    assert (stage["status"], stage["reviewResult"], stage["reviewedBy"]) == ("InProgress", "NotReviewed", None)
    as_carol = await client.graph("GET", f"{APPROVALS}/{body['id']}", as_user=CAROL)
    assert as_carol.body["stages"][0]["assignedToMe"] is True  # member of PIM-Approvers
    as_alice = await client.graph("GET", f"{APPROVALS}/{body['id']}", as_user=ALICE)
    assert as_alice.body["stages"][0]["assignedToMe"] is False  # the requester
    as_erin = await client.graph("GET", f"{APPROVALS}/{body['id']}", as_user=ERIN)
    assert as_erin.body["stages"][0]["assignedToMe"] is False

    stages = await client.graph("GET", f"{APPROVALS}/{body['id']}/stages", as_user=BOB)
    assert [s["id"] for s in stages.body["value"]] == [stage["id"]]
    one = await client.graph("GET", f"{APPROVALS}/{body['id']}/steps/{stage['id']}", as_user=BOB)
    assert one.body["id"] == stage["id"]


async def test_requester_justification_is_required_when_approval_is(client: Client) -> None:
    refused = await client.activate(SECURITY_OPERATORS, justification="")
    assert refused.message == 'The following policy rules failed: ["JustificationRule"]'


async def test_second_request_while_pending_is_refused(client: Client) -> None:
    await _pending(client)
    again = await client.activate(SECURITY_OPERATORS, justification="again")
    assert (again.status, again.code) == (400, "PendingRoleAssignmentRequest")


async def test_approve_provisions_from_the_decision_time(client: Client) -> None:
    created = await _pending(client)
    await client.advance(1800)
    decided_at = await client.now()
    approved = await _decide(client, created.body["id"], DAVE, "Approve", "looks right")
    assert approved.status == 204
    request = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert request.body["status"] == "Provisioned"
    instances = await client.graph(
        "GET", f"{PIM}/assignmentScheduleInstances", params={"$filter": f"groupId eq '{SECURITY_OPERATORS}'"}
    )
    [instance] = instances.body["value"]
    assert instance["id"] == request.body["targetScheduleId"] == f"{SECURITY_OPERATORS}_member_{created.body['id']}"
    schedule = client.sim.tenant.schedules["assignment"][instance["id"].lower()]
    assert schedule.start == decided_at and schedule.end is not None
    assert (schedule.end - schedule.start).total_seconds() == 7200
    assert client.sim.tenant.members(SECURITY_OPERATORS) == [ALICE]
    stage = (await client.graph("GET", f"{APPROVALS}/{created.body['id']}", as_user=BOB)).body["stages"][0]
    assert (stage["status"], stage["reviewResult"], stage["justification"]) == ("Completed", "Approved", "looks right")
    assert stage["reviewedBy"]["id"] == DAVE


async def test_deny_and_second_decision_conflict(client: Client) -> None:
    created = await _pending(client)
    denied = await _decide(client, created.body["id"], BOB, "Deny", "no ticket")
    assert denied.status == 204
    request = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert request.body["status"] == "Denied" and request.body["completedDateTime"] is not None
    late = await _decide(client, created.body["id"], CAROL, "Approve")
    assert (late.status, late.code) == (409, "Conflict")
    assert client.sim.tenant.members(SECURITY_OPERATORS) == []


async def test_who_may_not_decide(client: Client) -> None:
    created = await _pending(client)
    request_id = created.body["id"]
    stage = await _stage_id(client, request_id)
    path = f"{APPROVALS}/{request_id}/stages/{stage}"
    body = {"reviewResult": "Approve", "justification": "ok"}
    for user in (ALICE, ERIN):  # the requester, somebody unrelated
        refused = await client.graph("PATCH", path, as_user=user, json=body)
        assert (refused.status, refused.code) == (403, "Authorization_RequestDenied"), user
    app_only = await client.graph("PATCH", path, json=body)
    assert (app_only.status, app_only.code) == (403, "Authorization_RequestDenied")
    app_get = await client.graph("GET", f"{APPROVALS}/{request_id}")
    assert app_get.status == 403
    read_only = await client.user_token(BOB, scp="PrivilegedAssignmentSchedule.Read.AzureADGroup")
    scoped = await client.graph("PATCH", path, token=read_only, json=body)
    assert (scoped.status, scoped.code) == (403, "PermissionScopeNotGranted")
    missing = await client.graph("PATCH", f"{APPROVALS}/{request_id}/stages/nope", as_user=BOB, json=body)
    assert missing.status == 404
    unknown = await client.graph("GET", f"{APPROVALS}/00000000-0000-0000-0000-000000000000", as_user=BOB)
    assert unknown.status == 404


async def _assigned_to(client: Client, request_id: str, user: str) -> bool:
    approval = await client.graph("GET", f"{APPROVALS}/{request_id}", as_user=user)
    assert approval.status == 200, approval.body
    mine: bool = approval.body["stages"][0]["assignedToMe"]
    return mine


async def test_an_approver_added_to_the_approver_group_later_may_decide_by_default(client: Client) -> None:
    created = await _pending(client)
    client.sim.tenant.add_member(PIM_APPROVERS, ERIN)  # after the request was made
    assert await _assigned_to(client, created.body["id"], ERIN) is True
    assert (await _decide(client, created.body["id"], ERIN, "Approve")).status == 204


async def test_approvers_fixed_at_the_request_when_set(client: Client) -> None:
    client.sim.tenant.settings.update({"approvers_at_request": True})
    created = await _pending(client)
    client.sim.tenant.add_member(PIM_APPROVERS, ERIN)
    client.sim.tenant.remove_member(PIM_APPROVERS, DAVE)
    assert await _assigned_to(client, created.body["id"], ERIN) is False
    assert (await _decide(client, created.body["id"], ERIN, "Approve")).status == 403
    assert await _assigned_to(client, created.body["id"], DAVE) is True  # a member when the request was made
    assert (await _decide(client, created.body["id"], DAVE, "Approve")).status == 204


async def test_members_of_a_nested_approver_group_count_only_when_set(client: Client) -> None:
    client.sim.tenant.add_member(PIM_APPROVERS, HELPDESK_STAFF)  # Helpdesk-Staff (Alice, Frank) nested
    created = await _pending(client)
    request_id = created.body["id"]
    assert await _assigned_to(client, request_id, FRANK) is False
    assert (await _decide(client, request_id, FRANK, "Approve")).status == 403
    client.sim.tenant.settings.update({"nested_group_approvers": True})
    assert await _assigned_to(client, request_id, FRANK) is True
    assert await _assigned_to(client, request_id, ALICE) is False  # nested member, but the requester
    assert (await _decide(client, request_id, FRANK, "Approve")).status == 204


async def test_approver_justification_is_required(client: Client) -> None:
    created = await _pending(client)
    refused = await _decide(client, created.body["id"], BOB, "Approve", justification=None)
    assert (refused.status, refused.code) == (400, "RoleAssignmentRequestPolicyValidationFailed")
    bad = await _decide(client, created.body["id"], BOB, "Maybe")
    assert (bad.status, bad.code) == (400, "BadRequest")


async def test_undecided_approval_expires_after_24_hours(client: Client) -> None:
    created = await _pending(client)
    await client.advance(24 * 3600 - 1)
    still = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert still.body["status"] == "PendingApproval"
    await client.advance(1)
    expired = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert expired.body["status"] == "Canceled"
    approval = await client.graph("GET", f"{APPROVALS}/{created.body['id']}", as_user=BOB)
    assert approval.body["stages"][0]["status"] == "Expired"
    late = await _decide(client, created.body["id"], BOB, "Approve")
    assert late.status == 409
    assert (await client.activate(SECURITY_OPERATORS, justification="retry")).body["status"] == "PendingApproval"


async def test_cancel_rules(client: Client) -> None:
    created = await _pending(client)
    request_id = created.body["id"]
    cancel = f"{PIM}/assignmentScheduleRequests/{request_id}/cancel"
    by_other = await client.graph("POST", cancel, as_user=BOB)
    assert (by_other.status, by_other.code) == (403, "Authorization_RequestDenied")
    assert (await client.graph("POST", cancel, as_user=ALICE)).status == 204
    fetched = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{request_id}")
    assert fetched.body["status"] == "Canceled"
    twice = await client.graph("POST", cancel, as_user=ALICE)
    assert (twice.status, twice.code) == (400, "InvalidRoleAssignmentRequest")
    provisioned = await client.activate(EXCHANGE_ADMINS)
    refused = await client.graph(
        "POST", f"{PIM}/assignmentScheduleRequests/{provisioned.body['id']}/cancel", as_user=ALICE
    )
    assert refused.status == 400
    unknown = await client.graph("POST", f"{PIM}/assignmentScheduleRequests/nope/cancel", as_user=ALICE)
    assert unknown.status == 404
    # the app may cancel, too
    pending = await _pending(client)
    assert (await client.graph("POST", f"{PIM}/assignmentScheduleRequests/{pending.body['id']}/cancel")).status == 204


async def test_approver_views(client: Client) -> None:
    created = await _pending(client)
    mine = await client.graph("GET", f"{APPROVALS}/filterByCurrentUser(on='approver')", as_user=CAROL)
    assert [a["id"] for a in mine.body["value"]] == [created.body["id"]]
    none = await client.graph("GET", f"{APPROVALS}/filterByCurrentUser(on='approver')", as_user=ERIN)
    assert none.body["value"] == []
    requests = await client.graph(
        "GET",
        f"{PIM}/assignmentScheduleRequests/filterByCurrentUser(on='approver')",
        as_user=BOB,
        params={"$filter": "status eq 'PendingApproval'"},
    )
    assert [r["id"] for r in requests.body["value"]] == [created.body["id"]]
    app_only = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/filterByCurrentUser(on='approver')")
    assert app_only.status == 403
    by_group = await client.graph(
        "GET",
        f"{PIM}/assignmentScheduleRequests",
        params={"$filter": f"groupId eq '{SECURITY_OPERATORS}' and status eq 'pendingapproval'"},
    )
    assert [r["id"] for r in by_group.body["value"]] == [created.body["id"]]


async def test_approval_after_eligibility_loss_fails(client: Client) -> None:
    created = await _pending(client)
    tenant = client.sim.tenant
    schedule = tenant.schedules_for("eligibility", principal_id=ALICE, group_id=SECURITY_OPERATORS)[0]
    admin = await client.graph(
        "POST",
        f"{PIM}/eligibilityScheduleRequests",
        json={"action": "adminRemove", "principalId": ALICE, "groupId": SECURITY_OPERATORS, "accessId": "member"},
    )
    assert admin.status == 201, admin.body
    assert tenant.schedule("eligibility", schedule.id) is None
    await _decide(client, created.body["id"], BOB, "Approve")
    fetched = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{created.body['id']}")
    assert fetched.body["status"] == "Failed"
