import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.errors import (
    AlreadyActive,
    DirectoryUnavailable,
    DurationTooLong,
    DurationTooShort,
    EligibilityNotInEffect,
    MissingInputs,
    NotActive,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    PermissionDenied,
    PimError,
    PolicyViolation,
    RequestNotFound,
    StepUpRequired,
    Throttled,
    TokenRejected,
    TooSoonToDeactivate,
)
from core.models import Access, ActivationPolicy, Decision, RequestStatus, SentWrite, WriteKind
from core.ports import ActivationInput, PolicyQuery
from graph.client import GraphClient
from graph.pim import GraphPimDirectory
from tests.fakes.graphstub import BASE, Call, FixedClock, GraphStub, Reply, Sleeps, app_token, error, wrapped

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"
TEAMS = "bbbbbbbb-0000-4000-8000-000000000002"
PIM = "/identityGovernance/privilegedAccess/group"
REQUESTS = f"{PIM}/assignmentScheduleRequests"
CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
CLAIMS_B64 = base64.b64encode(CLAIMS.encode()).decode()  # as Graph sends it in WWW-Authenticate
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def eligibility(
    group: str,
    name: str,
    *,
    member_type: str = "direct",
    access: str = "member",
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    expiration = {"type": "afterDateTime", "endDateTime": iso(end)} if end else {"type": "noExpiration"}
    return {
        "id": f"{group}_{access}_e",
        "principalId": ALICE,
        "groupId": group,
        "accessId": access,
        "memberType": member_type,
        "status": "Provisioned",
        "scheduleInfo": {"startDateTime": iso(start or NOW - timedelta(days=30)), "expiration": expiration},
        "group": {"id": group, "displayName": name},
    }


def instance(group: str, name: str, start: datetime, end: datetime | None, kind: str = "activated") -> dict[str, Any]:
    return {
        "id": f"{group}_member_i",
        "principalId": ALICE,
        "groupId": group,
        "accessId": "member",
        "memberType": "direct",
        "assignmentType": kind,
        "startDateTime": iso(start),
        "endDateTime": iso(end) if end else None,
        "group": {"id": group, "displayName": name},
    }


def request_item(
    request_id: str,
    *,
    group: str = EXCHANGE,
    action: str = "selfActivate",
    status: str = "Provisioned",
    created: datetime = NOW,
    access: str = "member",
    justification: str | None = None,
) -> dict[str, Any]:
    return {
        "id": request_id,
        "status": status,
        "action": action,
        "principalId": ALICE,
        "groupId": group,
        "accessId": access,
        "createdDateTime": iso(created),
        "justification": justification,
        "scheduleInfo": {"startDateTime": iso(created), "expiration": {"type": "afterDuration", "duration": "PT2H"}},
        "ticketInfo": {"ticketNumber": None, "ticketSystem": None},
    }


def policy_page(
    group: str, maximum: str = "PT8H", enabled: tuple[str, ...] = (), context: str | None = None
) -> dict[str, Any]:
    context_rule = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule",
        "id": "AuthenticationContext_EndUser_Assignment",
        "isEnabled": context is not None,
        "claimValue": context,
    }
    return {
        "value": [
            {
                "id": f"Group_{group}_p_member",
                "scopeId": group,
                "scopeType": "Group",
                "roleDefinitionId": "member",
                "policy": {
                    "id": f"Group_{group}_p",
                    "rules": [
                        {
                            "id": "Expiration_EndUser_Assignment",
                            "isExpirationRequired": True,
                            "maximumDuration": maximum,
                        },
                        {"id": "Enablement_EndUser_Assignment", "enabledRules": list(enabled)},
                        context_rule,
                    ],
                },
            }
        ]
    }


class World:
    """A GraphStub seeded with Alice's PIM state; tests change the lists and routes they care about."""

    def __init__(self, delay: float = 0.0) -> None:
        self.clock = FixedClock(NOW)
        self.eligible: list[dict[str, Any]] = [
            eligibility(EXCHANGE, "Exchange-Admins"),
            eligibility(TEAMS, "Teams Admins"),
        ]
        self.active: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.eligibility_requests: list[dict[str, Any]] = []
        self.stub = GraphStub()
        self.stub.on("GET", f"{PIM}/eligibilitySchedules", lambda call: {"value": self.eligible})
        self.stub.on("GET", f"{PIM}/assignmentScheduleInstances", lambda call: {"value": self.active})
        self.stub.on("GET", f"{PIM}/eligibilityScheduleRequests", lambda call: {"value": self.eligibility_requests})
        self.stub.on("GET", REQUESTS, self._list_requests)
        self.stub.on("GET", "/policies/roleManagementPolicyAssignments", self._policy)
        self.stub.on("POST", REQUESTS, self._create)
        self.sleeps = Sleeps()
        self.client = GraphClient(
            httpx.AsyncClient(transport=self.stub.transport(delay)),
            BASE,
            app_token,
            sleep=self.sleeps,
            jitter=lambda: 0.5,
        )
        self.directory = GraphPimDirectory(self.client, self.clock)

    def _list_requests(self, call: Call) -> dict[str, Any]:
        flt = call.query["$filter"]
        items = self.requests
        if "PendingApproval" in flt:
            items = [r for r in items if r["status"] == "PendingApproval"]
        if "principalId eq '" in flt:
            principal = flt.split("principalId eq '")[1].split("'")[0]
            items = [r for r in items if r["principalId"] == principal]
        return {"value": items}

    def _policy(self, call: Call) -> dict[str, Any]:
        group = call.query["$filter"].split("'")[1]
        return policy_page(group, maximum="PT4H" if group == TEAMS else "PT8H")

    def _create(self, call: Call) -> Reply:
        item = {
            **request_item(
                f"r{len(self.requests) + 1}",
                group=call.body["groupId"],
                action=call.body["action"],
                created=self.clock.now(),
                justification=call.body.get("justification"),
            )
        }
        self.requests.append(item)
        return Reply(201, item)

    def activation(
        self, group: str = EXCHANGE, duration: timedelta = timedelta(hours=2), justification: str | None = None
    ) -> ActivationInput:
        return ActivationInput(group, Access.MEMBER, ALICE, self.clock.now(), duration, justification)


