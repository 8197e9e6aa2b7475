"""Fixed domain objects and the card for every golden state. Fixed clock, fixed zone: the cards are deterministic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cards import (
    activation_card,
    deactivation_card,
    help_card,
    needs_input_card,
    note_card,
    signed_in_card,
    slip_card,
    status_card,
    step_up_card,
    welcome_card,
    working_card,
)
from cards.actions import InvalidCardAction
from cards.activation import settled_activation_card
from cards.approval import ApprovalView, approval_card, expiry_warning_card
from cards.cancel import WaitingRequest, cancel_question_card
from cards.export import export_summary_card
from cards.feed import FeedStatusView, feed_digest_card, feed_event_card, feed_status_card
from cards.history import history_card
from cards.wording import FEED_AUDIT_DENIED, FEED_DISCOVERY_DENIED, LATE_SIGN_IN, extension_passed
from core.audit import ExportPeriod, ExportSummary
from core.commands import parse
from core.errors import (
    AlreadyActive,
    DirectoryUnavailable,
    DurationTooLong,
    NotActive,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    StepUpInsufficient,
    StepUpRequired,
    TooSoonToDeactivate,
)
from core.feed import EndReason, EventKind, FeedEvent
from core.history import ApproverState, HistoryItem, HistoryRead, page_of
from core.models import (
    Access,
    ActiveAssignment,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    RequestStatus,
    SentWrite,
    Ticket,
    TimeStyle,
    WriteKind,
)
from core.outcomes import (
    Activated,
    AwaitingApproval,
    Deactivated,
    Failed,
    NeedsInput,
    Refused,
    StatusView,
    Unconfirmed,
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


def scheduled_member() -> Activated:
    """`activate Exchange-Admins 2h tomorrow 9:00`, taken by PIM for a later start (issue 14 point 1)."""
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Mon 23 Nov, 09:00 in Berlin
    scheduled = replace(
        request("d1c2b3a4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", EXCHANGE, status=RequestStatus.GRANTED), start=start
    )
    return Activated(
        EXCHANGE, Access.MEMBER, scheduled, start, start + timedelta(hours=2), timedelta(hours=2), scheduled=True
    )


def activated_checked(in_effect: bool) -> Activated:
    """An activation with what Graph's directory showed right after it (issue 14 point 2), and the group's note."""
    return replace(activated_member(), in_effect=in_effect, note="Exchange role groups can take up to an hour.")


def activated_across_new_year() -> Activated:
    """8 h from 17:30 on New Year's Eve in New York, read in en-US: a 12-hour clock, the month first, the end's year
    written (it is not the start's), not yet in effect with the group's note."""
    start = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
    req = request("e2f3a4b5-6c7d-4e8f-9a0b-1c2d3e4f5a6b", TEAMS, Access.OWNER, duration=timedelta(hours=8))
    return Activated(
        TEAMS,
        Access.OWNER,
        replace(req, created=start, start=start),
        start,
        start + timedelta(hours=8),
        timedelta(hours=8),
        in_effect=False,
        note="Teams can take a few minutes.",
    )


def status_scheduled() -> StatusView:
    """Nothing active, one activation scheduled for tomorrow (its state as PIM says it, a Cancel button)."""
    later = replace(scheduled_member().request, raw_status="ScheduleCreated", status=RequestStatus.SCHEDULE_CREATED)
    eligible = (Eligibility(EXCHANGE, Access.MEMBER, NOW - timedelta(days=30), NOW + timedelta(days=150)),)
    return StatusView(eligible, (), (), {EXCHANGE.id: EXCHANGE.display_name}, NOW, scheduled=(later,))


def scheduled_waiting() -> WaitingRequest:
    later = scheduled_member()
    return WaitingRequest(
        later.request.id, EXCHANGE.display_name, Access.MEMBER, later.duration, NOW, None, later.start
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


def unconfirmed(kind: WriteKind = WriteKind.ACTIVATE) -> Unconfirmed:
    write = SentWrite(kind, EXCHANGE.id, Access.MEMBER, USER, NOW, "patch window")
    return Unconfirmed(EXCHANGE, Access.MEMBER, write, timedelta(hours=2) if kind is WriteKind.ACTIVATE else None)


def not_confirmed() -> Failed:
    """The follow-up of an unconfirmed activation gave up: still unknown, never "not activated"."""
    return Failed(EXCHANGE.display_name, Access.MEMBER, OutcomeUnknown("503", write=unconfirmed().write))


def too_soon() -> Refused:
    """Deactivate clicked 1 min 40 s after an activation: PIM allows it from 5 min on (14:08:20, shown as 14:09)."""
    start = NOW - timedelta(minutes=1, seconds=40)
    error = TooSoonToDeactivate(start + timedelta(minutes=5), now=NOW, start=start, end=start + timedelta(hours=2))
    return Refused(EXCHANGE.display_name, Access.MEMBER, error, EXCHANGE)


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


def status_nothing_active() -> StatusView:
    """Eligible for three groups, nothing active: the hint names a real group; rows in effect get Activate."""
    eligible = (
        Eligibility(TEAMS, Access.MEMBER, NOW - timedelta(days=10), None),
        Eligibility(EXCHANGE, Access.MEMBER, NOW - timedelta(days=30), NOW + timedelta(days=150)),
        Eligibility(HR, Access.MEMBER, NOW + timedelta(days=2), NOW + timedelta(days=400)),
    )
    names = {g.id: g.display_name for g in (EXCHANGE, TEAMS, HR)}
    return StatusView(eligible, (), (), names, NOW)


def slip_view() -> StatusView:
    """What a slip's buttons are built from: Exchange-Admins' policy is cached (at most 30 min), Teams Admins' is not;
    HR-Data-Readers starts later; Security-Operators is active already."""
    eligible = (
        Eligibility(TEAMS, Access.MEMBER, NOW - timedelta(days=10), None),
        Eligibility(EXCHANGE, Access.MEMBER, NOW - timedelta(days=30), None),
        Eligibility(EXCHANGE, Access.OWNER, NOW - timedelta(days=30), None),
        Eligibility(HR, Access.MEMBER, NOW + timedelta(days=2), None),
        Eligibility(SECOPS, Access.MEMBER, NOW - timedelta(days=1), None),
    )
    active = (ActiveAssignment(SECOPS, Access.MEMBER, NOW - timedelta(minutes=20), NOW + timedelta(minutes=40), True),)
    names = {g.id: g.display_name for g in (EXCHANGE, TEAMS, HR, SECOPS)}
    maxima = {(EXCHANGE.id, Access.MEMBER): timedelta(minutes=30)}
    return StatusView(eligible, active, (), names, NOW, maxima)


def typo() -> Refused:
    """“activate Exchnage-Admns 2h because patching”: close to two groups, one of which the user can activate."""
    error = NotEligible("Exchnage-Admns", ("Exchange-Admins", "Teams Admins"), alternatives=[(EXCHANGE, Access.MEMBER)])
    return Refused("Exchnage-Admns", Access.MEMBER, error, None, timedelta(hours=2), "patching")


def status_empty() -> StatusView:
    return StatusView((), (), (), {}, NOW)


def approval_view(**kw: Any) -> ApprovalView:
    fields: dict[str, Any] = {
        "request_id": "c3b2a1f0-9e8d-4c7b-8a69-5f4e3d2c1b0a",
        "requester_name": "Alice Admin",
        "requester_id": "aaaaaaaa-0000-4000-8000-000000000001",
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


def waiting_request() -> WaitingRequest:
    view = approval_view()
    return WaitingRequest(
        view.request_id, view.group_name, view.access, view.duration, view.requested_at, view.expires_at
    )


# ---- the admin feed (issue 5) ----------------------------------------------------------------------------------

ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"
CAROL = "ca201000-0000-4000-8000-000000000003"
STRANGER = "5742a96e-9d3c-4b1a-8e2f-0c1d2e3f4a5b"  # in no `names` map: shown as "unknown user (5742a96e…)"
FEED_NAMES = {
    ALICE: "Alice Admin",
    BOB: "Bob Builder",
    CAROL: "Carol Chen",
    **{g.id: g.display_name for g in (EXCHANGE, TEAMS, SECOPS, TIER0, HR)},
}


def feed_event(kind: EventKind, group: Group = EXCHANGE, **kw: Any) -> FeedEvent:
    fields: dict[str, Any] = {
        "id": f"evt-{kind.value}",
        "kind": kind,
        "group_id": group.id,
        "principal_id": ALICE,
        "access": Access.MEMBER,
        "observed_at": NOW,
    }
    fields.update(kw)
    return FeedEvent(**fields)


def feed_burst(count: int) -> tuple[list[FeedEvent], dict[str, str]]:
    """A bulk assignment: `count` users made eligible for Exchange-Admins by Bob, plus a few other changes; and the
    names map that knows them all."""
    users = {f"00000000-0000-4000-8000-{i:012d}": f"User {i:03d}" for i in range(count)}
    events = [
        feed_event(
            EventKind.ELIGIBLE_CREATED,
            id=f"evt-bulk-{i}",
            principal_id=uid,
            start=NOW,
            end=NOW + timedelta(days=180),
            by=BOB,
        )
        for i, uid in enumerate(users)
    ]
    if count > 3:
        events[1] = feed_event(EventKind.ACTIVE_ASSIGNED, TIER0, id="evt-perm", principal_id=CAROL, start=NOW, by=BOB)
        events[2] = feed_event(
            EventKind.ACTIVE_ENDED,
            SECOPS,
            id="evt-end",
            start=NOW - timedelta(hours=2),
            end=NOW,
            reason=EndReason.EXPIRED,
        )
    return events, {**FEED_NAMES, **users}


def feed_status(**kw: Any) -> FeedStatusView:
    fields: dict[str, Any] = {
        "channel_name": "PIM feed",
        "group_names": tuple(g.display_name for g in (EXCHANGE, HR, SECOPS, TEAMS, TIER0)),
        "poll_interval": timedelta(minutes=1),
        "now": NOW,
        "last_success": NOW - timedelta(seconds=40),
        "events_posted": 1234,
    }
    fields.update(kw)
    return FeedStatusView(**fields)


def history_items() -> list[HistoryItem]:
    """Ten requests of the last weeks, newest first: every kind of outcome the card words."""
    base = dict(access=Access.MEMBER, justification="patch window")
    items = [
        HistoryItem("r-10", "selfDeactivate", "Revoked", EXCHANGE, created=NOW - timedelta(minutes=5), **base),
        HistoryItem("r-09", "selfActivate", "Provisioned", EXCHANGE, created=NOW - timedelta(hours=2), **base),
        HistoryItem(
            "r-08", "selfActivate", "Provisioned", SECOPS, created=NOW - timedelta(days=1), decision="approved",
            approver_id="b0b", approver_name="Bob Builder", **base,
        ),
        HistoryItem(
            "r-07", "selfActivate", "Denied", SECOPS, created=NOW - timedelta(days=2), decision="denied",
            approver_id="c4r", approver_name="Carol Chen", **base,
        ),
        HistoryItem("r-06", "selfActivate", "Canceled", SECOPS, Access.MEMBER, NOW - timedelta(days=3),
                    decision="expired"),
        HistoryItem("r-05", "selfActivate", "Canceled", TEAMS, Access.OWNER, created=NOW - timedelta(days=4)),
        HistoryItem("r-04", "adminAssign", "Provisioned", TIER0, Access.MEMBER, NOW - timedelta(days=6),
                    eligibility=True),
        HistoryItem("r-03", "selfActivate", "PendingApproval", HR, Access.MEMBER, NOW - timedelta(days=8)),
        HistoryItem("r-02", "selfActivate", "Failed", HR, Access.MEMBER, NOW - timedelta(days=9)),
        HistoryItem("r-01", "selfRenew", "PendingAdminDecision", TEAMS, Access.MEMBER, NOW - timedelta(days=20),
                    eligibility=True),
    ]  # fmt: skip
    return items


def history_read(approvers: ApproverState = ApproverState.READ) -> HistoryRead:
    return HistoryRead(tuple(history_items()), NOW - timedelta(days=30), approvers)


def export_summary() -> ExportSummary:
    period = ExportPeriod(
        datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 10, 23, 13, 5, tzinfo=UTC)
    )
    counts = {"Activations": 42, "Deactivations": 40, "Approved": 7, "Denied": 1, "Requests expired": 1,
              "Admin assignments": 3, "Admin removals": 2}  # fmt: skip
    return ExportSummary(period, (EXCHANGE, SECOPS), 180, counts, unplaced=2, throttled_waits=1, pages=3)


# name -> card; each is a golden file tests/cards/golden/<name>.json
GOLDEN: dict[str, Callable[[], dict[str, Any]]] = {
    "history_first_page": lambda: history_card(page_of(history_read(), 1), TZ),
    "history_last_page_no_audit": lambda: history_card(page_of(history_read(ApproverState.REFUSED), 2), TZ),
    "history_empty": lambda: history_card(page_of(HistoryRead((), NOW - timedelta(days=30)), 1), TZ),
    "export_summary": lambda: export_summary_card(export_summary(), "pim-audit-2026-10-01-to-2026-10-31.csv", TZ),
    "activation_scheduled": lambda: activation_card([scheduled_member()], TZ),
    "activation_scheduled_utc": lambda: activation_card([scheduled_member()], None),
    "activation_in_effect": lambda: activation_card([activated_checked(True)], TZ),
    "activation_not_yet_in_effect": lambda: activation_card([activated_checked(False)], TZ),
    "activation_scheduled_started": lambda: activation_card(
        [activated_checked(True)], TZ, title="Your scheduled activation started"
    ),
    "status_scheduled": lambda: status_card(status_scheduled(), TZ),
    "activation_awaiting_scheduled": lambda: activation_card(
        [replace(awaiting_approval(), starts=scheduled_member().start)], TZ
    ),
    "cancel_question_scheduled": lambda: cancel_question_card(scheduled_waiting(), TZ),
    "progress_working": working_card,
    "progress_note": lambda: note_card(LATE_SIGN_IN),
    "activation_member": lambda: activation_card([activated_member()], TZ),
    "activation_twelve_hour_across_new_year": lambda: activation_card(
        [activated_across_new_year()], TimeStyle("America/New_York", "en-US")
    ),
    "activation_owner_policy_max": lambda: activation_card([activated_owner_policy_max()], TZ),
    "activation_awaiting_approval": lambda: activation_card([awaiting_approval()], TZ),
    "activation_over_max": lambda: activation_card([over_max()], TZ),
    "activation_unavailable": lambda: activation_card([unavailable()], TZ),
    "activation_unconfirmed": lambda: activation_card([unconfirmed()], TZ),
    "activation_not_confirmed": lambda: activation_card([not_confirmed()], TZ),
    "deactivation_unconfirmed": lambda: deactivation_card([unconfirmed(WriteKind.DEACTIVATE)], TZ),
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
    "approval_channel_copy": lambda: approval_card(
        approval_view(), TZ, actionable=False, refresh_user_ids=APPROVER_TEAMS_IDS, channel=True
    ),
    "approval_screened_by_extension": lambda: approval_card(
        approval_view(
            screened=extension_passed("default", ("Ticket INC-4711 has the expected form.",), fallback=False)
        ),
        TZ,
        actionable=True,
        refresh_user_ids=APPROVER_TEAMS_IDS,
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
            active_until=NOW + timedelta(hours=2, minutes=57),
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
    "activation_settled_denied": lambda: settled_activation_card(
        activation_card([activated_member(), awaiting_approval()], TZ),
        awaiting_approval().request.id,
        "Denied",
        "Denied by Carol Chen at Sun 22 Nov, 14:08 (CET) — no change ticket",
        color="Attention",
        fallback="Security-Operators (member): Denied by Carol Chen at Sun 22 Nov, 14:08 (CET) — no change ticket",
    ),
    "signed_in": lambda: signed_in_card("Alice Admin"),
    "welcome_channel": lambda: welcome_card("channel", "PIM Bot"),
    "welcome_group_chat": lambda: welcome_card("groupChat", "Contoso PIM"),
    "cancel_question": lambda: cancel_question_card(waiting_request(), TZ),
    "cancel_question_kept": lambda: cancel_question_card(waiting_request(), TZ, kept=True),
    "cancel_question_settled": lambda: settled_activation_card(
        cancel_question_card(waiting_request(), TZ),
        waiting_request().request_id,
        "Cancelled",
        "Cancelled by the requester at Sun 22 Nov, 14:07 (CET).",
        color="Warning",
        fallback="Security-Operators (member): Cancelled by the requester at Sun 22 Nov, 14:07 (CET).",
    ),
    "approval_expiry_warning": lambda: expiry_warning_card(
        SECOPS,
        Access.MEMBER,
        "c3b2a1f0-9e8d-4c7b-8a69-5f4e3d2c1b0a",
        NOW + timedelta(hours=1),
        TZ,
        duration=timedelta(hours=2),
        justification="INC-4711 containment",
        ticket=Ticket("INC-4711"),
    ),
    "needs_justification": lambda: needs_input_card(needs(True, False, ticket=Ticket("INC-4711")), TZ),
    "needs_ticket": lambda: needs_input_card(
        needs(False, True, duration=None, justification="quarterly access review"), TZ
    ),
    "needs_both": lambda: needs_input_card(needs(True, True), TZ),
    "deactivation_done": lambda: deactivation_card(
        [Deactivated(EXCHANGE, Access.MEMBER, request("d9a6f5e4-3b2c-4d1e-8f9a-b8c7d6e5f4a3", EXCHANGE))], TZ
    ),
    "deactivation_too_soon": lambda: deactivation_card([too_soon()], TZ),
    "activation_too_soon_to_deactivate": lambda: activation_card([too_soon()], TZ),
    "deactivation_not_active": lambda: deactivation_card(
        [Refused(TEAMS.display_name, Access.MEMBER, NotActive(), TEAMS)], TZ
    ),
    "activation_already_active_or_waiting": lambda: activation_card(
        [
            Refused(EXCHANGE.display_name, Access.MEMBER, AlreadyActive(NOW + timedelta(hours=2)), EXCHANGE),
            Refused(SECOPS.display_name, Access.MEMBER, PendingRequestExists("c8f5e4d3-2a1b-4cae-9d8f"), SECOPS),
        ],
        TZ,
    ),
    "status_full": lambda: status_card(status_full(), TZ),
    "status_empty": lambda: status_card(status_empty(), TZ),
    "status_nothing_active": lambda: status_card(status_nothing_active(), TZ),
    "step_up_mfa": lambda: step_up_card(
        StepUpRequired(mfa=True), "Privileged-Role-Admins", "https://pimbot.example.com/auth/stepup/start?state=abc"
    ),
    "step_up_auth_context": lambda: step_up_card(
        StepUpRequired(mfa=False, authentication_context="c1", claims='{"access_token":{"acrs":{"value":"c1"}}}'),
        "Finance-Prod",
        "https://pimbot.example.com/auth/stepup/start?state=def",
    ),
    "step_up_auth_context_named": lambda: step_up_card(
        StepUpRequired(
            mfa=False,
            authentication_context="c1",
            claims='{"access_token":{"acrs":{"value":"c1"}}}',
            context_name="Sensitive admin actions",
        ),
        "Finance-Prod",
        "https://pimbot.example.com/auth/stepup/start?state=ghi",
    ),
    "activation_step_up_insufficient": lambda: activation_card(
        [Refused("Privileged-Role-Admins", Access.MEMBER, StepUpInsufficient(StepUpRequired(mfa=True)))], TZ
    ),
    "feed_eligible_created": lambda: feed_event_card(
        feed_event(
            EventKind.ELIGIBLE_CREATED,
            start=NOW,
            end=NOW + timedelta(days=180),
            by=BOB,
            justification="joins the messaging team",
            ticket=Ticket("CHG-0042", "ServiceNow"),
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_eligible_extended": lambda: feed_event_card(
        feed_event(
            EventKind.ELIGIBLE_EXTENDED,
            TEAMS,
            access=Access.OWNER,
            start=NOW - timedelta(days=170),
            end=NOW + timedelta(days=190),
            previous_end=NOW + timedelta(days=10),
            by=BOB,
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_eligible_expiring": lambda: feed_event_card(
        feed_event(EventKind.ELIGIBLE_EXPIRING, HR, start=NOW - timedelta(days=170), end=NOW + timedelta(days=9)),
        FEED_NAMES,
        TZ,
    ),
    "feed_eligible_removed": lambda: feed_event_card(
        feed_event(
            EventKind.ELIGIBLE_REMOVED,
            SECOPS,
            start=NOW - timedelta(days=30),
            end=NOW,
            reason=EndReason.REMOVED,
            by=CAROL,
            member_type="group",
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_activated": lambda: feed_event_card(
        feed_event(
            EventKind.ACTIVE_ACTIVATED,
            start=NOW,
            end=NOW + timedelta(hours=2),
            by=ALICE,
            justification="INC-4711 mailbox restore",
            ticket=Ticket("INC-4711"),
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_assigned_permanent_warning": lambda: feed_event_card(
        feed_event(EventKind.ACTIVE_ASSIGNED, TIER0, principal_id=CAROL, start=NOW, by=BOB),
        FEED_NAMES,
        TZ,
    ),
    "feed_active_ended_deactivated": lambda: feed_event_card(
        feed_event(
            EventKind.ACTIVE_ENDED,
            TEAMS,
            access=Access.OWNER,
            start=NOW - timedelta(minutes=50),
            end=NOW,
            reason=EndReason.DEACTIVATED,
        ),
        FEED_NAMES,
        None,
    ),
    "feed_approval_approved": lambda: feed_event_card(
        feed_event(
            EventKind.APPROVAL_DECIDED,
            SECOPS,
            start=NOW,
            end=NOW + timedelta(hours=1),
            by=BOB,
            decision="approved",
            justification="INC-4711 containment",
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_approval_expired_unknown_names": lambda: feed_event_card(
        feed_event(
            EventKind.APPROVAL_DECIDED,
            Group("0e1d2c3b-4a59-4867-b5a4-c3d2e1f0a9b8", "not in names"),
            principal_id=STRANGER,
            decision="expired",
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_extension_denied": lambda: feed_event_card(
        feed_event(
            EventKind.EXTENSION_EVALUATED,
            EXCHANGE,
            start=NOW,
            end=NOW + timedelta(hours=1),
            justification="patching",
            decision="Denied",
            rule="ticket",
            reasons=("A ticket number of the form INC-4711 is required; none was given (rule 'ticket').",),
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_extension_auto_approved": lambda: feed_event_card(
        feed_event(
            EventKind.EXTENSION_EVALUATED,
            SECOPS,
            start=NOW,
            end=NOW + timedelta(hours=1),
            decision="AutoApproved",
            rule="on call",
            reasons=("Approved automatically: you are on call in Ops Rotation.",),
        ),
        FEED_NAMES,
        TZ,
    ),
    "feed_digest_small": lambda: feed_digest_card(*feed_burst(12), TZ),
    "feed_digest_burst_500": lambda: feed_digest_card(*feed_burst(500), TZ),
    "feed_status": lambda: feed_status_card(feed_status(), TZ),
    "feed_status_discovery_denied": lambda: feed_status_card(
        feed_status(discovering=True, discovered=0, discovery_problem=FEED_DISCOVERY_DENIED), "Europe/Berlin"
    ),
    "feed_status_audit_denied": lambda: feed_status_card(feed_status(discovery_problem=FEED_AUDIT_DENIED), TZ),
    "feed_status_error": lambda: feed_status_card(
        feed_status(
            group_names=tuple(f"Group-{i:02d}" for i in range(27)),
            discovering=True,
            discovered=21,
            last_success=NOW - timedelta(minutes=9),
            last_error="Microsoft Graph is not answering (timeout).",
            last_error_at=NOW - timedelta(minutes=1),
            events_posted=0,
        ),
        None,
    ),
    "help": lambda: help_card(None),
    "help_with_reason": lambda: help_card(InvalidCardAction.user_message),
    "help_admin": lambda: help_card(None, admin=True),
    "help_demo": lambda: help_card(None, admin=True, demo=True),
    "help_channel": lambda: help_card(None, where="channel"),
    "help_group_chat": lambda: help_card(None, where="groupChat"),
    "slip_unknown_word": lambda: slip_card(parse("asdf"), slip_view()),
    "slip_activate_without_group": lambda: slip_card(parse("activate 1h"), slip_view()),
    "slip_cancel_with_nothing_waiting": lambda: slip_card(parse("cancel"), slip_view()),
    "slip_mistyped_verb": lambda: slip_card(parse("actvate exchange admins 2h because patching"), slip_view()),
    "slip_in_a_channel": lambda: slip_card(parse("activate 1h"), None, where="channel"),
    "activation_typo_suggestions": lambda: activation_card([typo()], TZ),
}


# ---- access about to end (issue 14 points 3 and 4) -----------------------------------------------------------------


def _ending_cards() -> dict[str, Callable[[], dict[str, Any]]]:
    from cards.ending import (
        change_asked_card,
        change_refused_card,
        eligibility_card,
        ending_soon_card,
        keep_planned_card,
        kept_card,
    )
    from core.ending import ChangeAsked, EligibilityChange, EligibilityNotice, NoticeKind
    from core.errors import SelfServiceRefused

    running = ActiveAssignment(EXCHANGE, Access.MEMBER, NOW - timedelta(minutes=50), NOW + timedelta(minutes=10), True)
    ending = Eligibility(EXCHANGE, Access.OWNER, NOW - timedelta(days=170), NOW + timedelta(days=10))
    ended = Eligibility(HR, Access.MEMBER, NOW - timedelta(days=92), NOW - timedelta(days=2))
    asked = request("7b6a5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", EXCHANGE, Access.OWNER, RequestStatus.OTHER)
    later = NOW + timedelta(minutes=10)
    return {
        "ending_soon": lambda: ending_soon_card(running, TZ, NOW),
        "ending_soon_ticket": lambda: ending_soon_card(running, TZ, NOW, ticket_required=True),
        "ending_kept": lambda: kept_card(EXCHANGE, Access.MEMBER, later, later + timedelta(hours=1), TZ, "req-kept-1"),
        "ending_keep_planned": lambda: keep_planned_card(EXCHANGE, Access.MEMBER, later, timedelta(hours=2), TZ),
        "eligibility_ending": lambda: eligibility_card(EligibilityNotice(NoticeKind.ENDING, ending), TZ, NOW),
        "eligibility_ended": lambda: eligibility_card(EligibilityNotice(NoticeKind.ENDED, ended), TZ, NOW),
        "eligibility_asked": lambda: change_asked_card(ChangeAsked(EligibilityChange.EXTEND, ending, asked), TZ),
        "eligibility_not_asked": lambda: change_refused_card(
            "Exchange-Admins", Access.OWNER, SelfServiceRefused("InvalidRoleAssignmentRequest"), TZ
        ),
    }


GOLDEN.update(_ending_cards())
