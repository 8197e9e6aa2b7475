"""Admin requests, eligibility windows, group-inherited eligibility and request history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from simtenant.seed import (
    ALICE,
    BOB,
    ERIN,
    EXCHANGE_ADMINS,
    FRANK,
    HELPDESK_STAFF,
    HELPDESK_TIER1,
    INTUNE_ADMINS,
    SHAREPOINT_ADMINS,
    TEAMS_ADMINS,
)
from tests.support.tenant import PIM, Client, Resp


def _body(
    action: str,
    principal: str,
    group: str,
    *,
    end: datetime | None = None,
    duration: str | None = None,
    justification: str | None = "admin work",
    access: str = "member",
) -> dict[str, Any]:
    expiration: dict[str, Any] = {"type": "noExpiration"}
    if end is not None:
        expiration = {"type": "afterDateTime", "endDateTime": end.isoformat()}
    elif duration is not None:
        expiration = {"type": "afterDuration", "duration": duration}
    return {
        "action": action,
        "principalId": principal,
        "groupId": group,
        "accessId": access,
        "justification": justification,
        "scheduleInfo": {"expiration": expiration},
    }


async def _elig(client: Client, body: dict[str, Any], **kwargs: Any) -> Resp:
    return await client.graph("POST", f"{PIM}/eligibilityScheduleRequests", json=body, **kwargs)


async def _assign(client: Client, body: dict[str, Any], **kwargs: Any) -> Resp:
    return await client.graph("POST", f"{PIM}/assignmentScheduleRequests", json=body, **kwargs)


async def test_admin_eligibility_lifecycle(client: Client) -> None:
    now = await client.now()
    created = await _elig(client, _body("AdminAssign", BOB, EXCHANGE_ADMINS, end=now + timedelta(days=30)))
    assert created.status == 201, created.body
    assert (created.body["status"], created.body["action"]) == ("Provisioned", "adminAssign")
    assert created.body["createdBy"]["application"]["id"] == client.sim.client_id
    assert (await client.activate(EXCHANGE_ADMINS, BOB)).status == 201

    dup = await _elig(client, _body("adminAssign", BOB, EXCHANGE_ADMINS, end=now + timedelta(days=30)))
    assert (dup.status, dup.code) == (400, "RoleAssignmentExists")

    shorter = await _elig(client, _body("adminExtend", BOB, EXCHANGE_ADMINS, end=now + timedelta(days=10)))
    assert (shorter.status, shorter.code) == (400, "InvalidRoleAssignmentRequest")
    extended = await _elig(client, _body("adminExtend", BOB, EXCHANGE_ADMINS, end=now + timedelta(days=60)))
    assert extended.status == 201 and extended.body["action"] == "adminExtend"
    schedules = await client.graph("GET", f"{PIM}/eligibilitySchedules", params={"$filter": f"principalId eq '{BOB}'"})
    [schedule] = schedules.body["value"]
    assert schedule["id"] == created.body["targetScheduleId"]
    assert schedule["scheduleInfo"]["expiration"]["type"] == "afterDateTime"
    assert datetime.fromisoformat(schedule["scheduleInfo"]["expiration"]["endDateTime"]) == now + timedelta(days=60)

    removed = await _elig(client, _body("adminRemove", BOB, EXCHANGE_ADMINS))
    assert removed.status == 201 and removed.body["status"] == "Revoked"
    again = await _elig(client, _body("adminRemove", BOB, EXCHANGE_ADMINS))
    assert (again.status, again.code) == (400, "RoleAssignmentDoesNotExist")
    instances = await client.graph(
        "GET", f"{PIM}/eligibilityScheduleInstances", params={"$filter": f"principalId eq '{BOB}'"}
    )
    assert instances.body["value"] == []
    history = await client.graph(
        "GET", f"{PIM}/eligibilityScheduleRequests", params={"$filter": f"principalId eq '{BOB}'"}
    )
    assert [r["action"] for r in history.body["value"]] == ["adminAssign", "adminExtend", "adminRemove"]

    renewed = await _elig(client, _body("adminRenew", BOB, EXCHANGE_ADMINS, duration="P90D"))
    assert renewed.status == 201, renewed.body
    assert (await _elig(client, _body("adminRenew", BOB, EXCHANGE_ADMINS, duration="P90D"))).code == (
        "RoleAssignmentExists"
    )


async def test_admin_eligibility_policy(client: Client) -> None:
    permanent = await _elig(client, _body("adminAssign", BOB, EXCHANGE_ADMINS))
    assert permanent.message == 'The following policy rules failed: ["ExpirationRule"]'
    too_long = await _elig(client, _body("adminAssign", BOB, EXCHANGE_ADMINS, duration="P400D"))
    assert too_long.message == 'The following policy rules failed: ["ExpirationRule"]'
    client.sim.tenant.set_policy(EXCHANGE_ADMINS, "member", eligibility_expiration_required=False)
    assert (await _elig(client, _body("adminAssign", BOB, EXCHANGE_ADMINS))).status == 201


async def test_admin_assignment_is_assigned_and_needs_justification(client: Client) -> None:
    no_reason = await _assign(client, _body("adminAssign", BOB, EXCHANGE_ADMINS, duration="P1D", justification=None))
    assert no_reason.message == 'The following policy rules failed: ["JustificationRule"]'
    created = await _assign(client, _body("adminAssign", BOB, EXCHANGE_ADMINS, duration="P1D"))
    assert created.status == 201 and created.body["status"] == "Provisioned"
    instances = await client.graph(
        "GET", f"{PIM}/assignmentScheduleInstances", params={"$filter": f"principalId eq '{BOB}'"}
    )
    [instance] = instances.body["value"]
    assert (instance["assignmentType"], instance["memberType"]) == ("assigned", "direct")
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [BOB]
    removed = await _assign(client, _body("adminRemove", BOB, EXCHANGE_ADMINS))
    assert removed.body["status"] == "Revoked"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []


async def test_who_may_make_admin_requests(client: Client) -> None:
    body = _body("adminAssign", BOB, EXCHANGE_ADMINS, duration="P1D")
    as_alice = await _assign(client, body, as_user=ALICE)
    assert (as_alice.status, as_alice.code) == (403, "Authorization_RequestDenied")
    as_erin = await _assign(client, body, as_user=ERIN)  # an admin with the ReadWrite scope
    assert as_erin.status == 201, as_erin.body
    # The delegated eligibility scope is ReadWrite (a user's own selfExtend / selfRenew): an admin may write with it,
    # and a selfActivate is still no eligibility request.
    elig_as_erin = await _elig(client, _body("adminAssign", BOB, TEAMS_ADMINS, duration="P30D"), as_user=ERIN)
    assert elig_as_erin.status == 201, elig_as_erin.body
    self_on_elig = await _elig(client, _body("selfActivate", ALICE, EXCHANGE_ADMINS, duration="PT1H"), as_user=ALICE)
    assert (self_on_elig.status, self_on_elig.code) == (400, "InvalidRoleAssignmentRequest")
    bad_subject = await _assign(client, _body("adminAssign", "nobody", EXCHANGE_ADMINS, duration="P1D"))
    assert (bad_subject.status, bad_subject.code) == (400, "SubjectNotFound")


async def test_owner_may_administer_own_group(client: Client) -> None:
    client.sim.tenant.add_member(EXCHANGE_ADMINS, ALICE, "owner")
    created = await _assign(client, _body("adminAssign", BOB, EXCHANGE_ADMINS, duration="P1D"), as_user=ALICE)
    assert created.status == 201, created.body


async def test_eligibility_windows(client: Client) -> None:
    schedules = await client.graph(
        "GET", f"{PIM}/eligibilitySchedules", params={"$filter": f"principalId eq '{ALICE}'"}
    )
    instances = await client.graph(
        "GET", f"{PIM}/eligibilityScheduleInstances", params={"$filter": f"principalId eq '{ALICE}'"}
    )
    schedule_groups = {s["groupId"] for s in schedules.body["value"]}
    instance_groups = {i["groupId"] for i in instances.body["value"]}
    assert INTUNE_ADMINS in schedule_groups and INTUNE_ADMINS not in instance_groups  # future
    assert SHAREPOINT_ADMINS not in schedule_groups | instance_groups  # ended two days ago
    assert HELPDESK_TIER1 in instance_groups  # inherited

    history = await client.graph(
        "GET",
        f"{PIM}/eligibilityScheduleRequests",
        params={"$filter": f"principalId eq '{ALICE}' and groupId eq '{SHAREPOINT_ADMINS}'"},
    )
    [lapsed] = history.body["value"]
    end = datetime.fromisoformat(lapsed["scheduleInfo"]["expiration"]["endDateTime"])
    assert end == (await client.now()) - timedelta(days=2)

    await client.advance(7 * 86400)
    later = await client.graph(
        "GET",
        f"{PIM}/eligibilityScheduleInstances",
        params={"$filter": f"principalId eq '{ALICE}' and groupId eq '{INTUNE_ADMINS}'"},
    )
    assert len(later.body["value"]) == 1
    assert (await client.activate(INTUNE_ADMINS)).status == 201

    await client.advance(180 * 86400)  # Alice's owner eligibility of Exchange-Admins ends
    owner = await client.graph(
        "GET",
        f"{PIM}/eligibilitySchedules",
        params={"$filter": f"principalId eq '{ALICE}' and groupId eq '{EXCHANGE_ADMINS}' and accessId eq 'owner'"},
    )
    assert owner.body["value"] == []


async def test_eligibility_schedules_by_group_list_windows_that_start_later(client: Client) -> None:
    """What the admin feed reads for a group's eligible side: its schedules, current and scheduled."""
    now = await client.now()
    start, end = (now + timedelta(days=7)).replace(microsecond=0), (now + timedelta(days=97)).replace(microsecond=0)
    body = _body("adminAssign", BOB, TEAMS_ADMINS, end=end)
    body["scheduleInfo"]["startDateTime"] = start.isoformat()
    created = await _elig(client, body)
    assert created.status == 201, created.body
    fields = "id,principalId,groupId,accessId,memberType,status,scheduleInfo"
    params = {"$filter": f"groupId eq '{TEAMS_ADMINS}'", "$select": fields}
    schedules = await client.graph("GET", f"{PIM}/eligibilitySchedules", params=params)
    assert schedules.status == 200
    [bob] = [row for row in schedules.body["value"] if row["principalId"] == BOB]
    assert set(bob) == set(fields.split(","))
    assert bob["id"] == created.body["targetScheduleId"]
    assert datetime.fromisoformat(bob["scheduleInfo"]["startDateTime"]) == start
    assert datetime.fromisoformat(bob["scheduleInfo"]["expiration"]["endDateTime"]) == end
    assert bob["scheduleInfo"]["expiration"]["type"] == "afterDateTime"
    instances = await client.graph(
        "GET", f"{PIM}/eligibilityScheduleInstances", params={"$filter": f"groupId eq '{TEAMS_ADMINS}'"}
    )
    assert BOB not in {row["principalId"] for row in instances.body["value"]}  # not in effect yet

    unknown = await client.graph("GET", f"{PIM}/eligibilitySchedules", params={**params, "$select": "id,startDateTime"})
    assert (unknown.status, unknown.code) == (400, "BadRequest")  # a schedule has scheduleInfo, not startDateTime
    unfiltered = await client.graph("GET", f"{PIM}/eligibilitySchedules", params={"$select": fields})
    assert (unfiltered.status, unfiltered.code) == (400, "MissingParameters")

    assert (await _elig(client, _body("adminRemove", BOB, TEAMS_ADMINS))).status == 201  # before it started
    after = await client.graph("GET", f"{PIM}/eligibilitySchedules", params=params)
    assert BOB not in {row["principalId"] for row in after.body["value"]}


