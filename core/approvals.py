"""The approval rules, as pure functions: who may decide a PIM request, and whether a decision can go to Graph now.

Nothing here reads a clock or calls Graph: the caller passes `now`, the approval as last read with the approver's own
token, and the request. Refusals are returned as `core.errors` kinds, not raised, so a caller can refuse early (before
any Graph call) or explain a Graph answer with the same words.

Who may decide is Graph's answer, not a list of ours: the open stage's `assignedToMe` as read with the clicker's token
(approver groups are evaluated by PIM: nested groups, members added after the request went out). `resolve_approvers`
(the policy's approvers, approver groups expanded to their members) only says who is sent a card and shown buttons.

Order of the checks: the requester (SelfApproval: never a write, whatever Graph would say), a stage already decided
(AlreadyDecided), past the 24-hour window (ApprovalExpired), closed otherwise (ApprovalClosed), the open stage not
assigned to the caller (NotAnApprover), then the policy's approver-justification rule (MissingApproverJustification).
`assignedToMe` is read only on the open stage: Microsoft documents it as "assigned to the calling user to review", which
says nothing of a stage nobody can review any more, so an approver is told who decided rather than "not an approver".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import (
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    MissingApproverJustification,
    NotAnApprover,
    SelfApproval,
)
from core.models import APPROVAL_WINDOW, Approval, ApprovalStage, ApproverRef, Decision, PimRequest, StageStatus

__all__ = [
    "ApprovalRefusal",
    "ResolvedApprovers",
    "Review",
    "closed_reason",
    "decide",
    "expires_at",
    "is_expired",
    "may_decide",
    "resolve_approvers",
    "self_approval",
]

ApprovalRefusal = (
    SelfApproval | NotAnApprover | AlreadyDecided | ApprovalExpired | ApprovalClosed | MissingApproverJustification
)


@dataclass(frozen=True, slots=True)
class ResolvedApprovers:
    """Approver user ids in policy order (no duplicates, never the requester), and the approver groups whose
    members were not given (so nobody in them could be resolved)."""

    user_ids: tuple[str, ...]
    unresolved_groups: tuple[str, ...] = ()

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, str) and user_id.casefold() in {u.casefold() for u in self.user_ids}


@dataclass(frozen=True, slots=True)
class Review:
    """A decision that may be sent to Graph: PATCH this stage of this approval."""

    request_id: str
    stage_id: str
    decision: Decision
    justification: str


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def resolve_approvers(
    refs: Sequence[ApproverRef],
    group_members: Mapping[str, Sequence[str]],
    *,
    requester_id: str | None = None,
) -> ResolvedApprovers:
    """The user ids of the policy's primary approvers: singleUser ids as given, groupMembers groups expanded through
    `group_members` (group id → member user ids). The requester is left out: they never approve their own request."""
    members = {group_id.casefold(): ids for group_id, ids in group_members.items()}
    seen: set[str] = set()
    user_ids: list[str] = []
    unresolved: list[str] = []

    def add(user_id: str) -> None:
        key = user_id.casefold()
        if key in seen or (requester_id is not None and _same(user_id, requester_id)):
            return
        seen.add(key)
        user_ids.append(user_id)

    for ref in refs:
        if not ref.is_group:
            add(ref.id)
        elif ref.id.casefold() in members:
            for user_id in members[ref.id.casefold()]:
                add(user_id)
        else:
            unresolved.append(ref.id)
    return ResolvedApprovers(tuple(user_ids), tuple(unresolved))


def may_decide(
    actor_id: str,
    requester_id: str,
    approvers: ResolvedApprovers | Collection[str],
    *,
    request_id: str | None = None,
) -> SelfApproval | NotAnApprover | None:
    """None if `actor_id` is among `approvers` and not the requester; otherwise why not. The requester is refused even
    when listed as an approver (PIM never lets anyone approve their own request). This is the bot's own list: it says
    who is shown the buttons, never whether a decision may go to Graph (`decide` asks the approval's stage)."""
    if (own := self_approval(actor_id, requester_id)) is not None:
        return own
    if not any(_same(actor_id, a) for a in _ids(approvers)):
        return NotAnApprover(request_id)
    return None


def self_approval(actor_id: str, requester_id: str) -> SelfApproval | None:
    """SelfApproval when the actor made the request: PIM never lets anyone decide their own request, so the bot refuses
    it before any Graph call, whatever an approval read would say."""
    return SelfApproval() if _same(actor_id, requester_id) else None


def expires_at(request: PimRequest) -> datetime | None:
    """When an undecided request stops waiting: 24 hours after it was made (None if its creation time is unknown)."""
    return request.created + APPROVAL_WINDOW if request.created is not None else None


def is_expired(request: PimRequest, now: datetime) -> bool:
    """True from the instant the 24-hour window ends (PIM expires it at that instant, not after)."""
    deadline = expires_at(request)
    return deadline is not None and now >= deadline


def closed_reason(
    approval: Approval, request: PimRequest | None = None, now: datetime | None = None
) -> AlreadyDecided | ApprovalExpired | ApprovalClosed | None:
    """Why no decision can be made on this approval any more, or None if a stage is still open (and the window, when
    `request` and `now` are given, has not run out)."""
    decided = approval.decided_stage
    if decided is not None:
        return _already(decided)
    deadline = expires_at(request) if request is not None else None
    stage = approval.open_stage
    if stage is not None:
        if request is not None and now is not None and is_expired(request, now):
            return ApprovalExpired(deadline)
        return None
    current = approval.current_stage
    if current is not None and current.status is StageStatus.EXPIRED:
        return ApprovalExpired(deadline)
    if request is not None and request.status.is_pending and now is not None and is_expired(request, now):
        return ApprovalExpired(deadline)
    return ApprovalClosed(request.raw_status or request.status.value if request is not None else None)


def decide(
    *,
    approval: Approval,
    request: PimRequest,
    actor_id: str,
    decision: Decision,
    justification: str | None,
    justification_required: bool,
    now: datetime,
) -> Review | ApprovalRefusal:
    """The Review to send to Graph, or the refusal that stops it. `approval` is as read with the actor's token; `now`
    is the caller's clock; `justification_required` the policy's isApproverJustificationRequired. An open stage that
    does not say `assignedToMe` (None) is left to the PATCH, whose 403 is the refusal."""
    if (own := self_approval(actor_id, request.principal_id)) is not None:
        return own
    closed = closed_reason(approval, request, now)
    if closed is not None:
        return closed
    stage = approval.open_stage
    if stage is None:  # closed_reason returns a refusal whenever no stage is open
        return ApprovalClosed(request.raw_status or None)
    if stage.assigned_to_me is False:
        return NotAnApprover(request.id or approval.request_id)
    reason = (justification or "").strip()
    if justification_required and not reason:
        return MissingApproverJustification(decision)
    return Review(request.id or approval.request_id, stage.id, decision, reason)


def _already(stage: ApprovalStage) -> AlreadyDecided:
    return AlreadyDecided(
        stage.review_result.decision,
        stage.reviewed_by,
        stage.reviewed_at,
        by_name=stage.reviewed_by_name,
        justification=stage.justification,
    )


def _ids(approvers: ResolvedApprovers | Collection[str]) -> Collection[str]:
    return approvers.user_ids if isinstance(approvers, ResolvedApprovers) else approvers
