"""graph.wire for issue 14 points 1 and 2: a scheduled activation's start on the wire, its schedule read back as the
request to cancel (whatever status PIM gives it), and checkMemberGroups' answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Access, RequestStatus
from core.ports import ActivationInput
from graph import wire

START = datetime(2026, 12, 24, 7, 0, tzinfo=UTC)


def test_a_scheduled_activation_sends_its_start_in_utc() -> None:
    body = wire.activation_body(ActivationInput("g1", Access.MEMBER, "u1", START, timedelta(hours=2)))
    assert body["scheduleInfo"] == {
        "startDateTime": "2026-12-24T07:00:00.000Z",
        "expiration": {"type": "afterDuration", "duration": "PT2H"},
    }


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("ScheduleCreated", RequestStatus.SCHEDULE_CREATED),
        ("Granted", RequestStatus.GRANTED),
        ("PendingScheduleCreation", RequestStatus.PENDING_SCHEDULE_CREATION),
        ("Provisioned", RequestStatus.PROVISIONED),
        ("somethingNew", RequestStatus.OTHER),
    ],
)
def test_a_schedule_reads_as_the_request_that_made_it_whatever_its_status(raw: str, status: RequestStatus) -> None:
    item = {
        "id": "g1_member_r1",
        "createdUsing": "r1",
        "status": raw,
        "principalId": "u1",
        "groupId": "g1",
        "accessId": "Member",  # Graph's casing varies (reference §2)
        "assignmentType": "activated",
        "group": {"id": "g1", "displayName": "Exchange-Admins"},
        "scheduleInfo": {
            "startDateTime": "2026-12-24T07:00:00Z",
            "expiration": {"type": "afterDateTime", "endDateTime": "2026-12-24T09:00:00Z"},
        },
    }
    parsed = wire.parse_scheduled(item)
    assert parsed is not None
    request, group = parsed
    assert (request.id, request.status, request.raw_status, request.access) == ("r1", status, raw, Access.MEMBER)
    assert (request.start, request.ends, request.duration) == (START, START + timedelta(hours=2), timedelta(hours=2))
    assert group.display_name == "Exchange-Admins"


def test_a_schedule_without_the_request_that_made_it_is_left_out() -> None:
    assert wire.parse_scheduled({"groupId": "g1", "accessId": "member", "scheduleInfo": {}}) is None


def test_check_member_groups_answer_and_paths() -> None:
    assert wire.parse_member_groups({"value": ["g1", 3, None]}) == ["g1"]
    assert wire.parse_member_groups({"value": None}) == []
    assert wire.check_member_groups_path("u1") == "/users/u1/checkMemberGroups"
    assert wire.group_owners_query("g1") == ("/groups/g1/owners", {"$select": "id"})
    path, params = wire.activated_schedules_query("u'1")
    assert (path, params["$filter"]) == (
        wire.ASSIGNMENT_SCHEDULES,
        "principalId eq 'u''1' and assignmentType eq 'activated'",
    )
