"""Seeds: the demo tenant (fixed ids other code depends on) and the benchmark tenant.

Seed specs: "demo"; "bench:N" (demo plus N users `bench-user-NNNN`, ids cccccccc-0000-4000-8000-{n:012d}, each
eligible, direct and permanent, for member of Exchange-Admins); "feed:N" (demo plus N monitored groups
`feed-group-NNNN`, ids dddddddd-0000-4000-8000-{n:012d}, each with Alice eligible as member, permanent, and Bob
eligible as owner for 90 days: the admin feed's benchmark); "empty" (the app registration only).
The demo also has a PIM audit history of the last 30 days (`simtenant.audit`): past activations in every group
with an eligibility, so discovery from the audit log finds the demo's nine PIM groups (not Helpdesk-Staff and
PIM-Approvers, which PIM does not manage; Network-Admins by its eligibilities of three weeks ago). Times are relative
to the sim clock at seeding. Groups without explicit settings keep the reference §6.3 defaults except
Enablement_EndUser_Assignment = [] (see `Tenant.add_group`).
"""

from __future__ import annotations

from datetime import timedelta

from simtenant.clock import SimClock
from simtenant.entities import SubjectSet
from simtenant.model import DEFAULT_DELEGATED_SCOPES, Settings, Tenant

__all__ = [
    "ALICE",
    "APP_ROLES",
    "BOB",
    "CAROL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DAVE",
    "DELEGATED_SCOPES",
    "DOMAIN",
    "ERIN",
    "EXCHANGE_ADMINS",
    "FINANCE_PROD",
    "FRANK",
    "HELPDESK_STAFF",
    "HELPDESK_TIER1",
    "INTUNE_ADMINS",
    "NETWORK_ADMINS",
    "PIM_APPROVERS",
    "PRIVILEGED_ROLE_ADMINS",
    "SECURITY_OPERATORS",
    "SHAREPOINT_ADMINS",
    "TEAMS_ADMINS",
    "TENANT_ID",
    "apply_seed",
    "bench_user_id",
    "feed_group_id",
    "build_tenant",
    "check_seed",
    "reseed",
]

TENANT_ID = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
DOMAIN = "contoso.test"
CLIENT_ID = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
CLIENT_SECRET = "simulated-tenant-secret"  # a demo value for a simulated tenant, not a real secret
APP_DISPLAY_NAME = "PIM Teams Bot (simulated)"
APP_ROLES = (
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.Read.AzureADGroup",
    "User.Read.All",
    "GroupMember.Read.All",
    # Reaching approvers who never talked to the bot: find the bot's app in the org catalog, install it for them.
    "AppCatalog.Read.All",
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "AuditLog.Read.All",  # the admin feed's discovery of PIM groups (FEED_DISCOVER) reads the PIM audit log
    "AuthenticationContext.Read.All",  # the display name of an authentication context a PIM policy demands
    "Schedule.Read.All",  # the custom extension's on-call rule reads a team's Teams Shifts schedule (issue 15)
)
DELEGATED_SCOPES = DEFAULT_DELEGATED_SCOPES

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = "aaaaaaaa-0000-4000-8000-000000000002"
CAROL = "aaaaaaaa-0000-4000-8000-000000000003"
DAVE = "aaaaaaaa-0000-4000-8000-000000000004"
ERIN = "aaaaaaaa-0000-4000-8000-000000000005"
FRANK = "aaaaaaaa-0000-4000-8000-000000000006"