# -- snapshot ---------------------------------------------------------------------------------------------------------


async def test_snapshot_is_one_batch_of_three_app_only_reads() -> None:
    world = World()
    world.eligible.append(eligibility("cccc", "Helpdesk-Tier1", member_type="Group"))
    world.active.append(instance(EXCHANGE, "Exchange-Admins", NOW - timedelta(hours=1), NOW + timedelta(hours=1)))
    world.requests.append(request_item("p1", group=TEAMS, status="PendingApproval"))

    snapshot = await world.directory.snapshot(ALICE)

    assert world.stub.round_trips == 1
    assert world.stub.http_requests[0].headers["Authorization"] == "Bearer app-token"
    queries = {c.path.rsplit("/", 1)[1]: c.query for c in world.stub.calls if c.in_batch}
    assert queries == {
        "eligibilitySchedules": {"$filter": f"principalId eq '{ALICE}'", "$expand": "group($select=id,displayName)"},
        "assignmentScheduleInstances": {
            "$filter": f"principalId eq '{ALICE}'",
            "$expand": "group($select=id,displayName)",
        },
        "assignmentScheduleRequests": {"$filter": f"principalId eq '{ALICE}' and status eq 'PendingApproval'"},
    }
    assert [(e.group.display_name, e.inherited) for e in snapshot.eligibilities] == [
        ("Exchange-Admins", False),
        ("Teams Admins", False),
        ("Helpdesk-Tier1", True),
    ]
    assert [(a.group.id, a.activated, a.end) for a in snapshot.active] == [(EXCHANGE, True, NOW + timedelta(hours=1))]
    assert [(p.id, p.status) for p in snapshot.pending] == [("p1", RequestStatus.PENDING_APPROVAL)]


async def test_snapshot_leaves_out_what_has_ended() -> None:
    world = World()
    world.eligible.append(eligibility("old", "Old-Group", end=NOW - timedelta(minutes=1)))
    world.eligible.append(eligibility("soon", "Future-Group", start=NOW + timedelta(days=1)))
    world.active.append(instance(EXCHANGE, "Exchange-Admins", NOW - timedelta(hours=3), NOW - timedelta(hours=1)))
    snapshot = await world.directory.snapshot(ALICE)
    assert {e.group.id for e in snapshot.eligibilities} == {EXCHANGE, TEAMS, "soon"}
    assert snapshot.active == ()


async def test_snapshot_follows_next_links_of_batched_pages() -> None:
    world = World()
    link = f"{BASE}{PIM}/eligibilitySchedules?$filter=principalId%20eq%20'{ALICE}'&$skiptoken=page2"
    world.stub.on(
        "GET",
        f"{PIM}/eligibilitySchedules",
        lambda call: (
            {"value": [eligibility("page2", "Second-Page")]}
            if "$skiptoken" in call.query
            else {"value": world.eligible, "@odata.nextLink": link}
        ),
    )
    snapshot = await world.directory.snapshot(ALICE)
    assert [e.group.id for e in snapshot.eligibilities] == [EXCHANGE, TEAMS, "page2"]
    assert world.stub.round_trips == 2


async def test_snapshot_is_kept_for_a_minute_and_fresh_or_a_recheck_reads_graph() -> None:
    world = World()
    await world.directory.snapshot(ALICE)
    await world.directory.snapshot(ALICE)
    assert world.stub.round_trips == 1
    await world.directory.snapshot(ALICE, fresh=True)
    assert world.stub.round_trips == 2
    world.clock.advance(timedelta(seconds=61))
    await world.directory.snapshot(ALICE)
    assert world.stub.round_trips == 3
    await world.directory.snapshot(ALICE, recheck=lambda kept: False)
    assert world.stub.round_trips == 3
    doubted: list[int] = []
    await world.directory.snapshot(ALICE, recheck=lambda kept: doubted.append(1) is None)
    assert (world.stub.round_trips, doubted) == (4, [1])  # only a kept snapshot is rechecked, not the one read now


async def test_concurrent_callers_share_one_fetch() -> None:
    world = World(delay=0.01)
    results = await asyncio.gather(*(world.directory.snapshot(ALICE) for _ in range(5)))
    assert world.stub.round_trips == 1
    assert all(r == results[0] for r in results)


async def test_policies_asked_for_come_in_the_snapshots_app_only_batch() -> None:
    world = World()
    query = PolicyQuery(keys=((TEAMS, Access.MEMBER), (EXCHANGE, Access.OWNER)))
    snapshot = await world.directory.snapshot(ALICE, policies=query)

    assert world.stub.round_trips == 1
    assert world.stub.http_requests[0].headers["Authorization"] == "Bearer app-token"
    reads = [(c.path.rsplit("/", 1)[1], c.query.get("$filter", "")) for c in world.stub.calls if c.in_batch]
    assert [path for path, _ in reads] == [
        "eligibilitySchedules",
        "assignmentScheduleInstances",
        "assignmentScheduleRequests",
        "roleManagementPolicyAssignments",
        "roleManagementPolicyAssignments",
    ]
    assert reads[3][1] == f"scopeId eq '{TEAMS}' and scopeType eq 'Group' and roleDefinitionId eq 'member'"
    assert reads[4][1] == f"scopeId eq '{EXCHANGE}' and scopeType eq 'Group' and roleDefinitionId eq 'owner'"
    assert snapshot.policies[(TEAMS, Access.MEMBER)].maximum_duration == timedelta(hours=4)
    assert set(snapshot.policies) == {(TEAMS, Access.MEMBER), (EXCHANGE, Access.OWNER)}
    assert len(snapshot.eligibilities) == 2
    again = await world.directory.snapshot(ALICE)
    assert (again.eligibilities, again.active, again.pending) == (snapshot.eligibilities, snapshot.active, ())
    assert set(again.policies) == {(TEAMS, Access.MEMBER)}  # of Alice's groups, the one whose policy is at hand
    assert await world.directory.policy(EXCHANGE, Access.OWNER) is snapshot.policies[(EXCHANGE, Access.OWNER)]
    assert world.stub.round_trips == 1


