"""What the domain needs from the outside world, as Protocols. graph/ and bot/ provide the implementations."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from core.ending import EligibilityChange, Holdings
from core.errors import DirectoryError
from core.models import (
    Access,
    ActivationPolicy,
    ActiveAssignment,
    Actor,
    Approval,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    SentWrite,
    Ticket,
)

__all__ = [
    "ActivationInput",
    "AdminCheck",
    "Clock",
    "GroupMembers",
    "PimDirectory",
    "PolicyKey",
    "PolicyQuery",
    "UserTokenProvider",
    "UserSnapshot",
    "WaitingRequests",
]


class Clock(Protocol):
    def now(self) -> datetime: ...


class AdminCheck(Protocol):
    """Who may run the bot's admin commands (`approvals here …`, `feed here|off|status`): an allow-list of Entra
    object ids and/or the members of an admin group, as configured. The actor comes from the authenticated activity,
    never from card data or message text."""

    async def is_admin(self, actor: Actor) -> bool:
        """True when the actor may run admin commands. Raises DirectoryError kinds when Graph cannot say."""
        ...


PolicyKey = tuple[str, Access]  # (group id, member|owner): one PIM policy


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """A user's eligibilities, active assignments and open requests, read together (one $batch round trip), and the
    policies that came with them: those asked for (`PolicyQuery`) that could be read, and those of the user's
    groups the directory had at hand (none is read for them)."""

    eligibilities: tuple[Eligibility, ...]
    active: tuple[ActiveAssignment, ...]
    pending: tuple[PimRequest, ...] = ()
    policies: Mapping[PolicyKey, ActivationPolicy] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyQuery:
    """The policies a command will need, asked for with the user's snapshot so that they come in its round trip.

    `keys` names groups by id (a card button); `names` as the user typed them, for the groups the directory has seen
    by such a name in anyone's eligibilities (a guess before the snapshot says: a hint, never an answer), with
    `access` (None: as each group was seen). `recheck(policy)` True: the policy would refuse or ask for something,
    so a copy read before this command is not taken; Graph is read again (an admin may have relaxed it)."""

    keys: tuple[PolicyKey, ...] = ()
    names: tuple[str, ...] = ()
    access: Access | None = None
    recheck: Callable[[ActivationPolicy], bool] | None = None


@dataclass(frozen=True, slots=True)
class GroupMembers:
    """The direct members of a group that matter to the bot: users, and groups nested in it (devices and service
    principals left out)."""

    user_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitingRequests:
    """The requests waiting for approval in some groups, and the groups that could not be read (id as asked → why)."""

    requests: tuple[PimRequest, ...] = ()
    failed: Mapping[str, DirectoryError] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActivationInput:
    group_id: str
    access: Access
    principal_id: str
    start: datetime
    duration: timedelta
    justification: str | None = None
    ticket: Ticket | None = None


class UserTokenProvider(Protocol):
    """Delegated Graph tokens for the person who acts. Self-activation and approvals accept nothing else.

    `token_for` raises `core.errors.SignInRequired` when it has no token for the user yet, `IdentityMismatch` when the
    token it has is not that user's (`core.binding.require_binding`), and DirectoryError kinds when its source is
    unreachable."""

    async def token_for(self, user_object_id: str, tenant_id: str) -> str: ...

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        """Graph refused the user's token as invalid or expired (`TokenRejected`): forget any copy kept of it, so
        that the next `token_for` returns a fresh one."""
        ...


class PimDirectory(Protocol):
    """PIM for Groups as the bot uses it. Reads are app-only (a plain eligible user may not read a group's policy);
    writes take the acting user's delegated token.

    A read may be answered from one made a short while ago (the directory's choice); a caller who must not draw a
    "no" from an older read says so with `recheck`, and `fresh` asks for Graph's word now. After its own writes,
    and when it learns that a request is no longer waiting, the directory answers from Graph again by itself."""

    async def snapshot(
        self,
        principal_id: str,
        *,
        fresh: bool = False,
        recheck: Callable[[UserSnapshot], bool] | None = None,
        policies: PolicyQuery | None = None,
    ) -> UserSnapshot:
        """Eligibility schedules (in effect or not yet started, direct or inherited through a group), active
        assignment instances and PendingApproval requests of a user. `recheck(snapshot)` True: a snapshot read
        before this call is not taken, Graph is read again. `policies`: see `PolicyQuery` and
        `UserSnapshot.policies`; one that could not be read is left out (`policy` meets the failure again)."""
        ...

    async def policy(
        self, group_id: str, access: Access, *, recheck: Callable[[ActivationPolicy], bool] | None = None
    ) -> ActivationPolicy:
        """The group's PIM policy for member or owner. `recheck(policy)` True: a policy read before this call is not
        taken, Graph is read again."""
        ...

    async def self_activate(self, token: str, request: ActivationInput) -> PimRequest:
        """POST selfActivate as the user."""
        ...

    async def self_deactivate(self, token: str, group_id: str, access: Access, principal_id: str) -> PimRequest: ...

    async def find_write(self, write: SentWrite) -> PimRequest | None:
        """The request a write whose answer was lost made, read app-only now; None when Graph holds none. Self-service
        writes raise `OutcomeUnknown` (carrying the SentWrite) when they cannot tell on their own."""
        ...

    async def holdings(self, principal_ids: Sequence[str], *, eligibilities: bool = False) -> Holdings:
        """Several users' activations (and, with `eligibilities`, their eligibilities and those that ended), read
        app-only now (never from a kept copy) in as few round trips as Graph allows. A user whose read failed is
        named in `failed` and costs the others nothing."""
        ...

    async def request_eligibility_change(
        self, token: str, change: EligibilityChange, eligibility: Eligibility, principal_id: str, justification: str
    ) -> PimRequest:
        """Ask, as the user, for their eligibility to be extended or renewed (an admin decides in PIM).
        SelfServiceRefused when Graph takes no such request."""
        ...

    async def lapsed_eligibilities(self, principal_id: str) -> Sequence[Eligibility]:
        """Eligibilities of the user that have ended (from the request history); used only to explain a refusal."""
        ...

    async def display_names(self, object_ids: Sequence[str]) -> dict[str, str]:
        """Display names of users or groups by object id; unknown ids are left out."""
        ...

    async def user_principal_name(self, user_id: str) -> str | None:
        """The user's sign-in name (UPN), read app-only; None when the directory has none for the id."""
        ...

    async def scheduled(self, principal_id: str) -> Sequence[tuple[PimRequest, Group]]:
        """The user's activations that have not started yet (PIM accepted them for a later start), each as the
        request that made it (its id is what `cancel` takes) with its group; read app-only now."""
        ...

    async def holds(self, group_id: str, principal_id: str, access: Access) -> bool:
        """Whether the directory shows the user as a member (or owner) of the group now, read app-only."""
        ...

    # -- approvals ----------------------------------------------------------------------------------------------------

    async def request(self, request_id: str) -> PimRequest:
        """An assignment request by id, read app-only (to follow a request's outcome). RequestNotFound if none."""
        ...

    async def waiting_in_groups(self, group_ids: Sequence[str]) -> WaitingRequests:
        """The requests waiting for approval in these groups, read app-only, many groups a round trip; a group that
        could not be read is named in `failed` and costs the others nothing."""
        ...

    async def group_members(self, group_id: str) -> Sequence[str]:
        """User ids of the direct members of a group (to expand a groupMembers approver), read app-only."""
        ...

    async def members_of(self, group_id: str) -> GroupMembers:
        """The direct members of a group, users and nested groups apart (to expand the admin group through nested
        groups), read app-only. A group that does not exist has no members."""
        ...

    async def find_groups(self, name_or_id: str) -> Sequence[Group]:
        """Groups whose display name is `name_or_id` (as Graph compares it: without case), or the group with that
        object id; read app-only. Empty when there is none."""
        ...

    async def approval(self, token: str, request_id: str) -> Approval:
        """The approval of a request as the approver sees it (delegated only). RequestNotFound, NotAnApprover."""
        ...

    async def decide(
        self, token: str, request_id: str, stage_id: str, decision: Decision, justification: str | None
    ) -> None:
        """Record the approver's decision on a stage (delegated only). Refusals: NotAnApprover, AlreadyDecided (by
        may be the caller: a repeat whose first answer was lost), ApprovalExpired, ApprovalClosed,
        MissingApproverJustification, RequestNotFound."""
        ...

    async def cancel(self, token: str, request_id: str) -> None:
        """Cancel a request waiting for approval, as its requester. RequestNotFound, or AlreadyDecided /
        ApprovalExpired / ApprovalClosed when it no longer waits."""
        ...