EXCHANGE_ADMINS = "bbbbbbbb-0000-4000-8000-000000000001"
TEAMS_ADMINS = "bbbbbbbb-0000-4000-8000-000000000002"
SECURITY_OPERATORS = "bbbbbbbb-0000-4000-8000-000000000003"
PRIVILEGED_ROLE_ADMINS = "bbbbbbbb-0000-4000-8000-000000000004"
FINANCE_PROD = "bbbbbbbb-0000-4000-8000-000000000005"
HELPDESK_TIER1 = "bbbbbbbb-0000-4000-8000-000000000006"
HELPDESK_STAFF = "bbbbbbbb-0000-4000-8000-000000000007"
PIM_APPROVERS = "bbbbbbbb-0000-4000-8000-000000000008"
SHAREPOINT_ADMINS = "bbbbbbbb-0000-4000-8000-000000000009"
INTUNE_ADMINS = "bbbbbbbb-0000-4000-8000-000000000010"
# Alice approves it: in the demo her colleagues' requests (`demo request`, simtenant.colleagues) bring her the approval
# card, so the approver's side can be tried from the Playground's one user.
NETWORK_ADMINS = "bbbbbbbb-0000-4000-8000-000000000011"

# The demo groups PIM governs (they have eligibilities, assignments or a policy change in the seeded history), so the
# PIM audit log names them; Helpdesk-Staff and PIM-Approvers are plain groups (a nesting group, an approver group).
DEMO_PIM_GROUPS = frozenset(
    {
        EXCHANGE_ADMINS,
        TEAMS_ADMINS,
        SECURITY_OPERATORS,
        PRIVILEGED_ROLE_ADMINS,
        FINANCE_PROD,
        HELPDESK_TIER1,
        SHAREPOINT_ADMINS,
        INTUNE_ADMINS,
        NETWORK_ADMINS,
    }
)


POLLY_APP = "0d8e7f3a-2b1c-4d5e-8f90-112233445566"  # a store app with a bot, in every tenant's catalog
EXPENSES_APP = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f60718293"  # an org app without a bot


def bench_user_id(n: int) -> str:
    return f"cccccccc-0000-4000-8000-{n:012d}"


def feed_group_id(n: int) -> str:
    return f"dddddddd-0000-4000-8000-{n:012d}"


def _base(tenant: Tenant) -> None:
    tenant.add_app(CLIENT_ID, CLIENT_SECRET, APP_ROLES, APP_DISPLAY_NAME)
    tenant.delegated_scopes = DELEGATED_SCOPES


