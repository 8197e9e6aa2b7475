"""POST /directoryObjects/getByIds as Microsoft documents it (learn.microsoft.com/graph/api/directoryobject-getbyids):
up to 1000 ids, `types` to narrow the search, unknown ids simply absent; Directory.Read.All per its permissions
table, or — the setting `get_by_ids_per_type` — any read permission of the object's type, as a real tenant was
reported to answer (microsoftgraph/microsoft-graph-docs-contrib#8798), with objects of other types reduced to their
id and type ("limited information returned for inaccessible member objects")."""

from __future__ import annotations

from simtenant.seed import ALICE, APP_ROLES, BOB, HELPDESK_STAFF, TEAMS_ADMINS
from tests.support.tenant import Client

GHOST = "00000000-0000-4000-8000-00000000dead"


def grant(client: Client, roles: set[str]) -> None:
    client.sim.tenant.apps[client.sim.client_id.lower()].roles = frozenset(roles)
    client._app_token = None  # the roles are in the token


async def get_by_ids(client: Client, ids: list[str], types: list[str] | None = None) -> tuple[int, list[dict]]:
    body: dict[str, object] = {"ids": ids} if types is None else {"ids": ids, "types": types}
    response = await client.graph("POST", "/directoryObjects/getByIds", json=body)
    return response.status, (response.body or {}).get("value", []) if response.status == 200 else [response.body]


async def test_with_directory_read_all_every_known_id_comes_back_and_unknown_ones_are_absent(client: Client) -> None:
    grant(client, set(APP_ROLES) | {"Directory.Read.All"})
    status, rows = await get_by_ids(client, [ALICE, GHOST, TEAMS_ADMINS, BOB], ["user", "group"])
    assert status == 200
    assert [(r["id"], r["@odata.type"], r["displayName"]) for r in rows] == [
        (ALICE, "#microsoft.graph.user", "Alice Admin"),
        (TEAMS_ADMINS, "#microsoft.graph.group", "Teams Admins"),
        (BOB, "#microsoft.graph.user", "Bob Builder"),
    ]
    assert client.sim.tenant.stats.by_route["POST directoryObjects/getByIds"] == 1


async def test_types_narrow_the_search_and_default_to_every_type(client: Client) -> None:
    grant(client, {"Directory.Read.All"})
    _, users = await get_by_ids(client, [ALICE, HELPDESK_STAFF], ["User"])  # the values are not case-sensitive
    assert [r["id"] for r in users] == [ALICE]
    _, everything = await get_by_ids(client, [ALICE, HELPDESK_STAFF])
    assert [r["id"] for r in everything] == [ALICE, HELPDESK_STAFF]


async def test_more_than_1000_ids_or_no_ids_list_is_a_bad_request(client: Client) -> None:
    grant(client, {"Directory.Read.All"})
    status, [error] = await get_by_ids(client, [GHOST] * 1001)
    assert status == 400 and error["error"]["code"] == "BadRequest"
    response = await client.graph("POST", "/directoryObjects/getByIds", json={"types": ["user"]})
    assert response.status == 400


async def test_without_directory_read_all_it_is_refused_as_the_permissions_table_says(client: Client) -> None:
    grant(client, set(APP_ROLES))  # User.Read.All and GroupMember.Read.All, not Directory.Read.All
    status, [error] = await get_by_ids(client, [ALICE, TEAMS_ADMINS])
    assert status == 403 and error["error"]["code"] == "Authorization_RequestDenied"


async def test_per_type_reading_users_only_leaves_groups_as_bare_ids(client: Client) -> None:
    client.sim.tenant.settings.update({"get_by_ids_per_type": True})
    grant(client, {"User.Read.All"})
    status, rows = await get_by_ids(client, [ALICE, TEAMS_ADMINS], ["user", "group"])
    assert status == 200
    assert rows[0]["displayName"] == "Alice Admin"
    assert rows[1] == {"@odata.type": "#microsoft.graph.group", "id": TEAMS_ADMINS, "displayName": None} | {
        k: None for k in rows[1] if k not in ("@odata.type", "id")
    }
    grant(client, {"User.Read.All", "GroupMember.Read.All"})
    _, rows = await get_by_ids(client, [ALICE, TEAMS_ADMINS])
    assert [r["displayName"] for r in rows] == ["Alice Admin", "Teams Admins"]
    grant(client, {"AuditLog.Read.All"})  # no directory read at all
    status, _ = await get_by_ids(client, [ALICE])
    assert status == 403
