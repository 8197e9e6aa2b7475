"""In-memory stand-ins for the core ports, in three groups of methods: seed (arrange state), behave (the port), observe.

`FakeDirectory` is stateful and refuses what Graph refuses, with the core error kinds graph/ maps Graph's errors to:
a write with someone else's token (403), no eligibility in effect (EligibilityRule), a pending duplicate
(PendingRoleAssignmentRequest), already active (RoleAssignmentExists), under five minutes, over the policy maximum
(ExpirationRule: Graph's message does not carry the maximum), missing justification/ticket (JustificationRule /
TicketingRule), and on selfDeactivate: not active (RoleAssignmentDoesNotExist), within five minutes
(ActiveDurationTooShort). A refused write changes nothing; every call is recorded.

It keeps what it read as graph/pim.py does (a snapshot for a minute, policies until a test changes them): a snapshot
or policy call records `read=False` when a kept copy answered, and `io` lists only the calls that went to Graph.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import (
    AlreadyActive,
    AlreadyDecided,
    ApprovalClosed,
    DurationTooLong,
    DurationTooShort,
    EligibilityNotInEffect,
    MissingApproverJustification,
    MissingInputs,
    NotActive,
    NotAnApprover,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    PermissionDenied,
    PimError,
    RequestNotFound,
    TooSoonToDeactivate,
)
from core.models import (
    MINIMUM_ACTIVATION,
    Access,
    ActivationPolicy,
    ActiveAssignment,
    Approval,
    ApprovalStage,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    RequestStatus,
    ReviewResult,
    SentWrite,
    StageStatus,
    WriteKind,
)
from core.names import resolve
from core.ports import ActivationInput, GroupMembers, PolicyKey, PolicyQuery, UserSnapshot, WaitingRequests
from core.service import PimService

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FixedClock:
    """Time stands still unless a test moves it."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> None:
        self.current += by


def token_of(object_id: str) -> str:
    return f"delegated-token-of-{object_id}"