async def test_policies_already_kept_are_not_read_again() -> None:
    world = World()
    await world.directory.policy(TEAMS, Access.MEMBER)
    await world.directory.snapshot(ALICE, policies=PolicyQuery(keys=((TEAMS, Access.MEMBER),)))
    assert world.stub.round_trips == 2
    assert len(world.stub.sent("GET", "/policies/")) == 1


async def test_with_a_kept_snapshot_the_missing_policies_are_one_round_trip() -> None:
    world = World()
    await world.directory.snapshot(ALICE)
    both = PolicyQuery(keys=((TEAMS, Access.MEMBER), (EXCHANGE, Access.MEMBER)))
    snapshot = await world.directory.snapshot(ALICE, policies=both)
    assert world.stub.round_trips == 2  # the kept snapshot answered; both policies came in one $batch
    assert len(world.stub.sent("GET", "/policies/")) == 2
    assert set(snapshot.policies) == {(TEAMS, Access.MEMBER), (EXCHANGE, Access.MEMBER)}
    await world.directory.snapshot(ALICE, policies=PolicyQuery(keys=((TEAMS, Access.MEMBER),)))
    assert world.stub.round_trips == 2  # everything kept: no round trip


async def test_a_policy_that_cannot_be_read_leaves_the_snapshot_whole_and_is_read_again_when_needed() -> None:
    world = World()
    world.stub.on("GET", "/policies/roleManagementPolicyAssignments", error(403, "Authorization_RequestDenied"))
    snapshot = await world.directory.snapshot(ALICE, policies=PolicyQuery(keys=((TEAMS, Access.MEMBER),)))
    assert len(snapshot.eligibilities) == 2 and snapshot.policies == {}
    with pytest.raises(PermissionDenied):
        await world.directory.policy(TEAMS, Access.MEMBER)
    assert len(world.stub.sent("GET", "/policies/")) == 2


async def test_a_group_named_as_seen_in_anyones_snapshot_has_its_policy_read_with_the_snapshot() -> None:
    world = World()
    await world.directory.snapshot(ALICE, policies=PolicyQuery(names=("teams admins",)))
    assert len(world.stub.sent("GET", "/policies/")) == 0  # never seen before this snapshot: nothing to guess from
    world.clock.advance(timedelta(hours=2))  # long after the snapshot: the groups stay known

    query = PolicyQuery(names=("teams admins", "exchange-admins", "payroll"), access=Access.OWNER)
    snapshot = await world.directory.snapshot("someone-else", policies=query)

    assert world.stub.round_trips == 2
    policy_reads = [c.query["$filter"] for c in world.stub.sent("GET", "/policies/")]
    assert [c.in_batch for c in world.stub.sent("GET", "/policies/")] == [True, True]
    assert [f.split("'")[1] for f in policy_reads] == [TEAMS, EXCHANGE] and all("'owner'" in f for f in policy_reads)
    assert set(snapshot.policies) == {(TEAMS, Access.OWNER), (EXCHANGE, Access.OWNER)}


async def test_a_kept_snapshot_reads_no_policy_of_an_access_the_user_does_not_hold() -> None:
    """A group is known both as a membership and as an ownership (other users hold it as owner). A user who holds
    only its membership and has a kept snapshot asks for it by name without saying the access: the owner policy, which
    the caller doubts (it would ask this activation for more), is not read again on every command (make bench saw 1.5
    Graph round trips per warm turn instead of 1)."""
    world = World()
    world.eligible.append(eligibility(EXCHANGE, "Exchange-Admins", access="owner"))
    await world.directory.snapshot("someone-else")  # Exchange-Admins seen as member and as owner
    world.eligible.pop()
    await world.directory.snapshot(ALICE)  # Alice holds the membership only; her snapshot is kept
    await world.directory.policy(EXCHANGE, Access.MEMBER)
    await world.directory.policy(EXCHANGE, Access.OWNER)
    before = world.stub.round_trips

    def doubts(policy: ActivationPolicy) -> bool:
        return policy.access is Access.OWNER  # the owner policy would ask for what a member activation lacks

    snapshot = await world.directory.snapshot(ALICE, policies=PolicyQuery(names=("exchange-admins",), recheck=doubts))

    assert world.stub.round_trips == before  # the kept snapshot and the member policy answer: no Graph call
    assert (EXCHANGE, Access.MEMBER) in snapshot.policies


async def test_a_kept_policy_the_caller_doubts_is_read_again_in_the_snapshots_round_trip() -> None:
    world = World()
    await world.directory.policy(TEAMS, Access.MEMBER)  # 4 h
    await world.directory.policy(EXCHANGE, Access.MEMBER)  # 8 h
    world.clock.advance(timedelta(seconds=30))

    def doubts(policy: ActivationPolicy) -> bool:
        return policy.maximum_duration < timedelta(hours=5)

    query = PolicyQuery(keys=((TEAMS, Access.MEMBER), (EXCHANGE, Access.MEMBER)), recheck=doubts)
    snapshot = await world.directory.snapshot(ALICE, policies=query)

    assert world.stub.round_trips == 3  # the two policies, then the snapshot with the doubted one in its $batch
    assert [c.in_batch for c in world.stub.sent("GET", "/policies/")] == [False, False, True]
    assert set(snapshot.policies) == {(TEAMS, Access.MEMBER), (EXCHANGE, Access.MEMBER)}  # the new read is the answer
    assert await world.directory.policy(TEAMS, Access.MEMBER, recheck=doubts) is not None
    assert world.stub.round_trips == 4  # doubted again: read again
    assert await world.directory.policy(TEAMS, Access.MEMBER) is not None
    assert world.stub.round_trips == 4


