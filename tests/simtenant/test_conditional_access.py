"""GET identity/conditionalAccess/authenticationContextClassReferences/{id}: the display name of an authentication
context, for apps holding a permission the v1.0 doc lists (authenticationcontextclassreference-get)."""

from __future__ import annotations

import pytest

from tests.support.tenant import Client

CONTEXTS = "/identity/conditionalAccess/authenticationContextClassReferences"


async def token_of(client: Client, roles: list[str]) -> str:
    """A client-credentials token of a new app registration holding `roles`."""
    client_id = f"app-{len(client.sim.tenant.apps)}"
    client.sim.tenant.add_app(client_id, "secret", roles)
    response = await client.raw(
        "POST",
        f"{client.sim.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status == 200, response.body
    return str(response.body["access_token"])


async def test_the_demo_app_reads_the_name_of_c1(client: Client) -> None:
    found = await client.graph("GET", f"{CONTEXTS}/c1")
    assert found.status == 200, found.body
    assert (found.body["id"], found.body["displayName"], found.body["isAvailable"]) == (
        "c1",
        "Sensitive admin actions",
        True,
    )


@pytest.mark.parametrize(
    "roles",
    [["AuthenticationContext.Read.All"], ["AuthenticationContext.ReadWrite.All"], ["Policy.Read.ConditionalAccess"]],
)
async def test_each_documented_permission_suffices(client: Client, roles: list[str]) -> None:
    found = await client.graph("GET", f"{CONTEXTS}/c1", token=await token_of(client, roles))
    assert found.status == 200 and found.body["displayName"] == "Sensitive admin actions"


@pytest.mark.parametrize("roles", [[], ["Policy.Read.All"], ["RoleManagementPolicy.Read.AzureADGroup"]])
async def test_without_a_documented_permission_access_is_denied(client: Client, roles: list[str]) -> None:
    refused = await client.graph("GET", f"{CONTEXTS}/c1", token=await token_of(client, roles))
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert "required scopes are missing" in refused.message


async def test_an_unknown_context_is_not_found(client: Client) -> None:
    missing = await client.graph("GET", f"{CONTEXTS}/c9")
    assert missing.status == 404
