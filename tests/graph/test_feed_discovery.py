"""Discovering PIM-enabled groups from the PIM audit log (FeedReader.discover_pim_groups) against the simulated
tenant over real HTTPS: its demo history, incremental reads from a watermark, paging, the audit API's 5 requests /
10 s throttle on the tenant's clock, and the AuditLog.Read.All permission."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

import simtenant
from core.errors import PermissionDenied, Throttled
from core.feed import EventKind, approval_event_id
from core.models import Access
from graph import FeedReader, GraphClient
from graph.feed import AUDIT_OVERLAP
from graph.wire import format_datetime, parse_pim_decision, parse_pim_group_audit
from simtenant import seed

DEMO_PIM_GROUPS = seed.DEMO_PIM_GROUPS
PIM = "/identityGovernance/privilegedAccess/group"
OTHER_APP, OTHER_SECRET = "11111111-2222-4333-8444-555555555555", "no-audit-secret"


def app_token_source(
    http: httpx.AsyncClient, authority: str, client_id: str, secret: str
) -> Callable[[], Awaitable[str]]:
    """App-only tokens from the simulated tenant's token endpoint (client credentials), as msal would get them."""

    async def token() -> str:
        response = await http.post(
            f"{authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return token


@dataclass
class Sim:
    sim: Any  # simtenant.RunningSimTenant
    http: httpx.AsyncClient
    slept: list[float] = field(default_factory=list)

    @property
    def tenant(self) -> Any:
        return self.sim.tenant

    async def sleep(self, seconds: float) -> None:
        """Waiting on the tenant's clock: the throttle counts sim time."""
        self.slept.append(seconds)
        self.tenant.advance(seconds)

    def token_source(self, client_id: str, secret: str) -> Callable[[], Awaitable[str]]:
        return app_token_source(self.http, self.sim.authority, client_id, secret)

    def reader(
        self, *, client_id: str | None = None, secret: str | None = None, max_retry_wait: float = 3.0
    ) -> FeedReader:
        source = self.token_source(client_id or self.sim.client_id, secret or self.sim.client_secret)
        client = GraphClient(
            self.http, self.sim.graph_base_url, source, max_retry_wait=max_retry_wait, sleep=self.sleep
        )
        return FeedReader(client, sleep=self.sleep)

    def audit_requests(self) -> list[dict[str, Any]]:
        return [e for e in self.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits"]


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    tenant = simtenant.build_tenant("demo", clock=simtenant.SimClock(frozen=True))
    async with simtenant.run_simtenant(tenant=tenant) as running:
        async with httpx.AsyncClient(verify=running.ssl_context(), timeout=30.0) as http:
            yield Sim(running, http)


async def test_discovers_the_demo_pim_groups_and_no_other_group(sim: Sim) -> None:
    groups, watermark = await sim.reader().discover_pim_groups(None)
    assert set(groups) == DEMO_PIM_GROUPS and len(groups) == len(DEMO_PIM_GROUPS)
    # Helpdesk-Staff is eligible FOR Helpdesk-Tier1 (a group as principal): it is not a PIM group itself.
    assert seed.HELPDESK_STAFF not in groups and seed.PIM_APPROVERS not in groups
    assert watermark == sim.tenant.now()  # the newest entry: Intune-Admins' eligibility, assigned at seeding
    [request] = sim.audit_requests()
    assert request["query"]["$filter"] == "loggedByService eq 'PIM' and category eq 'GroupManagement'"


async def test_incremental_from_the_watermark_finds_a_newly_touched_group(sim: Sim) -> None:
    reader = sim.reader()
    _, watermark = await reader.discover_pim_groups(None)
    sim.tenant.add_group("eeeeeeee-0000-4000-8000-000000000001", "Fresh-PIM-Group")
    sim.tenant.advance(3 * 3600)
    again, same = await reader.discover_pim_groups(watermark)
    assert again == [seed.INTUNE_ADMINS] and same == watermark  # only the overlap re-read: the entry AT the watermark

    sim.tenant.advance(60)
    sim.tenant.add_eligibility("eeeeeeee-0000-4000-8000-000000000001", seed.BOB, "member")  # an admin, elsewhere
    groups, newer = await reader.discover_pim_groups(watermark)
    assert groups == ["eeeeeeee-0000-4000-8000-000000000001", seed.INTUNE_ADMINS]  # newest first
    assert newer == sim.tenant.now() and newer is not None and watermark is not None and newer > watermark
    last = sim.audit_requests()[-1]
    assert last["query"]["$filter"].endswith(f"activityDateTime ge {format_datetime(watermark - AUDIT_OVERLAP)}")


async def test_pages_through_a_busy_log_waiting_out_the_throttle(sim: Sim) -> None:
    tenant = sim.tenant
    start = tenant.now() - timedelta(days=20)
    for n in range(400):  # 3 entries each (requested, completed, expired): 1,200 entries, three pages of 500
        when = start + timedelta(hours=n)
        tenant.add_activation_history(seed.EXCHANGE_ADMINS, seed.ALICE, start=when, end=when + timedelta(hours=1))
    tenant.add_activation_history(seed.TEAMS_ADMINS, seed.ALICE, start=start - timedelta(days=5), end=start)
    for _ in range(4):  # someone else used most of this app's 5 requests / 10 s
        tenant.reports_throttle.admit(sim.sim.client_id, tenant.now())

    groups, _ = await sim.reader().discover_pim_groups(None)
    assert set(groups) == DEMO_PIM_GROUPS
    statuses = [e["status"] for e in sim.audit_requests()]
    assert statuses.count(429) >= 1 and statuses.count(200) >= 3
    assert sim.slept and all(wait == 10 for wait in sim.slept)  # each wait = the Retry-After the tenant sent


async def test_a_throttled_first_page_is_not_waited_for_the_cycle_goes_on(sim: Sim) -> None:
    # The feed reads the audit log inside its poll cycle: waiting out a 429 there would hold every post of the cycle
    # (up to the client's 10 s). The first page's 429 is reported at once, with its Retry-After, for a later cycle.
    tenant = sim.tenant
    for _ in range(5):
        tenant.reports_throttle.admit(sim.sim.client_id, tenant.now())
    tenant.advance(8)  # two seconds left in the window
    with pytest.raises(Throttled) as caught:
        await sim.reader(max_retry_wait=10.0).discover_pim_groups(None)
    assert caught.value.retry_after == 2
    assert sim.slept == []
    assert [e["status"] for e in sim.audit_requests()] == [429]
    tenant.advance(2)
    groups, _ = await sim.reader(max_retry_wait=10.0).discover_pim_groups(None)
    assert set(groups) == DEMO_PIM_GROUPS


async def test_without_audit_log_read_all_it_is_a_permission_problem(sim: Sim) -> None:
    sim.tenant.add_app(OTHER_APP, OTHER_SECRET, ["User.Read.All", "GroupMember.Read.All"], "No audit log")
    with pytest.raises(PermissionDenied):
        await sim.reader(client_id=OTHER_APP, secret=OTHER_SECRET).discover_pim_groups(None)


def test_only_pim_group_management_entries_name_a_group() -> None:
    entry: dict[str, Any] = {
        "loggedByService": "PIM",
        "category": "GroupManagement",
        "activityDisplayName": "Add member to group completed (PIM activation)",  # community wording (§9 conflict)
        "targetResources": [
            {"id": "role", "type": "Other"},
            {"id": "g-1", "type": "Group"},
            {"id": "u-1", "type": "User"},
        ],
    }
    assert parse_pim_group_audit(entry) == "g-1"
    assert parse_pim_group_audit({**entry, "category": "RoleManagement"}) is None  # PIM for Entra roles
    assert parse_pim_group_audit({**entry, "loggedByService": "Core Directory"}) is None
    assert parse_pim_group_audit({**entry, "activityDisplayName": "Add member to group"}) is None
    assert parse_pim_group_audit({**entry, "targetResources": [{"id": "u-1", "type": "User"}]}) is None


# ---- approval outcomes (the same read; bot.feed posts them as APPROVAL_DECIDED) --------------------------------------


async def test_the_same_read_brings_the_approval_outcomes_with_the_approver(sim: Sim) -> None:
    read = await sim.reader().read_pim_audit(None)
    assert set(read.groups) == DEMO_PIM_GROUPS
    [approved] = [d for d in read.decisions if d.group_id == seed.SECURITY_OPERATORS]  # the demo's approved activation
    [entry] = [e for e in sim.tenant.audit.entries() if "request approved" in e["activityDisplayName"]]
    assert (approved.kind, approved.decision, approved.by, approved.principal_id, approved.access) == (
        EventKind.APPROVAL_DECIDED,
        "approved",
        seed.BOB,
        seed.ALICE,
        Access.MEMBER,
    )
    assert approved.id == approval_event_id(entry["correlationId"])  # the approval desk's id for that request
    assert [e["status"] for e in sim.audit_requests()] == [200]  # one request: groups and outcomes alike


def test_approval_outcomes_in_audit_entries() -> None:
    entry: dict[str, Any] = {
        "loggedByService": "PIM",
        "category": "GroupManagement",
        "correlationId": "corr-1",
        "activityDisplayName": "Add member to role request denied (PIM activation)",
        "activityDateTime": "2026-11-20T10:00:00Z",
        "initiatedBy": {"user": {"id": "approver-1"}, "app": None},
        "targetResources": [{"id": "g-1", "type": "Group"}, {"id": "u-1", "type": "User"}],
        "additionalDetails": [{"key": "RequestId", "value": "REQ-1"}, {"key": "Role", "value": "Owner"}],
    }
    denied = parse_pim_decision(entry)
    assert denied is not None
    assert (denied.id, denied.decision, denied.by, denied.group_id, denied.principal_id, denied.access) == (
        approval_event_id("req-1"),
        "denied",
        "approver-1",
        "g-1",
        "u-1",
        Access.OWNER,
    )
    bare = parse_pim_decision({**entry, "additionalDetails": []})  # no details: the correlationId, member access
    assert bare is not None and (bare.id, bare.access) == (approval_event_id("corr-1"), Access.MEMBER)
    expired = parse_pim_decision(
        {
            **entry,
            "activityDisplayName": "PIM activation request expired",
            "initiatedBy": {"user": None, "app": {"appId": "ms-pim"}},
        }
    )
    assert expired is not None and (expired.decision, expired.by) == ("expired", None)
    # Community queries of real tenants match PIM approvals as "Request approved" (no "PIM" in the name; the service
    # and category say it): read as the same outcome, not skipped.
    short = parse_pim_decision({**entry, "activityDisplayName": "Request approved"})
    assert short is not None and (short.decision, short.by, short.group_id) == ("approved", "approver-1", "g-1")
    assert (
        parse_pim_decision({**entry, "loggedByService": "Core Directory", "activityDisplayName": "Request approved"})
        is None
    )
    for other in ("Add member to role canceled (PIM activation)", "Add member to role completed (PIM activation)"):
        assert parse_pim_decision({**entry, "activityDisplayName": other}) is None
    assert parse_pim_decision({**entry, "targetResources": [{"id": "g-1", "type": "Group"}]}) is None  # no principal
    assert parse_pim_decision({**entry, "category": "RoleManagement"}) is None  # PIM for Entra roles