async def test_a_snapshot_brings_the_policies_of_its_groups_at_hand_unless_doubted() -> None:
    world = World()
    exchange = await world.directory.policy(EXCHANGE, Access.MEMBER)

    snapshot = await world.directory.snapshot(ALICE)
    doubted = await world.directory.snapshot(ALICE, policies=PolicyQuery(recheck=lambda policy: True))

    assert snapshot.policies == {(EXCHANGE, Access.MEMBER): exchange}  # Teams Admins' is not read for it
    assert doubted.policies == {}
    assert world.stub.round_trips == 2


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (
            wrapped(403, "PermissionScopeNotGranted", "missing scope PrivilegedEligibilitySchedule.Read.AzureADGroup"),
            PermissionDenied,
        ),
        (error(429, "TooManyRequests", headers={"Retry-After": "90"}), Throttled),
        (error(500, "UnknownError"), DirectoryUnavailable),
    ],
)
async def test_snapshot_failures_become_directory_errors(reply: Reply, kind: type[PimError]) -> None:
    world = World()
    world.stub.on("GET", f"{PIM}/eligibilitySchedules", reply)
    with pytest.raises(kind) as caught:
        await world.directory.snapshot(ALICE)
    if isinstance(caught.value, Throttled):
        assert caught.value.retry_after == 90


async def test_snapshot_transport_failure_is_directory_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)

    client = GraphClient(httpx.AsyncClient(transport=httpx.MockTransport(down)), BASE, app_token, sleep=Sleeps())
    with pytest.raises(DirectoryUnavailable):
        await GraphPimDirectory(client, FixedClock(NOW)).snapshot(ALICE)


# -- policy ---------------------------------------------------------------------------------------------------------


async def test_policy_is_read_once_and_kept_for_five_minutes() -> None:
    world = World()
    policy = await world.directory.policy(TEAMS, Access.MEMBER)
    assert policy.maximum_duration == timedelta(hours=4)
    assert world.stub.calls[0].query == {
        "$filter": f"scopeId eq '{TEAMS}' and scopeType eq 'Group' and roleDefinitionId eq 'member'",
        "$expand": "policy($expand=rules)",
    }
    assert await world.directory.policy(TEAMS, Access.MEMBER) is policy
    assert world.stub.round_trips == 1
    world.clock.advance(timedelta(minutes=5, seconds=1))
    assert await world.directory.policy(TEAMS, Access.MEMBER) is not policy
    assert world.stub.round_trips == 2


async def test_a_policy_the_caller_doubts_is_read_again() -> None:
    world = World()
    await world.directory.policy(TEAMS, Access.MEMBER)
    await world.directory.policy(TEAMS, Access.MEMBER, recheck=lambda policy: True)
    assert world.stub.round_trips == 2
    assert world.stub.http_requests[-1].headers["Authorization"] == "Bearer app-token"


async def test_group_without_policy_assignment_gets_the_defaults() -> None:
    world = World()
    world.stub.on("GET", "/policies/roleManagementPolicyAssignments", {"value": []})
    policy = await world.directory.policy("not-onboarded", Access.OWNER)
    assert (policy.group_id, policy.access, policy.maximum_duration) == (
        "not-onboarded",
        Access.OWNER,
        timedelta(hours=8),
    )


# -- the directory drops a snapshot the world has moved past, by itself ----------------------------------------------


def waiting_for_approval(world: World) -> str:
    world.requests.append(request_item("p1", group=TEAMS, status="PendingApproval"))
    world.stub.on("GET", f"{REQUESTS}/p1", lambda call: next(r for r in world.requests if r["id"] == "p1"))
    return "p1"


@pytest.mark.parametrize("how", ["approved", "cancelled", "read as closed", "gone"])
async def test_a_snapshot_showing_a_request_waiting_is_read_again_once_the_request_stopped_waiting(how: str) -> None:
    world = World()
    request_id = waiting_for_approval(world)
    assert [p.id for p in (await world.directory.snapshot(ALICE)).pending] == [request_id]
    world.requests[0]["status"] = "Canceled" if how == "cancelled" else "Provisioned"
    stage = f"{PIM}/assignmentApprovals/{request_id}/stages/s1"
    world.stub.on("PATCH", stage, Reply(204))
    world.stub.on("POST", f"{REQUESTS}/{request_id}/cancel", Reply(204))
    if how == "gone":
        world.stub.on("GET", f"{REQUESTS}/{request_id}", error(404, "RoleAssignmentRequestNotFound"))

    if how == "approved":
        await world.directory.decide("bob-token", request_id, "s1", Decision.APPROVE, "ok")
    elif how == "cancelled":
        await world.directory.cancel("alice-token", request_id)
    elif how == "read as closed":
        await world.directory.request(request_id)
    else:
        with pytest.raises(RequestNotFound):
            await world.directory.request(request_id)
    before = world.stub.round_trips

    assert (await world.directory.snapshot(ALICE)).pending == ()
    assert world.stub.round_trips == before + 1


async def test_a_request_read_while_it_still_waits_leaves_the_snapshot_kept() -> None:
    world = World()
    request_id = waiting_for_approval(world)
    await world.directory.snapshot(ALICE)
    await world.directory.request(request_id)
    await world.directory.snapshot(ALICE)
    assert world.stub.round_trips == 2


