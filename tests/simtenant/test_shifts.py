"""A team's Teams Shifts schedule answers as Graph does (simtenant.shifts names the sources): app tokens must name
the user they act as, the filter bounds shifts as the doc's example does and refuses a property named twice, only the
shared version of a shift is what employees see, and a team the acting user is not in is not found."""

from __future__ import annotations

from datetime import timedelta

from simtenant.seed import ALICE, BOB, CAROL, NETWORK_ADMINS
from tests.support.tenant import Client

SHIFTS = f"/teams/{NETWORK_ADMINS}/schedule/shifts"


async def seed(client: Client) -> None:
    now = await client.now()
    tenant = client.sim.tenant
    tenant.add_member(NETWORK_ADMINS, BOB)
    tenant.add_member(NETWORK_ADMINS, CAROL)
    tenant.add_shift(NETWORK_ADMINS, BOB, now - timedelta(hours=2), now + timedelta(hours=6))
    tenant.add_shift(NETWORK_ADMINS, CAROL, now + timedelta(hours=10), now + timedelta(hours=18))
    tenant.add_shift(NETWORK_ADMINS, ALICE, now - timedelta(hours=1), now + timedelta(hours=1), shared=False)


def window(now_iso: str) -> dict[str, str]:
    return {"$filter": f"sharedShift/startDateTime ge 2000-01-01T00:00:00Z and sharedShift/endDateTime le {now_iso}"}


async def test_an_app_token_without_ms_app_acts_as_is_refused_as_graph_does(client: Client) -> None:
    await seed(client)
    answer = await client.graph("GET", SHIFTS)
    assert answer.status == 403 and answer.code == "Forbidden"
    assert answer.message == "MS-APP-ACTS-AS header needs to be set for application context requests."


async def test_the_shifts_come_in_the_documented_shape_and_the_filter_bounds_them(client: Client) -> None:
    await seed(client)
    everything = await client.graph("GET", SHIFTS, headers={"MS-APP-ACTS-AS": BOB})
    assert everything.status == 200, everything.body
    rows = everything.body["value"]
    assert {r["userId"] for r in rows} == {BOB, CAROL, ALICE}
    bob = next(r for r in rows if r["userId"] == BOB)
    assert bob["id"].startswith("SHFT_") and bob["schedulingGroupId"].startswith("TAG_")
    assert set(bob["sharedShift"]) >= {"displayName", "startDateTime", "endDateTime", "theme", "activities"}
    assert next(r for r in rows if r["userId"] == ALICE)["sharedShift"] is None  # a draft, not shared

    now = await client.now()
    until = (now + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bounded = await client.graph("GET", SHIFTS, headers={"MS-APP-ACTS-AS": BOB}, params=window(until))
    assert bounded.status == 200 and [r["userId"] for r in bounded.body["value"]] == [BOB]


async def test_a_property_named_twice_in_the_filter_is_refused(client: Client) -> None:
    await seed(client)
    twice = "sharedShift/startDateTime ge 2019-05-09T00:00:00Z and sharedShift/startDateTime le 2019-05-09T23:59:59Z"
    answer = await client.graph("GET", SHIFTS, headers={"MS-APP-ACTS-AS": BOB}, params={"$filter": twice})
    assert answer.status == 400 and answer.code == "BadRequest"


async def test_a_team_the_acting_user_is_not_in_or_without_a_schedule_is_not_found(client: Client) -> None:
    await seed(client)
    outsider = await client.graph("GET", SHIFTS, headers={"MS-APP-ACTS-AS": "aaaaaaaa-0000-4000-8000-000000000099"})
    assert outsider.status == 404 and "team was not found" in outsider.message
    no_schedule = await client.graph(
        "GET", "/teams/bbbbbbbb-0000-4000-8000-000000000001/schedule/shifts", headers={"MS-APP-ACTS-AS": BOB}
    )
    assert no_schedule.status == 404


async def test_without_a_schedule_permission_the_app_is_refused(client: Client) -> None:
    await seed(client)
    app = next(iter(client.sim.tenant.apps.values()))
    app.roles = frozenset(r for r in app.roles if not r.startswith("Schedule."))
    answer = await client.graph("GET", SHIFTS, headers={"MS-APP-ACTS-AS": BOB})
    assert answer.status == 403 and "Schedule.Read.All" in answer.message