class FakeTokens:
    """Hands out a recognisable delegated token per user and remembers who asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []  # (object id, tenant id)
        self.refreshed: list[str] = []  # object ids whose token Graph refused

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        self.asked.append((user_object_id, tenant_id))
        return token_of(user_object_id)

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        self.refreshed.append(user_object_id)


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any] = field(default_factory=dict)


class FakeDirectory:
    """A `core.ports.PimDirectory` over in-memory state, for any number of users."""

    SNAPSHOT_TTL = timedelta(seconds=60)  # as graph/pim.py caches a user's snapshot
    WRITES = frozenset({"self_activate", "self_deactivate", "decide", "cancel"})

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self._eligible: dict[str, list[Eligibility]] = defaultdict(list)
        self._active: dict[str, list[ActiveAssignment]] = defaultdict(list)
        self._pending: dict[str, list[PimRequest]] = defaultdict(list)
        self._policies: dict[tuple[str, Access], ActivationPolicy] = {}
        self._cached: dict[tuple[str, Access], ActivationPolicy] = {}  # the copies the bot holds, maybe outdated
        self._snapshots: dict[str, tuple[UserSnapshot, datetime]] = {}  # cached copy, read at
        self._known: dict[tuple[str, Access], Group] = {}
        self._names: dict[str, str] = {}
        self._failures: dict[str, PimError] = {}
        self._ids = itertools.count(1)
        self.server_skew = timedelta(0)  # Graph stamps createdDateTime with its own clock
        self._members: dict[str, list[str]] = defaultdict(list)
        self._approvers: dict[str, set[str]] = {}  # request id → user ids who may decide it
        self._approvals: dict[str, Approval] = {}
        self._requests: dict[str, PimRequest] = {}
        self._made: list[PimRequest] = []  # every self-service request, as Graph lists a user's requests
        self._lost: set[str] = set()  # writes whose next answer is lost after the work is done

    # ---- seed -------------------------------------------------------------------------------------------------

    def eligible(
        self,
        user: str,
        group: Group,
        access: Access = Access.MEMBER,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Eligibility:
        """An eligibility schedule; one that has ended shows only in `lapsed_eligibilities`, as in Graph."""
        eligibility = Eligibility(group, access, start, end)
        self._eligible[user].append(eligibility)
        return eligibility

    def activated(
        self, user: str, group: Group, access: Access = Access.MEMBER, *, start: datetime, end: datetime | None
    ) -> ActiveAssignment:
        active = ActiveAssignment(group, access, start, end, activated=True)
        self._active[user].append(active)
        return active

    def assigned_by_admin(self, user: str, group: Group, access: Access = Access.MEMBER) -> ActiveAssignment:
        active = ActiveAssignment(group, access, None, None, activated=False)
        self._active[user].append(active)
        return active

    def pending_request(self, user: str, group: Group, access: Access = Access.MEMBER) -> PimRequest:
        request = PimRequest(
            f"req-{next(self._ids)}", RequestStatus.PENDING_APPROVAL, "selfActivate", group.id, access, user,
            created=self.clock.now(),
        )  # fmt: skip
        self._pending[user].append(request)
        return request

    def policy_for(
        self, group: Group, access: Access = Access.MEMBER, *, cached: bool | None = True, **rules: Any
    ) -> ActivationPolicy:
        """The group's policy; `cached=True` puts this copy in the bot's policy cache, `cached=False` leaves the
        cache cold for it, None leaves the cache as it is (an admin changing a policy the bot may hold)."""
        policy = ActivationPolicy(group.id, access, **rules)
        self._policies[group.id, access] = policy
        if cached is True:
            self._cached[group.id, access] = policy
        elif cached is False:
            self._cached.pop((group.id, access), None)
        return policy

    def name(self, object_id: str, display_name: str) -> None:
        self._names[object_id] = display_name

    def members(self, group_id: str, *user_ids: str) -> None:
        self._members[group_id] = list(user_ids)

    def awaiting_approval(self, request: PimRequest, approvers: Sequence[str]) -> Approval:
        """A request waiting for one of `approvers` (user ids, already resolved)."""
        self._requests[request.id] = request
        self._approvers[request.id] = set(approvers)
        self._approvals[request.id] = Approval(
            request.id, (ApprovalStage(f"stage-{request.id}", StageStatus.IN_PROGRESS),)
        )
        return self._approvals[request.id]

    def fail(self, method: str, error: PimError) -> None:
        """Every later call of `method` raises `error`."""
        self._failures[method] = error

    def heal(self, method: str) -> None:
        self._failures.pop(method, None)

    def lose_answer(self, method: str) -> None:
        """The next `self_activate` / `self_deactivate` is carried out, but its answer is lost and cannot be read back
        (`OutcomeUnknown`, as graph/pim.py raises it then)."""
        self._lost.add(method)

    def _answered(self, method: str, made: PimRequest, sent_at: datetime, justification: str | None) -> PimRequest:
        self._made.append(made)
        if method not in self._lost:
            return made
        self._lost.discard(method)
        kind = WriteKind.ACTIVATE if method == "self_activate" else WriteKind.DEACTIVATE
        write = SentWrite(kind, made.group_id, made.access, made.principal_id, sent_at, justification)
        raise OutcomeUnknown("answer lost", write=write)

    # ---- observe ----------------------------------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in self.WRITES]

    @property
    def io(self) -> list[Call]:
        """The calls that went to Graph: not those a kept snapshot or policy answered."""
        return [c for c in self.calls if c.args.get("read", True)]

    def holds_snapshot(self, user: str) -> bool:
        """Whether a snapshot of the user is kept (the next one is not read from Graph)."""
        kept = self._snapshots.get(user)
        return kept is not None and self.clock.now() < kept[1] + self.SNAPSHOT_TTL

    def active_of(self, user: str) -> list[ActiveAssignment]:
        return list(self._active[user])

    def pending_of(self, user: str) -> list[PimRequest]:
        return list(self._pending[user])

    # ---- behave: the port -------------------------------------------------------------------------------------

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(Call(method, args))
        if method in self._failures:
            raise self._failures[method]

    def _policy(self, group_id: str, access: Access) -> ActivationPolicy:
        return self._policies.get((group_id, access)) or ActivationPolicy(group_id, access)

    def _current(self, user: str) -> list[Eligibility]:
        now = self.clock.now()
        return [e for e in self._eligible[user] if e.end is None or now < e.end]

    async def snapshot(
        self,
        principal_id: str,
        *,
        fresh: bool = False,
        recheck: Callable[[UserSnapshot], bool] | None = None,
        policies: PolicyQuery | None = None,
    ) -> UserSnapshot:
        """A copy read less than a minute ago unless `fresh` or `recheck` doubts it (as the real directory: live state
        only when it reads Graph); the asked policies not kept, or kept but doubted, are read with it."""
        query = policies or PolicyQuery()
        keys = list(dict.fromkeys([*query.keys, *self._named(query)]))
        unread = [key for key in keys if not self._holds(key, query.recheck)]
        kept = None if fresh or not self.holds_snapshot(principal_id) else self._snapshots[principal_id][0]
        if kept is not None and recheck is not None and recheck(kept):
            kept = None
        self._record(
            "snapshot", principal_id=principal_id, read=kept is None, **({"policies": unread} if unread else {})
        )
        for key in unread:
            self._cached[key] = self._policy(*key)
        if kept is None:
            kept = UserSnapshot(
                tuple(self._current(principal_id)),
                tuple(self._active[principal_id]),
                tuple(self._pending[principal_id]),
            )
            self._snapshots[principal_id] = (kept, self.clock.now())
            self._known.update({(e.group.id, e.access): e.group for e in kept.eligibilities})
        return replace(kept, policies=self._policies_with(kept, keys, query.recheck))

    def _named(self, query: PolicyQuery) -> list[PolicyKey]:
        return [
            (group.id, query.access or seen_as)
            for name in query.names
            for (_, seen_as), group in self._known.items()
            if resolve(name, [group]) is not None
        ]

    def _holds(self, key: PolicyKey, recheck: Callable[[ActivationPolicy], bool] | None) -> bool:
        kept = self._cached.get(key)
        return kept is not None and (recheck is None or not recheck(kept))

    def _policies_with(
        self, snapshot: UserSnapshot, keys: Sequence[PolicyKey], recheck: Callable[[ActivationPolicy], bool] | None
    ) -> Mapping[PolicyKey, ActivationPolicy]:
        """The asked policies (read now or kept), and those of the snapshot's groups kept and not doubted."""
        found = {key: self._cached[key] for key in keys if key in self._cached}
        for e in snapshot.eligibilities:
            key = (e.group.id, e.access)
            if key not in found and self._holds(key, recheck):
                found[key] = self._cached[key]
        return found

    async def policy(
        self, group_id: str, access: Access, *, recheck: Callable[[ActivationPolicy], bool] | None = None
    ) -> ActivationPolicy:
        key = (group_id, access)
        read = not self._holds(key, recheck)
        self._record("policy", group_id=group_id, access=access, read=read)
        if read:
            self._cached[key] = self._policy(group_id, access)
        return self._cached[key]

    def _forget(self, user: str) -> None:
        self._snapshots.pop(user, None)

    def _closed_request(self, request_id: str) -> None:
        """As graph/pim.py: a kept snapshot that still shows the request waiting is dropped."""
        for user, (snapshot, _) in list(self._snapshots.items()):
            if any(p.id == request_id for p in snapshot.pending):
                del self._snapshots[user]

    async def self_activate(self, token: str, request: ActivationInput) -> PimRequest:
        self._forget(request.principal_id)  # whatever comes of it
        self._record("self_activate", token=token, request=request)
        key = (request.group_id, request.access)
        policy = self._policy(*key)
        user, now = request.principal_id, self.clock.now()
        stamped = now + self.server_skew
        if token != token_of(user):
            raise PermissionDenied("the caller is not the principal of the request")
        schedules = [e for e in self._eligible[user] if (e.group.id, e.access) == key]
        if not any(e.in_effect(now) for e in schedules):
            if schedules:
                raise EligibilityNotInEffect(schedules[0].start, schedules[0].end, now)
            raise NotEligible(request.group_id, access=request.access)
        for p in self._pending[user]:
            if (p.group_id, p.access) == key:
                raise PendingRequestExists(p.id)
        for a in self._active[user]:
            if (a.group.id, a.access) == key and (a.end is None or now < a.end):
                raise AlreadyActive(a.end)
        if request.duration < MINIMUM_ACTIVATION:
            raise DurationTooShort(request.duration)
        if policy.expiration_required and request.duration > policy.maximum_duration:
            raise DurationTooLong(request.duration, None)
        need_justification = policy.justification_required and not (request.justification or "").strip()
        need_ticket = policy.ticket_required and request.ticket is None
        if need_justification or need_ticket:
            raise MissingInputs(need_justification, need_ticket)
        created = PimRequest(
            f"req-{next(self._ids)}", RequestStatus.PROVISIONED, "selfActivate", request.group_id, request.access,
            user, created=stamped, start=request.start, duration=request.duration, justification=request.justification,
            ticket=request.ticket,
        )  # fmt: skip
        if policy.approval_required:
            created = replace(created, status=RequestStatus.PENDING_APPROVAL)
            self._pending[user].append(created)
        elif request.start > now:  # scheduled: no instance before it starts (as the simulated tenant)
            created = replace(created, status=RequestStatus.SCHEDULE_CREATED)
        else:
            group = next(e.group for e in schedules)
            self._active[user].append(ActiveAssignment(group, request.access, request.start, created.ends, True))
        return self._answered("self_activate", created, now, request.justification)

    async def self_deactivate(self, token: str, group_id: str, access: Access, principal_id: str) -> PimRequest:
        self._forget(principal_id)  # whatever comes of it
        self._record("self_deactivate", token=token, group_id=group_id, access=access, principal_id=principal_id)
        if token != token_of(principal_id):
            raise PermissionDenied("the caller is not the principal of the request")
        now = self.clock.now()
        mine = [a for a in self._active[principal_id] if (a.group.id, a.access) == (group_id, access)]
        if not mine:
            raise NotActive()
        active = mine[0]
        if not active.activated:
            raise NotActive(assigned_by_admin=True)
        if active.start is not None and now < active.start + MINIMUM_ACTIVATION:
            raise TooSoonToDeactivate(active.start + MINIMUM_ACTIVATION)
        self._active[principal_id].remove(active)
        made = PimRequest(
            f"req-{next(self._ids)}", RequestStatus.REVOKED, "selfDeactivate", group_id, access, principal_id,
            created=now,
        )  # fmt: skip
        return self._answered("self_deactivate", made, now, None)

    async def find_write(self, write: SentWrite) -> PimRequest | None:
        self._record("find_write", write=write)
        action = "selfActivate" if write.kind is WriteKind.ACTIVATE else "selfDeactivate"
        made = [
            r
            for r in self._made
            if (r.action, r.group_id, r.access, r.principal_id)
            == (action, write.group_id, write.access, write.principal_id)
            and r.created is not None
            and r.created >= write.sent_at - timedelta(seconds=60)  # Graph's clock may differ from ours
        ]
        if not made:
            return None
        self._forget(write.principal_id)  # the write landed
        return made[-1]

    async def scheduled(self, principal_id: str) -> Sequence[tuple[PimRequest, Group]]:
        self._record("scheduled", principal_id=principal_id)
        now = self.clock.now()
        groups = {e.group.id: e.group for e in self._eligible[principal_id]}
        return [
            (r, groups.get(r.group_id, Group(r.group_id, "")))
            for r in self._made
            if r.principal_id == principal_id
            and r.action == "selfActivate"
            and r.start is not None
            and r.start > now
            and r.status not in (RequestStatus.CANCELED, RequestStatus.DENIED, RequestStatus.FAILED)
        ]

    async def holds(self, group_id: str, principal_id: str, access: Access) -> bool:
        self._record("holds", group_id=group_id, principal_id=principal_id, access=access)
        now = self.clock.now()
        return any(
            a.group.id == group_id and a.access is access and (a.start is None or a.start <= now)
            for a in self._active[principal_id]
        )

    async def lapsed_eligibilities(self, principal_id: str) -> Sequence[Eligibility]:
        self._record("lapsed_eligibilities", principal_id=principal_id)
        now = self.clock.now()
        return [e for e in self._eligible[principal_id] if e.end is not None and e.end <= now]

    async def display_names(self, object_ids: Sequence[str]) -> dict[str, str]:
        self._record("display_names", object_ids=list(object_ids))
        return {i: self._names[i] for i in object_ids if i in self._names}

    async def user_principal_name(self, user_id: str) -> str | None:
        self._record("user_principal_name", user_id=user_id)
        return None

    # approvals: one stage, approvers as seeded; a delegated token is recognised by `token_of`

    def _request(self, request_id: str) -> PimRequest:
        if request_id not in self._requests:
            raise RequestNotFound(request_id)
        return self._requests[request_id]

    async def request(self, request_id: str) -> PimRequest:
        self._record("request", request_id=request_id)
        if request_id not in self._requests or not self._requests[request_id].status.is_pending:
            self._closed_request(request_id)
        return self._request(request_id)

    async def waiting_in_groups(self, group_ids: Sequence[str]) -> WaitingRequests:
        self._record("waiting_in_groups", group_ids=list(group_ids))
        wanted = {g.casefold() for g in group_ids}
        return WaitingRequests(
            tuple(
                r
                for r in self._requests.values()
                if r.group_id.casefold() in wanted and r.status is RequestStatus.PENDING_APPROVAL
            )
        )

    async def group_members(self, group_id: str) -> Sequence[str]:
        self._record("group_members", group_id=group_id)
        return list(self._members[group_id])

    async def find_groups(self, name_or_id: str) -> Sequence[Group]:
        self._record("find_groups", name_or_id=name_or_id)
        wanted = name_or_id.casefold()
        return [Group(i, n) for i, n in self._names.items() if wanted in (i.casefold(), n.casefold())]

    async def members_of(self, group_id: str) -> GroupMembers:
        """The seeded members; a member id that is itself a seeded group counts as a nested group."""
        self._record("members_of", group_id=group_id)
        members = self._members.get(group_id, [])
        return GroupMembers(
            tuple(m for m in members if m not in self._members), tuple(m for m in members if m in self._members)
        )

    async def approval(self, token: str, request_id: str) -> Approval:
        self._record("approval", token=token, request_id=request_id)
        self._request(request_id)
        approval = self._approvals[request_id]
        mine = any(token == token_of(user) for user in self._approvers[request_id])
        return replace(approval, stages=tuple(replace(s, assigned_to_me=mine) for s in approval.stages))

    async def decide(
        self, token: str, request_id: str, stage_id: str, decision: Decision, justification: str | None
    ) -> None:
        try:
            await self._decide(token, request_id, stage_id, decision, justification)
        finally:
            self._closed_request(request_id)

    async def _decide(
        self, token: str, request_id: str, stage_id: str, decision: Decision, justification: str | None
    ) -> None:
        self._record(
            "decide", token=token, request_id=request_id, stage_id=stage_id, decision=decision,
            justification=justification,
        )  # fmt: skip
        request = self._request(request_id)
        approver = next((u for u in self._approvers[request_id] if token == token_of(u)), None)
        if approver is None or approver == request.principal_id:
            raise NotAnApprover(request_id)
        stage = self._approvals[request_id].stages[0]
        if stage.decided:
            raise AlreadyDecided(stage.review_result.decision, stage.reviewed_by, stage.reviewed_at)
        if stage.status is not StageStatus.IN_PROGRESS:
            raise ApprovalClosed(request.status.value)
        policy = self._policy(request.group_id, request.access)
        if policy.approver_justification_required and not (justification or "").strip():
            raise MissingApproverJustification(decision)
        now = self.clock.now()
        approved = decision is Decision.APPROVE
        self._approvals[request_id] = Approval(request_id, (replace(
            stage, status=StageStatus.COMPLETED, reviewed_by=approver, reviewed_at=now,
            review_result=ReviewResult.APPROVED if approved else ReviewResult.DENIED, justification=justification or "",
        ),))  # fmt: skip
        self._close(request, RequestStatus.PROVISIONED if approved else RequestStatus.DENIED)

    async def cancel(self, token: str, request_id: str) -> None:
        self._closed_request(request_id)
        self._record("cancel", token=token, request_id=request_id)
        request = self._request(request_id)
        if token != token_of(request.principal_id):
            raise PermissionDenied("only the requester can cancel")
        if request.status is not RequestStatus.PENDING_APPROVAL:
            raise ApprovalClosed(request.status.value)
        stage = self._approvals[request_id].stages[0]
        self._approvals[request_id] = Approval(request_id, (replace(stage, status=StageStatus.COMPLETED),))
        self._close(request, RequestStatus.CANCELED)

    def _close(self, request: PimRequest, status: RequestStatus) -> None:
        self._requests[request.id] = replace(request, status=status, raw_status=status.value)
        self._pending[request.principal_id] = [p for p in self._pending[request.principal_id] if p.id != request.id]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def directory(clock: FixedClock) -> FakeDirectory:
    return FakeDirectory(clock)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def service(directory: FakeDirectory, tokens: FakeTokens, clock: FixedClock) -> PimService:
    return PimService(directory, tokens, clock)
