"""Discovering PIM-enabled groups and reading approval outcomes from the PIM audit log (FeedReader.read_pim_audit)
against the simulated tenant over real HTTPS: its demo history, every entry shape it writes (the shapes public
samples show; Microsoft documents none) under either spelling of PIM's loggedByService, incremental reads from a
watermark, paging, the audit API's 5 requests / 10 s throttle on the tenant's clock, and the AuditLog.Read.All
permission."""

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
from graph.feed import AUDIT_OVERLAP, SERVICES_RECHECK
from graph.wire import format_datetime, parse_pim_decision, parse_pim_group_audit
from simtenant import seed
from simtenant.audit import PIM as PIM_SERVICE
from simtenant.audit import PRIVILEGED_IDENTITY_MANAGEMENT, SHAPES, EntryShape
from tests.fakes.graphstub import app_token_source

DEMO_PIM_GROUPS = seed.DEMO_PIM_GROUPS
PIM = "/identityGovernance/privilegedAccess/group"
OTHER_APP, OTHER_SECRET = "11111111-2222-4333-8444-555555555555", "no-audit-secret"


@dataclass
class Sim:
    sim: Any  # simtenant.RunningSimTenant
    http: httpx.AsyncClient
    slept: list[float] = field(default_factory=list)
    ticks: float = 0.0  # the reader's monotonic clock

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
        return FeedReader(client, sleep=self.sleep, monotonic=lambda: self.ticks)

    def audit_requests(self) -> list[dict[str, Any]]:
        return [e for e in self.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits"]

    def filters(self) -> list[str]:
        return [str(e["query"].get("$filter")) for e in self.audit_requests()]


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
    # Only what the directoryAudit page marks filterable (no category: told apart here); both spellings of PIM.
    assert sim.filters() == ["loggedByService eq 'PIM'", "loggedByService eq 'Privileged Identity Management'"]


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
    # Once the tenant's spelling is known, one request a read: the audit API allows 5 per 10 s.
    since = format_datetime(watermark - AUDIT_OVERLAP)
    assert sim.filters()[2:] == [f"loggedByService eq 'PIM' and activityDateTime ge {since}"] * 2


async def test_the_spelling_of_pims_service_is_learnt_and_checked_again(sim: Sim) -> None:
    reader = sim.reader()
    _, watermark = await reader.discover_pim_groups(None)
    assert len(sim.audit_requests()) == 2  # both spellings: this tenant's entries come as "PIM"
    sim.tenant.audit.service = PRIVILEGED_IDENTITY_MANAGEMENT  # the tenant's PIM now logs as the docs' example
    sim.tenant.advance(60)
    sim.tenant.add_eligibility(seed.FINANCE_PROD, seed.BOB, "member")
    groups, _ = await reader.discover_pim_groups(watermark)
    assert seed.FINANCE_PROD not in groups and len(sim.audit_requests()) == 3  # not asked for yet …
    sim.ticks += SERVICES_RECHECK.total_seconds()
    sim.tenant.advance(10)
    groups, newer = await reader.discover_pim_groups(watermark)
    assert seed.FINANCE_PROD in groups  # … but within the recheck, and nothing is lost: the watermark waited
    assert newer is not None and watermark is not None and newer > watermark
    assert len(sim.audit_requests()) == 5
    sim.tenant.advance(3 * 3600)  # the entries under the old spelling leave the overlap the reader re-reads
    sim.tenant.add_eligibility(seed.FINANCE_PROD, seed.CAROL, "member")
    _, newest = await reader.discover_pim_groups(newer)  # both spellings still: both were in the last full read
    sim.ticks += SERVICES_RECHECK.total_seconds()
    sim.tenant.advance(10)
    await reader.discover_pim_groups(newest)  # the full read finds only the new spelling in use …
    sim.tenant.advance(10)
    await reader.discover_pim_groups(newest)  # … and asks for it alone
    assert len(sim.audit_requests()) == 10
    assert sim.filters()[-1].startswith("loggedByService eq 'Privileged Identity Management' and")


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
    tenant.advance(10)
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
    assert parse_pim_group_audit({**entry, "loggedByService": "Privileged Identity Management"}) == "g-1"
    assert parse_pim_group_audit({**entry, "category": "RoleManagement"}) is None  # PIM for Entra roles
    assert parse_pim_group_audit({**entry, "loggedByService": "Core Directory"}) is None
    assert parse_pim_group_audit({**entry, "activityDisplayName": "Add member to group"}) is None
    assert parse_pim_group_audit({**entry, "targetResources": [{"id": "u-1", "type": "User"}]}) is None


def _targets(*pairs: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"id": i, "type": t, "groupType": None} for i, t in pairs]


