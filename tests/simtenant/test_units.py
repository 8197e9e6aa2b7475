"""Pure pieces: ISO 8601 parsing, the $filter/$expand grammar, the model without HTTP, the seeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from simtenant import SimClock, build_tenant
from simtenant.app import _loopback_only, create_app
from simtenant.entities import Caller, ScheduleInfo
from simtenant.errors import GraphError
from simtenant.isotime import CalendarDurationError, format_duration, format_instant, parse_duration, parse_instant
from simtenant.model import RequestInput
from simtenant.odata import parse_expand, parse_filter
from simtenant.seed import (
    ALICE,
    EXCHANGE_ADMINS,
    HELPDESK_TIER1,
    TEAMS_ADMINS,
    bench_user_id,
)


def test_instants_round_trip_with_graph_precision() -> None:
    value = datetime(2023, 2, 7, 7, 5, 53, 789561, tzinfo=UTC)
    assert format_instant(value) == "2023-02-07T07:05:53.7895610Z"
    assert parse_instant("2023-02-07T07:05:53.7895614Z") == value
    assert format_instant(value.replace(microsecond=0)) == "2023-02-07T07:05:53Z"
    assert parse_instant("2023-02-07T08:05:53+01:00") == value.replace(microsecond=0)
    assert parse_instant("2023-02-07T07:05:53") == value.replace(microsecond=0)


def test_durations() -> None:
    assert parse_duration("PT8H") == timedelta(hours=8)
    assert parse_duration("P1DT2H30M") == timedelta(days=1, hours=2, minutes=30)
    assert parse_duration("PT1.5S") == timedelta(seconds=1.5)
    assert parse_duration("P2W") == timedelta(days=14)
    with pytest.raises(CalendarDurationError):
        parse_duration("P6M")
    for bad in ("P", "PT", "8H", "P1DT", "PTxH"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(timedelta(days=365)) == "P365D"
    assert format_duration(timedelta(hours=1, minutes=45)) == "PT1H45M"


def test_filter_and_expand_grammar() -> None:
    flt = parse_filter("groupId eq 'a''b' and createdBy/user/id eq 'X' and completedDateTime eq null")
    assert flt.eq_value("GROUPID") == "a'b"
    assert flt.matches({"groupId": "A'B", "createdBy": {"user": {"id": "x"}}, "completedDateTime": None})
    assert not flt.matches({"groupId": "A'B", "createdBy": {"user": None}, "completedDateTime": None})
    for bad in ("a eq", "a eq 'x' or b eq 'y'", "a gt 1", "a eq 'x' and", "eq 'x'"):
        with pytest.raises(ValueError):
            parse_filter(bad)
    expand = parse_expand("group($select=id,displayName),policy($expand=rules)")
    assert expand["group"].select == ["id", "displayName"]
    assert "rules" in expand["policy"].expand
    with pytest.raises(ValueError):
        parse_expand("group($select=id")


def test_model_without_http() -> None:
    tenant = build_tenant("demo", clock=SimClock(frozen=True))
    alice = Caller(kind="user", app_id="x", oid=ALICE, scopes=frozenset(tenant.delegated_scopes))
    request = tenant.create_request(
        "assignment",
        alice,
        RequestInput(
            "selfActivate", ALICE, EXCHANGE_ADMINS, "member", ScheduleInfo(None, "afterDuration", None, "PT1H")
        ),
    )
    assert request.status == "Provisioned"
    assert tenant.members(EXCHANGE_ADMINS) == [ALICE]
    tenant.clock.advance(timedelta(hours=1))
    assert tenant.members(EXCHANGE_ADMINS) == []
    with pytest.raises(GraphError) as refused:
        tenant.create_request("assignment", alice, RequestInput("selfActivate", ALICE, TEAMS_ADMINS, "member"))
    assert refused.value.code == "RoleAssignmentRequestPolicyValidationFailed"


def test_bench_seed() -> None:
    tenant = build_tenant("bench:25")
    assert tenant.user(bench_user_id(25)) is not None
    assert tenant.user("bench-user-0007@contoso.test") is not None
    rows = tenant.schedules_for("eligibility", group_id=EXCHANGE_ADMINS)
    assert len(rows) == 27  # Alice member + owner, 25 bench users
    assert bench_user_id(3) == "cccccccc-0000-4000-8000-000000000003"
    inherited = tenant.schedules_for("eligibility", principal_id=ALICE, group_id=HELPDESK_TIER1)
    assert [row.member_type for row in inherited] == ["group"]


def test_python_side_clock_and_faults() -> None:
    tenant = build_tenant("demo", clock=SimClock(frozen=True))
    before = tenant.now()
    assert tenant.advance(60) == before + timedelta(seconds=60)
    fault = tenant.add_fault(path="/users/", status=429, retry_after=1)
    assert tenant.faults.take("GET", "/v1.0/users/x") is fault
    assert tenant.faults.take("GET", "/v1.0/users/x") is None  # used up


async def test_control_api_refuses_non_loopback_callers() -> None:
    app = create_app(build_tenant("empty"))
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("10.1.2.3", 4242) if name == "peername" else default
    )
    request = make_mocked_request("GET", "/_sim/stats", app=app, transport=transport)
    match = await app.router.resolve(request)
    response = await _loopback_only(request, match.handler)
    assert response.status == 403
