"""The PIM audit log (GET /auditLogs/directoryAudits): entries for every PIM-for-Groups request in every shape public
samples show, the seeded history, $filter (only what the directoryAudit page marks filterable) / $top / paging, the
AuditLog.Read.All permission, retention and the 5 requests / 10 s throttle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simtenant.audit import (
    AZURE_AD_PIM_USER_ID,
    MS_PIM_APP_ID,
    PRIVILEGED_IDENTITY_MANAGEMENT,
    SHAPES,
    EntryShape,
)
from simtenant.isotime import format_instant, parse_instant
from simtenant.seed import (
    ALICE,
    BOB,
    DEMO_PIM_GROUPS,
    EXCHANGE_ADMINS,
    FINANCE_PROD,
    HELPDESK_STAFF,
    PIM_APPROVERS,
    SECURITY_OPERATORS,
    TEAMS_ADMINS,
)
from tests.support.tenant import PIM, Client, Resp

AUDITS = "/auditLogs/directoryAudits"
PIM_GROUPS = "loggedByService eq 'PIM'"
TWO_TARGETS, ROLE_FIRST, ROLE_LAST = SHAPES


async def _audits(client: Client, flt: str | None = PIM_GROUPS, **params: str) -> Resp:
    query = dict(params)
    if flt is not None:
        query["$filter"] = flt
    return await client.graph("GET", AUDITS, params=query)


async def _fresh_now(client: Client) -> str:
    """Sim-now, one second after the seeded history (Intune-Admins' eligibility is logged at seeding time)."""
    await client.advance(1)
    return format_instant(await client.now())


async def _since(client: Client, when: str) -> list[dict[str, Any]]:
    """Entries at or after `when`, oldest first."""
    response = await _audits(client, f"{PIM_GROUPS} and activityDateTime ge {when}")
    assert response.status == 200, response.body
    rows: list[dict[str, Any]] = response.body["value"]
    return list(reversed(rows))


async def _elig(client: Client, action: str, principal: str, group: str, end: str | None) -> Resp:
    expiration: dict[str, Any] = {"type": "afterDateTime", "endDateTime": end} if end else {"type": "noExpiration"}
    body = {
        "action": action,
        "principalId": principal,
        "groupId": group,
        "accessId": "member",
        "justification": "admin work",
        "scheduleInfo": {"expiration": expiration},
    }
    return await client.graph("POST", f"{PIM}/eligibilityScheduleRequests", json=body)


def _group_of(row: dict[str, Any]) -> str:
    """The group an entry is about, where this log's shapes put it (module docstring of simtenant.audit)."""
    targets = row["targetResources"]
    if len(targets) == 2:
        return str(targets[0]["id"])
    return str(targets[3]["id"] if targets[0]["type"] == "Role" else targets[1]["id"])


def _group_ids(rows: list[dict[str, Any]]) -> set[str]:
    return {_group_of(row) for row in rows}


def _pin(client: Client, shape: EntryShape = TWO_TARGETS) -> None:
    client.sim.tenant.audit.shapes = (shape,)


async def test_demo_history_names_every_pim_group_and_nothing_else(client: Client) -> None:
    response = await _audits(client)
    assert response.status == 200, response.body
    rows = response.body["value"]
    assert _group_ids(rows) == DEMO_PIM_GROUPS
    assert HELPDESK_STAFF not in _group_ids(rows) and PIM_APPROVERS not in _group_ids(rows)
    times = [parse_instant(row["activityDateTime"]) for row in rows]
    assert times == sorted(times, reverse=True)  # newest first
    now = await client.now()
    assert all(now - timedelta(days=30) <= t <= now for t in times)
    assert {row["loggedByService"] for row in rows} == {"PIM"}  # one spelling per tenant
    assert {len(row["targetResources"]) for row in rows} == {2, 4}  # the shapes, in turn
    approved = [
        row for row in rows if row["activityDisplayName"] == "Add member to role request approved (PIM activation)"
    ]
    assert [row["initiatedBy"]["user"]["id"] for row in approved] == [BOB]


async def test_self_activation_deactivation_and_expiry_are_logged(client: Client) -> None:
    _pin(client)
    now = await _fresh_now(client)
    created = await client.activate(EXCHANGE_ADMINS, duration="PT1H")
    assert created.status == 201, created.body
    rows = await _since(client, now)
    assert [row["activityDisplayName"] for row in rows] == [
        "Add member to role requested (PIM activation)",
        "Add member to role completed (PIM activation)",
    ]
    entry = rows[0]
    assert entry["category"] == "GroupManagement" and entry["result"] == "success"
    assert entry["correlationId"] == created.body["id"]
    assert entry["activityDateTime"] == now
    assert entry["initiatedBy"]["user"]["id"] == ALICE and entry["initiatedBy"]["app"] is None
    group, user = entry["targetResources"]
    assert (group["id"], group["displayName"], group["type"]) == (EXCHANGE_ADMINS, "Exchange-Admins", "Group")
    assert (user["id"], user["type"], user["userPrincipalName"]) == (ALICE, "User", "alice@contoso.test")
    details = {d["key"]: d["value"] for d in entry["additionalDetails"]}
    assert details["RequestId"] == created.body["id"] and details["Role"] == "Member"
    assert details["Justification"] == "Investigating INC-1"

    await client.advance(600)
    assert (await client.deactivate(EXCHANGE_ADMINS)).status == 201
    rows = await _since(client, now)
    assert [row["activityDisplayName"] for row in rows][2:] == [
        "Remove member from role requested (PIM deactivate)",
        "Remove member from role completed (PIM deactivate)",
    ]

    later = format_instant(await client.now())
    assert (await client.activate(EXCHANGE_ADMINS, duration="PT1H")).status == 201
    await client.advance(3600)
    rows = await _since(client, later)
    expired = rows[-1]
    assert expired["activityDisplayName"] == "Remove member from role (PIM activation expired)"
    assert expired["initiatedBy"]["app"]["appId"] == MS_PIM_APP_ID and expired["initiatedBy"]["user"] is None
    assert expired["targetResources"][0]["id"] == EXCHANGE_ADMINS


async def test_approvals_decisions_cancel_and_approval_expiry_are_logged(client: Client) -> None:
    _pin(client)
    now = await _fresh_now(client)
    created = await client.activate(SECURITY_OPERATORS, duration="PT2H", justification="Incident 42")
    request_id = created.body["id"]
    approval = await client.graph("GET", f"{PIM}/assignmentApprovals/{request_id}", as_user=BOB)
    stage = approval.body["stages"][0]["id"]
    decided = await client.graph(
        "PATCH",
        f"{PIM}/assignmentApprovals/{request_id}/stages/{stage}",
        as_user=BOB,
        json={"reviewResult": "Approve", "justification": "ok"},
    )
    assert decided.status == 204, decided.body
    rows = await _since(client, now)
    assert [(row["activityDisplayName"], row["initiatedBy"]["user"]["id"]) for row in rows] == [
        ("Add member to role requested (PIM activation)", ALICE),
        ("Add member to role approval requested (PIM activation)", ALICE),
        ("Add member to role request approved (PIM activation)", BOB),
        ("Add member to role completed (PIM activation)", ALICE),
    ]
    assert {row["correlationId"] for row in rows} == {request_id}

    await client.advance(3 * 3600)
    later = format_instant(await client.now())
    denied = await client.activate(SECURITY_OPERATORS, duration="PT2H", justification="again")
    approval = await client.graph("GET", f"{PIM}/assignmentApprovals/{denied.body['id']}", as_user=BOB)
    await client.graph(
        "PATCH",
        f"{PIM}/assignmentApprovals/{denied.body['id']}/stages/{approval.body['stages'][0]['id']}",
        as_user=BOB,
        json={"reviewResult": "Deny", "justification": "no"},
    )
    canceled = await client.activate(SECURITY_OPERATORS, duration="PT2H", justification="third")
    cancel = await client.graph("POST", f"{PIM}/assignmentScheduleRequests/{canceled.body['id']}/cancel", as_user=ALICE)
    assert cancel.status == 204, cancel.body
    await client.activate(SECURITY_OPERATORS, duration="PT2H", justification="fourth")
    await client.advance(25 * 3600)
    names = [row["activityDisplayName"] for row in await _since(client, later)]
    assert "Add member to role request denied (PIM activation)" in names
    assert "Add member to role canceled (PIM activation)" in names
    assert names[-1] == "PIM activation request expired"


async def test_admin_eligibility_and_assignment_requests_are_logged(client: Client) -> None:
    _pin(client)
    now = await _fresh_now(client)
    now_dt = parse_instant(now)
    end = format_instant(now_dt + timedelta(days=30))
    assert (await _elig(client, "adminAssign", BOB, FINANCE_PROD, end)).status == 201
    assert (await _elig(client, "adminRemove", BOB, FINANCE_PROD, None)).status == 201
    active = {
        "action": "adminAssign",
        "principalId": BOB,
        "groupId": TEAMS_ADMINS,
        "accessId": "member",
        "justification": "break glass",
        "scheduleInfo": {"expiration": {"type": "noExpiration"}},
    }
    client.sim.tenant.set_policy(TEAMS_ADMINS, "member", admin_assignment_expiration_required=False)
    assigned = await client.graph("POST", f"{PIM}/assignmentScheduleRequests", json=active)
    assert assigned.status == 201, assigned.body
    rows = await _since(client, now)
    assert [row["activityDisplayName"] for row in rows] == [
        "Add eligible member to role in PIM requested (timebound)",
        "Add eligible member to role in PIM completed (timebound)",
        "Remove eligible member from role in PIM completed (timebound)",
        "Add member to role in PIM requested (permanent)",
        "Add member to role in PIM completed (permanent)",
    ]
    assert rows[0]["initiatedBy"]["app"]["appId"] == client.sim.client_id
    assert [row["targetResources"][0]["id"] for row in rows] == [FINANCE_PROD] * 3 + [TEAMS_ADMINS] * 2


async def test_entries_come_in_every_shape_public_samples_show_in_turn(client: Client) -> None:
    # Microsoft documents no entry shape (reference §9): two or four targets in the orders samples index them, the
    # request id under RoleAssignmentRequestId, RequestId or only in the correlationId, PIM's own entries initiated
    # by the app MS-PIM or the user "Azure AD PIM".
    tenant = client.sim.tenant
    tenant.audit.shapes = SHAPES  # the turn starts again: two-targets first
    now = await _fresh_now(client)
    first = len(tenant.audit)
    assert (await client.activate(EXCHANGE_ADMINS, duration="PT1H")).status == 201  # requested, completed
    await client.advance(3600)  # … and expired, by PIM itself
    rows = [row for row in tenant.audit.entries()[first:]]
    assert len(rows) == 3 and parse_instant(rows[0]["activityDateTime"]) == parse_instant(now)
    request_id = rows[0]["correlationId"]  # the first entry's shape (two-targets) keeps the request id there
    shapes = {row["activityDisplayName"]: row for row in rows}

    two = shapes["Add member to role requested (PIM activation)"]
    assert [t["type"] for t in two["targetResources"]] == ["Group", "User"]
    assert {d["key"]: d["value"] for d in two["additionalDetails"]}["RequestId"] == request_id

    role_first = shapes["Add member to role completed (PIM activation)"]
    assert [t["type"] for t in role_first["targetResources"]] == ["Role", "Other", "User", "Group"]
    assert [t["id"] for t in role_first["targetResources"]] == ["member", request_id, ALICE, EXCHANGE_ADMINS]
    assert role_first["targetResources"][3]["groupType"] == "azureAD"
    details = {d["key"]: d["value"] for d in role_first["additionalDetails"]}
    assert details["RoleAssignmentRequestId"] == request_id and "RequestId" not in details
    assert role_first["correlationId"] != request_id  # one request's steps carry several correlation ids

    role_last = shapes["Remove member from role (PIM activation expired)"]
    assert [t["type"] for t in role_last["targetResources"]] == ["Other", "Group", "User", "Role"]
    assert role_last["correlationId"] == request_id
    assert not {"RequestId", "RoleAssignmentRequestId"} & {d["key"] for d in role_last["additionalDetails"]}
    assert role_last["initiatedBy"]["app"]["displayName"] == "MS-PIM"

    _pin(client, ROLE_FIRST)  # PIM itself, as the captured real entry shows it: a user without a UPN
    assert (await client.activate(EXCHANGE_ADMINS, duration="PT1H")).status == 201
    await client.advance(3600)
    expired = tenant.audit.entries()[-1]
    assert expired["activityDisplayName"] == "Remove member from role (PIM activation expired)"
    user = expired["initiatedBy"]["user"]
    assert (user["id"], user["displayName"], user["userPrincipalName"]) == (AZURE_AD_PIM_USER_ID, "Azure AD PIM", None)
    assert expired["initiatedBy"]["app"] is None


async def test_a_tenant_logs_pim_under_one_service_name_either_spelling(client: Client) -> None:
    tenant = client.sim.tenant
    tenant.audit.service = PRIVILEGED_IDENTITY_MANAGEMENT  # the Graph resource page's example value
    now = await _fresh_now(client)
    assert (await client.activate(EXCHANGE_ADMINS, duration="PT1H")).status == 201
    spelled = await _audits(
        client, f"loggedByService eq '{PRIVILEGED_IDENTITY_MANAGEMENT}' and activityDateTime ge {now}"
    )
    assert len(spelled.body["value"]) == 2
    assert (await _audits(client, f"{PIM_GROUPS} and activityDateTime ge {now}")).body["value"] == []


async def test_filter_top_and_paging(client: Client) -> None:
    everything = (await _audits(client)).body["value"]
    assert len(everything) > 5
    first = await _audits(client, PIM_GROUPS, **{"$top": "3"})
    assert len(first.body["value"]) == 3 and first.body["@odata.nextLink"].startswith(client.sim.graph_base_url)
    rows = list(first.body["value"])
    link = first.body.get("@odata.nextLink")
    throttled = 0
    while link:
        page = await client.graph("GET", link)
        if page.status == 429:  # 5 requests / 10 s: wait as told, on the sim clock
            throttled += 1
            await client.advance(float(page.headers["Retry-After"]))
            continue
        assert page.status == 200, page.body
        rows += page.body["value"]
        link = page.body.get("@odata.nextLink")
    assert throttled >= 1
    # Paging took sim time: only the seeded eligibilities of a month ago fell out of retention meanwhile.
    assert [row["id"] for row in rows] == [row["id"] for row in everything[: len(rows)]]
    cutoff = await client.now() - timedelta(days=30)
    assert all(parse_instant(row["activityDateTime"]) < cutoff for row in everything[len(rows) :])

    await client.advance(10)
    newest = parse_instant(everything[0]["activityDateTime"])
    recent = await _audits(client, f"{PIM_GROUPS} and activityDateTime ge {format_instant(newest)}")
    assert recent.body["value"] and all(parse_instant(r["activityDateTime"]) >= newest for r in recent.body["value"])
    by_name = await _audits(client, "activityDisplayName eq 'PIM activation request expired'")
    assert by_name.status == 200 and by_name.body["value"] == []


async def test_filter_only_on_what_the_directory_audit_page_marks_filterable(client: Client) -> None:
    # https://learn.microsoft.com/graph/api/resources/directoryaudit: category, result and operationType have no
    # "Supports $filter"; a product that sent them would depend on what Microsoft does not promise.
    for bad in (
        "category eq 'GroupManagement'",
        "loggedByService eq 'PIM' and category eq 'GroupManagement'",
        "result eq 'success'",
        "operationType eq 'Assign'",
        "loggedByService eq 'PIM' or loggedByService eq 'Privileged Identity Management'",
        "loggedByService ne 'PIM'",
        "activityDateTime gt 2026-01-01T00:00:00Z",
        "activityDateTime ge '2026-01-01T00:00:00Z'",
        "activityDateTime ge yesterday",
        "startswith(loggedByService, 'P')",
        "groupId eq 'x'",
    ):
        await client.advance(2)  # within the 5 requests / 10 s
        refused = await _audits(client, bad)
        assert (refused.status, refused.code) == (400, "BadRequest"), bad
        assert refused.body["error"]["message"].startswith("Invalid filter clause"), refused.body
    await client.advance(2)
    everything = (await _audits(client)).body["value"]
    approved = next(r for r in everything if r["activityDisplayName"].endswith("request approved (PIM activation)"))
    group = _group_of(approved)
    for good, expected in (
        ("startswith(activityDisplayName, 'Add member to role request approved')", [approved["id"]]),
        (f"initiatedBy/user/id eq '{BOB}' and loggedByService eq 'PIM'", [approved["id"]]),
        ("initiatedBy/user/displayName eq 'Bob Builder'", [approved["id"]]),
        (f"activityDateTime eq {approved['activityDateTime']} and initiatedBy/user/id eq '{BOB}'", [approved["id"]]),
        (f"targetResources/any(t: t/id eq '{group}') and initiatedBy/user/id eq '{BOB}'", [approved["id"]]),
        (
            f"targetResources/any(t:startswith(t/displayName, 'Security')) and id eq '{approved['id']}'",
            [approved["id"]],
        ),
    ):
        await client.advance(2)
        found = await _audits(client, good)
        assert found.status == 200, (good, found.body)
        assert [r["id"] for r in found.body["value"]] == expected, good


async def test_needs_audit_log_read_all(client: Client) -> None:
    client.sim.tenant.add_app("11111111-2222-4333-8444-555555555555", "other-secret", ["User.Read.All"], "No audit")
    token = await client.raw(
        "POST",
        f"{client.sim.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "11111111-2222-4333-8444-555555555555",
            "client_secret": "other-secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    refused = await client.graph("GET", AUDITS, token=token.body["access_token"])
    assert (refused.status, refused.code) == (403, "Authorization_RequestDenied")
    delegated = await client.graph("GET", AUDITS, as_user=ALICE)
    assert (delegated.status, delegated.code) == (403, "Authorization_RequestDenied")
    assert (await _audits(client)).status == 200


async def test_throttled_at_five_requests_per_ten_seconds_per_app(client: Client) -> None:
    for _ in range(5):
        assert (await _audits(client)).status == 200
    throttled = await _audits(client)
    assert (throttled.status, throttled.code) == (429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "10"
    assert (await client.graph("GET", f"/users/{ALICE}")).status == 200  # other resources are not affected
    await client.advance(4)
    again = await _audits(client)
    assert again.status == 429 and again.headers["Retry-After"] == "6"
    await client.advance(6)
    assert (await _audits(client)).status == 200


async def test_retention_is_thirty_days(client: Client) -> None:
    assert (await _audits(client)).body["value"]
    await client.advance(31 * 24 * 3600)
    assert (await _audits(client)).body["value"] == []
    assert (await client.activate(EXCHANGE_ADMINS)).status == 201
    names = [row["activityDisplayName"] for row in (await _audits(client)).body["value"]]
    assert names == ["Add member to role completed (PIM activation)", "Add member to role requested (PIM activation)"]
