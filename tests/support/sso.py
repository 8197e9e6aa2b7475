"""Teams SSO from a test's side, on any stack with the token service stand-in (`sso`, `prod_sso`): the OAuth cards
the bot sent, the invokes Teams sends back (token exchange, verify state), and an approver signing in."""

from __future__ import annotations

import uuid
from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, TeamsUser
from devtools.teams.connector import Recorded
from tests.fakes.token_service import FakeTokenService
from tests.support.approvals import CAROL, conversation
from tests.support.cards import element
from tests.support.chat import self_activations
from tests.support.stack import CONNECTION, Stack

OAUTH = "application/vnd.microsoft.card.oauth"


def oauth_cards(sso: Stack) -> list[dict[str, Any]]:
    return [
        a["content"]
        for r in sso.connector.messages()
        for a in r.body.get("attachments") or []
        if a.get("contentType") == OAUTH
    ]


def cards_sent(sso: Stack) -> list[dict[str, Any]]:
    return [r.card for r in sso.connector.messages() if r.card is not None]


def texts_sent(sso: Stack) -> list[str]:
    return [str(r.body.get("text")) for r in sso.connector.messages() if r.body.get("text")]


def invoke(sso: Stack, name: str, value: dict[str, Any], user: act.TeamsUser = ALICE) -> dict[str, Any]:
    activity = act.message(sso.service_url, "", user)
    activity.update({"type": "invoke", "name": name, "value": value})
    activity.pop("text")
    return activity


async def token_exchange(sso: Stack, user: act.TeamsUser = ALICE, exchange_id: str | None = None) -> dict[str, Any]:
    token = await sso.token_service.sso_token(user.oid)
    return invoke(
        sso,
        "signin/tokenExchange",
        {"id": exchange_id or str(uuid.uuid4()), "connectionName": CONNECTION, "token": token},
        user,
    )


async def ask_to_activate(sso: Stack, text: str = "activate Exchange-Admins 1h") -> dict[str, Any]:
    status, _ = await sso.post(act.message(sso.service_url, text))
    assert status == 201
    [card] = oauth_cards(sso)
    return card


def tokens(prod: Stack) -> FakeTokenService:
    assert prod.token_service is not None
    return prod.token_service


async def signed_in(sso: Stack, user: TeamsUser) -> None:
    status, _ = await sso.post(await token_exchange(sso, user))
    assert status == 200


async def alice_asks(sso: Stack) -> tuple[str, dict[str, Recorded]]:
    for user in (BOB, CAROL):
        status, _ = await sso.post(act.message(sso.service_url, "help", user))
        assert status == 201
    await signed_in(sso, ALICE)
    status, _ = await sso.post(act.message(sso.service_url, "activate Security-Operators 1h because INC-9", ALICE))
    assert status == 201
    [request] = self_activations(sso)
    assert request["status"] == "PendingApproval"
    cards = {}
    for user in (BOB, CAROL):
        [card] = [r for r in sso.connector.messages(conversation(user)) if r.card and "refresh" in r.card]
        cards[user.oid] = card
    return request["id"], cards


def approve(sso: Stack, user: TeamsUser, card: Recorded, reason: str) -> dict[str, Any]:
    data = {**element(card.card or {}, "approve")["data"], "reason": reason}
    return act.card_execute(sso.service_url, "approve", data, card.activity_id, user)
