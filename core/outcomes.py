"""What a use case produced, per group: the input of the cards and of the reply text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.errors import DirectoryError, RequestRefused
from core.models import Access, ActiveAssignment, Eligibility, Group, PimRequest, SentWrite, Ticket

__all__ = [
    "Activated",
    "AwaitingApproval",
    "Deactivated",
    "Failed",
    "NeedsInput",
    "Outcome",
    "Refused",
    "StatusView",
    "Unconfirmed",
]


@dataclass(frozen=True, slots=True)
class Activated:
    group: Group
    access: Access
    request: PimRequest
    start: datetime
    end: datetime
    duration: timedelta
    duration_was_policy_maximum: bool = False  # the user gave no duration; the policy's maximum was used
    scheduled: bool = False  # PIM took it for a later start: nothing is active before `start`
    # Whether Graph's directory showed the membership (ownership) right after: None not checked (or it could not be
    # read), False not yet (the bot keeps checking, bot.live). `note`: the group's own word on what may lag.
    in_effect: bool | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class AwaitingApproval:
    group: Group
    access: Access
    request: PimRequest
    duration: timedelta
    approvers: tuple[str, ...]  # display names of users or groups who can approve
    expires: datetime  # PIM drops undecided requests after 24 hours
    starts: datetime | None = None  # a scheduled activation's start, once approved (None: at approval)


@dataclass(frozen=True, slots=True)
class NeedsInput:
    """The policy requires a justification and/or a ticket the command did not carry."""

    group: Group
    access: Access
    duration: timedelta | None  # None: the user gave none (the policy maximum will be used)
    need_justification: bool
    need_ticket: bool
    justification: str | None = None
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """PIM refused, or the pre-flight knows it would. `error` carries the kind and its facts."""

    group_name: str
    access: Access
    error: RequestRefused
    group: Group | None = None
    duration: timedelta | None = None
    # What the command carried, so a button on the refusal (e.g. "Activate for 8 h") does not lose it.
    justification: str | None = None
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The directory could not answer (unavailable, throttled, permission missing)."""

    group_name: str
    access: Access
    error: DirectoryError


@dataclass(frozen=True, slots=True)
class Deactivated:
    group: Group
    access: Access
    request: PimRequest


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A write was sent but its answer was lost and could not be read back yet: it may have been carried out. The
    bot keeps looking (`write` says for what) and tells the user what became of it. The other fields are what the
    outcome needs once it is known."""

    group: Group
    access: Access
    write: SentWrite
    duration: timedelta | None = None  # of an activation: what was asked for (the policy maximum when none was given)
    duration_was_policy_maximum: bool = False
    ticket: Ticket | None = None


Outcome = Activated | AwaitingApproval | NeedsInput | Refused | Failed | Deactivated | Unconfirmed


@dataclass(frozen=True, slots=True)
class StatusView:
    eligible: tuple[Eligibility, ...]
    active: tuple[ActiveAssignment, ...]
    pending: tuple[PimRequest, ...]
    group_names: dict[str, str]
    now: datetime
    # The policies' maximum durations known without a read (cached), by (group id, access): a suggestion stays inside.
    maxima: Mapping[tuple[str, Access], timedelta] = field(default_factory=dict)
    scheduled: tuple[PimRequest, ...] = ()  # activations PIM took for a later start (read by `status` only)

    def can_activate(self, eligibility: Eligibility) -> bool:
        """The user can activate this eligibility now: it is in effect, and that access to that group is neither
        active (activated or assigned) nor waiting for approval (PIM would refuse either)."""
        key = (eligibility.group.id.casefold(), eligibility.access)
        busy = {(a.group.id.casefold(), a.access) for a in self.active if a.end is None or a.end > self.now}
        busy |= {(p.group_id.casefold(), p.access) for p in (*self.pending, *self.scheduled)}
        return eligibility.in_effect(self.now) and key not in busy
