"""The failure kinds the domain knows. User-facing wording is chosen in one place: `cards.wording`.

Hierarchy:

* PimError
  x DirectoryError            -- the directory (Graph) could not answer
    + DirectoryUnavailable    -- timeouts, 5xx after bounded retries
    + OutcomeUnknown          -- a write's answer was lost and could not be read back: it may have been done
    + NotCarriedOut           -- a write's answer was lost, and Graph shows it made no request: nothing was done
    + Throttled               -- 429 after bounded retries
    + PermissionDenied        -- 401/403: the bot or the user lacks a permission
      + TokenRejected         -- 401 to a token that is invalid or expired (not a claims challenge): get a new one
  x RequestRefused            -- PIM refused (or would refuse) the request
    + NotEligible, EligibilityNotInEffect, AlreadyActive, PendingRequestExists, NotActive,
      TooSoonToDeactivate, DurationTooLong, DurationTooShort, MissingInputs, StepUpRequired,
      StartInPast, StartDoesNotExist, StartAfterEligibility (a scheduled start PIM cannot take),
      StepUpInsufficient (refused again after the step-up it asked for),
      ExtensionDenied (the group's PIM custom extension answered Denied, with its reasons when Graph gave them),
      PolicyViolation (a rule we could not map to one of the above),
      SelfServiceRefused (Graph takes no such self-service request here, e.g. selfExtend for a group)
    + approvals: SelfApproval, NotAnApprover, AlreadyDecided, ApprovalExpired, ApprovalClosed,
      MissingApproverJustification, RequestNotFound
  x SignInRequired            -- no delegated token for the user yet: the bot asks them to sign in, then resumes
  x IdentityMismatch          -- the delegated token is someone else's (oid) or another tenant's (tid): nothing written

SignInRequired and IdentityMismatch are raised by a `UserTokenProvider`; `PimService` lets them through (no outcome
is produced for that command and nothing is written) and the bot handles them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.models import Access, Decision, Group, SentWrite

__all__ = [
    "AlreadyActive",
    "AlreadyDecided",
    "ApprovalClosed",
    "ApprovalExpired",
    "DirectoryError",
    "DirectoryUnavailable",
    "EntraUnreachable",
    "ExtensionDenied",
    "DurationTooLong",
    "DurationTooShort",
    "EligibilityNotInEffect",
    "IdentityMismatch",
    "MissingApproverJustification",
    "MissingInputs",
    "NotAnApprover",
    "NotActive",
    "NotCarriedOut",
    "NotEligible",
    "OutcomeUnknown",
    "PendingRequestExists",
    "PermissionDenied",
    "PimError",
    "PolicyViolation",
    "RequestNotFound",
    "RequestRefused",
    "SelfApproval",
    "SelfServiceRefused",
    "ScheduledNotStarted",
    "SignInRequired",
    "StartAfterEligibility",
    "StartDoesNotExist",
    "StartInPast",
    "StepUpInsufficient",
    "StepUpRequired",
    "Throttled",
    "TokenRejected",
    "TooSoonToDeactivate",
]


class PimError(Exception):
    """Base of every failure the bot explains to a user."""


class DirectoryError(PimError):
    def __init__(self, detail: str = "", *, request_id: str | None = None) -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail
        self.request_id = request_id


class DirectoryUnavailable(DirectoryError):
    pass


class EntraUnreachable(DirectoryUnavailable):
    """Microsoft Entra, which issues the bot's Graph tokens, cannot be reached (the bot keeps trying by itself)."""


class OutcomeUnknown(DirectoryError):
    """A write was sent, its answer was lost (a dropped connection, a timeout, 502/503/504) and what became of it
    could not be read back: it may have been carried out, so never "nothing was changed". `write` is what to look
    for later (None for an approver's decision, which is read back from the approval)."""

    def __init__(self, detail: str = "", *, write: SentWrite | None = None, request_id: str | None = None) -> None:
        super().__init__(detail, request_id=request_id)
        self.write = write


class NotCarriedOut(DirectoryError):
    """A write whose answer was lost, and Graph shows no request made by it (or one that ended without effect,
    `status`): nothing was changed."""

    def __init__(self, status: str = "") -> None:
        super().__init__(f"not carried out{f' ({status})' if status else ''}")
        self.status = status


class Throttled(DirectoryError):
    def __init__(self, retry_after: float | None = None, **kwargs: str | None) -> None:
        super().__init__("throttled", **kwargs)
        self.retry_after = retry_after


class PermissionDenied(DirectoryError):
    pass


