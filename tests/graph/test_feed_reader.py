"""The admin feed's Graph reader (graph/feed.py) against the simulated tenant over real HTTPS: admins change PIM
behind the bot's back with Graph admin requests (app token, or an admin's delegated token), users activate and
deactivate with their own tokens, the tenant's clock makes things expire, and the tenant counts the round trips."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

import simtenant
from core.errors import PermissionDenied
from core.feed import EXPIRY_NOTICE, EndReason, EventKind, FeedEvent, GroupState, UnknownFeedGroups
from core.models import Access, Ticket
from graph import AppTokenSource, FeedReader, GraphClient, SimulatedTenantTokens
from graph.wire import format_datetime
from simtenant import seed
from tests.support.tenant import GRAPH_DEFAULT, msal_app

ALICE, BOB, CAROL, ERIN, FRANK = seed.ALICE, seed.BOB, seed.CAROL, seed.ERIN, seed.FRANK
EXCHANGE, TEAMS, SECOPS = seed.EXCHANGE_ADMINS, seed.TEAMS_ADMINS, seed.SECURITY_OPERATORS
INTUNE, SHAREPOINT = seed.INTUNE_ADMINS, seed.SHAREPOINT_ADMINS
PIM = "/identityGovernance/privilegedAccess/group"
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
ADMIN_SCOPES = (
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
)


@dataclass
class Feed:
    sim: Any  # simtenant.RunningSimTenant
    http: httpx.AsyncClient
    client: GraphClient
    reader: FeedReader
    tokens: SimulatedTenantTokens
    groups: list[str]
    states: dict[str, GroupState]

    @property
    def tenant(self) -> Any:
        return self.sim.tenant

    def now(self) -> datetime:
        return self.tenant.now()  # type: ignore[no-any-return]

    def after(self, delta: timedelta) -> datetime:
        """A whole second `delta` from now (Graph's times on the wire carry milliseconds)."""
        return (self.now() + delta).replace(microsecond=0)

    async def poll(self, groups: list[str] | None = None) -> list[FeedEvent]:
        states, events = await self.reader.poll(groups or self.groups, self.states, self.now())
        self.states.update(states)
        return events

    async def admin(
        self,
        kind: str,
        action: str,
        group: str,
        principal: str,
        access: str = "member",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        justification: str | None = "by the admin script",
        ticket: Ticket | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """POST an admin schedule request (eligibility or assignment), app-only unless `token` is given."""
        body: dict[str, Any] = {"action": action, "groupId": group, "principalId": principal, "accessId": access}
        if action != "adminRemove":
            expiration = {"type": "afterDateTime", "endDateTime": format_datetime(end)} if end else {}
            body["scheduleInfo"] = {
                "startDateTime": format_datetime(start or self.now()),
                "expiration": expiration or {"type": "noExpiration"},
            }
        if justification:
            body["justification"] = justification
        if ticket:
            body["ticketInfo"] = {"ticketNumber": ticket.number, "ticketSystem": ticket.system}
        return await self.client.post(f"{PIM}/{kind}ScheduleRequests", json=body, token=token)

    async def user_token(self, oid: str, scp: str | None = None) -> str:
        payload: dict[str, Any] = {"oid": oid}
        if scp:
            payload["scp"] = scp
        response = await self.http.post(f"{self.sim.control_url}/token", json=payload)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def activate(self, group: str, principal: str = ALICE, duration: str = "PT2H", **extra: Any) -> Any:
        body = {
            "action": "selfActivate",
            "groupId": group,
            "principalId": principal,
            "accessId": "member",
            "justification": "INC-4711",
            "scheduleInfo": {
                "startDateTime": format_datetime(self.now()),
                "expiration": {"type": "afterDuration", "duration": duration},
            },
            **extra,
        }
        token = await self.user_token(principal)
        return await self.client.post(f"{PIM}/assignmentScheduleRequests", json=body, token=token)

    def graph_requests(self) -> int:
        return int(self.tenant.stats.graph_requests)


@pytest.fixture
async def feed(request: pytest.FixtureRequest) -> AsyncIterator[Feed]:
    tenant = simtenant.build_tenant(getattr(request, "param", "demo"))  # parametrize("feed", [seed], indirect=True)
    tenant.clock.freeze()
    async with simtenant.run_simtenant(tenant=tenant) as sim:
        async with httpx.AsyncClient(verify=sim.ssl_context(), timeout=30.0) as http:
            async with msal_app(sim) as app:
                app_token = AppTokenSource(
                    functools.partial(app.acquire_token_for_client, scopes=GRAPH_DEFAULT),
                    forget=lambda: app.remove_tokens_for_client(),
                )
                client = GraphClient(http, sim.graph_base_url, app_token, max_retry_wait=3.0)
                await app_token()
                tenant.stats.reset()
                yield Feed(
                    sim,
                    http,
                    client,
                    FeedReader(client),
                    SimulatedTenantTokens(http, sim.control_url),
                    [EXCHANGE, TEAMS, SECOPS, INTUNE],
                    {},
                )


def kinds(events: list[FeedEvent]) -> list[tuple[EventKind, str, str, Access]]:
    return [(e.kind, e.group_id, e.principal_id, e.access) for e in events]


# ---- the cycle without changes ---------------------------------------------------------------------------------------


async def test_first_poll_is_a_baseline_in_one_round_trip(feed: Feed) -> None:
    events = await feed.poll()
    assert events == []
    assert feed.graph_requests() == 1  # 4 groups × 2 lists = 8 requests in one $batch
    inner = [e for e in feed.tenant.log.recent() if e["inner"]]
    assert sorted((e["route"], e["query"]["$filter"]) for e in inner) == sorted(
        (f"GET {coll}", f"groupId eq '{group}'")
        for coll in ("eligibilitySchedules", "assignmentScheduleInstances")
        for group in feed.groups
    )
    assert all(e["caller"] == "app" and e["status"] == 200 and "$select" in e["query"] for e in inner)
    exchange = {(i.kind.value, i.principal_id, i.access) for i in feed.states[EXCHANGE].items}
    assert exchange == {("eligible", ALICE, Access.MEMBER), ("eligible", ALICE, Access.OWNER)}
    [intune] = feed.states[INTUNE].items  # Alice's Intune eligibility starts next week: scheduled, so listed
    assert (intune.principal_id, intune.start is not None and intune.start > feed.now()) == (ALICE, True)
    assert await feed.poll() == []
    assert feed.graph_requests() == 2


# ---- eligibility ----------------------------------------------------------------------------------------------------


async def test_admin_changes_to_eligibility_are_events_with_who_and_why(feed: Feed) -> None:
    await feed.poll()
    erin = await feed.user_token(ERIN, ADMIN_SCOPES)  # Erin is a tenant admin
    end = feed.after(90 * DAY)
    await feed.admin(
        "eligibility", "adminAssign", EXCHANGE, BOB, end=end, ticket=Ticket("CHG-1", "ServiceNow"), token=erin
    )
    feed.tenant.stats.reset()
    [created] = await feed.poll()
    assert feed.graph_requests() == 2  # the lists, then one history read for the one change
    assert kinds([created]) == [(EventKind.ELIGIBLE_CREATED, EXCHANGE, BOB, Access.MEMBER)]
    assert (created.by, created.justification, created.ticket) == (
        ERIN,
        "by the admin script",
        Ticket("CHG-1", "ServiceNow"),
    )
    assert created.end == end and not created.permanent

    await feed.admin("eligibility", "adminExtend", EXCHANGE, BOB, end=end + 90 * DAY, justification="longer")
    [extended] = await feed.poll()
    assert (extended.kind, extended.previous_end, extended.end) == (EventKind.ELIGIBLE_EXTENDED, end, end + 90 * DAY)
    assert (extended.by, extended.justification) == (seed.CLIENT_ID, "longer")  # the app made this one

    await feed.admin("eligibility", "adminRemove", EXCHANGE, BOB, justification="left the team")
    [removed] = await feed.poll()
    assert (removed.kind, removed.reason, removed.by, removed.justification) == (
        EventKind.ELIGIBLE_REMOVED,
        EndReason.REMOVED,
        seed.CLIENT_ID,
        "left the team",
    )
    assert await feed.poll() == []


async def test_expiring_once_then_expired_by_the_tenants_clock(feed: Feed) -> None:
    end = feed.after(EXPIRY_NOTICE + 2 * DAY)
    await feed.admin("eligibility", "adminAssign", TEAMS, FRANK, end=end)
    await feed.poll([TEAMS])  # baseline includes Frank's eligibility
    feed.tenant.advance(DAY)
    assert await feed.poll([TEAMS]) == []  # still 15 days away
    feed.tenant.advance(DAY + MINUTE)
    expiring = await feed.poll([TEAMS])
    assert [(e.kind, e.principal_id, e.end) for e in expiring] == [(EventKind.ELIGIBLE_EXPIRING, FRANK, end)]
    feed.tenant.advance(DAY)
    assert await feed.poll([TEAMS]) == []  # announced once
    feed.tenant.advance(EXPIRY_NOTICE)
    [expired] = await feed.poll([TEAMS])
    assert (expired.kind, expired.reason, expired.by) == (EventKind.ELIGIBLE_REMOVED, EndReason.EXPIRED, None)


async def test_renewal_after_a_lapse(feed: Feed) -> None:
    end = feed.after(3 * DAY)
    await feed.admin("eligibility", "adminAssign", TEAMS, FRANK, end=end)
    await feed.poll()
    feed.tenant.advance(3 * DAY + MINUTE)
    [lapsed] = await feed.poll()
    assert (lapsed.kind, lapsed.reason) == (EventKind.ELIGIBLE_REMOVED, EndReason.EXPIRED)
    await feed.admin("eligibility", "adminRenew", TEAMS, FRANK, end=feed.after(180 * DAY), justification="renewed")
    [renewed] = await feed.poll()
    assert (renewed.kind, renewed.principal_id, renewed.justification) == (EventKind.ELIGIBLE_RENEWED, FRANK, "renewed")


async def test_an_eligibility_starting_next_week_is_created_when_the_admin_makes_it(feed: Feed) -> None:
    await feed.poll([TEAMS])
    start, end = feed.after(7 * DAY), feed.after(97 * DAY)
    await feed.admin("eligibility", "adminAssign", TEAMS, BOB, start=start, end=end, justification="joins next week")
    [created] = await feed.poll([TEAMS])
    assert (created.kind, created.principal_id, created.start, created.end) == (
        EventKind.ELIGIBLE_CREATED,
        BOB,
        start,
        end,
    )
    assert (created.by, created.justification) == (seed.CLIENT_ID, "joins next week")
    assert await feed.poll([TEAMS]) == []
    feed.tenant.advance(7 * DAY + MINUTE)
    assert await feed.poll([TEAMS]) == []  # its start is not news a second time


async def test_an_eligibility_removed_before_it_started_is_removed(feed: Feed) -> None:
    await feed.poll([TEAMS])
    start = feed.after(7 * DAY)
    await feed.admin("eligibility", "adminAssign", TEAMS, BOB, start=start, end=feed.after(30 * DAY))
    [created] = await feed.poll([TEAMS])
    await feed.admin("eligibility", "adminRemove", TEAMS, BOB, justification="plans changed")
    [removed] = await feed.poll([TEAMS])
    assert (removed.kind, removed.reason, removed.start, removed.by, removed.justification) == (
        EventKind.ELIGIBLE_REMOVED,
        EndReason.REMOVED,
        start,
        seed.CLIENT_ID,
        "plans changed",
    )
    feed.tenant.advance(7 * DAY + MINUTE)
    assert await feed.poll([TEAMS]) == []


async def test_an_eligibility_scheduled_before_the_feed_started_is_not_news_when_it_starts(feed: Feed) -> None:
    await feed.poll([INTUNE])  # Alice's Intune eligibility starts in 7 days: part of the baseline
    feed.tenant.advance(7 * DAY + MINUTE)
    assert await feed.poll([INTUNE]) == []


# ---- active assignments ---------------------------------------------------------------------------------------------


async def test_activation_then_deactivation(feed: Feed) -> None:
    await feed.poll()
    await feed.activate(EXCHANGE)
    [activated] = await feed.poll()
    assert kinds([activated]) == [(EventKind.ACTIVE_ACTIVATED, EXCHANGE, ALICE, Access.MEMBER)]
    assert (activated.by, activated.justification, activated.decision, activated.warning) == (
        ALICE,
        "INC-4711",
        None,
        False,
    )
    feed.tenant.advance(10 * MINUTE)
    token = await feed.user_token(ALICE)
    body = {"action": "selfDeactivate", "groupId": EXCHANGE, "principalId": ALICE, "accessId": "member"}
    await feed.client.post(f"{PIM}/assignmentScheduleRequests", json=body, token=token)
    [ended] = await feed.poll()
    assert (ended.kind, ended.reason, ended.by, ended.start) == (
        EventKind.ACTIVE_ENDED,
        EndReason.DEACTIVATED,
        ALICE,
        activated.start,
    )


async def test_activation_expires(feed: Feed) -> None:
    await feed.poll()
    await feed.activate(EXCHANGE, duration="PT1H")
    [activated] = await feed.poll()
    feed.tenant.advance(HOUR + MINUTE)
    [ended] = await feed.poll()
    assert (ended.kind, ended.reason, ended.end) == (EventKind.ACTIVE_ENDED, EndReason.EXPIRED, activated.end)


async def test_permanent_direct_assignment_is_a_warning_and_its_removal_is_named(feed: Feed) -> None:
    feed.tenant.set_policy(TEAMS, "member", admin_assignment_expiration_required=False)  # permits permanent ones
    await feed.poll()
    await feed.admin("assignment", "adminAssign", TEAMS, CAROL, justification="break glass")
    [assigned] = await feed.poll()
    assert (assigned.kind, assigned.permanent, assigned.warning, assigned.by) == (
        EventKind.ACTIVE_ASSIGNED,
        True,
        True,
        seed.CLIENT_ID,
    )
    await feed.admin("assignment", "adminRemove", TEAMS, CAROL, justification="done")
    [ended] = await feed.poll()
    assert (ended.kind, ended.reason, ended.justification) == (EventKind.ACTIVE_ENDED, EndReason.REMOVED, "done")


async def test_activation_after_approval_says_approved(feed: Feed) -> None:
    await feed.poll()
    request = await feed.activate(SECOPS, duration="PT1H")
    assert request["status"] == "PendingApproval"
    assert await feed.poll() == []  # pending: nothing in effect yet (the bot's approval desk announces requests)
    bob = await feed.user_token(BOB)
    approval = await feed.client.get(f"{PIM}/assignmentApprovals/{request['id']}", token=bob)
    stage = approval["stages"][0]["id"]
    await feed.client.patch(
        f"{PIM}/assignmentApprovals/{request['id']}/stages/{stage}",
        json={"reviewResult": "Approve", "justification": "ok"},
        token=bob,
    )
    [activated] = await feed.poll()
    assert (activated.kind, activated.decision, activated.by, activated.group_id) == (
        EventKind.ACTIVE_ACTIVATED,
        "approved",
        ALICE,
        SECOPS,
    )


# ---- failures stay within a group ------------------------------------------------------------------------------------


async def test_a_failed_group_keeps_its_state_and_is_seen_next_cycle(feed: Feed) -> None:
    await feed.poll()
    before = dict(feed.states)
    await feed.admin("eligibility", "adminAssign", EXCHANGE, BOB, end=feed.after(90 * DAY))
    await feed.admin("eligibility", "adminAssign", TEAMS, BOB, end=feed.after(90 * DAY))
    # The first inner eligibility list of the batch (Exchange-Admins, first in order) fails.
    feed.tenant.add_fault(method="GET", path="eligibilitySchedules", status=500, times=1)
    events = await feed.poll()
    assert kinds(events) == [(EventKind.ELIGIBLE_CREATED, TEAMS, BOB, Access.MEMBER)]
    assert feed.states[EXCHANGE] is before[EXCHANGE]  # kept as it was
    assert set(feed.reader.last_failed) == {EXCHANGE}
    [late] = await feed.poll()
    assert kinds([late]) == [(EventKind.ELIGIBLE_CREATED, EXCHANGE, BOB, Access.MEMBER)]
    assert feed.reader.last_failed == {}


async def test_a_failed_history_read_fails_only_that_group_and_replays_with_the_same_id(feed: Feed) -> None:
    await feed.poll()
    await feed.admin("eligibility", "adminAssign", EXCHANGE, BOB, end=feed.after(90 * DAY))
    feed.tenant.add_fault(method="GET", path="eligibilityScheduleRequests", status=403, times=1)
    assert await feed.poll() == []
    assert isinstance(feed.reader.last_failed[EXCHANGE], PermissionDenied)
    [created] = await feed.poll()
    assert created.kind is EventKind.ELIGIBLE_CREATED and created.by == seed.CLIENT_ID


async def test_an_inner_429_is_retried_after_its_retry_after(feed: Feed) -> None:
    await feed.poll()
    await feed.admin("eligibility", "adminAssign", TEAMS, BOB, end=feed.after(90 * DAY))
    feed.tenant.add_fault(method="GET", path="eligibilitySchedules", status=429, retry_after=0.2, times=1)
    feed.tenant.stats.reset()
    events = await feed.poll()
    assert kinds(events) == [(EventKind.ELIGIBLE_CREATED, TEAMS, BOB, Access.MEMBER)]
    assert feed.reader.last_failed == {}
    assert feed.graph_requests() == 3  # the batch, the throttled item again, the history


async def test_a_whole_batch_failing_fails_its_groups_only(feed: Feed) -> None:
    groups = [EXCHANGE, TEAMS, SECOPS, INTUNE, SHAREPOINT, seed.FINANCE_PROD, seed.HELPDESK_TIER1, seed.HELPDESK_STAFF,
              seed.PIM_APPROVERS, seed.PRIVILEGED_ROLE_ADMINS, "bbbbbbbb-0000-4000-8000-00000000ffff"]  # fmt: skip
    feed.tenant.add_fault(method="POST", path=r"\$batch", status=500, times=1)
    states, events = await feed.reader.poll(groups, {}, feed.now())
    # 11 groups = 22 requests = two batches; one of them failed (whichever was sent first), the other was read.
    assert len(states) == 1 or len(states) == 10
    assert set(feed.reader.last_failed) == set(groups) - set(states)
    assert events == []


# ---- paging and scale -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["feed:30"], indirect=True)
async def test_pages_of_a_large_group_are_followed(feed: Feed) -> None:
    group = seed.feed_group_id(1)
    for n in range(2, 31):  # other groups as principals (members of a group inherit its eligibility)
        await feed.admin("eligibility", "adminAssign", group, seed.feed_group_id(n), end=feed.after(30 * DAY))
    feed.tenant.settings.page_size = 5
    feed.tenant.stats.reset()
    await feed.poll([group])
    assert len(feed.states[group].items) == 31  # Alice, Bob and 29 groups
    assert feed.graph_requests() == 1 + 6  # the batch, then 6 more pages of eligibility (5 rows a page)
    await feed.admin("eligibility", "adminRemove", group, seed.feed_group_id(30))
    [removed] = await feed.poll([group])
    assert (removed.kind, removed.principal_id) == (EventKind.ELIGIBLE_REMOVED, seed.feed_group_id(30))


@pytest.mark.parametrize("feed", ["feed:1000"], indirect=True)
async def test_a_thousand_groups_cost_a_hundred_round_trips(feed: Feed) -> None:
    groups = [seed.feed_group_id(n) for n in range(1, 1001)]
    feed.tenant.stats.reset()
    assert await feed.poll(groups) == []
    stats = feed.tenant.stats
    assert (stats.graph_requests, stats.batch_inner_requests) == (100, 2000)  # ⌈1000/20⌉ × 2
    assert all(len(feed.states[g].items) == 2 for g in groups)
    for n in (7, 700):
        await feed.admin("eligibility", "adminRemove", seed.feed_group_id(n), BOB, "owner")
    await feed.activate(seed.feed_group_id(500), duration="PT1H")
    stats.reset()
    events = await feed.poll(groups)
    assert sorted((e.kind.value, e.group_id) for e in events) == [
        ("active.activated", seed.feed_group_id(500)),
        ("eligible.removed", seed.feed_group_id(7)),
        ("eligible.removed", seed.feed_group_id(700)),
    ]
    assert stats.graph_requests == 100 + 1  # the lists, then the 3 histories in one $batch


# ---- FEED_GROUPS ----------------------------------------------------------------------------------------------------


async def test_resolve_groups_by_name_and_id(feed: Feed) -> None:
    groups = await feed.reader.resolve_groups(["Exchange-Admins", TEAMS.upper(), " Security-Operators ", EXCHANGE])
    assert [(g.id.casefold(), g.display_name) for g in groups] == [
        (EXCHANGE, "Exchange-Admins"),
        (TEAMS, "Teams Admins"),
        (SECOPS, "Security-Operators"),
    ]
    assert feed.graph_requests() == 1


async def test_resolve_groups_refuses_unknown_and_ambiguous_names(feed: Feed) -> None:
    feed.tenant.add_group("bbbbbbbb-0000-4000-8000-0000000000aa", "Teams Admins")
    with pytest.raises(UnknownFeedGroups) as caught:
        await feed.reader.resolve_groups(
            ["No-Such-Group", "Teams Admins", "bbbbbbbb-0000-4000-8000-00000000ffff", "O'Brien"]
        )
    assert caught.value.missing == ("No-Such-Group", "bbbbbbbb-0000-4000-8000-00000000ffff", "O'Brien")
    assert set(caught.value.ambiguous["Teams Admins"]) == {TEAMS, "bbbbbbbb-0000-4000-8000-0000000000aa"}
