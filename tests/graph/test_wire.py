from datetime import UTC, datetime, timedelta

import pytest

from core.feed import ScheduleKind
from core.models import Access, ApproverRef, RequestStatus, Ticket
from core.ports import ActivationInput
from graph import wire

GROUP = "7e526275-97a8-4dc6-932a-4db521cccf96"
USER = "3cce9d87-3986-4f19-8335-7ed075408ca2"
TARGET = {
    "caller": "EndUser",
    "operations": ["All"],
    "level": "Assignment",
    "inheritableSettings": [],
    "enforcedSettings": [],
}


def policy_page(*rules: dict[str, object], access: str = "member") -> dict[str, object]:
    """A `roleManagementPolicyAssignments?$expand=policy($expand=rules)` page as in reference §6.2."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicyAssignments(policy(rules()))",
        "value": [
            {
                "id": f"Group_{GROUP}_c2e2ba31_{access}",
                "policyId": f"Group_{GROUP}_c2e2ba31",
                "scopeId": GROUP,
                "scopeType": "Group",
                "roleDefinitionId": access,
                "policy": {
                    "id": f"Group_{GROUP}_c2e2ba31",
                    "displayName": "Group",
                    "scopeId": GROUP,
                    "scopeType": "Group",
                    "rules": list(rules),
                },
            }
        ],
    }


def expiration(maximum: str, required: bool = True) -> dict[str, object]:
    return {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": required,
        "maximumDuration": maximum,
        "target": TARGET,
    }


def enablement(*enabled: str) -> dict[str, object]:
    return {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_EndUser_Assignment",
        "enabledRules": list(enabled),
        "target": TARGET,
    }


def approval(
    required: bool,
    approvers: list[dict[str, object]],
    requestor_justification: bool = False,
    approver_justification: bool = True,
) -> dict[str, object]:
    return {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
        "id": "Approval_EndUser_Assignment",
        "target": TARGET,
        "setting": {
            "isApprovalRequired": required,
            "isApprovalRequiredForExtension": False,
            "isRequestorJustificationRequired": requestor_justification,
            "approvalMode": "SingleStage",
            "approvalStages": [
                {
                    "approvalStageTimeOutInDays": 1,
                    "isApproverJustificationRequired": approver_justification,
                    "escalationTimeInMinutes": 0,
                    "isEscalationEnabled": False,
                    "primaryApprovers": approvers,
                    "escalationApprovers": [],
                }
            ],
        },
    }


def auth_context(enabled: bool, value: str | None) -> dict[str, object]:
    return {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule",
        "id": "AuthenticationContext_EndUser_Assignment",
        "isEnabled": enabled,
        "claimValue": value,
        "target": TARGET,
    }


NOTIFICATION = {
    "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
    "id": "Notification_Approver_EndUser_Assignment",
    "notificationType": "Email",
    "recipientType": "Approver",
    "notificationLevel": "All",
    "isDefaultRecipientsEnabled": True,
    "notificationRecipients": [],
    "target": TARGET,
}
ADMIN_EXPIRATION = {**expiration("P365D"), "id": "Expiration_Admin_Eligibility"}


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("PT8H", timedelta(hours=8)),
        ("PT1H45M", timedelta(hours=1, minutes=45)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT5M", timedelta(minutes=5)),
        ("PT90S", timedelta(seconds=90)),
        ("P365D", timedelta(days=365)),
        ("P2W", timedelta(days=14)),
        ("pt2h", timedelta(hours=2)),
    ],
)
def test_iso_durations_parse(text: str, delta: timedelta) -> None:
    assert wire.parse_duration(text) == delta


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=8), "PT8H"),
        (timedelta(hours=1, minutes=45), "PT1H45M"),
        (timedelta(days=1), "P1D"),
        (timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
        (timedelta(seconds=90), "PT1M30S"),
        (timedelta(seconds=1.5), "PT1.5S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_iso_durations_format_and_round_trip(delta: timedelta, text: str) -> None:
    assert wire.format_duration(delta) == text
    assert wire.parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "P", "PT", "8H", "P1DT", "PTXH", "1 hour"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        wire.parse_duration(text)


def test_graph_timestamps() -> None:
    assert wire.parse_datetime("2023-02-07T07:05:55.3404527Z") == datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)
    assert wire.parse_datetime("2023-02-07T08:05:55+01:00") == datetime(2023, 2, 7, 7, 5, 55, tzinfo=UTC)
    assert wire.parse_datetime("0001-01-01T08:00:00Z") is None
    assert wire.parse_datetime(None) is None
    assert wire.format_datetime(datetime(2023, 2, 8, 7, 43, tzinfo=UTC)) == "2023-02-08T07:43:00.000Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Graph's DateTimeOffset: 7 fraction digits (cut to Python's 6, not rounded), 3, none; Z, z or an offset.
        ("2023-02-07T07:05:55.3404527Z", datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)),
        ("2023-02-07T07:05:55.9999999Z", datetime(2023, 2, 7, 7, 5, 55, 999999, tzinfo=UTC)),
        ("2023-02-07T07:05:55.123Z", datetime(2023, 2, 7, 7, 5, 55, 123000, tzinfo=UTC)),
        ("2023-02-07T07:05:55Z", datetime(2023, 2, 7, 7, 5, 55, tzinfo=UTC)),
        ("2023-02-07T07:05:55.3404527z", datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)),
        ("2023-02-07T09:05:55.3404527+02:00", datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)),
        ("2023-02-07T07:05:55.34045271234Z", datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)),
        (" 2023-02-07T07:05:55Z ", datetime(2023, 2, 7, 7, 5, 55, tzinfo=UTC)),
        ("2023-02-07T07:05:55", datetime(2023, 2, 7, 7, 5, 55, tzinfo=UTC)),  # no zone: UTC
        ("2023-02-07T07:05:55.3404527", datetime(2023, 2, 7, 7, 5, 55, 340452, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),  # Graph's "unset"
        ("0001-01-01T00:00:00.0000000Z", None),
        ("not a date", None),
        ("2023-02-30T07:05:55Z", None),
        ("", None),
        (20230207, None),
    ],
)
def test_graph_timestamps_in_every_form_graph_sends(text: object, expected: datetime | None) -> None:
    parsed = wire.parse_datetime(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


def test_reference_default_policy() -> None:
    page = policy_page(
        expiration("PT8H"),
        enablement("Justification"),
        approval(False, []),
        auth_context(False, None),
        NOTIFICATION,
        ADMIN_EXPIRATION,
    )
    policy = wire.parse_policy(page, GROUP, Access.MEMBER)
    assert policy is not None
    assert policy.maximum_duration == timedelta(hours=8) and policy.expiration_required
    assert policy.justification_required and not policy.ticket_required and not policy.mfa_required
    assert not policy.approval_required and policy.approvers == ()
    assert policy.authentication_context is None


def test_policy_with_everything_switched_on() -> None:
    approvers = [
        {"@odata.type": "#microsoft.graph.singleUser", "userId": "bob", "description": "Bob"},
        {"@odata.type": "#microsoft.graph.groupMembers", "groupId": "pim-approvers", "description": "PIM-Approvers"},
        {"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1},
    ]
    page = policy_page(
        expiration("PT1H45M", required=False),
        enablement("MultiFactorAuthentication", "Ticketing"),
        approval(True, approvers, approver_justification=True),
        auth_context(True, "c1"),
    )
    policy = wire.parse_policy(page, GROUP, Access.MEMBER)
    assert policy is not None
    assert policy.maximum_duration == timedelta(hours=1, minutes=45) and not policy.expiration_required
    assert policy.mfa_required and policy.ticket_required and not policy.justification_required
    assert policy.approval_required and policy.approver_justification_required
    assert policy.approvers == (ApproverRef("bob", False, "Bob"), ApproverRef("pim-approvers", True, "PIM-Approvers"))
    assert policy.authentication_context == "c1"


def test_requestor_justification_flag_counts_only_when_approval_is_required() -> None:
    with_approval = policy_page(expiration("PT4H"), enablement(), approval(True, [], requestor_justification=True))
    without = policy_page(expiration("PT4H"), enablement(), approval(False, [], requestor_justification=True))
    assert (policy := wire.parse_policy(with_approval, GROUP, Access.MEMBER)) and policy.justification_required
    assert (policy := wire.parse_policy(without, GROUP, Access.MEMBER)) and not policy.justification_required


def test_disabled_auth_context_is_ignored_and_rule_ids_are_case_insensitive() -> None:
    rule = auth_context(False, "c1")
    page = policy_page({**enablement("justification"), "id": "ENABLEMENT_ENDUSER_ASSIGNMENT"}, rule)
    policy = wire.parse_policy(page, GROUP, Access.MEMBER)
    assert policy is not None and policy.authentication_context is None and policy.justification_required


def test_policy_of_the_other_access_is_not_taken() -> None:
    assert wire.parse_policy(policy_page(expiration("PT1H"), access="owner"), GROUP, Access.MEMBER) is None
    assert wire.parse_policy({"value": []}, GROUP, Access.MEMBER) is None


def test_eligibility_schedule_direct_and_inherited() -> None:
    item = {
        "@odata.type": "#microsoft.graph.privilegedAccessGroupEligibilitySchedule",
        "id": f"{GROUP}_member_f9003cf6",
        "status": "Provisioned",
        "scheduleInfo": {
            "startDateTime": "2022-04-11T19:31:50.5613964Z",
            "recurrence": None,
            "expiration": {"type": "noExpiration", "endDateTime": None, "duration": None},
        },
        "principalId": USER,
        "accessId": "member",
        "groupId": GROUP,
        "memberType": "Direct",
        "group": {"id": GROUP, "displayName": "Exchange-Admins"},
    }
    direct = wire.parse_eligibility(item)
    assert direct is not None and not direct.inherited and direct.end is None and direct.access is Access.MEMBER
    assert direct.group.display_name == "Exchange-Admins"
    inherited = wire.parse_eligibility(
        {
            **item,
            "memberType": "Group",
            "accessId": "Owner",
            "scheduleInfo": {
                "startDateTime": "2025-01-01T00:00:00Z",
                "expiration": {"type": "afterDateTime", "endDateTime": "2025-06-01T00:00:00Z"},
            },
        }
    )
    assert inherited is not None and inherited.inherited and inherited.access is Access.OWNER
    assert inherited.end == datetime(2025, 6, 1, tzinfo=UTC)


def test_eligibility_by_duration_and_unknown_access_is_skipped() -> None:
    item = {
        "groupId": GROUP,
        "accessId": "member",
        "memberType": "direct",
        "scheduleInfo": {
            "startDateTime": "2025-01-01T00:00:00Z",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
        },
    }
    eligibility = wire.parse_eligibility(item)
    assert eligibility is not None and eligibility.end == datetime(2025, 1, 31, tzinfo=UTC)
    assert eligibility.group.display_name == ""  # not expanded
    assert wire.parse_eligibility({**item, "accessId": "unknownFutureValue"}) is None


def test_assignment_instances_activated_versus_assigned() -> None:
    item = {
        "@odata.type": "#microsoft.graph.privilegedAccessGroupAssignmentScheduleInstance",
        "id": "x",
        "startDateTime": "2025-03-01T08:00:00Z",
        "endDateTime": "2025-03-01T10:00:00Z",
        "accessId": "member",
        "principalId": USER,
        "groupId": GROUP,
        "memberType": "Direct",
        "assignmentType": "Activated",
        "assignmentScheduleId": "x",
    }
    active = wire.parse_active(item)
    assert active is not None and active.activated and active.end == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assigned = wire.parse_active({**item, "assignmentType": "assigned", "startDateTime": None, "endDateTime": None})
    assert assigned is not None and not assigned.activated and assigned.end is None


def test_request_from_the_reference_example() -> None:
    item = {
        "id": "6aacaee8-4089-4048-9510-3119367fc943",
        "status": "Provisioned",
        "completedDateTime": "2023-02-07T07:05:55.3404527Z",
        "createdDateTime": "2023-02-07T07:05:53.7895614Z",
        "approvalId": None,
        "customData": None,
        "createdBy": {"user": {"id": USER}},
        "action": "selfActivate",
        "isValidationOnly": False,
        "justification": "Activate assignment.",
        "scheduleInfo": {
            "startDateTime": "2023-02-07T07:05:55.3404527Z",
            "expiration": {"type": "afterDuration", "duration": "PT2H"},
        },
        "ticketInfo": {"ticketNumber": None, "ticketSystem": None},
        "accessId": "member",
        "principalId": USER,
        "groupId": GROUP,
        "targetScheduleId": f"{GROUP}_member_6aacaee8",
    }
    request = wire.parse_request(item)
    assert request.status is RequestStatus.PROVISIONED and request.raw_status == "Provisioned"
    assert request.duration == timedelta(hours=2) and request.ticket is None
    assert request.ends == datetime(2023, 2, 7, 9, 5, 55, 340452, tzinfo=UTC)
    assert request.created == datetime(2023, 2, 7, 7, 5, 53, 789561, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PendingApproval", RequestStatus.PENDING_APPROVAL),
        ("pendingapproval", RequestStatus.PENDING_APPROVAL),
        ("Revoked", RequestStatus.REVOKED),
        ("PendingAdminDecision", RequestStatus.OTHER),
        ("", RequestStatus.OTHER),
    ],
)
def test_request_status_is_case_insensitive_and_unknown_is_other(raw: str, status: RequestStatus) -> None:
    request = wire.parse_request({"id": "r", "status": raw, "groupId": GROUP, "accessId": "member"})
    assert request.status is status and request.raw_status == raw


def test_self_activate_body() -> None:
    start = datetime(2023, 2, 8, 7, 43, tzinfo=UTC)
    body = wire.activation_body(
        ActivationInput(
            GROUP,
            Access.MEMBER,
            USER,
            start,
            timedelta(hours=2),
            "INC-4711 mailbox restore",
            Ticket("09876", "ServiceNow"),
        )
    )
    assert body == {
        "accessId": "member",
        "principalId": USER,
        "groupId": GROUP,
        "action": "selfActivate",
        "scheduleInfo": {
            "startDateTime": "2023-02-08T07:43:00.000Z",
            "expiration": {"type": "afterDuration", "duration": "PT2H"},
        },
        "justification": "INC-4711 mailbox restore",
        "ticketInfo": {"ticketNumber": "09876", "ticketSystem": "ServiceNow"},
    }
    bare = wire.activation_body(ActivationInput(GROUP, Access.OWNER, USER, start, timedelta(minutes=30)))
    assert "justification" not in bare and "ticketInfo" not in bare and bare["accessId"] == "owner"


def test_self_deactivate_body() -> None:
    assert wire.deactivation_body(GROUP, Access.MEMBER, USER) == {
        "accessId": "member",
        "principalId": USER,
        "groupId": GROUP,
        "action": "selfDeactivate",
    }


def test_queries_carry_the_required_filters() -> None:
    path, params = wire.eligibility_schedules_query(USER)
    assert path.endswith("/group/eligibilitySchedules")
    assert params == {"$filter": f"principalId eq '{USER}'", "$expand": "group($select=id,displayName)"}
    assert wire.pending_requests_query(USER)[1]["$filter"] == f"principalId eq '{USER}' and status eq 'PendingApproval'"
    assert wire.policy_query(GROUP, Access.OWNER)[1] == {
        "$filter": f"scopeId eq '{GROUP}' and scopeType eq 'Group' and roleDefinitionId eq 'owner'",
        "$expand": "policy($expand=rules)",
    }
    assert (
        wire.requests_for_group_query("o'brien", GROUP)[1]["$filter"]
        == f"principalId eq 'o''brien' and groupId eq '{GROUP}'"
    )


# ---- the admin feed's eligible side: schedules, current and scheduled ----------------------------------------------


def test_the_feed_reads_eligibility_schedules_and_assignment_instances_by_group() -> None:
    path, params = wire.group_state_query(ScheduleKind.ELIGIBLE, GROUP)
    assert path.endswith("/group/eligibilitySchedules")
    assert params == {
        "$filter": f"groupId eq '{GROUP}'",
        "$select": "id,principalId,groupId,accessId,memberType,status,scheduleInfo",
    }
    path, params = wire.group_state_query(ScheduleKind.ACTIVE, GROUP)
    assert path.endswith("/group/assignmentScheduleInstances") and params["$filter"] == f"groupId eq '{GROUP}'"


def schedule_row(expiration: dict[str, object], status: str = "Provisioned") -> dict[str, object]:
    """An eligibilitySchedule row as the feed selects it (reference §3.4)."""
    return {
        "id": f"{GROUP}_member_b1e0",
        "principalId": USER,
        "groupId": GROUP,
        "accessId": "member",
        "memberType": "Direct",
        "status": status,
        "scheduleInfo": {"startDateTime": "2026-12-01T09:00:00Z", "recurrence": None, "expiration": expiration},
    }


@pytest.mark.parametrize(
    ("expiration", "end"),
    [
        ({"type": "afterDateTime", "endDateTime": "2027-03-01T09:00:00Z", "duration": None}, datetime(2027, 3, 1, 9)),
        ({"type": "afterDuration", "endDateTime": None, "duration": "P90D"}, datetime(2027, 3, 1, 9)),
        ({"type": "noExpiration", "endDateTime": None, "duration": None}, None),
    ],
)
def test_an_eligibility_schedule_is_a_window_with_its_own_start(
    expiration: dict[str, object], end: datetime | None
) -> None:
    item = wire.parse_schedule_item(ScheduleKind.ELIGIBLE, schedule_row(expiration))
    assert item is not None
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert (item.start, item.end) == (start, end.replace(tzinfo=UTC) if end else None)
    assert item.schedule_id == item.id == f"{GROUP}_member_b1e0"
    assert (item.principal_id, item.group_id, item.access, item.member_type) == (USER, GROUP, Access.MEMBER, "direct")


@pytest.mark.parametrize("status", ["Revoked", "canceled", "Denied", "Failed"])
def test_a_schedule_that_grants_nothing_is_not_an_item(status: str) -> None:
    assert wire.parse_schedule_item(ScheduleKind.ELIGIBLE, schedule_row({"type": "noExpiration"}, status)) is None


def test_statuses_and_access_are_read_in_any_case_and_unknown_ones_are_named_so() -> None:
    for status in RequestStatus:
        assert wire.parse_status(status.value) is status
        assert wire.parse_status(status.value.upper()) is status
    assert wire.parse_status("PendingSomethingNew") is RequestStatus.OTHER
    assert wire.parse_status(None) is RequestStatus.OTHER
    assert wire.parse_access("member") is Access.MEMBER
    assert wire.parse_access("Owner") is Access.OWNER
    assert wire.parse_access("guest") is None
    assert wire.parse_access(1) is None
