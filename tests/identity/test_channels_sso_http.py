"""Teams SSO from a channel or group chat (USER_TOKENS=sso): Teams has no bot SSO in channel scope, so a command
that needs the user's token continues in their 1:1 chat. The sign-in card goes there, never into the channel or group
chat; the Teams client's token exchange (or the button's magic code) then arrives from the 1:1 chat and the command
resumes there without retyping."""

from __future__ import annotations

import json
from typing import Any

from cards.wording import PRIVATE_CHAT_REFUSED, REPLIED_PRIVATELY
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from tests.support.chat import self_activations
from tests.support.sso import OAUTH, invoke, token_exchange
from tests.support.stack import SSO_BOT_API, Stack

PERSONAL = f"a:personal-{ALICE.oid}"


def sent_to(sso: Stack, conversation_id: str) -> list[dict[str, Any]]:
    return [r.body for r in sso.connector.messages(conversation_id)]


def oauth_cards_in(sso: Stack, conversation_id: str) -> list[dict[str, Any]]:
    return [
        a["content"]
        for b in sent_to(sso, conversation_id)
        for a in b.get("attachments") or []
        if a["contentType"] == OAUTH
    ]


def from_the_1_1(activity: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """`activity` as the Teams client sends it from the user's 1:1 chat with the bot."""
    activity["conversation"] = {"conversationType": "personal", "tenantId": act.DEMO_TENANT, "id": conversation_id}
    return activity


async def test_activate_in_a_channel_signs_in_and_activates_in_a_new_1_1_and_the_channel_sees_one_line(
    sso: Stack,
) -> None:
    channel = act.channel_message(sso.service_url, "activate Exchange-Admins 1h")
    thread = channel["conversation"]["id"]

    status, _ = await sso.post(channel)

    assert status == 201
    [note] = sent_to(sso, thread)
    assert note["text"] == REPLIED_PRIVATELY and not note.get("attachments")
    [(private, _)] = sso.connector.created
    [card] = oauth_cards_in(sso, private)
    assert card["tokenExchangeResource"]["uri"] == SSO_BOT_API  # silent SSO works in the 1:1 chat
    assert self_activations(sso) == []

    # The Teams client exchanges its SSO token from the 1:1 chat, where the card is: the command resumes there.
    status, _ = await sso.post(from_the_1_1(await token_exchange(sso), private))

    assert status == 200
    [activation] = self_activations(sso)
    assert activation["principalId"] == ALICE.oid and activation["scheduleInfo"]["expiration"]["duration"] == "PT1H"
    [result] = [r.card for r in sso.connector.messages(private) if r.card is not None]
    assert "Exchange-Admins" in json.dumps(result)
    assert len(sent_to(sso, thread)) == 1  # still only the note: the result is Alice's to see


async def test_activate_in_a_group_chat_asks_for_sign_in_in_the_stored_1_1_and_the_magic_code_resumes_it(
    sso: Stack,
) -> None:
    await sso.post(act.message(sso.service_url, "help"))  # Alice has a 1:1 chat with the bot
    chat = act.group_chat_message(sso.service_url, "activate Exchange-Admins 2h")

    await sso.post(chat)

    assert [b.get("text") for b in sent_to(sso, chat["conversation"]["id"])] == [REPLIED_PRIVATELY]
    assert sso.connector.created == []
    [card] = oauth_cards_in(sso, PERSONAL)
    assert card["buttons"][0]["type"] == "signin"
    # The silent exchange failed (e.g. consent), the user signs in with the button: the magic code resumes it.
    code = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)
    status, _ = await sso.post(invoke(sso, "signin/verifyState", {"state": code}))
    assert status == 200
    [activation] = self_activations(sso)
    assert activation["scheduleInfo"]["expiration"]["duration"] == "PT2H"
    answer = json.dumps([r.card for r in sso.connector.messages(PERSONAL) if r.card is not None])
    assert activation["id"] in answer
    assert [b.get("text") for b in sent_to(sso, chat["conversation"]["id"])] == [REPLIED_PRIVATELY]


async def test_no_sign_in_card_ever_reaches_a_channel_or_group_chat(sso: Stack) -> None:
    for text in ("activate Exchange-Admins 1h", "deactivate Exchange-Admins", "cancel Security-Operators", "status",
                 "pending"):  # fmt: skip
        await sso.post(act.channel_message(sso.service_url, text))
        await sso.post(act.group_chat_message(sso.service_url, text))
    [(private, _)] = sso.connector.created
    shared = [r.body for r in sso.connector.sent if r.conversation_id != private]
    assert len(shared) == 10 and {b.get("text") for b in shared} == {REPLIED_PRIVATELY}
    assert not [b for b in shared if b.get("attachments")]
    assert oauth_cards_in(sso, private)


async def test_without_a_reachable_1_1_the_channel_is_told_how_to_fix_it_and_no_sign_in_is_kept(
    sso: Stack,
) -> None:
    sso.connector.without_app.add(ALICE.oid)
    channel = act.channel_message(sso.service_url, "activate Exchange-Admins 1h")

    await sso.post(channel)

    assert [b.get("text") for b in sent_to(sso, channel["conversation"]["id"])] == [PRIVATE_CHAT_REFUSED]
    assert len(sso.connector.sent) == 1 and sso.token_service.calls == []
    # A later sign-in resumes nothing: no command was kept for it.
    status, _ = await sso.post(await token_exchange(sso))
    assert status == 200 and self_activations(sso) == []
