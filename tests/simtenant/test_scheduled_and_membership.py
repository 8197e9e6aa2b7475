"""The simulated tenant and issue 14 points 1 and 2: a selfActivate with a future start (its request's status until
then, its schedule before its instance, cancel), checkMemberGroups, and the directory's membership lag."""

from __future__ import annotations

from datetime import timedelta

from simtenant.seed import ALICE, EXCHANGE_ADMINS, HELPDESK_STAFF, PIM_APPROVERS, TEAMS_ADMINS
from tests.support.tenant import PIM, Client


async def scheduled(client: Client, hours: float = 1.0) -> dict[str, object]:
    start = (await client.now()) + timedelta(hours=hours)
    created = await client.activate(EXCHANGE_ADMINS, scheduleInfo={
        "startDateTime": start.isoformat(), "expiration": {"type": "afterDuration", "duration": "PT1H"},
    })  # fmt: skip
    assert created.status == 201, created.body
    body: dict[str, object] = created.body
    return body


async def member_groups(client: Client, user: str, *groups: str, token: str | None = None) -> tuple[int, object]:
    """The status and, for a 200, the ids checkMemberGroups answered (its @odata.context checked)."""
    answer = await client.graph(
        "POST", f"/users/{user}/checkMemberGroups", token=token, json={"groupIds": list(groups)}
    )
    if answer.status != 200:
        return answer.status, answer.body
    assert answer.body["@odata.context"].endswith("/$metadata#Collection(Edm.String)")
    return answer.status, answer.body["value"]


async def test_a_future_start_shows_schedule_created_its_schedule_but_no_instance_until_then(client: Client) -> None:
    client.sim.tenant.settings.scheduled_request_status = "ScheduleCreated"
    request = await scheduled(client)
    assert request["status"] == "ScheduleCreated"
    by_alice = f"$filter=principalId eq '{ALICE}'"
    schedules = await client.graph("GET", f"{PIM}/assignmentSchedules?{by_alice} and assignmentType eq 'activated'")
    [schedule] = schedules.body["value"]
    assert (schedule["createdUsing"], schedule["status"]) == (request["id"], "ScheduleCreated")
    instances = await client.graph("GET", f"{PIM}/assignmentScheduleInstances?{by_alice}")
    assert [i for i in instances.body["value"] if i["groupId"] == EXCHANGE_ADMINS] == []
    assert await member_groups(client, ALICE, EXCHANGE_ADMINS) == (200, _value([]))

    await client.advance(3600)
    fetched = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{request['id']}")
    assert fetched.body["status"] == "Provisioned"
    assert (await member_groups(client, ALICE, EXCHANGE_ADMINS))[1] == _value([EXCHANGE_ADMINS])


async def test_a_scheduled_request_is_cancelled_and_its_schedule_goes(client: Client) -> None:
    client.sim.tenant.settings.scheduled_request_status = "ScheduleCreated"
    request = await scheduled(client)
    cancelled = await client.graph("POST", f"{PIM}/assignmentScheduleRequests/{request['id']}/cancel", as_user=ALICE)
    assert cancelled.status == 204
    fetched = await client.graph("GET", f"{PIM}/assignmentScheduleRequests/{request['id']}")
    assert fetched.body["status"] == "Canceled"
    schedules = await client.graph("GET", f"{PIM}/assignmentSchedules?$filter=principalId eq '{ALICE}'")
    assert [s for s in schedules.body["value"] if s["createdUsing"] == request["id"]] == []
    await client.advance(3600)
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == []


async def test_check_member_groups_answers_the_members_of_those_asked_and_needs_both_read_permissions(
    client: Client,
) -> None:
    assert (await client.activate(TEAMS_ADMINS, ticket="INC-1")).status == 201
    status, body = await member_groups(client, ALICE, EXCHANGE_ADMINS, TEAMS_ADMINS, "not-a-group")
    assert (status, body) == (200, _value([TEAMS_ADMINS]))
    too_many = await member_groups(client, ALICE, *[f"g{n}" for n in range(21)])
    assert too_many[0] == 400
    unknown = await member_groups(client, "00000000-0000-4000-8000-00000000dead", TEAMS_ADMINS)
    assert unknown[0] == 404
    no_token = await member_groups(client, ALICE, TEAMS_ADMINS, token="")
    assert no_token[0] == 401


async def test_the_membership_lag_delays_what_the_directory_shows_not_what_pim_holds(client: Client) -> None:
    client.sim.tenant.settings.membership_lag_seconds = 30
    assert (await client.activate(EXCHANGE_ADMINS)).body["status"] == "Provisioned"
    assert client.sim.tenant.members(EXCHANGE_ADMINS) == [ALICE]  # PIM's own view
    assert (await member_groups(client, ALICE, EXCHANGE_ADMINS))[1] == _value([])
    members = await client.graph("GET", f"/groups/{EXCHANGE_ADMINS}/members?$select=id")
    assert members.body["value"] == []
    await client.advance(30)
    assert (await member_groups(client, ALICE, EXCHANGE_ADMINS))[1] == _value([EXCHANGE_ADMINS])
    members = await client.graph("GET", f"/groups/{EXCHANGE_ADMINS}/members?$select=id")
    assert [m["id"] for m in members.body["value"]] == [ALICE]


async def test_check_member_groups_is_transitive_and_a_lagging_membership_hides_what_is_reached_through_it(
    client: Client,
) -> None:
    """checkMemberGroups: "checks for membership in ... groups ... This function is transitive" (Microsoft Graph,
    directoryObject: checkMemberGroups). Alice is a member of Helpdesk-Staff, nested in PIM-Approvers; Exchange-Admins
    nested in Teams-Admins reaches her only once the directory shows her PIM membership of Exchange-Admins."""
    tenant = client.sim.tenant
    tenant.add_member(PIM_APPROVERS, HELPDESK_STAFF)
    tenant.add_member(TEAMS_ADMINS, EXCHANGE_ADMINS)
    asked = (PIM_APPROVERS, HELPDESK_STAFF, TEAMS_ADMINS, EXCHANGE_ADMINS)
    assert (await member_groups(client, ALICE, *asked))[1] == _value([PIM_APPROVERS, HELPDESK_STAFF])
    tenant.settings.membership_lag_seconds = 30
    assert (await client.activate(EXCHANGE_ADMINS)).body["status"] == "Provisioned"
    assert (await member_groups(client, ALICE, *asked))[1] == _value([PIM_APPROVERS, HELPDESK_STAFF])
    await client.advance(30)
    everything = [PIM_APPROVERS, HELPDESK_STAFF, TEAMS_ADMINS, EXCHANGE_ADMINS]
    assert (await member_groups(client, ALICE, *asked))[1] == _value(everything)


async def test_settings_refuse_values_outside_what_is_modelled(client: Client) -> None:
    for body in ({"scheduled_request_status": "Provisioned"}, {"membership_lag_seconds": -1}):
        assert (await client.control("POST", "/settings", json=body)).status == 400
    assert (await client.control("POST", "/settings", json={"membership_lag_seconds": 5})).status == 200
    assert client.sim.tenant.settings.membership_lag_seconds == 5


def _value(ids: list[str]) -> list[str]:
    return ids