async def test_a_request_that_stopped_waiting_drops_the_snapshots_showing_it_and_no_other() -> None:
    """Among many users' snapshots, only the one that shows the closed request is read again; a user whose snapshot
    showed a request once, and shows none since it was read again, keeps it."""
    world = World()
    others = [f"aaaaaaaa-0000-4000-8000-{n:012d}" for n in range(100, 140)]
    for n, user in enumerate([ALICE, *others[:2]]):
        world.requests.append(request_item(f"p{n}", group=TEAMS, status="PendingApproval") | {"principalId": user})
        world.stub.on("GET", f"{REQUESTS}/p{n}", lambda call, n=n: world.requests[n])
    for user in [ALICE, *others]:
        await world.directory.snapshot(user)
    world.requests[1]["status"] = "Provisioned"  # the first other user's request was approved
    await world.directory.request("p1")
    before = world.stub.round_trips
    for user in [ALICE, *others[1:]]:
        await world.directory.snapshot(user)
    assert world.stub.round_trips == before  # all kept
    assert (await world.directory.snapshot(others[0])).pending == ()
    assert world.stub.round_trips == before + 1

    world.requests[0]["status"] = "Provisioned"  # Alice's, approved; her snapshot read again before the poll sees it
    assert (await world.directory.snapshot(ALICE, fresh=True)).pending == ()
    await world.directory.request("p0")
    before = world.stub.round_trips
    await world.directory.snapshot(ALICE)
    assert world.stub.round_trips == before


async def test_the_users_shown_waiting_stay_bounded_when_no_request_is_ever_closed() -> None:
    """The set `_closed_request` looks through holds the users whose kept snapshot shows a request waiting: those
    read again with none waiting leave it, also when no request is ever closed (no approval poll runs)."""
    world = World()
    world.requests.append(request_item("p0", group=TEAMS, status="PendingApproval"))
    users = [f"aaaaaaaa-0000-4000-8000-{n:012d}" for n in range(100, 400)]
    for user in users:
        world.requests[0]["principalId"] = user
        await world.directory.snapshot(user)
        world.requests[0]["status"] = "Provisioned"
        await world.directory.snapshot(user, fresh=True)
        world.requests[0]["status"] = "PendingApproval"
    assert world.directory._showing_pending == set()


async def test_a_write_found_after_its_answer_was_lost_drops_the_users_snapshot() -> None:
    world = World()
    await world.directory.snapshot(ALICE)
    world.requests.append(request_item("r9", group=EXCHANGE, created=NOW))
    write = SentWrite(WriteKind.ACTIVATE, EXCHANGE, Access.MEMBER, ALICE, NOW)

    assert (await world.directory.find_write(write)) is not None
    before = world.stub.round_trips
    await world.directory.snapshot(ALICE)

    assert world.stub.round_trips == before + 1


# -- activation -------------------------------------------------------------------------------------------------------


async def test_warm_activation_is_one_post_with_the_users_token() -> None:
    world = World()
    await world.directory.snapshot(ALICE)
    request = await world.directory.self_activate("alice-token", world.activation(justification="INC-1"))
    assert (request.id, request.status, request.group_id, request.justification) == (
        "r1",
        RequestStatus.PROVISIONED,
        EXCHANGE,
        "INC-1",
    )
    posts = [r for r in world.stub.http_requests[1:]]
    assert len(posts) == 1 and posts[0].headers["Authorization"] == "Bearer alice-token"
    assert json.loads(posts[0].content)["action"] == "selfActivate"
    await world.directory.snapshot(ALICE)  # the write dropped the cached snapshot
    assert world.stub.round_trips == 3


async def test_activation_is_the_write_alone_never_a_policy_read_with_the_users_token() -> None:
    world = World()
    await world.directory.self_activate("alice-token", world.activation(TEAMS))
    assert world.stub.round_trips == 1
    assert [(c.method, c.path) for c in world.stub.calls] == [("POST", REQUESTS)]


def refused(reply: Reply) -> World:
    world = World()
    world.stub.on("POST", REQUESTS, reply)
    return world


def policy_failed(*rules: str) -> Reply:
    return error(
        400,
        "RoleAssignmentRequestPolicyValidationFailed",
        f"The following policy rules failed: {json.dumps(list(rules))}",
    )


@pytest.mark.parametrize(
    ("reply", "kind", "facts"),
    [
        (policy_failed("JustificationRule"), MissingInputs, {"justification": True, "ticket": False}),
        (policy_failed("JustificationRule", "TicketingRule"), MissingInputs, {"justification": True, "ticket": True}),
        (
            wrapped(
                400,
                "RoleAssignmentRequestPolicyValidationFailed",
                'The following policy rules failed: ["TicketingRule"]',
            ),
            MissingInputs,
            {"justification": False, "ticket": True},
        ),
        (
            error(
                400,
                "RoleAssignmentRequestPolicyValidationFailed",
                "The following policy rules failed: MfaRule - Multi-factor authentication is required",
            ),
            StepUpRequired,
            {"mfa": True, "authentication_context": None},
        ),
        (
            error(400, "UnknownError", f"RoleAssignmentRequestAcrsValidationFailed claims={CLAIMS}"),
            StepUpRequired,
            {"mfa": False, "authentication_context": "c1", "claims": CLAIMS},
        ),
        (policy_failed("ExpirationRule"), DurationTooLong, {"requested": timedelta(hours=2), "maximum": None}),
        (policy_failed("ActivationDayRule"), PolicyViolation, {"rules": ("ActivationDayRule",)}),
        (
            error(400, "ResourceTypeNotSupported", "dynamic group"),
            PolicyViolation,
            {"rules": ("ResourceTypeNotSupported",)},
        ),
        (
            error(400, "PendingRoleAssignmentRequest", "There already exists a pending request"),
            PendingRequestExists,
            {"request_id": None},
        ),
        (wrapped(403, "PermissionScopeNotGranted", "missing scope"), PermissionDenied, {}),
        (error(401, "InvalidAuthenticationToken", "expired"), TokenRejected, {}),
        (  # a claims challenge on a 401 is a step-up, not a token to replace
            error(
                401,
                "InvalidAuthenticationToken",
                "Continuous access evaluation resulted in challenge",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_claims", claims="{CLAIMS_B64}"'},
            ),
            StepUpRequired,
            {"claims": CLAIMS},
        ),
        (error(429, "TooManyRequests", headers={"Retry-After": "30"}), Throttled, {"retry_after": 30}),
        (error(500, "UnknownError"), DirectoryUnavailable, {}),
    ],
)
async def test_activation_refusals_become_core_errors(
    reply: Reply, kind: type[PimError], facts: dict[str, Any]
) -> None:
    world = refused(reply)
    with pytest.raises(kind) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    for name, value in facts.items():
        assert getattr(caught.value, name) == value


