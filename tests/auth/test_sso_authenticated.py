"""Teams SSO with PRODUCTION settings: signed activities, the bot's own bearer (from our msal client, through the
credentials factory handed to botbuilder) on every token service call, which the HTTPS stand-in verifies — issuer,
audience, app id, signature — and refuses otherwise."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.chat import self_activations
from tests.support.sso import ask_to_activate, cards_sent, invoke, oauth_cards, texts_sent, tokens
from tests.support.stack import CONNECTION, Stack

EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"


def assert_every_token_service_call_carried_the_bots_valid_bearer(prod: Stack) -> None:
    service = tokens(prod)
    assert service.refused == []
    assert service.calls and len(service.bearers) == len(service.calls)
    for claims in service.bearers:
        assert claims["appid"] == prod.app_id and claims["aud"] == "https://api.botframework.com"
        assert claims["tid"] == prod.sim.tenant_id and claims["iss"] == f"https://sts.windows.net/{prod.sim.tenant_id}/"
    # One client-credentials request at the configured login URL and tenant serves connector and token service.
    assert [(r["tenant"], r["scope"]) for r in prod.ids.login.token_requests] == [
        (prod.sim.tenant_id, "https://api.botframework.com/.default")
    ]


async def test_the_token_service_stand_in_refuses_calls_without_the_bots_valid_bearer(prod_sso: Stack) -> None:
    url = f"{tokens(prod_sso).url}/api/usertoken/GetToken?userId=x&connectionName={CONNECTION}&channelId=msteams"
    forged = prod_sso.token(act.message(prod_sso.service_url, "x"))  # a channel token is not the bot's token
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=prod_sso.ids.ca.client_context())) as http:
        for headers in ({}, {"Authorization": "Bearer x.y.z"}, {"Authorization": f"Bearer {forged}"}):
            async with http.get(url, headers=headers) as r:
                assert r.status == 401
    assert len(tokens(prod_sso).refused) == 3 and tokens(prod_sso).calls == []


async def test_no_token_asks_to_sign_in_and_the_silent_exchange_activates_with_a_valid_bot_bearer_throughout(
    prod_sso: Stack,
) -> None:
    card = await ask_to_activate(prod_sso)

    assert card["connectionName"] == CONNECTION
    assert card["tokenExchangeResource"]["uri"] == f"api://botid-{prod_sso.app_id}"
    assert self_activations(prod_sso) == []

    sso_token = await tokens(prod_sso).sso_token(ALICE.oid)
    exchange = invoke(prod_sso, "signin/tokenExchange", {"id": str(uuid.uuid4()), "connectionName": CONNECTION,
                                                            "token": sso_token})  # fmt: skip
    status, body = await prod_sso.post(exchange)

    assert status == 200, body
    [activation] = self_activations(prod_sso)
    assert activation["principalId"] == ALICE.oid and activation["groupId"] == EXCHANGE
    [result] = cards_sent(prod_sso)
    assert "Exchange-Admins" in json.dumps(result)
    assert [op for op, _ in tokens(prod_sso).calls] == ["GetToken", "GetSignInResource", "exchange", "GetToken"]
    assert_every_token_service_call_carried_the_bots_valid_bearer(prod_sso)
    assert prod_sso.connector.refused == []


async def test_oauth_card_fallback_the_magic_code_resumes_the_command(prod_sso: Stack) -> None:
    await ask_to_activate(prod_sso)
    tokens(prod_sso).fail_exchanges = 1
    sso_token = await tokens(prod_sso).sso_token(ALICE.oid)
    exchange = invoke(prod_sso, "signin/tokenExchange", {"id": str(uuid.uuid4()), "connectionName": CONNECTION,
                                                            "token": sso_token})  # fmt: skip
    status, _ = await prod_sso.post(exchange)
    assert status == 412 and self_activations(prod_sso) == []

    code = await tokens(prod_sso).button_sign_in(ALICE.mri, ALICE.oid)
    status, _ = await prod_sso.post(invoke(prod_sso, "signin/verifyState", {"state": code}))

    assert status == 200
    assert len(self_activations(prod_sso)) == 1 and len(cards_sent(prod_sso)) == 1
    assert "GetToken+code" in [op for op, _ in tokens(prod_sso).calls]
    assert_every_token_service_call_carried_the_bots_valid_bearer(prod_sso)


async def test_a_token_of_another_user_writes_nothing(prod_sso: Stack) -> None:
    tokens(prod_sso).put_token(ALICE.mri, await tokens(prod_sso).graph_token(BOB.oid))

    status, _ = await prod_sso.post(act.message(prod_sso.service_url, "activate Exchange-Admins 1h"))

    assert status == 201
    assert self_activations(prod_sso) == [] and oauth_cards(prod_sso) == []
    assert any("belongs to a different account" in t and "nothing was changed" in t for t in texts_sent(prod_sso))
    assert_every_token_service_call_carried_the_bots_valid_bearer(prod_sso)


async def test_logout_signs_out_with_the_bots_bearer(prod_sso: Stack) -> None:
    tokens(prod_sso).put_token(ALICE.mri, await tokens(prod_sso).graph_token(ALICE.oid))
    status, _ = await prod_sso.post(act.message(prod_sso.service_url, "logout"))
    assert status == 201
    assert not tokens(prod_sso).has_token(ALICE.mri)
    assert ("SignOut", ALICE.mri) in tokens(prod_sso).calls
    assert_every_token_service_call_carried_the_bots_valid_bearer(prod_sso)


async def test_a_bot_token_the_token_service_refuses_writes_nothing_and_answers(prod_sso: Stack) -> None:
    def revoked(_: str) -> Any:
        raise PermissionError("revoked")

    tokens(prod_sso).verify_bearer = revoked
    tokens(prod_sso).put_token(ALICE.mri, await tokens(prod_sso).graph_token(ALICE.oid))

    status, _ = await prod_sso.post(act.message(prod_sso.service_url, "activate Exchange-Admins 1h"))

    assert status == 201
    assert self_activations(prod_sso) == [] and tokens(prod_sso).refused
    [card] = cards_sent(prod_sso)  # the user is told, not left waiting
    assert "Not activated" in json.dumps(card) and "nothing was changed" in json.dumps(card)


async def test_activate_in_a_channel_opens_the_1_1_chat_and_signs_in_there_with_a_valid_bot_bearer_throughout(
    prod_sso: Stack,
) -> None:
    channel = act.channel_message(prod_sso.service_url, "activate Exchange-Admins 1h")

    status, _ = await prod_sso.post(channel)

    assert status == 201
    [(private, created)] = prod_sso.connector.created
    assert created["members"][0]["id"] == ALICE.oid
    assert created["channelData"]["tenant"]["id"] == prod_sso.sim.tenant_id
    [note] = prod_sso.connector.messages(channel["conversation"]["id"])
    assert note.body["text"] == "I've replied to you privately." and not note.body.get("attachments")
    [card] = oauth_cards(prod_sso)
    assert [r.conversation_id for r in prod_sso.connector.messages() if r.body.get("attachments")] == [private]
    assert card["tokenExchangeResource"]["uri"] == f"api://botid-{prod_sso.app_id}"

    sso_token = await tokens(prod_sso).sso_token(ALICE.oid)
    exchange = invoke(prod_sso, "signin/tokenExchange", {"id": str(uuid.uuid4()), "connectionName": CONNECTION,
                                                            "token": sso_token})  # fmt: skip
    exchange["conversation"] = {"conversationType": "personal", "tenantId": prod_sso.sim.tenant_id, "id": private}
    status, _ = await prod_sso.post(exchange)

    assert status == 200
    assert len(self_activations(prod_sso)) == 1
    assert [r.conversation_id for r in prod_sso.connector.messages() if r.card is not None] == [private]
    assert prod_sso.connector.refused == []  # the create call and every send carried the bot's valid bearer
    assert_every_token_service_call_carried_the_bots_valid_bearer(prod_sso)