def seed_demo(tenant: Tenant) -> None:
    _base(tenant)
    now = tenant.now()
    day = timedelta(days=1)
    since = now - 30 * day  # seeded permanent eligibilities started a month ago
    for user_id, name, upn, admin in (
        (ALICE, "Alice Admin", "alice", False),
        (BOB, "Bob Builder", "bob", False),
        (CAROL, "Carol Chen", "carol", False),
        (DAVE, "Dave Diaz", "dave", False),
        (ERIN, "Erin Evans", "erin", True),
        (FRANK, "Frank Fisher", "frank", False),
    ):
        tenant.add_user(user_id, name, f"{upn}@{DOMAIN}", is_admin=admin)

    for group_id, name, description in (
        (EXCHANGE_ADMINS, "Exchange-Admins", "Exchange Online administrators (JIT)"),
        (TEAMS_ADMINS, "Teams Admins", "Teams administrators (JIT, ticket required)"),
        (SECURITY_OPERATORS, "Security-Operators", "Security operations (JIT, approval required)"),
        (PRIVILEGED_ROLE_ADMINS, "Privileged-Role-Admins", "Privileged role administrators (JIT, MFA required)"),
        (FINANCE_PROD, "Finance-Prod", "Finance production access (JIT, authentication context c1)"),
        (HELPDESK_TIER1, "Helpdesk-Tier1", "Helpdesk tier 1 (eligible through Helpdesk-Staff)"),
        (HELPDESK_STAFF, "Helpdesk-Staff", "Helpdesk staff"),
        (PIM_APPROVERS, "PIM-Approvers", "People who approve PIM requests"),
        (SHAREPOINT_ADMINS, "SharePoint-Admins", "SharePoint administrators (JIT)"),
        (INTUNE_ADMINS, "Intune-Admins", "Intune administrators (JIT)"),
        (NETWORK_ADMINS, "Network-Admins", "Network administrators (JIT, approval by Alice Admin or Bob Builder)"),
    ):
        tenant.add_group(group_id, name, description=description)
    for member in (ALICE, FRANK):
        tenant.add_member(HELPDESK_STAFF, member)
    for member in (CAROL, DAVE):
        tenant.add_member(PIM_APPROVERS, member)

    tenant.set_policy(EXCHANGE_ADMINS, "member", activation_max="PT8H")
    tenant.set_policy(EXCHANGE_ADMINS, "owner", activation_max="PT4H", enduser_enabled_rules=["Justification"])
    tenant.set_policy(
        TEAMS_ADMINS, "member", activation_max="PT4H", enduser_enabled_rules=["Justification", "Ticketing"]
    )
    tenant.set_policy(
        SECURITY_OPERATORS,
        "member",
        activation_max="PT2H",
        approval_required=True,
        requestor_justification_required=True,
        approver_justification_required=True,
        primary_approvers=[
            SubjectSet("singleUser", BOB, "Bob Builder"),
            SubjectSet("groupMembers", PIM_APPROVERS, "PIM-Approvers"),
        ],
    )
    tenant.set_policy(
        PRIVILEGED_ROLE_ADMINS,
        "member",
        activation_max="PT1H",
        enduser_enabled_rules=["MultiFactorAuthentication", "Justification"],
    )
    tenant.add_authentication_context(
        "c1", "Sensitive admin actions", "Phishing-resistant MFA (Conditional Access: authentication strength)"
    )
    tenant.set_policy(FINANCE_PROD, "member", activation_max="PT2H", auth_context_enabled=True, auth_context_claim="c1")
    tenant.set_policy(HELPDESK_TIER1, "member", activation_max="PT8H")
    tenant.set_policy(SHAREPOINT_ADMINS, "member", activation_max="PT8H")
    tenant.set_policy(INTUNE_ADMINS, "member", activation_max="PT8H")
    tenant.set_policy(
        NETWORK_ADMINS,
        "member",
        activation_max="PT4H",
        approval_required=True,
        requestor_justification_required=True,
        approver_justification_required=True,
        primary_approvers=[
            SubjectSet("singleUser", ALICE, "Alice Admin"),
            SubjectSet("singleUser", BOB, "Bob Builder"),
        ],
    )
    for policy in tenant.policies.values():
        policy.last_modified = None  # seeded settings look like never-edited ones

    tenant.add_eligibility(EXCHANGE_ADMINS, ALICE, "member", start=since)
    # Ends in 10 days: the demo's "Ask to extend" card (issue 14 point 4); SharePoint-Admins below, which ended two
    # days ago, is its "Ask to renew".
    tenant.add_eligibility(EXCHANGE_ADMINS, ALICE, "owner", start=since, end=now + 10 * day)
    tenant.add_eligibility(TEAMS_ADMINS, ALICE, "member", start=since)
    tenant.add_eligibility(TEAMS_ADMINS, ERIN, "owner", start=since)
    tenant.add_eligibility(SECURITY_OPERATORS, ALICE, "member", start=since)
    tenant.add_eligibility(PRIVILEGED_ROLE_ADMINS, ALICE, "member", start=since)
    tenant.add_eligibility(FINANCE_PROD, ALICE, "member", start=since)
    tenant.add_eligibility(HELPDESK_TIER1, HELPDESK_STAFF, "member", start=since)
    tenant.add_eligibility(SHAREPOINT_ADMINS, ALICE, "member", start=now - 92 * day, end=now - 2 * day)
    tenant.add_eligibility(INTUNE_ADMINS, ALICE, "member", start=now + 7 * day, end=now + 365 * day)
    for colleague in (CAROL, DAVE):  # three weeks ago: inside the audit log's 30 days, so discovery finds the group
        tenant.add_eligibility(NETWORK_ADMINS, colleague, "member", start=now - 21 * day)

    # The Teams org catalog holds other apps (a store bot, an org app without a bot); the PIM bot's own app is
    # published by whoever runs the bot (`/_sim/teams/apps`), which knows its bot id and messaging endpoint.
    tenant.teams.publish(
        "Polly", bot_id="1c0b2b9a-5a6e-4f0a-9a51-3c1f0a7e2d11", distribution_method="store", app_id=POLLY_APP
    )
    tenant.teams.publish("Contoso Expenses", distribution_method="organization", app_id=EXPENSES_APP)

    # Audit history: activations that began and expired in the last 30 days (Intune-Admins' entry is its
    # eligibility, assigned at seeding; the seeded eligibilities of a month ago are at the edge of retention).
    hour = timedelta(hours=1)
    for group_id, user_id, days_ago, approver in (
        (EXCHANGE_ADMINS, ALICE, 3, None),
        (TEAMS_ADMINS, ALICE, 5, None),
        (SECURITY_OPERATORS, ALICE, 6, BOB),
        (PRIVILEGED_ROLE_ADMINS, ALICE, 10, None),
        (FINANCE_PROD, ALICE, 12, None),
        (HELPDESK_TIER1, FRANK, 4, None),
        (SHAREPOINT_ADMINS, ALICE, 20, None),
    ):
        start = now - days_ago * day
        tenant.add_activation_history(group_id, user_id, start=start, end=start + hour, approver_id=approver)


