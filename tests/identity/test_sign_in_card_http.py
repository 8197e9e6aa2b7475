"""Issue 11, point 9: once the user is signed in, the sign-in card they were sent gives way to "You're signed in", so
its button is not pressed a second time (silent SSO exchange, the button's magic code, a click re-sent after a
loginRequest); a sign-in that fails leaves it as it is."""

from __future__ import annotations

from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from devtools.teams.connector import Recorded
from tests.support.cards import buttons, element
from tests.support.chat import self_activations
from tests.support.sso import OAUTH, ask_to_activate, invoke, token_exchange
from tests.support.stack import Stack


def oauth_card_sent(sso: Stack) -> Recorded:
    [sent] = [
        r
        for r in sso.connector.messages()
        if any(a.get("contentType") == OAUTH for a in r.body.get("attachments") or [])
    ]
    return sent


def updates_of(sso: Stack, activity_id: str) -> list[dict[str, Any]]:
    return [r.card or {} for r in sso.connector.sent if r.method == "PUT" and r.activity_id == activity_id]


def assert_signed_in(card: dict[str, Any]) -> None:
    assert element(card, "heading")["text"] == "You're signed in"
    assert element(card, "who")["text"] == "Signed in as Alice Admin."
    assert buttons(card) == [] and "actions" not in card


async def test_the_sign_in_card_says_signed_in_after_the_silent_exchange(sso: Stack) -> None:
    await ask_to_activate(sso)
    sent = oauth_card_sent(sso)
    assert updates_of(sso, sent.activity_id) == []

    status, _ = await sso.post(await token_exchange(sso))

    assert status == 200 and len(self_activations(sso)) == 1
    [card] = updates_of(sso, sent.activity_id)
    assert_signed_in(card)
    assert sent.conversation_id == act.personal_conversation(ALICE)["id"]


async def test_the_sign_in_card_says_signed_in_after_the_magic_code_and_not_after_a_wrong_one(sso: Stack) -> None:
    await ask_to_activate(sso)
    sent = oauth_card_sent(sso)
    code = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)

    await sso.post(invoke(sso, "signin/verifyState", {"state": "000000x"}))
    assert updates_of(sso, sent.activity_id) == []  # not signed in: the button is still what works

    status, _ = await sso.post(invoke(sso, "signin/verifyState", {"state": code}))

    assert status == 200 and len(self_activations(sso)) == 1
    [card] = updates_of(sso, sent.activity_id)
    assert_signed_in(card)
