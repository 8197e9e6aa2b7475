"""Inline approvals with Teams SSO tokens: an approver without a token is asked to sign in by the click itself
(Action.Execute loginRequest) and the click completes after it, decided as that approver; two bot instances sharing
one state file still let exactly one decision through."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from devtools.teams.activities import BOB
from tests.support.approvals import CAROL
from tests.support.cards import element
from tests.support.sso import alice_asks, approve, signed_in
from tests.support.stack import CONNECTION, Stack


def patches(sso: Stack) -> list[dict[str, Any]]:
    return [e for e in sso.sim.tenant.log.recent() if e["method"] == "PATCH" and "assignmentApprovals" in e["path"]]


async def test_an_approver_without_a_token_signs_in_from_the_click_and_it_completes(sso: Stack) -> None:
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


async def test_two_bot_instances_let_exactly_one_decision_through(sso: Stack) -> None:
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
