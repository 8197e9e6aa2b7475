"""Inline approvals with Teams SSO tokens: an approver without a token is asked to sign in by the click itself
(Action.Execute loginRequest) and the click completes after it, decided as that approver; two bot instances sharing
one state file still let exactly one decision through."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.approvals.test_inline_approvals import CAROL, conversation
from tests.cards.cardtools import element
from tests.fakes import activities as act
from tests.fakes.activities import ALICE, BOB, TeamsUser
from tests.fakes.connector import Recorded
from tests.identity.conftest import CONNECTION, SsoStack
from tests.identity.test_sso_http import self_activations, token_exchange


async def signed_in(sso: SsoStack, user: TeamsUser) -> None:
    status, _ = await sso.post(await token_exchange(sso, user))
    assert status == 200


async def alice_asks(sso: SsoStack) -> tuple[str, dict[str, Recorded]]:
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


def approve(sso: SsoStack, user: TeamsUser, card: Recorded, reason: str) -> dict[str, Any]:
    data = {**element(card.card or {}, "approve")["data"], "reason": reason}
    return act.card_execute(sso.service_url, "approve", data, card.activity_id, user)


def patches(sso: SsoStack) -> list[dict[str, Any]]:
    return [e for e in sso.sim.tenant.log.recent() if e["method"] == "PATCH" and "assignmentApprovals" in e["path"]]


async def test_an_approver_without_a_token_signs_in_from_the_click_and_it_completes(sso: SsoStack) -> None:
    request_id, cards = await alice_asks(sso)

    status, body = await sso.post(approve(sso, BOB, cards[BOB.oid], "ok"))
    assert status == 200 and body["statusCode"] == 401
    assert body["type"] == "application/vnd.microsoft.activity.loginRequest"
    assert patches(sso) == []

    again = approve(sso, BOB, cards[BOB.oid], "ok")
    again["value"]["authentication"] = {
        "id": str(uuid.uuid4()), "connectionName": CONNECTION, "token": await sso.token_service.sso_token(BOB.oid)
    }  # fmt: skip
    status, body = await sso.post(again)

    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert element(body["value"], "state")["text"].startswith("Approved by Bob Builder at ")
    [patch] = patches(sso)
    assert patch["oid"] == BOB.oid and patch["status"] < 300
    assert sso.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"


async def test_two_bot_instances_let_exactly_one_decision_through(sso: SsoStack) -> None:
    request_id, cards = await alice_asks(sso)
    await signed_in(sso, BOB)
    await signed_in(sso, CAROL)

    results = await asyncio.gather(
        sso.post(approve(sso, BOB, cards[BOB.oid], "go"), instance=0),
        sso.post(approve(sso, CAROL, cards[CAROL.oid], "go ahead"), instance=1),
    )

    assert all(status == 200 and body["statusCode"] == 200 for status, body in results)
    assert len(patches(sso)) == 1
    assert sso.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