def test_the_group_is_never_the_principal_nor_the_request() -> None:
    base: dict[str, Any] = {
        "loggedByService": "PIM",
        "category": "GroupManagement",
        "activityDisplayName": "Add eligible member to role in PIM completed (permanent)",
        "correlationId": "corr",
        "additionalDetails": [{"key": "RoleAssignmentRequestId", "value": "req"}],
    }

    def group(*pairs: tuple[str, str | None]) -> str | None:
        return parse_pim_group_audit({**base, "targetResources": _targets(*pairs)})

    # A group made eligible for a group: two Group targets; the principal is where samples put it ([1] of two,
    # [2] of four or more), the group where they put the resource ([0] of two, [3] of four or more).
    assert group(("g-1", "Group"), ("staff", "Group")) == "g-1"
    assert group(("member", "Role"), ("req", "Other"), ("staff", "Group"), ("g-1", "Group")) == "g-1"
    assert group(("req", "Other"), ("g-1", "Group"), ("staff", "Group"), ("member", "Role")) == "g-1"
    assert group(("g-1", "Group"), ("staff", "Group"), ("req", "Other"), ("member", "Role")) is None  # cannot tell
    # groupType marks a group; the request target (its id is the request's, or the correlationId) never is one.
    assert group(("req", "Other"), ("u-1", "User"), ("g-1", "Other"), ("member", "Role")) is None
    assert (
        parse_pim_group_audit(
            {
                **base,
                "targetResources": [{"id": "u-1", "type": "User"}, {"id": "g-1", "type": "", "groupType": "azureAD"}],
            }
        )
        == "g-1"
    )
    assert group(("req", "Group"), ("u-1", "User")) is None
    assert group(("corr", "Group"), ("u-1", "User")) is None
    # An untyped target is taken by its position only when no target is a group.
    assert group(("member", "Role"), ("req", "Other"), ("u-1", "User"), ("g-1", None)) == "g-1"
    assert group(("member", "Role"), ("x", None), ("u-1", "User"), ("g-1", "Group")) == "g-1"
    assert group(("u-1", "User"), ("g-1", None), ("req", "Other")) is None  # three targets: no position known


# ---- approval outcomes (the same read; bot.feed posts them as APPROVAL_DECIDED) --------------------------------------


def request_id_of(entry: dict[str, Any]) -> str:
    """The request an entry of the simulated tenant is about: its request target (type Other) where the shape has
    one, else its details, else its correlationId (simtenant.audit's shapes)."""
    for target in entry["targetResources"]:
        if target["type"] == "Other":
            return str(target["id"])
    details = {d["key"]: d["value"] for d in entry["additionalDetails"]}
    return str(details.get("RoleAssignmentRequestId") or details.get("RequestId") or entry["correlationId"])


async def test_the_same_read_brings_the_approval_outcomes_with_the_approver(sim: Sim) -> None:
    read = await sim.reader().read_pim_audit(None)
    assert set(read.groups) == DEMO_PIM_GROUPS
    [approved] = [d.event for d in read.decisions if d.event.group_id == seed.SECURITY_OPERATORS]
    [entry] = [e for e in sim.tenant.audit.entries() if "request approved" in e["activityDisplayName"]]
    assert (approved.kind, approved.decision, approved.by, approved.principal_id, approved.access) == (
        EventKind.APPROVAL_DECIDED,
        "approved",
        seed.BOB,
        seed.ALICE,
        Access.MEMBER,
    )
    assert approved.id == approval_event_id(request_id_of(entry))  # the approval desk's id for that request
    assert [e["status"] for e in sim.audit_requests()] == [200, 200]  # one request per spelling: groups and outcomes


