"""A PIM custom extension's decision (issue 15): what the bot answers when Entra PIM asks it, during an activation,
whether to let the request go on.

PIM sends the activation request (a `privilegedAccessGroupAssignmentScheduleRequest`, read into a `PimRequest` by
graph.wire.parse_callout) and obeys the answer: `Approved` (go on to PIM's normal approval, if the policy has one),
`AutoApproved` (no human approval) or `Denied` (the reasons are shown to the requester). The outcome names come from
Microsoft's "Configure custom extensions for role activation in PIM (preview)", "Response model"
(learn.microsoft.com/entra/id-governance/privileged-identity-management/privileged-identity-management-custom-extensions).

An `Evaluation` always names the rule that made it (`rule`): one of the rules file's (core.extension_rules), DEFAULT
when none decided, or FALLBACK when the bot could not decide in time (or could not read what a rule needs) and
answered the configured fallback. Its `evaluation_id` is derived from the request id, so a retry of the same request
(PIM retries 0-5 times) is answered with the same id even before the stored answer is found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from core.models import Access, PimRequest

__all__ = ["DEFAULT", "FALLBACK", "NO_OBJECTION", "Evaluation", "Outcome", "decided", "evaluation_id"]

DEFAULT = "default"  # the rule name of a decision no rule of the file made
FALLBACK = "fallback"  # the rule name of a decision the bot could not make in time (or without a failing read)
NO_OBJECTION = "No rule of the Teams bot objects; PIM's normal approval applies."

# A fixed namespace: evaluation ids are uuid5(namespace, request id), the same in every process and after a restart.
_NAMESPACE = uuid.UUID("6f1c0e7a-3b9d-4c55-9a2e-5d7f0c1b8e42")


class Outcome(StrEnum):
    """`evaluationOutcome`, spelled as PIM expects it ("Supported values: Approved, AutoApproved, Denied")."""

    APPROVED = "Approved"
    AUTO_APPROVED = "AutoApproved"
    DENIED = "Denied"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One answer to PIM about one request: the outcome, the rule that made it and the reasons (shown by PIM to the
    requester on a denial), with who asked for what, for the admin feed and the requester's message."""

    request_id: str
    evaluation_id: str
    outcome: Outcome
    rule: str
    reasons: tuple[str, ...]
    principal_id: str
    group_id: str
    access: Access
    action: str = ""

    @property
    def by_fallback(self) -> bool:
        return self.rule == FALLBACK


def evaluation_id(request_id: str) -> str:
    """The `evaluationId` of every answer about `request_id` (PIM logs it in its audit: one request, one id)."""
    return str(uuid.uuid5(_NAMESPACE, request_id))


def decided(request: PimRequest, outcome: Outcome, rule: str, reasons: tuple[str, ...]) -> Evaluation:
    """The evaluation of `request`: `outcome` by `rule`, for `reasons`."""
    return Evaluation(
        request_id=request.id,
        evaluation_id=evaluation_id(request.id),
        outcome=outcome,
        rule=rule,
        reasons=reasons,
        principal_id=request.principal_id,
        group_id=request.group_id,
        access=request.access,
        action=request.action,
    )