CONTEXTS = "/identity/conditionalAccess/authenticationContextClassReferences"


def acrs_refused(message: str, *, context: str | None = "c3") -> World:
    """PIM refuses the write for an authentication context; the group's policy names `context`."""
    world = refused(error(400, "UnknownError", message))
    world.stub.on("GET", "/policies/roleManagementPolicyAssignments", lambda call: policy_page(TEAMS, context=context))
    return world


@pytest.mark.parametrize(
    "message",
    ["RoleAssignmentRequestAcrsValidationFailed", "RoleAssignmentRequestAcrsValidationFailed&claims=%7Bgarbage"],
)
async def test_unreadable_acrs_claims_are_built_from_the_policys_authentication_context(message: str) -> None:
    world = acrs_refused(message)
    with pytest.raises(StepUpRequired) as caught:
        await world.directory.self_activate("alice-token", world.activation(TEAMS))
    assert caught.value.authentication_context == "c3" and not caught.value.mfa
    assert json.loads(caught.value.claims or "") == {"access_token": {"acrs": {"essential": True, "value": "c3"}}}
    [policy_read] = world.stub.sent("GET", "/policies/roleManagementPolicyAssignments")
    assert policy_read.headers["Authorization"] != "Bearer alice-token"  # the policy is read app-only


async def test_acrs_refusal_without_claims_or_a_context_in_the_policy_asks_for_nothing_specific() -> None:
    world = acrs_refused("RoleAssignmentRequestAcrsValidationFailed", context=None)
    with pytest.raises(StepUpRequired) as caught:
        await world.directory.self_activate("alice-token", world.activation(TEAMS))
    assert (caught.value.authentication_context, caught.value.claims) == (None, None)


async def test_the_authentication_contexts_display_name_is_read_once_and_kept() -> None:
    world = acrs_refused(f"RoleAssignmentRequestAcrsValidationFailed claims={CLAIMS}")
    world.stub.on(
        "GET",
        f"{CONTEXTS}/c1",
        {"id": "c1", "displayName": "Sensitive admin actions", "description": "MFA", "isAvailable": True},
    )
    for _ in range(2):
        with pytest.raises(StepUpRequired) as caught:
            await world.directory.self_activate("alice-token", world.activation(TEAMS))
        assert (caught.value.authentication_context, caught.value.context_name) == ("c1", "Sensitive admin actions")
    [read] = world.stub.sent("GET", CONTEXTS)
    assert read.headers["Authorization"] != "Bearer alice-token"  # app-only


@pytest.mark.parametrize(
    "reply",
    [
        error(403, "AccessDenied", "You cannot perform the requested operation, required scopes are missing."),
        error(404, "ResourceNotFound"),
        Reply(200, {"id": "c1"}),
    ],
)
async def test_without_a_readable_name_the_context_is_shown_by_its_id(reply: Reply) -> None:
    world = acrs_refused(f"RoleAssignmentRequestAcrsValidationFailed claims={CLAIMS}")
    world.stub.on("GET", f"{CONTEXTS}/c1", reply)
    for _ in range(2):
        with pytest.raises(StepUpRequired) as caught:
            await world.directory.self_activate("alice-token", world.activation(TEAMS))
        assert (caught.value.authentication_context, caught.value.context_name) == ("c1", None)
    assert len(world.stub.sent("GET", CONTEXTS)) == 1  # a refusal is kept too: no read per activation


async def test_a_context_id_that_is_not_one_is_never_put_in_a_path() -> None:
    world = acrs_refused('RoleAssignmentRequestAcrsValidationFailed claims={"access_token":{"acrs":{"value":"../me"}}}')
    with pytest.raises(StepUpRequired) as caught:
        await world.directory.self_activate("alice-token", world.activation(TEAMS))
    assert caught.value.authentication_context == "../me" and caught.value.context_name is None
    assert world.stub.sent("GET", CONTEXTS) == [] and world.stub.sent("GET", "/me") == []


async def test_too_long_carries_the_maximum_when_the_policy_is_known() -> None:
    world = refused(policy_failed("ExpirationRule"))
    await world.directory.policy(TEAMS, Access.MEMBER)
    with pytest.raises(DurationTooLong) as caught:
        await world.directory.self_activate("alice-token", world.activation(TEAMS, timedelta(hours=6)))
    assert (caught.value.requested, caught.value.maximum) == (timedelta(hours=6), timedelta(hours=4))


async def test_too_short_when_graph_calls_a_sub_five_minute_schedule_invalid() -> None:
    world = refused(error(400, "InvalidRoleAssignmentRequest", "The role assignment request is invalid."))
    with pytest.raises(DurationTooShort):
        await world.directory.self_activate("alice-token", world.activation(duration=timedelta(minutes=3)))


async def test_already_active_reports_when_the_activation_ends() -> None:
    world = refused(error(400, "RoleAssignmentExists", "The Role assignment already exists."))
    world.active.append(instance(EXCHANGE, "Exchange-Admins", NOW - timedelta(hours=1), NOW + timedelta(hours=3)))
    with pytest.raises(AlreadyActive) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    assert caught.value.until == NOW + timedelta(hours=3)
    assert world.stub.round_trips == 2  # the POST, then one read to say until when


async def test_pending_request_is_named() -> None:
    world = refused(wrapped(400, "PendingRoleAssignmentRequest", "There already exists a pending request."))
    world.requests.append(request_item("p9", status="PendingApproval"))
    with pytest.raises(PendingRequestExists) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    assert caught.value.request_id == "p9"


async def test_eligibility_rule_without_any_eligibility_is_not_eligible() -> None:
    world = refused(policy_failed("EligibilityRule"))
    world.eligible.clear()
    with pytest.raises(NotEligible):
        await world.directory.self_activate("alice-token", world.activation())