async def _portal_outcomes(sim: Sim) -> dict[str, str]:
    """Three requests made and settled as in the portal, through Graph: approved and denied by Bob, and one left to
    expire. Their ids, by outcome."""
    tenant = sim.tenant
    tenant.add_eligibility(seed.SECURITY_OPERATORS, seed.CAROL, "member")
    ids: dict[str, str] = {}
    for outcome, user in (("approved", seed.ALICE), ("denied", seed.CAROL), ("expired", seed.ALICE)):
        body = {
            "action": "selfActivate",
            "principalId": user,
            "groupId": seed.SECURITY_OPERATORS,
            "accessId": "member",
            "justification": f"drill {outcome}",
            "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT1H"}},
        }
        response = await _graph(sim, "POST", f"{PIM}/assignmentScheduleRequests", user, body)
        assert response.status_code == 201, response.text
        ids[outcome] = response.json()["id"]
        if outcome != "expired":
            approval = (await _graph(sim, "GET", f"{PIM}/assignmentApprovals/{ids[outcome]}", seed.BOB)).json()
            stage = approval["stages"][0]["id"]
            review = {"reviewResult": "Approve" if outcome == "approved" else "Deny", "justification": "ok"}
            decided = await _graph(
                sim, "PATCH", f"{PIM}/assignmentApprovals/{ids[outcome]}/stages/{stage}", seed.BOB, review
            )
            assert decided.status_code in (200, 204), decided.text
        tenant.advance(60)
        if outcome == "approved":  # deactivate, so the next activation is not refused as already active
            tenant.advance(3600)
    tenant.advance(25 * 3600)  # PIM drops the undecided request after 24 hours
    return ids


