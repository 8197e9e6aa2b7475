"""The admin feed's domain types (issue 5): what PIM looks like for one monitored group at one poll, and the events a
change between two polls means.

Graph is the source of truth: the feed polls schedule instances per group (PIM objects have no change notifications),
compares them with the last durable snapshot and turns the difference into `FeedEvent`s. Nothing here reads a clock
or calls Graph; the poller passes `now` and what it read.

An event's `id` is deterministic (kind, principal, group, access, and the window that changed), so the same change seen
twice — by a restarted process, or by two processes — is the same event and is posted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import Access, Ticket

__all__ = [
    "EXPIRY_NOTICE",
    "EndReason",
    "EventKind",
    "FeedEvent",
    "GroupState",
    "ScheduleItem",
    "ScheduleKind",
]

EXPIRY_NOTICE = timedelta(days=14)  # an eligibility ending within this is announced once


class ScheduleKind(StrEnum):
    ELIGIBLE = "eligible"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One schedule instance as Graph lists it for a group (eligibilityScheduleInstances or
    assignmentScheduleInstances). `key` identifies "this person's eligible/active member/owner access to this group"
    across polls; Graph may replace the instance id when a schedule is extended."""

    kind: ScheduleKind
    id: str  # instance id
    group_id: str
    principal_id: str
    access: Access
    start: datetime | None
    end: datetime | None  # None = permanent
    member_type: str = "direct"  # "direct" | "group" (inherited through membership of another group)
    activated: bool = False  # active only: True = a just-in-time activation, False = assigned directly by an admin
    schedule_id: str | None = None  # the schedule the instance belongs to (a request's targetScheduleId)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind.value, self.principal_id.casefold(), self.group_id.casefold(), self.access.value)


@dataclass(frozen=True, slots=True)
class GroupState:
    """Everything the feed saw for one monitored group at one poll."""

    group_id: str
    read_at: datetime
    items: tuple[ScheduleItem, ...] = ()


class EventKind(StrEnum):
    ELIGIBLE_CREATED = "eligible.created"
    ELIGIBLE_EXTENDED = "eligible.extended"  # same eligibility, later end (adminExtend / adminUpdate)
    ELIGIBLE_RENEWED = "eligible.renewed"  # an expired or expiring eligibility given a new window (adminRenew)
    ELIGIBLE_REMOVED = "eligible.removed"  # ended before its end (adminRemove) or expired (reason says which)
    ELIGIBLE_EXPIRING = "eligible.expiring"  # ends within EXPIRY_NOTICE; announced once per window
    ACTIVE_ACTIVATED = "active.activated"  # a just-in-time activation (selfActivate, possibly after approval)
    ACTIVE_ASSIGNED = "active.assigned"  # assigned directly by an admin; `permanent` → a warning
    ACTIVE_ENDED = "active.ended"  # expired, deactivated or removed (reason says which)
    APPROVAL_DECIDED = "approval.decided"  # approved, denied or expired (reason / decision says which)


class EndReason(StrEnum):
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"  # selfDeactivate by the user
    REMOVED = "removed"  # adminRemove
    UNKNOWN = "unknown"  # gone before its end and Graph's history does not say why


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One thing that happened, ready to be put into words. Object ids only; names are resolved when posting."""

    id: str
    kind: EventKind
    group_id: str
    principal_id: str
    access: Access
    start: datetime | None = None
    end: datetime | None = None  # None with a start = permanent
    previous_end: datetime | None = None  # extended/renewed: the end before the change
    by: str | None = None  # object id of who made the change (request createdBy), None when unknown
    justification: str | None = None
    ticket: Ticket | None = None
    reason: EndReason | None = None  # ACTIVE_ENDED / ELIGIBLE_REMOVED
    decision: str | None = None  # APPROVAL_DECIDED: "approved" | "denied" | "expired" | "canceled"
    member_type: str = "direct"
    observed_at: datetime | None = None  # when the poll saw it (event-to-post latency is measured from here)

    @property
    def permanent(self) -> bool:
        return self.end is None and self.kind in (
            EventKind.ELIGIBLE_CREATED,
            EventKind.ELIGIBLE_EXTENDED,
            EventKind.ELIGIBLE_RENEWED,
            EventKind.ACTIVE_ASSIGNED,
            EventKind.ACTIVE_ACTIVATED,
        )

    @property
    def warning(self) -> bool:
        """A permanent direct active assignment bypasses just-in-time access altogether: admins want it flagged."""
        return self.kind is EventKind.ACTIVE_ASSIGNED and self.end is None