async def test_eligibility_rule_with_a_future_eligibility_is_not_in_effect() -> None:
    world = refused(policy_failed("EligibilityRule"))
    world.eligible[:] = [eligibility(EXCHANGE, "Exchange-Admins", start=NOW + timedelta(days=2))]
    with pytest.raises(EligibilityNotInEffect) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    assert caught.value.not_started and caught.value.start == NOW + timedelta(days=2)


async def test_eligibility_rule_with_a_lapsed_eligibility_is_not_in_effect() -> None:
    world = refused(policy_failed("EligibilityRule"))
    world.eligible.clear()
    world.eligibility_requests.append(eligibility_request(EXCHANGE, NOW - timedelta(days=40), NOW - timedelta(days=1)))
    with pytest.raises(EligibilityNotInEffect) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    assert not caught.value.not_started and caught.value.end == NOW - timedelta(days=1)


# -- timeout recovery -------------------------------------------------------------------------------------------------


def timing_out_once(world: World) -> None:
    """The first POST is carried out by Graph but its answer never arrives."""
    original = world.stub.handle
    state = {"timed_out": False}

    def handle(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.method == "POST" and not state["timed_out"]:
            state["timed_out"] = True
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    world.stub.handle = handle  # type: ignore[method-assign]


async def test_timed_out_activation_that_was_made_is_found_not_repeated() -> None:
    world = World()
    world.requests.append(request_item("older", created=NOW - timedelta(hours=3), status="Revoked"))
    timing_out_once(world)
    request = await world.directory.self_activate("alice-token", world.activation(justification="INC-7"))
    assert request.id == "r2" and request.justification == "INC-7"
    assert len(world.stub.sent("POST", REQUESTS)) == 1
    listing = world.stub.sent("GET", REQUESTS)[-1]
    assert listing.query == {"$filter": f"principalId eq '{ALICE}' and groupId eq '{EXCHANGE}'"}
    assert world.stub.http_requests[-1].headers["Authorization"] == "Bearer app-token"


async def test_timed_out_activation_that_was_not_made_is_sent_once_more() -> None:
    world = World()
    calls = {"posts": 0}

    def lost_before_graph(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            calls["posts"] += 1
            if calls["posts"] == 1:
                raise httpx.ReadTimeout("lost", request=request)
        return GraphStub.handle(world.stub, request)

    world.stub.handle = lost_before_graph  # type: ignore[method-assign]
    request = await world.directory.self_activate("alice-token", world.activation())
    assert request.id == "r1" and calls["posts"] == 2


async def test_gateway_timeout_on_activation_is_reconciled_too() -> None:
    world = World()
    original = world.stub.handle

    def gateway(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.method == "POST":
            return httpx.Response(504, json={"error": {"code": "GatewayTimeout", "message": ""}})
        return response

    world.stub.handle = gateway  # type: ignore[method-assign]
    request = await world.directory.self_activate("alice-token", world.activation())
    assert request.id == "r1"
    assert len(world.stub.sent("POST", REQUESTS)) == 1


async def test_unverifiable_outcome_is_reported_unknown_without_a_second_post() -> None:
    world = World()
    timing_out_once(world)
    world.stub.on("GET", REQUESTS, error(500, "UnknownError"))
    with pytest.raises(OutcomeUnknown) as caught:
        await world.directory.self_activate("alice-token", world.activation(justification="INC-7"))
    assert len(world.stub.sent("POST", REQUESTS)) == 1
    # What to look for later: this user's activation of this group, made since it was sent.
    assert caught.value.write == SentWrite(WriteKind.ACTIVATE, EXCHANGE, Access.MEMBER, ALICE, NOW, "INC-7")
    world.stub.on("GET", REQUESTS, lambda call: {"value": world.requests})
    found = await world.directory.find_write(caught.value.write)
    assert found is not None and found.id == "r1" and found.justification == "INC-7"


async def test_a_second_send_whose_answer_is_lost_too_is_unknown_not_unavailable() -> None:
    world = World()
    world.stub.on("POST", REQUESTS, error(503, "UnknownError"))  # Graph may have acted on either
    with pytest.raises(OutcomeUnknown) as caught:
        await world.directory.self_activate("alice-token", world.activation())
    assert len(world.stub.sent("POST", REQUESTS)) == 2
    assert caught.value.write is not None and caught.value.write.kind is WriteKind.ACTIVATE


async def test_nothing_found_later_is_none() -> None:
    world = World()
    write = SentWrite(WriteKind.DEACTIVATE, EXCHANGE, Access.MEMBER, ALICE, NOW)
    world.requests.append(request_item("older", created=NOW - timedelta(hours=3), status="Revoked"))
    assert await world.directory.find_write(write) is None


# -- deactivation -----------------------------------------------------------------------------------------------------


async def test_deactivation() -> None:
    world = World()
    request = await world.directory.self_deactivate("alice-token", EXCHANGE, Access.MEMBER, ALICE)
    assert request.action == "selfDeactivate"
    assert world.stub.sent("POST", REQUESTS)[0].body == {
        "accessId": "member",
        "principalId": ALICE,
        "groupId": EXCHANGE,
        "action": "selfDeactivate",
    }


async def test_deactivating_what_is_not_active() -> None:
    world = refused(error(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist."))
    with pytest.raises(NotActive) as caught:
        await world.directory.self_deactivate("alice-token", EXCHANGE, Access.MEMBER, ALICE)
    assert not caught.value.assigned_by_admin
    world.active.append(instance(EXCHANGE, "Exchange-Admins", NOW - timedelta(days=9), None, kind="assigned"))
    with pytest.raises(NotActive) as caught:
        await world.directory.self_deactivate("alice-token", EXCHANGE, Access.MEMBER, ALICE)
    assert caught.value.assigned_by_admin


async def test_deactivating_too_soon_says_when_it_becomes_possible() -> None:
    world = refused(
        wrapped(400, "ActiveDurationTooShort", "The Active duration is too short. Miniumum Required is 5 minutes.")
    )
    world.active.append(instance(EXCHANGE, "Exchange-Admins", NOW - timedelta(minutes=2), NOW + timedelta(hours=1)))
    with pytest.raises(TooSoonToDeactivate) as caught:
        await world.directory.self_deactivate("alice-token", EXCHANGE, Access.MEMBER, ALICE)
    assert caught.value.earliest == NOW + timedelta(minutes=3)
    assert (caught.value.start, caught.value.end) == (NOW - timedelta(minutes=2), NOW + timedelta(hours=1))


# -- lapsed eligibilities ---------------------------------------------------------------------------------------------


def eligibility_request(
    group: str,
    start: datetime,
    end: datetime | None,
    *,
    action: str = "adminAssign",
    created: datetime | None = None,
    name: str = "Exchange-Admins",
) -> dict[str, Any]:
    expiration = {"type": "afterDateTime", "endDateTime": iso(end)} if end else {"type": "noExpiration"}
    return {
        "id": f"e-{group}-{iso(start)}",
        "status": "Provisioned",
        "action": action,
        "principalId": ALICE,
        "groupId": group,
        "accessId": "member",
        "createdDateTime": iso(created or start),
        "scheduleInfo": {"startDateTime": iso(start), "expiration": expiration},
        "group": {"id": group, "displayName": name},
    }


async def test_lapsed_eligibilities_from_the_request_history() -> None:
    world = World()
    world.eligibility_requests += [
        # ended and never renewed
        eligibility_request("ended", NOW - timedelta(days=90), NOW - timedelta(days=3), name="Finance-Prod"),
        # ended, but renewed: superseded
        eligibility_request(EXCHANGE, NOW - timedelta(days=90), NOW - timedelta(days=30)),
        eligibility_request(EXCHANGE, NOW - timedelta(days=30), NOW + timedelta(days=30)),
        # permanent, then removed by an admin
        eligibility_request("removed", NOW - timedelta(days=90), None, name="Helpdesk-Tier1"),
        {
            **eligibility_request(
                "removed",
                NOW - timedelta(days=90),
                None,
                action="adminRemove",
                created=NOW - timedelta(days=1),
                name="Helpdesk-Tier1",
            ),
            "id": "rm",
        },
        # denied request: never an eligibility
        {**eligibility_request("denied", NOW - timedelta(days=9), NOW - timedelta(days=1)), "status": "Denied"},
    ]
    lapsed = await world.directory.lapsed_eligibilities(ALICE)
    assert [(e.group.display_name, e.end) for e in lapsed] == [
        ("Helpdesk-Tier1", NOW - timedelta(days=1)),
        ("Finance-Prod", NOW - timedelta(days=3)),
    ]
    assert world.stub.calls[0].query["$filter"] == f"principalId eq '{ALICE}'"


# -- display names ----------------------------------------------------------------------------------------------------


def get_by_ids(names: dict[str, str | None]) -> Callable[[Call], dict[str, Any]]:
    """getByIds answering `names` (None: an object the app may not read, its id and type only); others absent."""

    def answer(call: Call) -> dict[str, Any]:
        known = [i for i in call.body["ids"] if i in names]
        return {"value": [{"@odata.type": "#microsoft.graph.user", "id": i, "displayName": names[i]} for i in known]}

    return answer


async def test_display_names_are_one_getbyids_call_cached_and_unknown_ids_left_out() -> None:
    world = World()
    world.stub.on("POST", "/directoryObjects/getByIds", get_by_ids({"bob": "Bob", "approvers": "PIM-Approvers"}))
    names = await world.directory.display_names(["bob", "approvers", "ghost", "bob"])
    assert names == {"bob": "Bob", "approvers": "PIM-Approvers"}
    assert world.stub.round_trips == 1
    assert world.stub.calls[0].body == {"ids": ["bob", "approvers", "ghost"], "types": ["user", "group"]}
    assert await world.directory.display_names(["bob"]) == {"bob": "Bob"}
    assert world.stub.round_trips == 1


async def test_a_nameless_object_from_getbyids_is_looked_up_on_its_own() -> None:
    world = World()
    world.stub.on("POST", "/directoryObjects/getByIds", get_by_ids({"bob": "Bob", "team": None}))
    world.stub.on("GET", "/directoryObjects/team", {"id": "team", "displayName": "PIM-Approvers"})
    assert await world.directory.display_names(["bob", "team"]) == {"bob": "Bob", "team": "PIM-Approvers"}
    assert [c.path for c in world.stub.calls] == ["/directoryObjects/getByIds", "/directoryObjects/team"]


async def test_getbyids_failing_for_now_is_an_error_not_a_fallback() -> None:
    world = World()
    world.stub.on("POST", "/directoryObjects/getByIds", error(503, "ServiceUnavailable"))
    with pytest.raises(DirectoryUnavailable):
        await world.directory.display_names(["bob"])
    assert world.stub.sent("GET") == []


async def test_display_names_fall_back_to_users_and_groups() -> None:
    world = World()
    world.stub.on("POST", "/directoryObjects/getByIds", error(403, "Authorization_RequestDenied"))
    world.stub.on("GET", "/directoryObjects/[^/]+", error(400, "BadRequest", "Could not find a property 'displayName'"))
    world.stub.on("GET", "/users/bob", {"id": "bob", "displayName": "Bob"})
    world.stub.on("GET", "/users/team", error(404, "Request_ResourceNotFound"))
    world.stub.on("GET", "/groups/team", {"id": "team", "displayName": "PIM-Approvers"})
    world.stub.on("GET", "/groups/bob", error(404, "Request_ResourceNotFound"))
    assert await world.directory.display_names(["bob", "team"]) == {"bob": "Bob", "team": "PIM-Approvers"}
    assert world.stub.round_trips == 3  # getByIds refused, then directoryObjects/{id}, then users and groups


async def test_snapshot_group_names_feed_the_name_cache() -> None:
    world = World()
    await world.directory.snapshot(ALICE)
    assert await world.directory.display_names([TEAMS]) == {TEAMS: "Teams Admins"}
    assert world.stub.round_trips == 1