async def _graph(sim: Sim, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """Graph with `user`'s delegated token (the simulated tenant's control endpoint signs one, as a sign-in would)."""
    signed = await sim.http.post(f"{sim.sim.control_url}/token", json={"oid": user})
    assert signed.status_code == 200, signed.text
    token = signed.json()["access_token"]
    return await sim.http.request(
        method, f"{sim.sim.graph_base_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize("service", [PIM_SERVICE, PRIVILEGED_IDENTITY_MANAGEMENT])
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
async def test_every_entry_shape_gives_the_group_and_the_outcomes(sim: Sim, shape: EntryShape, service: str) -> None:
    tenant = sim.tenant
    tenant.advance(31 * 24 * 3600)  # the seeded history is gone: every entry read is in this shape
    tenant.audit.shapes, tenant.audit.service = (shape,), service
    ids = await _portal_outcomes(sim)
    tenant.add_eligibility(seed.FINANCE_PROD, seed.HELPDESK_STAFF, "member")  # a group eligible for a group
    read = await sim.reader().read_pim_audit(None)
    assert set(read.groups) == {seed.SECURITY_OPERATORS, seed.FINANCE_PROD}  # never a principal, user or group
    # Every shape the simulated tenant writes names its request or keeps it in the correlationId: the desk's ids.
    by_id = {d.event.id: d for d in read.decisions}
    logged = {outcome: by_id[approval_event_id(request_id)] for outcome, request_id in ids.items()}
    assert {k: (d.event.decision, d.event.group_id, d.event.principal_id, d.event.by) for k, d in logged.items()} == {
        "approved": ("approved", seed.SECURITY_OPERATORS, seed.ALICE, seed.BOB),
        "denied": ("denied", seed.SECURITY_OPERATORS, seed.CAROL, seed.BOB),
        "expired": ("expired", seed.SECURITY_OPERATORS, seed.ALICE, None),  # PIM itself let it expire
    }
    assert {d.request_named for d in logged.values()} == {shape.request_key is not None}


def test_approval_outcomes_in_audit_entries() -> None:
    entry: dict[str, Any] = {
        "loggedByService": "PIM",
        "category": "GroupManagement",
        "correlationId": "corr-1",
        "activityDisplayName": "Add member to role request denied (PIM activation)",
        "activityDateTime": "2026-11-20T10:00:00Z",
        "initiatedBy": {"user": {"id": "approver-1", "displayName": "Pim de Vries"}, "app": None},  # a person
        "targetResources": [{"id": "g-1", "type": "Group"}, {"id": "u-1", "type": "User"}],
        "additionalDetails": [{"key": "RequestId", "value": "REQ-1"}, {"key": "Role", "value": "Owner"}],
    }
    denied = parse_pim_decision(entry)
    assert denied is not None and denied.request_named
    assert (denied.event.id, denied.event.decision, denied.event.by, denied.event.group_id) == (
        approval_event_id("req-1"),
        "denied",
        "approver-1",
        "g-1",
    )
    assert (denied.event.principal_id, denied.event.access) == ("u-1", Access.OWNER)
    keyed = parse_pim_decision({**entry, "additionalDetails": [{"key": "roleAssignmentRequestId", "value": "R-2"}]})
    assert keyed is not None and keyed.request_named and keyed.event.id == approval_event_id("r-2")
    bare = parse_pim_decision({**entry, "additionalDetails": []})  # no details: the correlationId, member access
    assert bare is not None and not bare.request_named
    assert (bare.event.id, bare.event.access) == (approval_event_id("corr-1"), Access.MEMBER)
    assert parse_pim_decision({**entry, "additionalDetails": [], "correlationId": None}) is None  # no request
    for pim in (
        {"user": {"id": "9dfd627f", "displayName": "Azure AD PIM", "userPrincipalName": None}, "app": None},
        {"user": None, "app": {"appId": None, "displayName": "MS-PIM"}},
    ):  # PIM itself wrote it: not a human approver
        system = parse_pim_decision({**entry, "initiatedBy": pim})
        assert system is not None and system.event.by is None and system.event.decision == "denied"
    expired = parse_pim_decision({**entry, "activityDisplayName": "PIM activation request expired"})
    assert expired is not None and (expired.event.decision, expired.event.by) == ("expired", None)
    # Community queries of real tenants match PIM approvals as "Request approved" (no "PIM" in the name; the service
    # and category say it): read as the same outcome, not skipped; either spelling of the service.
    short = parse_pim_decision({**entry, "activityDisplayName": "Request approved"})
    assert short is not None and (short.event.decision, short.event.by) == ("approved", "approver-1")
    docs = parse_pim_decision({**entry, "loggedByService": "Privileged Identity Management"})
    assert docs is not None and docs.event.decision == "denied"
    assert parse_pim_decision({**entry, "loggedByService": "Core Directory"}) is None
    for other in ("Add member to role canceled (PIM activation)", "Add member to role completed (PIM activation)"):
        assert parse_pim_decision({**entry, "activityDisplayName": other}) is None
    assert parse_pim_decision({**entry, "targetResources": [{"id": "g-1", "type": "Group"}]}) is None  # no principal
    assert parse_pim_decision({**entry, "category": "RoleManagement"}) is None  # PIM for Entra roles
    # Four targets, the request among them: neither it nor the role is taken for the group or the principal.
    four = [
        {"id": "owner", "type": "Role"},
        {"id": "REQ-1", "type": "Other"},
        {"id": "u-1", "type": "User"},
        {"id": "g-1", "type": "Group", "groupType": "azureAD"},
    ]
    placed = parse_pim_decision({**entry, "targetResources": four})
    assert placed is not None and (placed.event.group_id, placed.event.principal_id) == ("g-1", "u-1")
    unplaceable = [{"id": "g-1", "type": "Group"}, {"id": "g-2", "type": "Group"}, {"id": "x", "type": "Other"}]
    assert parse_pim_decision({**entry, "targetResources": [*unplaceable, {"id": "owner", "type": "Role"}]}) is None