class TokenRejected(PermissionDenied):
    """Graph answered 401 to the token itself (expired, malformed, revoked) without a claims challenge. For a delegated
    token the use case forgets it and tries once more with a fresh one; a claims challenge is `StepUpRequired`."""


class RequestRefused(PimError):
    """PIM refused the request (or the bot's pre-flight knows it would)."""

    group_name: str = ""
    access: Access = Access.MEMBER

    def for_group(self, group_name: str, access: Access) -> RequestRefused:
        self.group_name = group_name
        self.access = access
        return self


class NotEligible(RequestRefused):
    """No eligibility by the name asked. `suggestions` are the user's group names closest to it; `alternatives` the
    groups among them the command could act on instead, each with the access it would use (for buttons)."""

    def __init__(
        self,
        asked: str,
        suggestions: Sequence[str] = (),
        access: Access = Access.MEMBER,
        *,
        alternatives: Sequence[tuple[Group, Access]] = (),
    ) -> None:
        super().__init__(asked)
        self.asked = asked
        self.suggestions = tuple(suggestions)
        self.access = access
        self.alternatives = tuple(alternatives)


class EligibilityNotInEffect(RequestRefused):
    def __init__(self, start: datetime | None, end: datetime | None, now: datetime) -> None:
        super().__init__("eligibility not in effect")
        self.start, self.end, self.now = start, end, now

    @property
    def not_started(self) -> bool:
        return self.start is not None and self.now < self.start


class AlreadyActive(RequestRefused):
    def __init__(self, until: datetime | None) -> None:
        super().__init__("already active")
        self.until = until


class PendingRequestExists(RequestRefused):
    def __init__(self, request_id: str | None = None) -> None:
        super().__init__("pending request exists")
        self.request_id = request_id


class NotActive(RequestRefused):
    def __init__(self, assigned_by_admin: bool = False) -> None:
        super().__init__("not active")
        self.assigned_by_admin = assigned_by_admin  # active, but assigned by an admin: only an admin can remove it


