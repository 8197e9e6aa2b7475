"""Fixed domain objects and the card for every golden state. Fixed clock, fixed zone: the cards are deterministic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cards import activation_card, deactivation_card, help_card, needs_input_card, status_card, step_up_card
from cards.approval import ApprovalView, approval_card
from core.errors import (
    DirectoryUnavailable,
    DurationTooLong,
    NotActive,
    NotEligible,
    StepUpRequired,
    TooSoonToDeactivate,
)
from core.models import Access, ActiveAssignment, Decision, Eligibility, Group, PimRequest, RequestStatus, Ticket
from core.outcomes import (
    Activated,
    AwaitingApproval,
    Deactivated,
    Failed,
    NeedsInput,
    Refused,
    StatusView,
)

TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 22, 13, 5, tzinfo=UTC)  # Sun 22 Nov 2026, 14:05 in Berlin
USER = "11111111-2222-3333-4444-555555555555"

EXCHANGE = Group("7d2a1c3e-0b5f-4e59-9a1b-3c4d5e6f7a80", "Exchange-Admins")
TEAMS = Group("1b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e", "Teams Admins")
SECOPS = Group("5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716", "Security-Operators")
TIER0 = Group("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "Tier0-Break-Glass")
HR = Group("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "HR-Data-Readers")


def request(
    rid: str,
    group: Group,
    access: Access = Access.MEMBER,
    status: RequestStatus = RequestStatus.PROVISIONED,
    duration: timedelta | None = timedelta(hours=2),
    action: str = "selfActivate",
) -> PimRequest:
    return PimRequest(
        id=rid,
        status=status,
        action=action,
        group_id=group.id,
        access=access,
        principal_id=USER,
        created=NOW,
        start=NOW,
        duration=duration,
    )


def activated_member() -> Activated:
    return Activated(
        EXCHANGE,
        Access.MEMBER,
        request("a6f3c2d1-0e9b-4a8c-b7d6-e5f4a3b2c1d0", EXCHANGE),
        NOW,
        NOW + timedelta(hours=2),
        timedelta(hours=2),
    )


def activated_owner_policy_max() -> Activated:
    return Activated(
        TEAMS,
        Access.OWNER,
        request("b7e4d3c2-1f0a-4b9d-8c7e-f6a5b4c3d2e1", TEAMS, Access.OWNER, duration=timedelta(hours=8)),
        NOW,
        NOW + timedelta(hours=8),
        timedelta(hours=8),
        duration_was_policy_maximum=True,
    )


def awaiting_approval() -> AwaitingApproval:
    return AwaitingApproval(
        SECOPS,
        Access.MEMBER,
        request("c8f5e4d3-2a1b-4cae-9d8f-a7b6c5d4e3f2", SECOPS, status=RequestStatus.PENDING_APPROVAL),
        timedelta(hours=1),
        ("Bob Builder", "PIM-Approvers"),
        NOW + timedelta(hours=24),
    )


def over_max() -> Refused:
    error = DurationTooLong(timedelta(hours=10), timedelta(hours=8)).for_group(EXCHANGE.display_name, Access.MEMBER)
    return Refused(EXCHANGE.display_name, Access.MEMBER, error, EXCHANGE, timedelta(hours=10))


def unavailable() -> Failed:
    return Failed(EXCHANGE.display_name, Access.MEMBER, DirectoryUnavailable("timeout", request_id="req-42"))


def needs(need_justification: bool, need_ticket: bool, **kw: Any) -> NeedsInput:
    duration = kw.pop("duration", timedelta(hours=1))
    return NeedsInput(HR, Access.MEMBER, duration, need_justification, need_ticket, **kw)


def status_full() -> StatusView:
    eligible = (
        Eligibility(EXCHANGE, Access.MEMBER, NOW - timedelta(days=30), NOW + timedelta(days=150)),
        Eligibility(TEAMS, Access.OWNER, NOW - timedelta(days=10), None),
        Eligibility(SECOPS, Access.MEMBER, NOW - timedelta(days=1), NOW + timedelta(days=60), inherited=True),
        Eligibility(HR, Access.MEMBER, NOW + timedelta(days=2), NOW + timedelta(days=400)),
    )
    active = (
        ActiveAssignment(EXCHANGE, Access.MEMBER, NOW - timedelta(minutes=20), NOW + timedelta(minutes=100), True),
        ActiveAssignment(TIER0, Access.MEMBER, None, None, False),
        ActiveAssignment(HR, Access.OWNER, NOW - timedelta(days=3), NOW + timedelta(days=27), False),
    )
    pending = (
        PimRequest(
            id="c8f5e4d3-2a1b-4cae-9d8f-a7b6c5d4e3f2",
            status=RequestStatus.PENDING_APPROVAL,
            action="selfActivate",
            group_id=SECOPS.id,
            access=Access.MEMBER,
            principal_id=USER,
            created=NOW - timedelta(minutes=12),
            duration=timedelta(hours=1),
        ),
    )
    names = {g.id: g.display_name for g in (EXCHANGE, TEAMS, SECOPS, HR, TIER0)}
    return StatusView(eligible, active, pending, names, NOW)


def status_empty() -> StatusView:
    return StatusView((), (), (), {}, NOW)


def approval_view(**kw: Any) -> ApprovalView:
    fields: dict[str, Any] = {
        "request_id": "c3b2a1f0-9e8d-4c7b-8a69-5f4e3d2c1b0a",
        "requester_name": "Alice Admin",
        "group_name": SECOPS.display_name,
        "access": Access.MEMBER,
        "duration": timedelta(hours=2),
        "requested_at": NOW,
        "expires_at": NOW + timedelta(hours=24),
        "justification": "INC-4711 containment",
        "ticket": "INC-4711",
        "reason_required": True,
    }
    fields.update(kw)
    return ApprovalView(**fields)


APPROVER_TEAMS_IDS = ["29:bob", "29:carol"]

# name -> card; each is a golden file tests/cards/golden/<name>.json
GOLDEN: dict[str, Callable[[], dict[str, Any]]] = {
    "activation_member": lambda: activation_card([activated_member()], TZ),
    "activation_owner_policy_max": lambda: activation_card([activated_owner_policy_max()], TZ),
    "activation_awaiting_approval": lambda: activation_card([awaiting_approval()], TZ),
    "activation_over_max": lambda: activation_card([over_max()], TZ),
    "activation_unavailable": lambda: activation_card([unavailable()], TZ),
    "activation_mixed": lambda: activation_card(
        [
            activated_member(),
            awaiting_approval(),
            needs(True, False),
            Refused(
                "Exchnage-Admns",
                Access.MEMBER,
                NotEligible("Exchnage-Admns", ("Exchange-Admins", "Teams Admins")),
            ),
            over_max(),
            unavailable(),
        ],
        TZ,
    ),
    "approval_approver": lambda: approval_card(
        approval_view(), TZ, actionable=True, refresh_user_ids=APPROVER_TEAMS_IDS
    ),
    "approval_waiting_read_only": lambda: approval_card(
        approval_view(), TZ, actionable=False, notice="You are not an approver for Security-Operators."
    ),
    "approval_approved": lambda: approval_card(
        approval_view(
            decision=Decision.APPROVE,
            decided_by_name="Bob Builder",
            decided_at=NOW + timedelta(minutes=57),
            decided_reason="ok for the patch window",
        ),
        TZ,
        actionable=True,
        refresh_user_ids=APPROVER_TEAMS_IDS,
    ),
    "approval_denied_notice": lambda: approval_card(
        approval_view(
            decision=Decision.DENY,
            decided_by_name="Carol Chen",
            decided_at=NOW + timedelta(minutes=3),
            decided_reason="no change ticket",
            ticket=None,
            reason_required=False,
        ),
        TZ,
        actionable=False,
        notice="This request was already denied by Carol Chen.",
    ),
    "needs_justification": lambda: needs_input_card(needs(True, False, ticket=Ticket("INC-4711")), TZ),
    "needs_ticket": lambda: needs_input_card(
        needs(False, True, duration=None, justification="quarterly access review"), TZ
    ),
    "needs_both": lambda: needs_input_card(needs(True, True), TZ),
    "deactivation_done": lambda: deactivation_card(
        [Deactivated(EXCHANGE, Access.MEMBER, request("d9a6f5e4-3b2c-4d1e-8f9a-b8c7d6e5f4a3", EXCHANGE))], TZ
    ),
    "deactivation_too_soon": lambda: deactivation_card(
        [
            Refused(
                EXCHANGE.display_name,
                Access.MEMBER,
                TooSoonToDeactivate(NOW + timedelta(minutes=3)),
                EXCHANGE,
            )
        ],
        TZ,
    ),
    "deactivation_not_active": lambda: deactivation_card(
        [Refused(TEAMS.display_name, Access.MEMBER, NotActive(), TEAMS)], TZ
    ),
    "status_full": lambda: status_card(status_full(), TZ),
    "status_empty": lambda: status_card(status_empty(), TZ),
    "step_up_mfa": lambda: step_up_card(
        StepUpRequired(mfa=True), "Privileged-Role-Admins", "https://pimbot.example.com/auth/stepup/start?state=abc"
    ),
    "step_up_auth_context": lambda: step_up_card(
        StepUpRequired(mfa=False, authentication_context="c1", claims='{"access_token":{"acrs":{"value":"c1"}}}'),
        "Finance-Prod",
        "https://pimbot.example.com/auth/stepup/start?state=def",
    ),
    "help": lambda: help_card(None),
    "help_with_reason": lambda: help_card("I didn't understand “actvate”."),
}
