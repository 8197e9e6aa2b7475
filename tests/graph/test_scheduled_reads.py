"""GraphPimDirectory.scheduled and .holds against a scripted Graph: a scheduled activation is found by either witness
(its schedule, or its request in Granted / ScheduleCreated), one refused read costs nothing, and the membership check
is one app-only checkMemberGroups (the owners for ownership)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.errors import PermissionDenied
from core.models import Access
from graph.client import GraphClient
from graph.pim import GraphPimDirectory
from tests.fakes.graphstub import BASE, Call, FixedClock, GraphStub, Sleeps, app_token, error

PIM = "/identityGovernance/privilegedAccess/group"
ALICE, EXCHANGE = "a11ce", "e1e1"
NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)


def row(request_id: str, start: datetime, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "principalId": ALICE,
        "groupId": EXCHANGE,
        "accessId": "member",
        "group": {"id": EXCHANGE, "displayName": "Exchange-Admins"},
        "scheduleInfo": {
            "startDateTime": start.isoformat(),
            "expiration": {"type": "afterDuration", "duration": "PT1H"},
        },
        **extra,
    }


def directory(stub: GraphStub) -> GraphPimDirectory:
    client = GraphClient(httpx.AsyncClient(transport=stub.transport()), BASE, app_token, sleep=Sleeps())
    return GraphPimDirectory(client, FixedClock(NOW))


def requests_in(by_status: dict[str, list[dict[str, Any]]]) -> Any:
    def answer(call: Call) -> dict[str, Any]:
        status = call.query["$filter"].rsplit("'", 2)[-2]
        return {"value": by_status.get(status, [])}

    return answer


async def test_a_request_granted_for_later_is_found_without_its_schedule() -> None:
    stub = GraphStub()
    stub.on("GET", f"{PIM}/assignmentSchedules", {"value": []})
    granted = row("r1", LATER, "Granted", id="r1", action="selfActivate")
    started = row("r0", NOW - timedelta(hours=1), "Granted", id="r0", action="selfActivate")
    assigned = row("r2", LATER, "Granted", id="r2", action="adminAssign")
    stub.on("GET", f"{PIM}/assignmentScheduleRequests", requests_in({"Granted": [granted, started, assigned]}))
    [(request, group)] = await directory(stub).scheduled(ALICE)
    assert (request.id, request.raw_status, request.start, group.display_name) == (
        "r1", "Granted", LATER, "Exchange-Admins"
    )  # fmt: skip
    assert stub.round_trips == 1  # the three reads in one $batch, all app-only
    assert all(c.in_batch for c in stub.sent("GET"))


async def test_a_schedule_alone_is_enough_and_a_refused_read_costs_nothing() -> None:
    stub = GraphStub()
    stub.on("GET", f"{PIM}/assignmentSchedules", {"value": [row("s", LATER, "ScheduleCreated", createdUsing="r9")]})
    stub.on("GET", f"{PIM}/assignmentScheduleRequests", error(400, "BadRequest", "status filter not supported"))
    [(request, _)] = await directory(stub).scheduled(ALICE)
    assert (request.id, request.raw_status) == ("r9", "ScheduleCreated")


async def test_every_read_refused_is_the_refusal() -> None:
    stub = GraphStub()
    stub.on("GET", f"{PIM}/assignmentSchedules", error(403, "Forbidden", "no"))
    stub.on("GET", f"{PIM}/assignmentScheduleRequests", error(403, "Forbidden", "no"))
    with pytest.raises(PermissionDenied):
        await directory(stub).scheduled(ALICE)


async def test_holds_asks_check_member_groups_for_membership_and_the_owners_for_ownership() -> None:
    stub = GraphStub()
    stub.on("POST", f"/users/{ALICE}/checkMemberGroups", lambda call: {"value": list(call.body["groupIds"])})
    stub.on("GET", f"/groups/{EXCHANGE}/owners", {"value": [{"id": "someone-else"}]})
    pim = directory(stub)
    assert await pim.holds(EXCHANGE, ALICE, Access.MEMBER)
    assert not await pim.holds(EXCHANGE, ALICE, Access.OWNER)
    [check] = stub.sent("POST")
    assert check.body == {"groupIds": [EXCHANGE]}
    assert check.headers["Authorization"] == "Bearer app-token"