def seed_bench(tenant: Tenant, count: int) -> None:
    seed_demo(tenant)
    since = tenant.now() - timedelta(days=30)
    for n in range(1, count + 1):
        user_id = bench_user_id(n)
        tenant.add_user(user_id, f"bench-user-{n:04d}", f"bench-user-{n:04d}@{DOMAIN}")
        tenant.add_eligibility(EXCHANGE_ADMINS, user_id, "member", start=since)
        # A second group, so the benchmark can warm a user's delegated token without touching Exchange-Admins.
        tenant.add_eligibility(HELPDESK_TIER1, user_id, "member", start=since)


def seed_feed(tenant: Tenant, count: int) -> None:
    seed_demo(tenant)
    now = tenant.now()
    since = now - timedelta(days=30)
    for n in range(1, count + 1):
        group_id = feed_group_id(n)
        tenant.add_group(group_id, f"feed-group-{n:04d}", description="A group the admin feed monitors")
        tenant.add_eligibility(group_id, ALICE, "member", start=since)
        tenant.add_eligibility(group_id, BOB, "owner", start=since, end=now + timedelta(days=90))


def check_seed(spec: str) -> str:
    """The spec itself if it is valid. Raises ValueError."""
    name, _, count = spec.partition(":")
    if spec in ("demo", "empty") or (name in ("bench", "feed") and count.isdigit()):
        return spec
    raise ValueError(f"unknown seed {spec!r}: use demo, bench:N, feed:N or empty")


def apply_seed(tenant: Tenant, spec: str) -> None:
    """Seed an empty tenant. Raises ValueError for an unknown spec."""
    check_seed(spec)
    if spec == "demo":
        seed_demo(tenant)
    elif spec == "empty":
        _base(tenant)
    elif spec.startswith("bench:") and spec[6:].isdigit():
        seed_bench(tenant, int(spec[6:]))
    elif spec.startswith("feed:") and spec[5:].isdigit():
        seed_feed(tenant, int(spec[5:]))
    else:
        raise ValueError(f"unknown seed {spec!r}: use demo, bench:N, feed:N or empty")
    tenant.seed_spec = spec


def build_tenant(spec: str = "demo", *, clock: SimClock | None = None, settings: Settings | None = None) -> Tenant:
    """A new seeded tenant (tenant id 7f3c1a2e-…, domain contoso.test)."""
    tenant = Tenant(TENANT_ID, DOMAIN, clock=clock, settings=settings)
    apply_seed(tenant, spec)
    return tenant


def reseed(tenant: Tenant, spec: str | None = None) -> None:
    """Forget all objects and seed again (clock, settings and faults are left alone)."""
    spec = check_seed(spec or tenant.seed_spec or "demo")
    tenant.clear()
    tenant.default_client_id = None
    apply_seed(tenant, spec)
