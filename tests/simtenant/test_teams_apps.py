"""The Teams app catalog and personal-scope installations answer as Graph does (simtenant.teams names the sources),
and an installation tells the app's bot, as Teams does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from simtenant.seed import ALICE, BOB, CAROL, POLLY_APP
from simtenant.teams import teams_user_id
from tests.support.tenant import Client

BOT = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SELF = "TeamsAppInstallation.ReadWriteSelfForUser.All"


async def publish(client: Client, **extra: Any) -> str:
    body = {"display_name": "PIM Bot", "bot_id": BOT, **extra}
    published = await client.control("POST", "/teams/apps", json=body)
    assert published.status == 201, published.body
    app_id: str = published.body["id"]
    return app_id


def bind(client: Client, app_id: str) -> dict[str, str]:
    return {"teamsApp@odata.bind": f"{client.sim.graph_base_url}/appCatalogs/teamsApps/{app_id}"}


def installed_apps(user: str) -> str:
    return f"/users/{user}/teamwork/installedApps"


async def test_the_catalog_finds_the_bot_by_the_documented_queries(client: Client) -> None:
    app_id = await publish(client)
    org = await client.graph(
        "GET",
        "/appCatalogs/teamsApps",
        params={"$filter": "distributionMethod eq 'organization'", "$expand": "appDefinitions($expand=bot)"},
    )
    assert org.status == 200, org.body
    by_id = {a["id"]: a for a in org.body["value"]}
    assert POLLY_APP not in by_id  # a store app
    [definition] = by_id[app_id]["appDefinitions"]
    assert definition["bot"] == {"id": BOT} and definition["azureADAppId"] == client.sim.client_id
    assert [d.get("bot") for a in by_id.values() if a["id"] != app_id for d in a["appDefinitions"]] == [None]

    with_bots = await client.graph(
        "GET",
        "/appCatalogs/teamsApps",
        params={"$expand": "appDefinitions($expand=bot)", "$filter": "appDefinitions/any(a:a/bot ne null)"},
    )
    assert {a["id"] for a in with_bots.body["value"]} == {app_id, POLLY_APP}
    ours = await client.graph(
        "GET", "/appCatalogs/teamsApps", params={"$filter": f"appDefinitions/any(a:a/bot/id eq '{BOT}')"}
    )
    assert [a["id"] for a in ours.body["value"]] == [app_id]
    assert "appDefinitions" not in ours.body["value"][0]  # not expanded


async def test_the_catalog_needs_app_catalog_read(client: Client) -> None:
    client.sim.tenant.apps[client.sim.client_id].roles -= {"AppCatalog.Read.All"}
    refused = await client.graph("GET", "/appCatalogs/teamsApps")
    assert (refused.status, refused.code) == (403, "Forbidden")
    assert refused.message.startswith("Missing role permissions on the request. API requires one of 'AppCatalog.")


async def test_install_answers_201_then_409_and_the_installation_leads_to_the_personal_chat(client: Client) -> None:
    app_id = await publish(client)
    first = await client.graph("POST", installed_apps(BOB), json=bind(client, app_id))
    assert (first.status, first.body) == (201, None)
    again = await client.graph("POST", installed_apps(BOB), json=bind(client, app_id))
    assert (again.status, again.code) == (409, "Conflict")

    listed = await client.graph(
        "GET", installed_apps(BOB), params={"$expand": "teamsApp", "$filter": f"teamsApp/id eq '{app_id}'"}
    )
    [installation] = listed.body["value"]
    assert installation["teamsApp"]["id"] == app_id and installation["id"] != app_id
    assert (await client.graph("GET", installed_apps(CAROL))).body["value"] == []
    chat = await client.graph("GET", f"{installed_apps(BOB)}/{installation['id']}/chat")
    assert chat.status == 200 and chat.body["id"].startswith("19:") and chat.body["id"].endswith("@unq.gbl.spaces")
    assert chat.body["@odata.context"].endswith("$metadata#chats/$entity")
    missing = await client.graph("GET", f"{installed_apps(CAROL)}/{installation['id']}/chat")
    assert missing.status == 404


async def test_install_refusals(client: Client) -> None:
    app_id = await publish(client)
    not_in_catalog = await client.graph("POST", installed_apps(BOB), json=bind(client, "no-such-app"))
    assert not_in_catalog.status == 404
    no_bind = await client.graph("POST", installed_apps(BOB), json={"teamsApp": app_id})
    assert (no_bind.status, no_bind.code) == (400, "BadRequest")
    no_user = await client.graph(
        "POST", installed_apps("00000000-0000-4000-8000-00000000dead"), json=bind(client, app_id)
    )
    assert no_user.status == 404

    # With only the Self permission the caller manages its own app (webApplicationInfo id = its app id), no other.
    others = await client.graph("POST", installed_apps(BOB), json=bind(client, POLLY_APP))
    assert (others.status, others.code) == (403, "Forbidden")
    assert "is not allowed to manage the Teams App" in others.message
    client.sim.tenant.teams.install(BOB, POLLY_APP)  # Bob added Polly himself
    listed = await client.graph("GET", installed_apps(BOB))
    assert listed.body["value"] == []  # "otherwise, API would [return an] empty result"

    client.sim.tenant.apps[client.sim.client_id].roles -= {SELF}
    client._app_token = None
    refused = await client.graph("POST", installed_apps(BOB), json=bind(client, app_id))
    assert (refused.status, refused.code) == (403, "Forbidden")
    assert SELF in refused.message
    assert client.sim.tenant.teams.installed(BOB, app_id) is None


async def test_an_install_in_a_batch_is_answered_per_item(client: Client) -> None:
    app_id = await publish(client)
    client.sim.tenant.teams.install(CAROL, app_id)
    batch = {
        "requests": [
            {
                "id": str(n),
                "method": "POST",
                "url": installed_apps(user),
                "body": bind(client, app_id),
                "headers": {"Content-Type": "application/json"},
            }
            for n, user in enumerate((BOB, CAROL))
        ]
    }
    answered = await client.graph("POST", "/$batch", json=batch)
    statuses = {r["id"]: r["status"] for r in answered.body["responses"]}
    assert statuses == {"0": 201, "1": 409}


@pytest.fixture
async def bot() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def messages(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/api/messages")), received
    finally:
        await server.close()


async def test_an_installation_tells_the_bot_as_teams_does(
    client: Client, bot: tuple[str, list[dict[str, Any]]]
) -> None:
    endpoint, received = bot
    app_id = await publish(
        client, messaging_endpoint=endpoint, service_url="https://smba.example/emea/", bot_name="PIM Bot"
    )
    assert (await client.graph("POST", installed_apps(BOB), json=bind(client, app_id))).status == 201
    assert client.sim.teams_events is not None
    await asyncio.wait_for(client.sim.teams_events.idle(), 10)
    chat = client.sim.tenant.teams.installed(BOB, app_id)
    assert chat is not None
    assert [a["type"] for a in received] == ["installationUpdate", "conversationUpdate"]
    install, added = received
    assert install["action"] == "add" and added["membersAdded"] == [{"id": f"28:{BOT}"}]
    for activity in received:
        assert activity["from"] == {"id": teams_user_id(BOB), "name": "Bob Builder", "aadObjectId": BOB}
        assert activity["conversation"] == {
            "conversationType": "personal",
            "tenantId": client.sim.tenant_id,
            "id": chat.chat_id,
        }
        assert activity["recipient"]["id"] == f"28:{BOT}" and activity["serviceUrl"] == "https://smba.example/emea/"
        assert activity["channelData"]["tenant"]["id"] == client.sim.tenant_id

    # Installed through the control API (a setup policy): the bot is told the same way; the Bot Connector finds
    # the chat by the user's object id or Teams id.
    policy = await client.control("POST", "/teams/installations", json={"user": ALICE, "app": app_id})
    assert policy.status == 201
    await client.sim.teams_events.idle()
    assert len(received) == 4 and received[2]["from"]["aadObjectId"] == ALICE
    teams = client.sim.tenant.teams
    assert teams.personal_chat(f"28:{BOT}", ALICE) == policy.body["chatId"]
    assert teams.personal_chat(BOT, teams_user_id(ALICE)) == policy.body["chatId"]
    assert teams.personal_chat(BOT, CAROL) is None
