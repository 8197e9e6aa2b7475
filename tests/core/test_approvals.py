"""core.approvals: who may decide a PIM request and whether a decision may go to Graph, as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.approvals import (
    ResolvedApprovers,
    Review,
    closed_reason,
    decide,
    expires_at,
    is_expired,
    may_decide,
    resolve_approvers,
)
from core.errors import (
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    MissingApproverJustification,
    NotAnApprover,
    PimError,
    SelfApproval,
)
from core.models import (
    Access,
    Approval,
    ApprovalStage,
    ApproverRef,
    Decision,
    PimRequest,
    RequestStatus,
    ReviewResult,
    StageStatus,
)
from tests.support.core_fakes import NOW

ALICE, BOB, CAROL, DAVE, FRANK = "alice", "bob", "carol", "dave", "frank"
APPROVERS_GROUP = "pim-approvers"
REFS = (ApproverRef(BOB), ApproverRef(APPROVERS_GROUP, is_group=True))
MEMBERS = {APPROVERS_GROUP: [CAROL, DAVE, ALICE]}
HOUR = timedelta(hours=1)

REQUEST = PimRequest(
    "req-1", RequestStatus.PENDING_APPROVAL, "selfActivate", "secops", Access.MEMBER, ALICE, created=NOW
)
OPEN = Approval("req-1", (ApprovalStage("stage-1", StageStatus.IN_PROGRESS),))  # assignedToMe not said
ASSIGNED = {BOB, CAROL, DAVE}  # who PIM assigns the open stage to (it never assigns the requester's own)
APPROVED_BY_BOB = Approval(
    "req-1",
    (
        ApprovalStage(
            "stage-1",
            StageStatus.COMPLETED,
            review_result=ReviewResult.APPROVED,
            reviewed_by=BOB,
            reviewed_by_name="Bob Builder",
            reviewed_at=NOW + HOUR,
            justification="ok for the patch window",
        ),
    ),
)
EXPIRED = Approval("req-1", (ApprovalStage("stage-1", StageStatus.EXPIRED),))
CANCELED = Approval("req-1", (ApprovalStage("stage-1", StageStatus.COMPLETED),))


def _as_read_by(actor: str) -> Approval:
    """OPEN as the actor's token reads it: `assignedToMe` is PIM's answer for the caller."""
    stage = replace(OPEN.stages[0], assigned_to_me=actor.casefold() in ASSIGNED)
    return replace(OPEN, stages=(stage,))


def _decide(
    actor: str,
    *,
    approval: Approval | None = None,
    request: PimRequest = REQUEST,
    justification: str | None = "fine",
    required: bool = False,
    now_offset: timedelta = HOUR,
    decision: Decision = Decision.APPROVE,
) -> Review | PimError:
    return decide(
        approval=_as_read_by(actor) if approval is None else approval,
        request=request,
        actor_id=actor,
        decision=decision,
        justification=justification,
        justification_required=required,
        now=NOW + now_offset,
    )


def test_approvers_resolve_users_and_group_members_without_the_requester() -> None:
    resolved = resolve_approvers(REFS + (ApproverRef("bob"),), MEMBERS, requester_id=ALICE)
    assert resolved == ResolvedApprovers((BOB, CAROL, DAVE))
    assert CAROL in resolved and "CAROL" in resolved and ALICE not in resolved and FRANK not in resolved


def test_approver_groups_without_members_are_reported_unresolved() -> None:
    resolved = resolve_approvers(REFS, {}, requester_id=ALICE)
    assert resolved == ResolvedApprovers((BOB,), (APPROVERS_GROUP,))


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (ALICE, SelfApproval),  # the requester, though a member of an approver group
        (FRANK, NotAnApprover),
        (BOB, None),  # singleUser
        (CAROL, None),  # member of a groupMembers approver group
        (DAVE.upper(), None),  # object ids compare case-insensitively
    ],
)
def test_who_may_decide(actor: str, expected: type[PimError] | None) -> None:
    approvers = resolve_approvers(REFS, MEMBERS, requester_id=ALICE)
    refused = may_decide(actor, ALICE, approvers, request_id="req-1")
    assert (type(refused) if refused else None) is expected
    assert may_decide(ALICE, ALICE, [ALICE, BOB]).__class__ is SelfApproval  # even when listed by id


@pytest.mark.parametrize(
    ("actor", "kwargs", "expected"),
    [
        (BOB, {}, Review),
        (CAROL, {"decision": Decision.DENY}, Review),
        (ALICE, {}, SelfApproval),
        (ALICE, {"approval": replace(OPEN, stages=(replace(OPEN.stages[0], assigned_to_me=True),))}, SelfApproval),
        (FRANK, {}, NotAnApprover),  # PIM does not assign him the stage: refused before any write
        (FRANK, {"approval": OPEN}, Review),  # the read did not say: the PATCH decides (403 → NotAnApprover)
        # assignedToMe is read on the open stage only: on a decided one Microsoft documents nothing, and an approver
        # must hear who decided, not "not an approver".
        (FRANK, {"approval": APPROVED_BY_BOB}, AlreadyDecided),
        (CAROL, {"approval": APPROVED_BY_BOB}, AlreadyDecided),
        (BOB, {"approval": APPROVED_BY_BOB}, AlreadyDecided),  # a double click
        (CAROL, {"approval": EXPIRED}, ApprovalExpired),
        (CAROL, {"approval": CANCELED}, ApprovalClosed),
        (CAROL, {"required": True, "justification": "  "}, MissingApproverJustification),
        (CAROL, {"required": True, "justification": None}, MissingApproverJustification),
        (CAROL, {"required": True, "justification": "patch window"}, Review),
        (CAROL, {"required": False, "justification": None}, Review),
    ],
)
def test_decision_rules(actor: str, kwargs: dict[str, object], expected: type[object]) -> None:
    assert type(_decide(actor, **kwargs)) is expected  # type: ignore[arg-type]


def test_a_review_names_the_open_stage_and_trims_the_reason() -> None:
    assert _decide(CAROL, justification="  ok  ", decision=Decision.DENY) == Review(
        "req-1", "stage-1", Decision.DENY, "ok"
    )


def test_already_decided_says_by_whom_and_when() -> None:
    refused = _decide(CAROL, approval=APPROVED_BY_BOB)
    assert isinstance(refused, AlreadyDecided)
    assert (refused.decision, refused.by, refused.by_name, refused.at) == (
        Decision.APPROVE,
        BOB,
        "Bob Builder",
        NOW + HOUR,
    )
    assert refused.justification == "ok for the patch window"


@pytest.mark.parametrize(
    ("offset", "expired"),
    [
        (timedelta(hours=23, minutes=59, seconds=59), False),
        (timedelta(hours=24), True),  # PIM expires it at the instant the window ends
        (timedelta(hours=25), True),
    ],
)
def test_expiry_boundary_by_the_injected_clock(offset: timedelta, expired: bool) -> None:
    """The stage may still read InProgress (PIM has not swept it yet): the clock decides."""
    result = _decide(BOB, now_offset=offset)
    assert isinstance(result, ApprovalExpired) is expired
    assert is_expired(REQUEST, NOW + offset) is expired
    if expired:
        assert isinstance(result, ApprovalExpired) and result.expired_at == NOW + timedelta(hours=24)


def test_expiry_needs_a_creation_time() -> None:
    unknown = PimRequest("req-2", RequestStatus.PENDING_APPROVAL, "selfActivate", "g", Access.MEMBER, ALICE)
    assert expires_at(unknown) is None and not is_expired(unknown, NOW + timedelta(days=9))
    assert expires_at(REQUEST) == NOW + timedelta(hours=24)


def test_closed_reason() -> None:
    assert closed_reason(OPEN, REQUEST, NOW) is None
    assert isinstance(closed_reason(APPROVED_BY_BOB), AlreadyDecided)
    assert isinstance(closed_reason(EXPIRED), ApprovalExpired)
    canceled = closed_reason(CANCELED, PimRequest("req-1", RequestStatus.CANCELED, "", "g", Access.MEMBER, ALICE))
    assert isinstance(canceled, ApprovalClosed) and canceled.canceled
