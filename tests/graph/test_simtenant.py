"""graph/ against the simulated tenant over real HTTPS (its throwaway CA): round trips counted by the tenant, refusals
produced by its rule engine, app tokens from msal through `AppTokenSource` as app.py wires them."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

import simtenant
from core.admins import ADMINS_TTL, Admins
from core.errors import (
    AlreadyActive,
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    DirectoryUnavailable,
    DurationTooLong,
    EligibilityNotInEffect,
    MissingApproverJustification,
    MissingInputs,
    NotActive,
    NotAnApprover,
    NotEligible,
    PendingRequestExists,
    PermissionDenied,
    RequestNotFound,
    StepUpRequired,
    Throttled,
    TooSoonToDeactivate,
)
from core.models import Access, Actor, ApproverRef, Decision, RequestStatus, ReviewResult, Ticket
from core.ports import ActivationInput, GroupMembers, PolicyQuery
from graph import AppTokenSource, GraphClient, GraphPimDirectory, SimulatedTenantTokens, wire
from simtenant import seed
from tests.fakes.graphstub import app_token_source
from tests.support.tenant import GRAPH_DEFAULT, msal_app

ALICE, BOB, CAROL, DAVE, FRANK = seed.ALICE, seed.BOB, seed.CAROL, seed.DAVE, seed.FRANK
EXCHANGE, TEAMS, SECOPS = seed.EXCHANGE_ADMINS, seed.TEAMS_ADMINS, seed.SECURITY_OPERATORS
PRA, FINANCE, HELPDESK = seed.PRIVILEGED_ROLE_ADMINS, seed.FINANCE_PROD, seed.HELPDESK_TIER1
SHAREPOINT, INTUNE, APPROVERS = seed.SHAREPOINT_ADMINS, seed.INTUNE_ADMINS, seed.PIM_APPROVERS
HOUR = timedelta(hours=1)


@dataclass
class Rig:
    sim: Any  # simtenant.RunningSimTenant
    http: httpx.AsyncClient
    directory: GraphPimDirectory
    tokens: SimulatedTenantTokens
    app_token: AppTokenSource

    @property
    def tenant(self) -> Any:
        return self.sim.tenant

    def graph_requests(self) -> int:
        return int(self.tenant.stats.graph_requests)

    def reset_stats(self) -> None:
        self.tenant.stats.reset()

    async def settings(self, **values: Any) -> None:
        response = await self.http.post(f"{self.sim.control_url}/settings", json=values)
        assert response.status_code == 200, response.text

    async def fault(self, **spec: Any) -> None:
        response = await self.http.post(f"{self.sim.control_url}/faults", json=spec)
        assert response.status_code in (200, 201), response.text

    def activation(
        self,
        group: str,
        duration: timedelta = HOUR,
        *,
        justification: str | None = "INC-4711",
        ticket: Ticket | None = None,
        access: Access = Access.MEMBER,
    ) -> ActivationInput:
        return ActivationInput(group, access, ALICE, self.tenant.now(), duration, justification, ticket)

    async def activate(self, group: str, duration: timedelta = HOUR, *, token: str | None = None, **kwargs: Any) -> Any:
        token = token or await self.tokens.token_for(ALICE, self.sim.tenant_id)
        return await self.directory.self_activate(token, self.activation(group, duration, **kwargs))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    tenant = simtenant.build_tenant("demo")
    tenant.clock.freeze()
    async with simtenant.run_simtenant(tenant=tenant) as sim:
        async with httpx.AsyncClient(verify=sim.ssl_context(), timeout=5.0) as http:
            async with msal_app(sim) as app:
                app_token = AppTokenSource(functools.partial(app.acquire_token_for_client, scopes=GRAPH_DEFAULT))
                client = GraphClient(http, sim.graph_base_url, app_token, max_retry_wait=3.0)
                directory = GraphPimDirectory(client, tenant.clock)
                await app_token()  # msal's first token outside the counted round trips
                tenant.stats.reset()
                yield Rig(sim, http, directory, SimulatedTenantTokens(http, sim.control_url), app_token)


async def test_snapshot_is_one_round_trip(rig: Rig) -> None:
    snapshot = await rig.directory.snapshot(ALICE)
    assert rig.graph_requests() == 1
    eligible = {(e.group.display_name, e.access, e.inherited) for e in snapshot.eligibilities}
    assert {
        ("Exchange-Admins", Access.MEMBER, False),
        ("Exchange-Admins", Access.OWNER, False),
        ("Teams Admins", Access.MEMBER, False),
        ("Helpdesk-Tier1", Access.MEMBER, True),
        ("Intune-Admins", Access.MEMBER, False),
    } <= eligible
    assert "SharePoint-Admins" not in {e.group.display_name for e in snapshot.eligibilities}  # lapsed
    assert snapshot.active == () and snapshot.pending == ()
    await rig.directory.snapshot(ALICE)
    assert rig.graph_requests() == 1  # cached


async def test_snapshot_pages_through_small_pages(rig: Rig) -> None:
    await rig.settings(page_size=2)
    snapshot = await rig.directory.snapshot(ALICE)
    assert len(snapshot.eligibilities) >= 7
    assert rig.graph_requests() > 1  # the batch, then nextLinks


async def test_warm_activation_is_one_round_trip(rig: Rig) -> None:
    token = await rig.tokens.token_for(ALICE, rig.sim.tenant_id)
    await rig.directory.policy(EXCHANGE, Access.MEMBER)
    rig.reset_stats()
    request = await rig.activate(EXCHANGE, 2 * HOUR, token=token)
    assert rig.graph_requests() == 1
    assert request.status is RequestStatus.PROVISIONED and request.ends == rig.tenant.now() + 2 * HOUR
    snapshot = await rig.directory.snapshot(ALICE)
    assert [(a.group.id, a.activated) for a in snapshot.active] == [(EXCHANGE, True)]


async def test_the_snapshot_and_the_policies_are_one_app_only_round_trip(rig: Rig) -> None:
    query = PolicyQuery(keys=((TEAMS, Access.MEMBER), (SECOPS, Access.MEMBER)))
    snapshot = await rig.directory.snapshot(ALICE, policies=query)
    assert rig.graph_requests() == 1
    assert len(snapshot.eligibilities) >= 7
    teams = snapshot.policies[(TEAMS, Access.MEMBER)]
    assert teams.maximum_duration == 4 * HOUR
    assert teams.justification_required and teams.ticket_required
    assert (SECOPS, Access.MEMBER) in snapshot.policies
    reads = [e for e in rig.tenant.log.recent() if e["path"].startswith("/v1.0/")]
    assert {e["caller"] for e in reads} == {"app"} and len(reads) == 6  # $batch + 3 reads + 2 policies


async def test_the_tenant_refuses_alices_own_policy_read_as_graph_may(rig: Rig) -> None:
    """Alice is eligible for Teams Admins, not its owner or member, and holds no admin role: a read of its policy
    with her token is refused (the product reads policies app-only)."""
    token = await rig.tokens.token_for(ALICE, rig.sim.tenant_id)
    path, params = wire.policy_query(TEAMS, Access.MEMBER)
    response = await rig.http.get(
        rig.sim.graph_base_url + path, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403


async def test_policies_as_seeded(rig: Rig) -> None:
    secops = await rig.directory.policy(SECOPS, Access.MEMBER)
    assert secops.approval_required and secops.justification_required and secops.approver_justification_required
    assert {(a.id, a.is_group) for a in secops.approvers} == {(BOB, False), (APPROVERS, True)}
    assert all(isinstance(a, ApproverRef) for a in secops.approvers)
    assert (await rig.directory.policy(PRA, Access.MEMBER)).mfa_required
    assert (await rig.directory.policy(FINANCE, Access.MEMBER)).authentication_context == "c1"
    exchange = await rig.directory.policy(EXCHANGE, Access.MEMBER)
    assert exchange.maximum_duration == 8 * HOUR and not exchange.justification_required


async def test_approval_required_activation_is_pending(rig: Rig) -> None:
    request = await rig.activate(SECOPS, HOUR)
    assert request.status is RequestStatus.PENDING_APPROVAL
    snapshot = await rig.directory.snapshot(ALICE)
    assert [(p.id, p.group_id) for p in snapshot.pending] == [(request.id, SECOPS)]
    with pytest.raises(PendingRequestExists) as caught:
        await rig.activate(SECOPS, HOUR)
    assert caught.value.request_id == request.id


@pytest.mark.parametrize("wrapped", [False, True], ids=["clean", "pim-wrapped"])
@pytest.mark.parametrize("style", ["array", "text"])
async def test_refusals_map_to_core_errors(rig: Rig, wrapped: bool, style: str) -> None:
    await rig.settings(wrapped_errors=wrapped, policy_message_style=style)

    with pytest.raises(MissingInputs) as missing:
        await rig.activate(TEAMS, HOUR)  # justification given, no ticket
    assert (missing.value.justification, missing.value.ticket) == (False, True)

    await rig.directory.policy(EXCHANGE, Access.MEMBER)
    with pytest.raises(DurationTooLong) as too_long:
        await rig.activate(EXCHANGE, 9 * HOUR)
    assert (too_long.value.requested, too_long.value.maximum) == (9 * HOUR, 8 * HOUR)

    with pytest.raises(StepUpRequired) as mfa:
        await rig.activate(PRA, HOUR)
    assert mfa.value.mfa

    with pytest.raises(StepUpRequired) as acrs:
        await rig.activate(FINANCE, HOUR)
    assert not acrs.value.mfa and acrs.value.authentication_context == "c1"
    assert json.loads(acrs.value.claims or "") == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}

    with pytest.raises(NotEligible):
        await rig.activate(APPROVERS, HOUR)

    with pytest.raises(EligibilityNotInEffect) as future:
        await rig.activate(INTUNE, HOUR)
    assert future.value.not_started

    with pytest.raises(EligibilityNotInEffect) as lapsed:
        await rig.activate(SHAREPOINT, HOUR)
    assert not lapsed.value.not_started and lapsed.value.end is not None

    request = await rig.activate(EXCHANGE, 2 * HOUR)
    with pytest.raises(AlreadyActive) as active:
        await rig.activate(EXCHANGE, HOUR)
    assert active.value.until == request.ends


async def test_step_up_tokens_satisfy_mfa_and_auth_context(rig: Rig) -> None:
    mfa = await rig.tokens.step_up_token(ALICE, mfa=True)
    request = await rig.activate(PRA, HOUR, token=mfa)
    assert request.status is RequestStatus.PROVISIONED
    context = await rig.tokens.step_up_token(ALICE, mfa=True, acrs=["c1"])
    request = await rig.activate(FINANCE, HOUR, token=context)
    assert request.status is RequestStatus.PROVISIONED


async def test_inherited_eligibility_activates(rig: Rig) -> None:
    request = await rig.activate(HELPDESK, HOUR)
    assert request.status is RequestStatus.PROVISIONED


async def test_deactivation_rules(rig: Rig) -> None:
    token = await rig.tokens.token_for(ALICE, rig.sim.tenant_id)
    with pytest.raises(NotActive):
        await rig.directory.self_deactivate(token, EXCHANGE, Access.MEMBER, ALICE)
    await rig.activate(EXCHANGE, 2 * HOUR)
    with pytest.raises(TooSoonToDeactivate) as too_soon:
        await rig.directory.self_deactivate(token, EXCHANGE, Access.MEMBER, ALICE)
    assert too_soon.value.earliest == rig.tenant.now() + timedelta(minutes=5)
    rig.tenant.clock.advance(timedelta(minutes=6))
    request = await rig.directory.self_deactivate(token, EXCHANGE, Access.MEMBER, ALICE)
    assert request.status is RequestStatus.REVOKED
    assert (await rig.directory.snapshot(ALICE)).active == ()


async def test_activation_whose_answer_is_lost_is_not_made_twice(rig: Rig) -> None:
    """The tenant carries out the POST, then the client gives up waiting: the directory finds it by listing."""
    http = httpx.AsyncClient(verify=rig.sim.ssl_context(), timeout=httpx.Timeout(5.0, read=0.3))
    client = GraphClient(http, rig.sim.graph_base_url, rig.app_token)
    directory = GraphPimDirectory(client, rig.tenant.clock)
    await rig.fault(method="POST", path="assignmentScheduleRequests$", after_processing=True, delay_seconds=0.6)
    token = await rig.tokens.token_for(ALICE, rig.sim.tenant_id)
    async with http:
        request = await directory.self_activate(token, rig.activation(EXCHANGE))
    assert request.status is RequestStatus.PROVISIONED
    posts = [r for r in rig.tenant.requests_for("assignment", principal_id=ALICE) if r.action == "selfActivate"]
    assert len(posts) == 1 and posts[0].id == request.id
    routes = rig.tenant.stats.by_route
    assert (routes["POST assignmentScheduleRequests"], routes["GET assignmentScheduleRequests"]) == (1, 1)


async def test_throttling_beyond_the_wait_cap_says_when_to_retry(rig: Rig) -> None:
    await rig.fault(method="POST", path="assignmentScheduleRequests$", status=429, retry_after=30, times=1)
    with pytest.raises(Throttled) as caught:
        await rig.activate(EXCHANGE, HOUR)
    assert caught.value.retry_after == 30


async def test_short_throttling_is_waited_out(rig: Rig) -> None:
    await rig.fault(path="eligibilitySchedules", status=429, retry_after=0.05, times=1)
    snapshot = await rig.directory.snapshot(ALICE)
    assert snapshot.eligibilities


async def test_persistent_outage_is_directory_unavailable(rig: Rig) -> None:
    await rig.fault(path="eligibilitySchedules", status=500, times=None)
    with pytest.raises(DirectoryUnavailable):
        await rig.directory.snapshot(ALICE)


async def test_app_only_activation_is_refused(rig: Rig) -> None:
    app_token = await rig.app_token()
    with pytest.raises(PermissionDenied):
        await rig.activate(EXCHANGE, HOUR, token=app_token)


async def test_lapsed_eligibilities_and_display_names(rig: Rig) -> None:
    lapsed = await rig.directory.lapsed_eligibilities(ALICE)
    assert [e.group.display_name for e in lapsed] == ["SharePoint-Admins"]
    names = await rig.directory.display_names([BOB, APPROVERS, "00000000-0000-4000-8000-00000000dead"])
    assert names == {BOB: "Bob Builder", APPROVERS: "PIM-Approvers"}
    # getByIds, refused without Directory.Read.All (its permissions table); then the ids one by one, in one $batch
    assert rig.graph_requests() == 3


# -- names in bulk: POST /directoryObjects/getByIds, one call for up to 1000 ids --

GHOST = "00000000-0000-4000-8000-00000000dead"


def directory_granted(rig: Rig, *roles: str) -> GraphPimDirectory:
    """A directory whose app has exactly `roles` (in a fresh token), its calls counted from here."""
    rig.tenant.apps[rig.sim.client_id.lower()].roles = frozenset(roles)
    token = app_token_source(rig.http, rig.sim.authority, rig.sim.client_id, rig.sim.client_secret)
    rig.reset_stats()
    return GraphPimDirectory(GraphClient(rig.http, rig.sim.graph_base_url, token), rig.tenant.clock)


def add_users(rig: Rig, count: int) -> dict[str, str]:
    users = {f"cccccccc-0000-4000-8000-{n:012d}": f"Approver {n}" for n in range(count)}
    for user_id, name in users.items():
        rig.tenant.add_user(user_id, name)
    return users


async def test_names_of_60_principals_are_one_graph_request(rig: Rig) -> None:
    users = add_users(rig, 58)
    directory = directory_granted(rig, *seed.APP_ROLES, "Directory.Read.All")
    names = await directory.display_names([*users, APPROVERS, GHOST, BOB])
    assert names == {**users, APPROVERS: "PIM-Approvers", BOB: "Bob Builder"}  # the unknown id is left out
    assert rig.graph_requests() == 1 and rig.tenant.stats.by_route["POST directoryObjects/getByIds"] == 1
    assert await directory.display_names([BOB, *list(users)[:3]]) == {BOB: "Bob Builder"} | {
        u: users[u] for u in list(users)[:3]
    }
    assert rig.graph_requests() == 1  # kept an hour


async def test_more_than_1000_names_take_one_request_per_1000(rig: Rig) -> None:
    users = add_users(rig, 1500)
    directory = directory_granted(rig, *seed.APP_ROLES, "Directory.Read.All")
    assert await directory.display_names(list(users)) == users
    assert rig.tenant.stats.by_route["POST directoryObjects/getByIds"] == 2 and rig.graph_requests() == 2


async def test_names_under_the_reported_per_type_permissions_are_one_request(rig: Rig) -> None:
    await rig.settings(get_by_ids_per_type=True)
    directory = directory_granted(rig, *seed.APP_ROLES)  # User.Read.All, GroupMember.Read.All
    assert await directory.display_names([BOB, APPROVERS, GHOST]) == {BOB: "Bob Builder", APPROVERS: "PIM-Approvers"}
    assert rig.graph_requests() == 1


async def test_an_object_getbyids_returns_without_a_name_is_looked_up_alone(rig: Rig) -> None:
    await rig.settings(get_by_ids_per_type=True)
    directory = directory_granted(rig, "User.Read.All")  # groups come back as id and type only
    names = await directory.display_names([BOB, CAROL, APPROVERS])
    assert (names[BOB], names[CAROL]) == ("Bob Builder", "Carol Chen")
    routes = rig.tenant.stats.by_route
    assert routes["POST directoryObjects/getByIds"] == 1 and routes["GET directoryObjects/{id}"] == 1  # the group


async def test_without_directory_read_all_names_fall_back_to_batched_reads_and_getbyids_rests_an_hour(
    rig: Rig,
) -> None:
    users = add_users(rig, 25)
    directory = directory_granted(rig, *seed.APP_ROLES)
    assert await directory.display_names([*users, APPROVERS, GHOST]) == {**users, APPROVERS: "PIM-Approvers"}
    routes = rig.tenant.stats.by_route
    assert routes["POST directoryObjects/getByIds"] == 1 and routes["POST $batch"] == 2  # 27 ids: two $batches
    assert await directory.display_names([BOB]) == {BOB: "Bob Builder"}
    assert routes["POST directoryObjects/getByIds"] == 1  # not asked again for an hour
    rig.tenant.clock.advance(timedelta(seconds=3601))
    rig.tenant.apps[rig.sim.client_id.lower()].roles = frozenset([*seed.APP_ROLES, "Directory.Read.All"])
    assert await directory.display_names([CAROL]) == {CAROL: "Carol Chen"}
    assert routes["POST directoryObjects/getByIds"] == 2  # consent granted meanwhile: one call again


# -- approvals (issue 4): Alice asks for Security-Operators; approvers are Bob and PIM-Approvers (Carol, Dave) --


async def _pending_secops(rig: Rig) -> Any:
    request = await rig.activate(SECOPS, HOUR, justification="INC-4711 triage")
    assert request.status is RequestStatus.PENDING_APPROVAL
    return request


async def _token(rig: Rig, user: str) -> str:
    return await rig.tokens.token_for(user, rig.sim.tenant_id)


async def test_approver_approves_and_the_request_is_provisioned(rig: Rig) -> None:
    request = await _pending_secops(rig)
    assert [r.id for r in (await rig.directory.waiting_in_groups([SECOPS])).requests] == [request.id]

    bob = await _token(rig, BOB)
    approval = await rig.directory.approval(bob, request.id)
    stage = approval.open_stage
    assert approval.request_id == request.id and stage is not None and stage.assigned_to_me
    await rig.directory.decide(bob, request.id, stage.id, Decision.APPROVE, "ok for the patch window")

    assert (await rig.directory.request(request.id)).status is RequestStatus.PROVISIONED
    assert (await rig.directory.waiting_in_groups([SECOPS])).requests == ()
    decided = (await rig.directory.approval(bob, request.id)).stages[0]
    assert (decided.review_result, decided.reviewed_by, decided.reviewed_by_name) == (
        ReviewResult.APPROVED,
        BOB,
        "Bob Builder",
    )
    assert decided.reviewed_at == rig.tenant.now() and decided.justification == "ok for the patch window"

    # Carol clicks a stale card: Graph's 409 comes back as who decided, and when.
    with pytest.raises(AlreadyDecided) as late:
        await rig.directory.decide(await _token(rig, CAROL), request.id, stage.id, Decision.DENY, "no")
    assert (late.value.decision, late.value.by, late.value.by_name, late.value.at) == (
        Decision.APPROVE,
        BOB,
        "Bob Builder",
        rig.tenant.now(),
    )


async def test_group_member_approver_sees_it_and_deny_needs_a_reason(rig: Rig) -> None:
    request = await _pending_secops(rig)
    carol = await _token(rig, CAROL)
    stage = (await rig.directory.approval(carol, request.id)).open_stage
    assert stage is not None and stage.assigned_to_me  # through PIM-Approvers membership
    with pytest.raises(MissingApproverJustification):  # Security-Operators requires the approver's reason
        await rig.directory.decide(carol, request.id, stage.id, Decision.DENY, "  ")
    await rig.directory.decide(carol, request.id, stage.id, Decision.DENY, "not during the freeze")
    assert (await rig.directory.request(request.id)).status is RequestStatus.DENIED


async def test_non_approvers_and_the_requester_are_refused(rig: Rig) -> None:
    request = await _pending_secops(rig)
    frank, alice = await _token(rig, FRANK), await _token(rig, ALICE)
    stage = (await rig.directory.approval(frank, request.id)).stages[0]
    assert not stage.assigned_to_me
    with pytest.raises(NotAnApprover) as frank_refused:
        await rig.directory.decide(frank, request.id, stage.id, Decision.APPROVE, "sure")
    assert frank_refused.value.request_id == request.id
    with pytest.raises(NotAnApprover):  # Graph answers the requester with 403 too; core says SelfApproval first
        await rig.directory.decide(alice, request.id, stage.id, Decision.APPROVE, "me")
    assert (await rig.directory.request(request.id)).status is RequestStatus.PENDING_APPROVAL


async def test_unknown_request_is_not_found(rig: Rig) -> None:
    bob = await _token(rig, BOB)
    unknown = "00000000-0000-4000-8000-00000000beef"
    with pytest.raises(RequestNotFound):
        await rig.directory.approval(bob, unknown)
    with pytest.raises(RequestNotFound):
        await rig.directory.request(unknown)
    with pytest.raises(RequestNotFound):
        await rig.directory.decide(bob, unknown, "stage", Decision.APPROVE, "x")


async def test_approval_expires_after_24_hours(rig: Rig) -> None:
    request = await _pending_secops(rig)
    stage_id = (await rig.directory.approval(await _token(rig, BOB), request.id)).stages[0].id
    rig.tenant.clock.advance(timedelta(hours=24))
    rig.tokens.forget(BOB)  # tokens live by the sim clock: the old one has expired
    with pytest.raises(ApprovalExpired):
        await rig.directory.decide(await _token(rig, BOB), request.id, stage_id, Decision.APPROVE, "late")
    [stored] = [r for r in rig.tenant.requests_for("assignment", principal_id=ALICE) if r.id == request.id]
    assert stored.status == "Canceled"  # the simulated tenant's choice for expiry (Graph does not document it)


async def test_requester_cancels_and_later_decisions_are_refused(rig: Rig) -> None:
    request = await _pending_secops(rig)
    bob = await _token(rig, BOB)
    stage_id = (await rig.directory.approval(bob, request.id)).stages[0].id
    await rig.directory.cancel(await _token(rig, ALICE), request.id)
    assert (await rig.directory.request(request.id)).status is RequestStatus.CANCELED
    with pytest.raises(ApprovalClosed) as closed:
        await rig.directory.decide(bob, request.id, stage_id, Decision.APPROVE, "too late")
    assert closed.value.canceled
    with pytest.raises(ApprovalClosed):
        await rig.directory.cancel(await _token(rig, ALICE), request.id)


async def test_approver_groups_expand_to_their_members(rig: Rig) -> None:
    assert set(await rig.directory.group_members(APPROVERS)) == {CAROL, DAVE}
    assert await rig.directory.group_members("00000000-0000-4000-8000-00000000dead") == []


# -- the admin check (core.admins over members_of): nested groups, cycles, depth, cache --

ADMIN_GROUP, NESTED, DEEPER = (f"0000ad00-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


def _as_actor(object_id: str) -> Actor:
    return Actor(object_id, seed.TENANT_ID)


def _nested_admin_groups(rig: Rig) -> None:
    """Bot Admins ∋ Frank, Platform Leads; Platform Leads ∋ Dave, On-Call; On-Call ∋ Carol and Bot Admins (a cycle)."""
    rig.tenant.add_group(DEEPER, "On-Call", members=[CAROL], is_assignable_to_role=False)
    rig.tenant.add_group(NESTED, "Platform Leads", members=[DAVE, DEEPER], is_assignable_to_role=False)
    rig.tenant.add_group(ADMIN_GROUP, "Bot Admins", members=[FRANK, NESTED], is_assignable_to_role=False)
    rig.tenant.add_member(DEEPER, ADMIN_GROUP)


async def test_members_of_tells_users_and_nested_groups_apart(rig: Rig) -> None:
    _nested_admin_groups(rig)
    members = await rig.directory.members_of(NESTED)
    assert (members.user_ids, members.group_ids) == ((DAVE,), (DEEPER,))
    assert await rig.directory.members_of("00000000-0000-4000-8000-00000000dead") == GroupMembers()


async def test_admin_group_members_count_through_nested_groups_and_a_cycle_ends_the_walk(rig: Rig) -> None:
    _nested_admin_groups(rig)
    admins = Admins(rig.directory, rig.tenant.clock, group_id=ADMIN_GROUP)
    rig.reset_stats()
    assert admins.configured
    for user in (FRANK, DAVE, CAROL):
        assert await admins.is_admin(_as_actor(user)), user
    assert not await admins.is_admin(_as_actor(ALICE))
    assert rig.graph_requests() == 3  # each group read once, the cycle back to Bot Admins not followed
    assert await admins.is_admin(_as_actor(CAROL.upper()))  # object ids compare without case


async def test_admin_group_is_cached_briefly_and_a_removed_member_stops_being_an_admin(rig: Rig) -> None:
    _nested_admin_groups(rig)
    admins = Admins(rig.directory, rig.tenant.clock, group_id=ADMIN_GROUP)
    assert await admins.is_admin(_as_actor(CAROL))
    rig.tenant.remove_member(DEEPER, CAROL)
    rig.reset_stats()
    assert await admins.is_admin(_as_actor(CAROL))  # within the TTL: the cached answer, no Graph call
    assert rig.graph_requests() == 0
    rig.tenant.clock.advance(ADMINS_TTL + timedelta(seconds=1))
    assert not await admins.is_admin(_as_actor(CAROL))
    assert rig.graph_requests() == 3


async def test_admin_group_nesting_is_bounded(rig: Rig) -> None:
    chain = [f"0000ad01-0000-4000-8000-00000000000{i}" for i in range(4)]
    rig.tenant.add_group(chain[3], "Level 3", members=[CAROL], is_assignable_to_role=False)
    for level in (2, 1, 0):
        rig.tenant.add_group(chain[level], f"Level {level}", members=[chain[level + 1]], is_assignable_to_role=False)
    rig.tenant.add_member(chain[2], DAVE)
    admins = Admins(rig.directory, rig.tenant.clock, group_id=chain[0], max_depth=2)
    assert await admins.is_admin(_as_actor(DAVE))  # two levels below the admin group
    assert not await admins.is_admin(_as_actor(CAROL))  # three levels below: not counted
    deep = Admins(rig.directory, rig.tenant.clock, group_id=chain[0], max_depth=3)
    assert await deep.is_admin(_as_actor(CAROL))


async def test_listed_admins_need_no_graph_call_and_nothing_configured_means_nobody(rig: Rig) -> None:
    _nested_admin_groups(rig)
    rig.reset_stats()
    listed = Admins(rig.directory, rig.tenant.clock, user_ids=[FRANK.upper(), " "])
    assert await listed.is_admin(_as_actor(FRANK))
    assert not await listed.is_admin(_as_actor(CAROL))  # the group is not configured: its members are not admins
    nobody = Admins(rig.directory, rig.tenant.clock)
    assert not nobody.configured
    assert not await nobody.is_admin(_as_actor(FRANK))
    assert rig.graph_requests() == 0


async def test_an_admin_group_that_cannot_be_read_raises_and_is_retried(rig: Rig) -> None:
    _nested_admin_groups(rig)
    admins = Admins(rig.directory, rig.tenant.clock, group_id=ADMIN_GROUP)
    await rig.fault(path="/members", status=503, times=None)
    with pytest.raises(DirectoryUnavailable):
        await admins.is_admin(_as_actor(CAROL))
    await rig.http.delete(f"{rig.sim.control_url}/faults")
    assert await admins.is_admin(_as_actor(CAROL))  # the failure was not cached


async def test_concurrent_admin_checks_share_one_walk_of_the_group(rig: Rig) -> None:
    _nested_admin_groups(rig)
    admins = Admins(rig.directory, rig.tenant.clock, group_id=ADMIN_GROUP)
    rig.reset_stats()
    answers = await asyncio.gather(*(admins.is_admin(_as_actor(u)) for u in (FRANK, DAVE, CAROL, ALICE, BOB)))
    assert answers == [True, True, True, False, False]
    assert rig.graph_requests() == 3


async def test_groups_are_found_by_exact_display_name_without_case_or_by_object_id(rig: Rig) -> None:
    [found] = await rig.directory.find_groups("exchange-admins")
    assert (found.id, found.display_name) == (EXCHANGE, "Exchange-Admins")
    assert await rig.directory.find_groups(EXCHANGE) == [found]
    assert await rig.directory.find_groups("Exchange") == []  # no prefix or fuzzy matching: the group must exist
    assert await rig.directory.find_groups("00000000-0000-4000-8000-00000000dead") == []
    assert await rig.directory.find_groups("O'Brien's group") == []  # quotes are escaped, not a 400


# ---- access about to end (issue 14 points 3 and 4): many users read together --------------------------------------


async def test_holdings_of_many_users_cost_one_batch_per_20_reads(rig: Rig) -> None:
    users = [ALICE, BOB, CAROL, DAVE, FRANK] + [f"00000000-0000-4000-8000-{n:012d}" for n in range(20)]
    held = await rig.directory.holdings(users)
    assert rig.graph_requests() == 2  # 25 users, one read each: ⌈25/20⌉ $batch round trips
    assert set(held.users) == set(users) and not held.failed
    assert held.users[ALICE].eligibilities == ()  # activations only
    rig.reset_stats()
    held = await rig.directory.holdings(users[:5], eligibilities=True)
    assert rig.graph_requests() == 1  # 5 users, three reads each: ⌈15/20⌉
    alice = held.users[ALICE]
    assert ("Exchange-Admins", Access.OWNER) in {(e.group.display_name, e.access) for e in alice.eligibilities}
    assert [e.group.display_name for e in alice.lapsed] == ["SharePoint-Admins"]


async def test_holdings_are_read_from_graph_every_time_never_from_the_snapshot_cache(rig: Rig) -> None:
    await rig.directory.snapshot(ALICE)
    rig.reset_stats()
    await rig.directory.holdings([ALICE])
    await rig.directory.holdings([ALICE])
    assert rig.graph_requests() == 2