async def test_group_inherited_eligibility_rows(client: Client) -> None:
    mine = await client.graph(
        "GET", f"{PIM}/eligibilityScheduleInstances/filterByCurrentUser(on='principal')", as_user=FRANK
    )
    [row] = mine.body["value"]
    assert (row["groupId"], row["principalId"], row["memberType"]) == (HELPDESK_TIER1, FRANK, "group")
    by_id = await client.graph("GET", f"{PIM}/eligibilityScheduleInstances/{row['id']}")
    assert by_id.status == 200 and by_id.body["memberType"] == "group"
    by_group = await client.graph(
        "GET", f"{PIM}/eligibilitySchedules", params={"$filter": f"groupId eq '{HELPDESK_TIER1}'"}
    )
    [stored] = by_group.body["value"]
    assert (stored["principalId"], stored["memberType"]) == (HELPDESK_STAFF, "direct")
    direct_only = await client.graph(
        "GET",
        f"{PIM}/eligibilitySchedules",
        params={"$filter": f"principalId eq '{FRANK}' and memberType eq 'Direct'"},
    )
    assert direct_only.body["value"] == []
    client.sim.tenant.remove_member(HELPDESK_STAFF, FRANK)
    assert (
        await client.graph(
            "GET", f"{PIM}/eligibilityScheduleInstances/filterByCurrentUser(on='principal')", as_user=FRANK
        )
    ).body["value"] == []
    refused = await client.activate(HELPDESK_TIER1, FRANK)
    assert refused.message == 'The following policy rules failed: ["EligibilityRule"]'


async def test_requests_filter_by_current_user(client: Client) -> None:
    await client.activate(EXCHANGE_ADMINS)
    mine = await client.graph(
        "GET", f"{PIM}/assignmentScheduleRequests/filterByCurrentUser(on='principal')", as_user=ALICE
    )
    assert [r["groupId"] for r in mine.body["value"]] == [EXCHANGE_ADMINS]
    created = await client.graph(
        "GET",
        f"{PIM}/assignmentScheduleRequests/filterByCurrentUser(on='createdBy')",
        as_user=ALICE,
        params={"$filter": f"createdBy/user/id eq '{ALICE}'"},
    )
    assert len(created.body["value"]) == 1
    bad = await client.graph("GET", f"{PIM}/assignmentSchedules/filterByCurrentUser(on='approver')", as_user=ALICE)
    assert bad.status == 400
    schedules = await client.graph(
        "GET",
        f"{PIM}/assignmentSchedules/filterByCurrentUser(on='principal')",
        as_user=ALICE,
        params={"$filter": "assignmentType eq 'Activated'"},
    )
    assert len(schedules.body["value"]) == 1
