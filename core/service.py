"""Use cases: activate, deactivate, status. Async; all I/O goes through the ports.

The acting user always comes from the authenticated activity (`Actor`), never from card data or message text.
PIM writes use the user's own delegated token: Graph lets only the principal self-activate or self-deactivate.
The token is asked for right before each write. When the token provider raises `SignInRequired` or
`IdentityMismatch`, the use case stops there and lets it through: no outcome is produced for that command and nothing
is written (the bot asks the user to sign in and resumes the command, or tells them the identities differ).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from core import names
from core.approvals import ApprovalRefusal, ResolvedApprovers, Review, closed_reason, decide, resolve_approvers
from core.commands import Activate, Deactivate
from core.ending import ChangeAsked, EligibilityChange, Holdings
from core.errors import (
    AlreadyActive,
    AlreadyDecided,
    ApprovalClosed,
    DirectoryError,
    DurationTooLong,
    DurationTooShort,
    EligibilityNotInEffect,
    MissingInputs,
    NotActive,
    NotCarriedOut,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    RequestRefused,
    ScheduledNotStarted,
    StartAfterEligibility,
    TokenRejected,
    TooSoonToDeactivate,
)
from core.models import (
    MINIMUM_ACTIVATION,
    Access,
    ActivationPolicy,
    Actor,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    RequestStatus,
    Ticket,
    WriteKind,
)
from core.outcomes import (
    Activated,
    AwaitingApproval,
    Deactivated,
    Failed,
    NeedsInput,
    Outcome,
    Refused,
    StatusView,
    Unconfirmed,
)
from core.ports import (
    ActivationInput,
    Clock,
    PimDirectory,
    PolicyKey,
    PolicyQuery,
    UserSnapshot,
    UserTokenProvider,
    WaitingRequests,
)
from core.schedule import UserZone, place

__all__ = ["APPROVAL_WINDOW", "PimService"]

log = logging.getLogger(__name__)

APPROVAL_WINDOW = timedelta(hours=24)  # PIM drops undecided approval requests after 24 hours (not configurable)

T = TypeVar("T")

# A request found after a lost answer that ended without effect: nothing was changed.
_NO_EFFECT = frozenset({RequestStatus.FAILED, RequestStatus.DENIED, RequestStatus.CANCELED})


@dataclass(frozen=True, slots=True)
class _Target:
    group: Group
    access: Access
    eligibility: Eligibility


@dataclass(frozen=True, slots=True)
class _Asked:
    """What an activation asks for besides the group: the policy must let it through, or it is refused or asks for
    more. A "no" drawn from a policy read before the command is checked against Graph once before it is said."""

    duration: timedelta | None
    justification: str | None
    ticket: Ticket | None
    start: datetime | None = None  # a scheduled activation's start (UTC); None: now

    def preflight(self, policy: ActivationPolicy, group: Group, access: Access) -> NeedsInput | None:
        """What the policy says before anything is written. Raises for hard refusals; NeedsInput for missing inputs."""
        duration, justification, ticket = self.duration, self.justification, self.ticket
        if duration is not None and policy.expiration_required and duration > policy.maximum_duration:
            raise DurationTooLong(duration, policy.maximum_duration)
        need_justification = policy.justification_required and not (justification and justification.strip())
        need_ticket = policy.ticket_required and ticket is None
        if need_justification or need_ticket:
            return NeedsInput(group, access, duration, need_justification, need_ticket, justification, ticket)
        return None

    def doubts(self, policy: ActivationPolicy) -> bool:
        """True when `policy` would refuse this or ask for something."""
        try:
            return self.preflight(policy, Group(policy.group_id, policy.group_id), policy.access) is not None
        except DurationTooLong:
            return True


async def _nothing(group_id: str) -> None:
    return None


class PimService:
    """`before_approval_write(group_id)` is awaited before an activation that will wait for approval is written: the
    bot remembers there, durably, that the group has approvals, so that a crash right after the write leaves its
    approval poller a group to look in (bot.approvals)."""

    def __init__(
        self,
        directory: PimDirectory,
        tokens: UserTokenProvider,
        clock: Clock,
        *,
        before_approval_write: Callable[[str], Awaitable[None]] = _nothing,
    ) -> None:
        self._directory = directory
        self._tokens = tokens
        self._clock = clock
        self._before_approval_write = before_approval_write

    def with_tokens(self, tokens: UserTokenProvider) -> PimService:
        """The same service (directory, caches, clock) with another token provider: for providers that live for one
        turn, such as Teams SSO, whose token client belongs to the inbound activity."""
        return PimService(self._directory, tokens, self._clock, before_approval_write=self._before_approval_write)

    async def _as_user(self, actor: Actor, call: Callable[[str], Awaitable[T]]) -> T:
        """`call(token)` with the actor's delegated token; once more with a fresh token when Graph refused this one as
        invalid or expired (`TokenRejected`: a token kept past its lifetime on Graph's clock). Graph authenticates
        before it acts, so nothing was written by the refused call. A claims challenge is not this: it is
        `StepUpRequired`, for the step-up sign-in."""
        token = await self._tokens.token_for(actor.object_id, actor.tenant_id)
        try:
            return await call(token)
        except TokenRejected:
            await self._tokens.refresh(actor.object_id, actor.tenant_id)
            fresh = await self._tokens.token_for(actor.object_id, actor.tenant_id)
            if fresh == token:
                raise  # the source has nothing newer: a second try would be refused the same way
            log.info("Graph refused the delegated token of %s; trying once more with a fresh one", actor.object_id)
            return await call(fresh)

    # ---- activate -------------------------------------------------------------------------------------------

    async def activate(self, actor: Actor, command: Activate) -> list[Outcome]:
        """Activate each named group with one shared duration, justification and ticket; one outcome per group."""
        if command.duration is not None and command.duration < MINIMUM_ACTIVATION:
            return [
                Refused(name, command.access or Access.MEMBER, DurationTooShort(command.duration))
                for name in command.groups
            ]
        start: datetime | None = None
        if command.start is not None:
            try:
                start = place(command.start, self._clock.now(), UserZone(actor.time_zone))
            except RequestRefused as e:
                return [Refused(name, command.access or Access.MEMBER, e) for name in command.groups]
        asked = _Asked(command.duration, command.justification, command.ticket, start)
        # The policies of the groups the directory has seen by these names come with the snapshot: they save the
        # round trip that would otherwise come between the snapshot and the write.
        query = PolicyQuery(names=tuple(command.groups), access=command.access, recheck=asked.doubts)
        try:
            snapshot = await self._read_for_activation(actor, command.groups, command.access, query)
        except DirectoryError as e:
            return [Failed(name, command.access or Access.MEMBER, e) for name in command.groups]
        plans = await self._plans(actor, snapshot, command)
        policies = await self._read_missing_policies(snapshot, [p for p in plans if isinstance(p, _Target)], asked)
        return [
            await self._activate_one(actor, snapshot, policies, plan, asked) if isinstance(plan, _Target) else plan
            for plan in plans
        ]

    async def _plans(self, actor: Actor, snapshot: UserSnapshot, command: Activate) -> list[_Target | Outcome]:
        """Per named group: what to activate, or the outcome that says why not. A group named twice ("X, x") once.
        A refusal keeps what the command carried, for a button that offers another way (e.g. a suggested group)."""
        plans: list[_Target | Outcome] = []
        seen: set[tuple[str, Access]] = set()
        access = command.access
        for name in command.groups:
            try:
                target = await self._target(actor, snapshot, name, access)
            except RequestRefused as e:
                carried = (command.duration, command.justification, command.ticket)
                plans.append(Refused(e.group_name or name, e.access, e, None, *carried))
                continue
            except DirectoryError as e:
                plans.append(Failed(name, access or Access.MEMBER, e))
                continue
            if (target.group.id, target.access) not in seen:
                seen.add((target.group.id, target.access))
                plans.append(target)
        return plans

    async def activate_group(
        self,
        actor: Actor,
        group_id: str,
        access: Access,
        duration: timedelta | None,
        justification: str | None = None,
        ticket: Ticket | None = None,
        *,
        after_current: bool = False,
    ) -> Outcome:
        """Activate one group named by id (a card button). Eligibility is checked again: card data is untrusted.
        `after_current`: if the group is active now, the new activation starts when that one ends (PIM's scheduled
        start: "Keep it" on the ending-soon card); else, or when it is not active, it starts now."""
        if duration is not None and duration < MINIMUM_ACTIVATION:
            return Refused(group_id, access, DurationTooShort(duration))
        asked = _Asked(duration, justification, ticket)
        query = PolicyQuery(keys=((group_id, access),), recheck=asked.doubts)
        try:
            snapshot = await self._read_for_activation(actor, [group_id], access, query, after_current=after_current)
            target = await self._target(actor, snapshot, group_id, access)
        except RequestRefused as e:
            return Refused(group_id, access, e)
        except DirectoryError as e:
            return Failed(group_id, access, e)
        if after_current:
            asked = replace(asked, start=_current_end(snapshot, target, self._clock.now()))
        return await self._activate_one(actor, snapshot, snapshot.policies, target, asked)

    async def _read_for_activation(
        self,
        actor: Actor,
        asked: Sequence[str],
        access: Access | None,
        policies: PolicyQuery,
        *,
        after_current: bool = False,
    ) -> UserSnapshot:
        """The user's snapshot and, in the same round trip, the `policies`. An earlier snapshot serves only if it says
        yes for every named group: one that says no (not eligible by that name, not in effect, already active,
        waiting for approval) is read again from Graph before the answer. An eligibility an admin granted a minute
        ago is activatable at once."""
        now = self._clock.now()

        def says_no(snapshot: UserSnapshot) -> bool:
            return after_current or any(self._says_no(snapshot, name, access, now) for name in asked)

        return await self._directory.snapshot(actor.object_id, recheck=says_no, policies=policies)

    def _says_no(self, snapshot: UserSnapshot, asked: str, access: Access | None, now: datetime) -> bool:
        found = self._find(snapshot, asked, access, now)
        if not isinstance(found, _Target):
            return True
        try:
            self._refuse_if_active_or_pending(snapshot, found.group, found.access, now)
        except RequestRefused:
            return True
        return False

    async def _read_missing_policies(
        self, snapshot: UserSnapshot, targets: Sequence[_Target], asked: _Asked
    ) -> dict[PolicyKey, ActivationPolicy]:
        """The policies of the targets, those that did not come with the snapshot read side by side (one round trip);
        a failure is met again, per group, where the policy is needed."""
        policies = dict(snapshot.policies)
        missing = [(t.group.id, t.access) for t in targets if (t.group.id, t.access) not in policies]
        read = await asyncio.gather(
            *(self._directory.policy(*key, recheck=asked.doubts) for key in missing), return_exceptions=True
        )
        policies.update({key: p for key, p in zip(missing, read, strict=True) if isinstance(p, ActivationPolicy)})
        return policies

    async def _activate_one(
        self,
        actor: Actor,
        snapshot: UserSnapshot,
        policies: Mapping[PolicyKey, ActivationPolicy],
        target: _Target,
        asked: _Asked,
    ) -> Outcome:
        group, access = target.group, target.access
        duration, justification, ticket = asked.duration, asked.justification, asked.ticket
        now = self._clock.now()
        policy: ActivationPolicy | None = None
        try:
            self._refuse_if_active_or_pending(snapshot, group, access, asked.start or now)
            # Always known before the write: read now if neither the snapshot nor the reads after it brought it.
            policy = policies.get((group.id, access)) or await self._directory.policy(
                group.id, access, recheck=asked.doubts
            )
            needs = asked.preflight(policy, group, access)
            if needs is not None:
                return needs
            effective = duration if duration is not None else policy.maximum_duration
            _refuse_beyond_eligibility(target.eligibility, asked.start, effective)
            if policy.approval_required:
                await self._before_approval_write(group.id)
            begins = asked.start or now
            activation = ActivationInput(group.id, access, actor.object_id, begins, effective, justification, ticket)
            request = await self._as_user(actor, lambda token: self._directory.self_activate(token, activation))
        except OutcomeUnknown as e:
            if e.write is None:
                return Failed(group.display_name, access, e)
            return Unconfirmed(group, access, e.write, effective, duration is None, ticket)
        except MissingInputs as e:
            return NeedsInput(group, access, duration, e.justification, e.ticket, justification, ticket)
        except RequestRefused as e:
            if isinstance(e, DurationTooLong) and e.maximum is None and policy is not None:
                # Graph's ExpirationRule does not name the maximum; the policy read before the write does.
                e = DurationTooLong(e.requested, policy.maximum_duration)
            refusal = e.for_group(group.display_name, access)
            return Refused(group.display_name, access, refusal, group, duration, justification, ticket)
        except DirectoryError as e:
            return Failed(group.display_name, access, e)
        return await self._activation_outcome(group, access, request, effective, duration is None, policy, asked.start)

    async def _activation_outcome(
        self,
        group: Group,
        access: Access,
        request: PimRequest,
        effective: timedelta,
        policy_maximum: bool,
        policy: ActivationPolicy | None,
        asked_start: datetime | None = None,
    ) -> Outcome:
        """What an activation request PIM holds means for the user: active, waiting for approval, or (found after
        a lost answer) ended without effect."""
        now = self._clock.now()
        if request.status.is_pending:
            approvers = await self._approver_names(policy)
            created = request.created or now
            starts = (request.start or asked_start) if asked_start is not None else None
            return AwaitingApproval(
                group, access, request, effective, approvers, created + APPROVAL_WINDOW, starts if starts else None
            )
        if request.status in _NO_EFFECT:
            return Failed(group.display_name, access, NotCarriedOut(request.raw_status or request.status.value))
        start = request.start or asked_start or now
        end = request.ends or start + effective
        # A start PIM took for later: ScheduleCreated, Granted or even Provisioned (Graph documents no status for a
        # future start; every one is taken), with no instance until then.
        scheduled = asked_start is not None and start > now
        return Activated(group, access, request, start, end, end - start, policy_maximum, scheduled)

    async def confirm(self, unconfirmed: Unconfirmed, *, settled: bool) -> Outcome | None:
        """What became of a write whose answer was lost, read app-only now: the outcome to tell the user. While Graph
        shows no request made by it, None if the write may still land (`settled` False), else `NotCarriedOut`
        (nothing was changed). Raises DirectoryError kinds when Graph cannot be read."""
        write, group, access = unconfirmed.write, unconfirmed.group, unconfirmed.access
        request = await self._directory.find_write(write)
        if request is None:
            return Failed(group.display_name, access, NotCarriedOut()) if settled else None
        if write.kind is WriteKind.DEACTIVATE:
            if request.status in _NO_EFFECT:
                return Failed(group.display_name, access, NotCarriedOut(request.raw_status or request.status.value))
            return Deactivated(group, access, request)
        policy: ActivationPolicy | None = None
        if request.status.is_pending:
            try:
                policy = await self._directory.policy(group.id, access)
            except DirectoryError:
                log.warning("could not read the policy of %s to name its approvers", group.id, exc_info=True)
        effective = unconfirmed.duration or request.duration or timedelta(0)
        return await self._activation_outcome(
            group, access, request, effective, unconfirmed.duration_was_policy_maximum, policy
        )

    @staticmethod
    def _refuse_if_active_or_pending(snapshot: UserSnapshot, group: Group, access: Access, now: datetime) -> None:
        for p in snapshot.pending:
            if p.group_id == group.id and p.access is access:
                raise PendingRequestExists(p.id)
        for a in snapshot.active:
            if a.group.id == group.id and a.access is access and (a.end is None or a.end > now):
                raise AlreadyActive(a.end)

    async def _approver_names(self, policy: ActivationPolicy | None) -> tuple[str, ...]:
        if policy is None or not policy.approvers:
            return ()
        missing = [a.id for a in policy.approvers if not a.description]
        looked_up: dict[str, str] = {}
        if missing:
            try:
                looked_up = await self._directory.display_names(missing)
            except DirectoryError:
                log.warning("could not look up approver names", exc_info=True)
        return tuple(a.description or looked_up.get(a.id, "an approver") for a in policy.approvers)

    # ---- approvals ------------------------------------------------------------------------------------------

    async def approvers_for(self, group_id: str, access: Access, requester_id: str) -> tuple[ResolvedApprovers, bool]:
        """The user ids who may decide a request for this group (policy primary approvers, approver groups expanded
        to their members, never the requester), and whether the policy requires a reason from them."""
        policy = await self._directory.policy(group_id, access)
        members: dict[str, Sequence[str]] = {}
        for ref in policy.approvers:
            if ref.is_group and ref.id not in members:
                try:
                    members[ref.id] = await self._directory.group_members(ref.id)
                except DirectoryError:
                    log.warning("could not expand approver group %s", ref.id, exc_info=True)
        resolved = resolve_approvers(policy.approvers, members, requester_id=requester_id)
        return resolved, policy.approver_justification_required

    async def display_names(self, object_ids: Sequence[str]) -> dict[str, str]:
        try:
            return await self._directory.display_names(object_ids)
        except DirectoryError:
            log.warning("could not look up display names", exc_info=True)
            return {}

    async def sign_in_hint(self, user_id: str) -> str | None:
        """The UPN to suggest on a sign-in page, or None: a sign-in without a hint beats no sign-in."""
        try:
            return await self._directory.user_principal_name(user_id)
        except DirectoryError:
            log.warning("could not read the sign-in name of %s", user_id, exc_info=True)
            return None

    async def find_groups(self, name_or_id: str) -> Sequence[Group]:
        """Groups named exactly `name_or_id` (without case) or with that object id, read app-only: admin commands
        name any group in the directory, not only the admin's own eligibilities. DirectoryError kinds pass through."""
        return await self._directory.find_groups(name_or_id)

    async def review(
        self,
        actor: Actor,
        request_id: str,
        decision: Decision,
        justification: str | None,
        justification_required: bool,
    ) -> Review | ApprovalRefusal:
        """Read the approval as the approver (delegated: its stage says whether Graph lets this caller decide, and
        gives the stage id the write needs) and apply the rules: the Review to send, or why not. Raises
        SignInRequired / IdentityMismatch from the token provider, RequestRefused / DirectoryError kinds from Graph.
        Nothing is written."""
        # Both reads at once (the request app-only): a click waits for one Graph round trip before the write, not two.
        approval, request = await asyncio.gather(
            self._as_user(actor, lambda token: self._directory.approval(token, request_id)),
            self._directory.request(request_id),
            return_exceptions=True,
        )
        if isinstance(approval, BaseException):  # first: a sign-in the approver must complete, or Graph's refusal
            raise approval
        if isinstance(request, BaseException):
            raise request

        def verdict(request: PimRequest) -> Review | ApprovalRefusal:
            return decide(
                approval=approval,
                request=request,
                actor_id=actor.object_id,
                decision=decision,
                justification=justification,
                justification_required=justification_required,
                now=self._clock.now(),
            )

        answer = verdict(request)
        if isinstance(answer, ApprovalClosed) and request.status.is_pending:
            # The two reads disagree: the request read left before a cancel (or PIM's own closing) that the approval
            # read saw. Read the request once more, now after the approval, so the approver is told what PIM did
            # ("cancelled by the requester"), never "closed (PendingApproval)". Only this race pays the round trip.
            answer = verdict(await self._directory.request(request_id))
        return answer

    async def submit_review(self, actor: Actor, review: Review) -> None:
        """PATCH the approval stage as the approver. Refusals as `PimDirectory.decide` raises them."""
        await self._as_user(
            actor,
            lambda token: self._directory.decide(
                token, review.request_id, review.stage_id, review.decision, review.justification
            ),
        )

    async def request(self, request_id: str) -> PimRequest:
        """A request as it is now (app-only), e.g. to tell the requester until when an approved activation runs."""
        return await self._directory.request(request_id)

    async def waiting_in_groups(self, group_ids: Sequence[str]) -> WaitingRequests:
        """The requests waiting for approval in these groups, read app-only now, wherever they were made."""
        return await self._directory.waiting_in_groups(group_ids)

    async def awaiting(self, request: PimRequest) -> AwaitingApproval:
        """A waiting request found in PIM, as the outcome its activation through the bot would have had: the group's
        name, the policy's approvers, the duration asked, and when it expires. What cannot be read is left out (the
        group id stands for its name, no approver names)."""
        found = await self.display_names([request.group_id])
        group = Group(request.group_id, found.get(request.group_id) or request.group_id)
        try:
            policy: ActivationPolicy | None = await self._directory.policy(group.id, request.access)
        except (DirectoryError, RequestRefused):
            log.warning("could not read the policy of group %s", group.id, exc_info=True)
            policy = None
        start, end = request.start, request.ends
        duration = request.duration or (end - start if start is not None and end is not None else timedelta(0))
        created = request.created or self._clock.now()
        approvers = await self._approver_names(policy)
        return AwaitingApproval(group, request.access, request, duration, approvers, created + APPROVAL_WINDOW)

    async def decided_by(self, actor: Actor, request_id: str) -> AlreadyDecided | None:
        """Who decided a request, when and why, from the approval's stages as `actor` (an approver) reads them: Graph
        gives approvals to delegated callers only. None while no stage is decided."""
        approval = await self._as_user(actor, lambda token: self._directory.approval(token, request_id))
        reason = closed_reason(approval)
        return reason if isinstance(reason, AlreadyDecided) else None

    async def cancel(self, actor: Actor, request_id: str) -> None:
        """Cancel the actor's own pending request, as them (delegated)."""
        await self._as_user(actor, lambda token: self._directory.cancel(token, request_id))

    async def waiting_requests(
        self, actor: Actor, asked: str | None = None, *, scheduled: bool = False
    ) -> list[tuple[Group, PimRequest]]:
        """The actor's requests waiting for approval for the group named `asked` (name or id; None: every group), read
        from Graph now: the bot's own records know only the requests made through it, and "nothing to cancel" must be
        Graph's word. `scheduled`: also the activations PIM took for a later start (cancelled the same way)."""
        if scheduled:
            waiting, later = await asyncio.gather(
                self.waiting_requests(actor, asked), self.scheduled_requests(actor, asked)
            )
            return [*waiting, *later]
        snapshot = await self._directory.snapshot(actor.object_id, fresh=True)
        groups = {e.group.id.casefold(): e.group for e in snapshot.eligibilities}
        found: list[tuple[Group, PimRequest]] = []
        for request in snapshot.pending:
            group = groups.get(request.group_id.casefold(), Group(request.group_id, request.group_id))
            if asked is None or names.resolve(asked, [group]) is not None:
                found.append((group, request))
        return found

    # ---- deactivate -----------------------------------------------------------------------------------------

    async def deactivate(self, actor: Actor, command: Deactivate) -> list[Outcome]:
        try:
            snapshot = await self._directory.snapshot(actor.object_id, fresh=True)
        except DirectoryError as e:
            return [Failed(name, command.access or Access.MEMBER, e) for name in command.groups]
        return [await self._deactivate_one(actor, snapshot, name, command.access) for name in command.groups]

    async def deactivate_group(self, actor: Actor, group_id: str, access: Access) -> Outcome:
        try:
            snapshot = await self._directory.snapshot(actor.object_id, fresh=True)
        except DirectoryError as e:
            return Failed(group_id, access, e)
        return await self._deactivate_one(actor, snapshot, group_id, access)

    async def _deactivate_one(self, actor: Actor, snapshot: UserSnapshot, asked: str, access: Access | None) -> Outcome:
        now = self._clock.now()
        candidates = [a for a in snapshot.active if access is None or a.access is access]
        group = names.resolve(asked, [a.group for a in candidates])
        label_access = access or Access.MEMBER
        if group is None:
            known = names.resolve(asked, [e.group for e in snapshot.eligibilities])
            error: RequestRefused = NotActive()
            if known is None:
                suggestions = names.suggest(asked, self._group_names(snapshot))
                ends = [(a.group, a.access) for a in candidates if a.activated and a.group.display_name in suggestions]
                error = NotEligible(asked, suggestions, label_access, alternatives=ends)
            else:
                error = await self._scheduled_instead(actor, known, access) or error
            return Refused(known.display_name if known else asked, label_access, error, known)
        mine = [a for a in candidates if a.group.id == group.id]
        activated = [a for a in mine if a.activated]
        if not activated:
            return Refused(group.display_name, mine[0].access, NotActive(assigned_by_admin=True), group)
        active = next((a for a in activated if a.access is Access.MEMBER), activated[0])
        if active.start is not None and now < active.start + MINIMUM_ACTIVATION:
            earliest = active.start + MINIMUM_ACTIVATION
            too_soon = TooSoonToDeactivate(earliest, now=now, start=active.start, end=active.end)
            return Refused(group.display_name, active.access, too_soon, group)
        try:
            request = await self._as_user(
                actor, lambda token: self._directory.self_deactivate(token, group.id, active.access, actor.object_id)
            )
        except RequestRefused as e:
            return Refused(group.display_name, active.access, e.for_group(group.display_name, active.access), group)
        except OutcomeUnknown as e:
            if e.write is None:
                return Failed(group.display_name, active.access, e)
            return Unconfirmed(group, active.access, e.write)
        except DirectoryError as e:
            return Failed(group.display_name, active.access, e)
        return Deactivated(group, active.access, request)

    # ---- access about to end (issue 14 points 3 and 4) --------------------------------------------------------

    async def holdings(self, user_ids: Sequence[str], *, eligibilities: bool = False) -> Holdings:
        """What these users hold now, read app-only from Graph (`PimDirectory.holdings`): the background check of
        activations and eligibilities about to end."""
        return await self._directory.holdings(user_ids, eligibilities=eligibilities)

    async def ticket_required(self, group_id: str, access: Access) -> bool:
        """Whether the group's policy wants a ticket number (Ticketing) to activate, read app-only: the ending-soon
        card then asks for one. False when the policy cannot be read now; Keep it then meets the policy's answer as
        any activation does."""
        try:
            return (await self._directory.policy(group_id, access)).ticket_required
        except DirectoryError:
            log.warning("could not read the policy of %s to shape its ending-soon card", group_id, exc_info=True)
            return False

    async def ask_eligibility_change(
        self, actor: Actor, group_id: str, access: Access, change: EligibilityChange, justification: str
    ) -> ChangeAsked | Refused | Failed:
        """Ask, as the user, for their own eligibility for the group to be extended (it ends soon) or renewed (it
        ended): PIM keeps the request for an admin. The eligibility is read from Graph now, not taken from the card
        (card data is untrusted); Refused when there is none to extend or renew, or Graph refuses the request."""
        try:
            if change is EligibilityChange.EXTEND:
                snapshot = await self._directory.snapshot(actor.object_id, fresh=True)
                now = self._clock.now()
                found = [e for e in snapshot.eligibilities if e.end is not None and e.in_effect(now)]
            else:
                found = list(await self._directory.lapsed_eligibilities(actor.object_id))
        except DirectoryError as e:
            return Failed(group_id, access, e)
        own = [e for e in found if e.group.id.lower() == group_id.lower() and e.access is access and not e.inherited]
        if not own:
            return Refused(group_id, access, NotEligible(group_id, (), access))
        eligibility = max(own, key=lambda e: e.end or self._clock.now())
        name = eligibility.group.display_name
        try:
            request = await self._as_user(
                actor,
                lambda token: self._directory.request_eligibility_change(
                    token, change, eligibility, actor.object_id, justification
                ),
            )
        except RequestRefused as e:
            return Refused(name, access, e.for_group(name, access), eligibility.group)
        except DirectoryError as e:
            return Failed(name, access, e)
        return ChangeAsked(change, eligibility, request)

    async def _scheduled_instead(self, actor: Actor, group: Group, access: Access | None) -> RequestRefused | None:
        """Nothing of `group` is active: if an activation of it is scheduled, that is what to say (one read, only on
        this refusal path; a failure to read it says what it would have said anyway)."""
        try:
            later = await self._directory.scheduled(actor.object_id)
        except DirectoryError:
            return None
        for request, _ in later:
            if request.group_id.casefold() == group.id.casefold() and access in (None, request.access):
                return ScheduledNotStarted(request.start)
        return None

    # ---- status ---------------------------------------------------------------------------------------------

    async def status(self, actor: Actor) -> StatusView:
        """The user's eligibilities, active assignments, waiting requests and activations scheduled for later, read
        live from Graph (the scheduled ones beside the snapshot; a failure to read them only leaves them out)."""
        snapshot, scheduled = await asyncio.gather(
            self._directory.snapshot(actor.object_id, fresh=True),
            self._directory.scheduled(actor.object_id),
            return_exceptions=True,
        )
        if isinstance(snapshot, BaseException):
            raise snapshot
        if isinstance(scheduled, DirectoryError):
            log.warning("could not read the scheduled activations of %s: %s", actor.object_id, scheduled)
            scheduled = []
        elif isinstance(scheduled, BaseException):
            raise scheduled
        view = self._view(snapshot)
        names = dict(view.group_names)
        names.update({g.id: g.display_name for _, g in scheduled if g.display_name})
        return replace(view, scheduled=tuple(r for r, _ in scheduled), group_names=names)

    async def scheduled_requests(self, actor: Actor, asked: str | None = None) -> list[tuple[Group, PimRequest]]:
        """The actor's activations scheduled for later for the group named `asked` (None: every group), read from
        Graph now, each as the request to cancel."""
        found: list[tuple[Group, PimRequest]] = []
        for request, group in await self._directory.scheduled(actor.object_id):
            named = group if group.display_name else Group(group.id, group.id)
            if asked is None or names.resolve(asked, [named]) is not None:
                found.append((named, request))
        return found

    async def in_effect(self, principal_id: str, group_id: str, access: Access) -> bool:
        """Whether the directory shows the access as granted now (what Microsoft 365 apps read), app-only."""
        return await self._directory.holds(group_id, principal_id, access)

    async def glance(self, actor: Actor) -> StatusView:
        """What the user holds, to suggest what they may have meant after a slip: a snapshot read a short while ago,
        else one app-only read; with the maximum durations of the policies that came with it (none is read for
        them). Raises DirectoryError kinds."""
        snapshot = await self._directory.snapshot(actor.object_id)
        view = self._view(snapshot)
        maxima = {(e.group.id, e.access): p.maximum_duration for e in view.eligible if (p := _policy_of(snapshot, e))}
        return replace(view, maxima=maxima)

    def _view(self, snapshot: UserSnapshot) -> StatusView:
        group_names = {e.group.id: e.group.display_name for e in snapshot.eligibilities}
        group_names.update({a.group.id: a.group.display_name for a in snapshot.active})
        return StatusView(snapshot.eligibilities, snapshot.active, snapshot.pending, group_names, self._clock.now())

    # ---- resolution -----------------------------------------------------------------------------------------

    async def _target(self, actor: Actor, snapshot: UserSnapshot, asked: str, access: Access | None) -> _Target:
        """The eligibility the user means, or the refusal that explains why there is none."""
        found = self._find(snapshot, asked, access, self._clock.now())
        if isinstance(found, RequestRefused):
            raise found
        if found is None:
            raise await self._not_eligible(actor, snapshot, asked, access)
        return found

    @staticmethod
    def _find(
        snapshot: UserSnapshot, asked: str, access: Access | None, now: datetime
    ) -> _Target | RequestRefused | None:
        """The eligibility in effect the user means, the refusal when theirs is not in effect, or None when they hold
        no eligibility by that name (pure)."""
        eligibilities = [e for e in snapshot.eligibilities if access is None or e.access is access]
        group = names.resolve(asked, [e.group for e in eligibilities])
        if group is None:
            return None
        matching = [e for e in eligibilities if e.group.id == group.id]
        if access is None:
            # Member by default; owner when that is the only relationship the user may activate.
            members = [e for e in matching if e.access is Access.MEMBER]
            matching = members or matching
        in_effect = [e for e in matching if e.in_effect(now)]
        if not in_effect:
            e = min(matching, key=lambda e: e.start or now)
            return EligibilityNotInEffect(e.start, e.end, now).for_group(group.display_name, e.access)
        chosen = in_effect[0]
        return _Target(group, chosen.access, chosen)

    async def _not_eligible(
        self, actor: Actor, snapshot: UserSnapshot, asked: str, access: Access | None
    ) -> RequestRefused:
        """Why the user holds no eligibility by that name. Only on this refusal path: one more read, to tell "your
        eligibility ended" from "never eligible"."""
        now = self._clock.now()
        lapsed = [e for e in await self._directory.lapsed_eligibilities(actor.object_id) if access in (None, e.access)]
        ended = names.resolve(asked, [e.group for e in lapsed])
        if ended is not None:
            latest = max((e for e in lapsed if e.group.id == ended.id), key=lambda e: e.end or now)
            return EligibilityNotInEffect(latest.start, latest.end, now).for_group(ended.display_name, latest.access)
        other = names.resolve(asked, [e.group for e in snapshot.eligibilities])
        if other is not None and access is not None:
            # Eligible, but for the other relationship (e.g. asked "as owner", eligible as member).
            return NotEligible(other.display_name, [], access).for_group(other.display_name, access)
        suggestions = names.suggest(asked, self._group_names(snapshot))
        return NotEligible(
            asked, suggestions, access or Access.MEMBER, alternatives=self._activatable(snapshot, suggestions, access)
        )

    def _activatable(
        self, snapshot: UserSnapshot, group_names: Sequence[str], access: Access | None
    ) -> list[tuple[Group, Access]]:
        """Of the groups named, those the user could activate now, each with the access asked for, else member, else
        owner (as a command naming the group would choose)."""
        now = self._clock.now()
        found: list[tuple[Group, Access]] = []
        for name in group_names:
            target = self._find(snapshot, name, access, now)
            if isinstance(target, _Target):
                try:
                    self._refuse_if_active_or_pending(snapshot, target.group, target.access, now)
                except RequestRefused:
                    continue
                found.append((target.group, target.access))
        return found

    @staticmethod
    def _group_names(snapshot: UserSnapshot) -> Sequence[str]:
        return sorted({e.group.display_name for e in snapshot.eligibilities})


def _current_end(snapshot: UserSnapshot, target: _Target, now: datetime) -> datetime | None:
    """When the user's running activation of the target ends, to the second after (None: none runs, or it has no
    end)."""
    ends = [
        a.end
        for a in snapshot.active
        if a.group.id == target.group.id and a.access is target.access and a.activated and a.end and a.end > now
    ]
    if not ends:
        return None
    # The next whole second: a start written with less precision than Graph's end (milliseconds on the wire) must
    # not fall a fraction before it, inside the running activation.
    end = max(ends)
    return end + timedelta(microseconds=1_000_000 - end.microsecond) if end.microsecond else end


def _refuse_beyond_eligibility(eligibility: Eligibility, start: datetime | None, duration: timedelta) -> None:
    """A scheduled activation must start, and run, inside the eligibility: PIM activates only an eligibility in
    effect, and would end the activation with it (so the user would get less than asked without being told)."""
    if start is None or eligibility.end is None:
        return
    if start + duration > eligibility.end:
        raise StartAfterEligibility(start, start + duration, eligibility.end)


def _policy_of(snapshot: UserSnapshot, eligibility: Eligibility) -> ActivationPolicy | None:
    return snapshot.policies.get((eligibility.group.id, eligibility.access))