class TooSoonToDeactivate(RequestRefused):
    """PIM does not end an activation in its first five minutes. `earliest` is when it can be ended (None: unknown);
    `now` when that was found, and `start`/`end` the activation PIM holds, so the answer can keep showing it."""

    def __init__(
        self,
        earliest: datetime | None,
        *,
        now: datetime | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        super().__init__("too soon to deactivate")
        self.earliest, self.now = earliest, now
        self.start, self.end = start, end


class SelfServiceRefused(RequestRefused):
    """Graph refused a self-service request the bot cannot make another way (a `selfExtend` or `selfRenew` of a
    group eligibility: Microsoft documents neither action for groups): the user is sent to the portal instead.
    `code` is Graph's error code, for the log."""

    def __init__(self, code: str = "") -> None:
        super().__init__("self-service request refused")
        self.code = code


class DurationTooLong(RequestRefused):
    def __init__(self, requested: timedelta | None, maximum: timedelta | None) -> None:
        super().__init__("duration over the policy maximum")
        self.requested, self.maximum = requested, maximum


class DurationTooShort(RequestRefused):
    def __init__(self, requested: timedelta) -> None:
        super().__init__("duration under five minutes")
        self.requested = requested


class ScheduledNotStarted(RequestRefused):
    """Nothing to deactivate: the activation is scheduled for `start` and has not started (cancel it instead)."""

    def __init__(self, start: datetime | None) -> None:
        super().__init__("scheduled, not started")
        self.start = start


class StartInPast(RequestRefused):
    """A scheduled start that has already passed. `following` is the next time the same wall-clock time comes (when
    the user named no day: "at 14:00" said at 15:00 probably meant tomorrow, but the bot asks rather than guesses)."""

    def __init__(self, start: datetime, now: datetime, following: datetime | None = None) -> None:
        super().__init__("start in the past")
        self.start, self.now, self.following = start, now, following


class StartDoesNotExist(RequestRefused):
    """A wall-clock start the clocks skip on that day (daylight saving time begins): `local` is the naive time asked."""

    def __init__(self, written: str, local: datetime) -> None:
        super().__init__("start skipped by a clock change")
        self.written, self.local = written, local


class StartAfterEligibility(RequestRefused):
    """A scheduled activation that would start, or run on, after the eligibility ends: PIM activates only inside the
    eligibility. `end` is the eligibility's end; `start` and `until` what was asked."""

    def __init__(self, start: datetime, until: datetime, end: datetime) -> None:
        super().__init__("start or end after the eligibility ends")
        self.start, self.until, self.end = start, until, end

    @property
    def starts_too_late(self) -> bool:
        return self.start >= self.end


class MissingInputs(RequestRefused):
    def __init__(self, justification: bool, ticket: bool) -> None:
        super().__init__("justification/ticket required")
        self.justification, self.ticket = justification, ticket


class StepUpRequired(RequestRefused):
    """The policy needs MFA or a Conditional Access authentication context the user's token does not carry.

    `authentication_context` is the context's id (`c1`), `context_name` its display name when the bot may read it;
    `claims` is the claims request a new sign-in must carry (None: PIM named none and none could be built)."""

    def __init__(
        self,
        *,
        mfa: bool,
        authentication_context: str | None = None,
        claims: str | None = None,
        context_name: str | None = None,
    ) -> None:
        super().__init__("step-up authentication required")
        self.mfa, self.authentication_context, self.claims = mfa, authentication_context, claims
        self.context_name = context_name


class StepUpInsufficient(RequestRefused):
    """PIM refused again for the same requirement after the user completed the step-up sign-in it asked for: another
    sign-in would end the same way (e.g. Entra issued no `mfa` for a claims request Microsoft does not document), so
    the bot says so instead of asking again."""

    def __init__(self, refused: StepUpRequired) -> None:
        super().__init__("step-up sign-in did not satisfy the policy")
        self.mfa, self.authentication_context = refused.mfa, refused.authentication_context
        self.context_name = refused.context_name
        self.group_name, self.access = refused.group_name, refused.access


class ExtensionDenied(RequestRefused):
    """The group's PIM custom extension (an API the tenant's PIM asks before every activation: this bot's own rules,
    or another) answered Denied. `reasons`: what it said, when Graph passed it on (it may not)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons) or "denied by the group's PIM custom extension")
        self.reasons = tuple(reasons)


class PolicyViolation(RequestRefused):
    def __init__(self, rules: Sequence[str], detail: str = "") -> None:
        super().__init__(detail or ", ".join(rules))
        self.rules, self.detail = tuple(rules), detail


class SelfApproval(RequestRefused):
    """The requester tried to decide their own request. PIM never lets them; the bot says so before asking."""

    def __init__(self) -> None:
        super().__init__("the requester cannot decide their own request")


class NotAnApprover(RequestRefused):
    """The person is not an approver of this request (Graph: 403 on the approval stage)."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__("not an approver of this request")
        self.request_id = request_id


class AlreadyDecided(RequestRefused):
    """Someone decided first (Graph: 409). `by` is the approver's object id and `by_name` their display name, when
    known; `at` when they decided. `by` may be the caller themself (a double click whose first answer was lost)."""

    def __init__(
        self,
        decision: Decision | None = None,
        by: str | None = None,
        at: datetime | None = None,
        *,
        by_name: str = "",
        justification: str = "",
    ) -> None:
        super().__init__("already decided")
        self.decision, self.by, self.at = decision, by, at
        self.by_name, self.justification = by_name, justification


class ApprovalExpired(RequestRefused):
    """Nobody decided within 24 hours of the request; PIM closed it. `expired_at` when known."""

    def __init__(self, expired_at: datetime | None = None) -> None:
        super().__init__("approval expired")
        self.expired_at = expired_at


class ApprovalClosed(RequestRefused):
    """The request no longer waits for a decision for another reason than a decision or expiry (canceled by the
    requester, or it ended some other way). `status` is the request status when known."""

    def __init__(self, status: str | None = None) -> None:
        super().__init__("approval closed")
        self.status = status

    @property
    def canceled(self) -> bool:
        return (self.status or "").casefold() == "canceled"


class MissingApproverJustification(RequestRefused):
    """The policy requires the approver to give a reason (isApproverJustificationRequired)."""

    def __init__(self, decision: Decision | None = None) -> None:
        super().__init__("approver justification required")
        self.decision = decision


class RequestNotFound(RequestRefused):
    """No request (and so no approval) with this id, or not one the caller may see (Graph: 404)."""

    def __init__(self, request_id: str = "") -> None:
        super().__init__("request not found")
        self.request_id = request_id


class SignInRequired(PimError):
    """The user has no delegated token yet (never signed in, signed out, or it lapsed). Not a refusal: the command
    can run once the user has signed in."""

    def __init__(self) -> None:
        super().__init__("sign-in required")


class IdentityMismatch(PimError):
    """The delegated token does not belong to the acting user: its `oid` or `tid` differs from the activity's.

    `claim` names what differed ("oid", "tid", or "token" when the token could not be read). Never carries token
    contents or the other identity, so it is safe to log."""

    def __init__(self, claim: str) -> None:
        super().__init__(f"delegated token {claim} does not match the acting user")
        self.claim = claim
