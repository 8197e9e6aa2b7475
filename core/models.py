"""Domain types: what the bot knows about people, groups, eligibilities, policies and PIM requests.

No Graph field names and no Teams types live here (graph/wire.py and bot/transport/activity.py translate at the edges).
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "Access",
    "Actor",
    "ActivationPolicy",
    "ActiveAssignment",
    "APPROVAL_WINDOW",
    "Approval",
    "ApprovalStage",
    "ApproverRef",
    "Decision",
    "Eligibility",
    "Group",
    "MINIMUM_ACTIVATION",
    "PimRequest",
    "RequestStatus",
    "ReviewResult",
    "SentWrite",
    "StageStatus",
    "Ticket",
    "TimeStyle",
    "WriteKind",
]

# Entra: "Can't be assigned for a duration of less than five minutes"; also the minimum age before selfDeactivate.
MINIMUM_ACTIVATION = timedelta(minutes=5)
# Entra: an approval must be decided within 24 hours of the request; not configurable.
APPROVAL_WINDOW = timedelta(hours=24)


class Access(StrEnum):
    """The relationship PIM grants: membership or ownership of the group."""

    MEMBER = "member"
    OWNER = "owner"


class RequestStatus(StrEnum):
    """PIM request statuses the bot reasons about (Graph sends more; unknown ones map to OTHER)."""

    PROVISIONED = "Provisioned"
    GRANTED = "Granted"
    PENDING_APPROVAL = "PendingApproval"
    PENDING_PROVISIONING = "PendingProvisioning"
    PENDING_SCHEDULE_CREATION = "PendingScheduleCreation"
    SCHEDULE_CREATED = "ScheduleCreated"
    DENIED = "Denied"
    CANCELED = "Canceled"
    FAILED = "Failed"
    REVOKED = "Revoked"
    OTHER = "Other"

    @property
    def is_pending(self) -> bool:
        return self in (RequestStatus.PENDING_APPROVAL, RequestStatus.PENDING_SCHEDULE_CREATION)

    @property
    def is_active_grant(self) -> bool:
        return self in (
            RequestStatus.PROVISIONED,
            RequestStatus.GRANTED,
            RequestStatus.PENDING_PROVISIONING,
            RequestStatus.SCHEDULE_CREATED,
        )


@dataclass(frozen=True, slots=True)
class TimeStyle:
    """How one person reads dates and times: their IANA time zone and their language tag (BCP 47, e.g. "en-US"), as
    their Teams client sends them (clientInfo `timezone`, the activity's `locale`). Either may be unknown: then UTC,
    and the bot's default way of writing a date."""

    zone: str | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """The person behind a Teams activity.

    `object_id` is the Entra oid, taken from the authenticated activity, never from card data. `channel_user_id` is
    the channel's own id of the user (Teams `from.id`, "29:..."): the Bot Framework token service keys user tokens by
    it. It identifies nobody to PIM; the delegated token's oid/tid are checked against `object_id`/`tenant_id`."""

    object_id: str
    tenant_id: str
    name: str = ""
    time_zone: str | None = None  # IANA name sent by Teams in the clientInfo entity
    channel_user_id: str = ""
    locale: str | None = None  # BCP 47 tag of the Teams client (the activity's `locale`), e.g. "en-US"
    # A fixed-offset zone ("Etc/GMT-1") from the activity's localTimestamp: the weakest source, used only when neither
    # the activity nor the user's last message named an IANA zone.
    fallback_zone: str | None = None

    @property
    def time_style(self) -> TimeStyle:
        """How this person reads dates and times (their zone and locale)."""
        return TimeStyle(self.time_zone, self.locale)


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Ticket:
    number: str
    system: str | None = None


@dataclass(frozen=True, slots=True)
class Eligibility:
    """An eligibility schedule of the user for a group (possibly inherited through another group)."""

    group: Group
    access: Access
    start: datetime | None
    end: datetime | None  # None = permanent
    inherited: bool = False  # memberType "group": eligible through membership of another group

    def in_effect(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


@dataclass(frozen=True, slots=True)
class ActiveAssignment:
    group: Group
    access: Access
    start: datetime | None
    end: datetime | None  # None = permanent
    activated: bool  # True: a just-in-time activation; False: assigned directly by an admin


@dataclass(frozen=True, slots=True)
class ApproverRef:
    """A primary approver from the policy: one user, or every member of a group."""

    id: str
    is_group: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ActivationPolicy:
    """What a group's PIM policy demands from an end user activating member or owner access."""

    group_id: str
    access: Access
    maximum_duration: timedelta = timedelta(hours=8)
    expiration_required: bool = True
    justification_required: bool = False
    ticket_required: bool = False
    mfa_required: bool = False
    authentication_context: str | None = None  # Conditional Access auth context claim value, e.g. "c1"
    approval_required: bool = False
    approvers: tuple[ApproverRef, ...] = ()
    approver_justification_required: bool = False


@dataclass(frozen=True, slots=True)
class PimRequest:
    """An assignment schedule request as PIM keeps it."""

    id: str
    status: RequestStatus
    action: str
    group_id: str
    access: Access
    principal_id: str
    created: datetime | None = None
    start: datetime | None = None
    duration: timedelta | None = None
    end: datetime | None = None
    justification: str | None = None
    ticket: Ticket | None = None
    raw_status: str = field(default="", compare=False)

    @property
    def ends(self) -> datetime | None:
        if self.end is not None:
            return self.end
        if self.start is not None and self.duration is not None:
            return self.start + self.duration
        return None


class Decision(StrEnum):
    """What an approver does with a request."""

    APPROVE = "approve"
    DENY = "deny"


class ReviewResult(StrEnum):
    """The outcome recorded on an approval stage."""

    NOT_REVIEWED = "NotReviewed"
    APPROVED = "Approved"
    DENIED = "Denied"

    @property
    def decision(self) -> Decision | None:
        return {ReviewResult.APPROVED: Decision.APPROVE, ReviewResult.DENIED: Decision.DENY}.get(self)


class StageStatus(StrEnum):
    """Where an approval stage is. COMPLETED without a review result means the request was closed another way
    (canceled by the requester)."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    EXPIRED = "Expired"
    OTHER = "Other"  # Initializing, NotStarted, anything newer


@dataclass(frozen=True, slots=True)
class ApprovalStage:
    """One stage of an approval. `assigned_to_me` is as seen by whoever read it (the approver's delegated token); None
    when the answer did not say."""

    id: str
    status: StageStatus
    assigned_to_me: bool | None = None
    review_result: ReviewResult = ReviewResult.NOT_REVIEWED
    reviewed_by: str | None = None  # object id of the approver who decided
    reviewed_by_name: str = ""
    reviewed_at: datetime | None = None
    justification: str = ""  # the approver's, not the requester's

    @property
    def decided(self) -> bool:
        return self.review_result is not ReviewResult.NOT_REVIEWED


@dataclass(frozen=True, slots=True)
class Approval:
    """The approval of a PIM request. In PIM for Groups its id is the request id."""

    request_id: str
    stages: tuple[ApprovalStage, ...] = ()

    @property
    def open_stage(self) -> ApprovalStage | None:
        """The stage waiting for a decision, if any."""
        return next((s for s in self.stages if s.status is StageStatus.IN_PROGRESS), None)

    @property
    def decided_stage(self) -> ApprovalStage | None:
        """The last stage that carries a decision, if any."""
        return next((s for s in reversed(self.stages) if s.decided), None)

    @property
    def current_stage(self) -> ApprovalStage | None:
        """The open stage, else the last one (to say why nothing is open)."""
        return self.open_stage or (self.stages[-1] if self.stages else None)


class WriteKind(StrEnum):
    """A self-service write of the user's own access."""

    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"


@dataclass(frozen=True, slots=True)
class SentWrite:
    """A self-service write whose answer was lost: enough to find the request it may have created, made by this
    principal for this group and access since `sent_at` (and, for an activation, with this justification)."""

    kind: WriteKind
    group_id: str
    access: Access
    principal_id: str
    sent_at: datetime
    justification: str | None = None
