"""Channels and group chats, through POST /api/messages with Teams-shaped channel and groupChat activities.

A command that acts as the user (activate, deactivate, status, cancel, pending, a card's button) continues in the
user's 1:1 chat: the reference stored when they last wrote there, else a 1:1 created through the Bot Connector. Where
it was typed, one line says so; nothing about the user's access is posted there. Help and the admin commands stay.
The Bot Connector stand-in records every conversation; the simulated tenant records every Graph call.
"""

from __future__ import annotations

from typing import Any

from cards.wording import PRIVATE_CHAT_FAILED, PRIVATE_CHAT_REFUSED, REPLIED_PRIVATELY
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, DEMO_TENANT, FRANK
from tests.support.cards import card_text, element, maybe_element
from tests.support.chat import self_activations
from tests.support.stack import Stack

EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"
PERSONAL = f"a:personal-{ALICE.oid}"  # the conversation of act.message (Alice's 1:1 chat)


async def post(stack: Stack, activity: dict[str, Any]) -> str:
    """Post `activity`; the conversation it was sent in."""
    status, _ = await stack.post(activity)
    assert status == 201
    return str(activity["conversation"]["id"])


def texts(stack: Stack, conversation_id: str) -> list[str]:
    return [str(r.body.get("text") or "") for r in stack.connector.messages(conversation_id)]


def cards_in(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    return [r.card for r in stack.connector.messages(conversation_id) if r.card is not None]


def graph_writes(stack: Stack) -> list[dict[str, Any]]:
    log = stack.sim.tenant.log.recent()
    return [e for e in log if e["path"].startswith("/v1.0") and e["method"] in ("POST", "PATCH", "DELETE")]


def the_new_1_1(stack: Stack, user: act.TeamsUser = ALICE) -> str:
    """The 1:1 chat the bot created with `user` (checked: one, with the user's ids and the tenant in channelData)."""
    [(conversation_id, created)] = stack.connector.created
    assert created["isGroup"] is False
    [member] = created["members"]
    assert member["id"] == user.oid
    assert created["channelData"]["tenant"]["id"] == DEMO_TENANT
    return conversation_id


async def test_activate_in_a_channel_runs_in_the_users_1_1_and_the_thread_only_gets_a_note(stack: Stack) -> None:
    await post(stack, act.message(stack.service_url, "help"))  # Alice has written to the bot 1:1 before
    before = len(stack.connector.messages(PERSONAL))

    thread = await post(stack, act.channel_message(stack.service_url, "activate exchange admins 30m"))

    assert texts(stack, thread) == [REPLIED_PRIVATELY]
    assert cards_in(stack, thread) == [] and not [r for r in stack.connector.typing() if r.conversation_id == thread]
    assert stack.connector.created == []  # the stored 1:1 chat was used
    intro, result = stack.connector.messages(PERSONAL)[before:]
    assert intro.body["text"].startswith("You asked me in a channel: “activate exchange admins 30m”.")
    assert element(result.card or {}, "outcome-0-state")["text"] == "Active"  # the mention was removed
    [request] = self_activations(stack)
    assert request["principalId"] == ALICE.oid and request["groupId"] == EXCHANGE


async def test_status_in_a_group_chat_is_answered_in_a_new_1_1_chat(stack: Stack) -> None:
    chat = await post(stack, act.group_chat_message(stack.service_url, "status"))

    assert texts(stack, chat) == [REPLIED_PRIVATELY]
    private = the_new_1_1(stack)
    [status] = cards_in(stack, private)
    assert "Exchange-Admins" in card_text(status)
    assert "group chat" in texts(stack, private)[0]
    # The new chat is remembered: the next private answer goes there without creating another one.
    await post(stack, act.channel_message(stack.service_url, "status"))
    assert len(stack.connector.created) == 1 and len(cards_in(stack, private)) == 2


async def test_bare_approvals_in_a_group_chat_lists_the_approvers_requests_privately(stack: Stack) -> None:
    chat = await post(stack, act.group_chat_message(stack.service_url, "approvals", BOB))
    assert texts(stack, chat) == [REPLIED_PRIVATELY]
    assert "No requests are waiting for your approval." in texts(stack, the_new_1_1(stack, BOB))


async def test_a_user_the_bot_cannot_reach_privately_is_told_kindly_where_they_typed_and_nothing_changes(
    stack: Stack,
) -> None:
    stack.connector.without_app.add(ALICE.oid)  # and the bot's app is not in the org catalog: it cannot install it

    thread = await post(stack, act.channel_message(stack.service_url, "activate Exchange-Admins 1h"))

    assert texts(stack, thread) == [PRIVATE_CHAT_REFUSED]
    assert "Add PIM Bot for yourself" in PRIVATE_CHAT_REFUSED and "open a chat with me" in PRIVATE_CHAT_REFUSED
    assert [r.conversation_id for r in stack.connector.sent] == [thread]  # nothing anywhere else
    assert stack.connector.created == []
    assert graph_writes(stack) == []
    # Nothing was remembered as her 1:1 chat: once she has one, the bot uses it.
    stack.connector.without_app.clear()
    await post(stack, act.group_chat_message(stack.service_url, "status"))
    assert len(stack.connector.created) == 1


async def test_a_user_without_the_app_has_it_installed_and_is_answered_in_its_chat(stack: Stack) -> None:
    app_id = await stack.publish_bot()  # in the org catalog: the bot may install it for people (bot.approvals.reach)
    assert stack.sim.tenant.teams.installed(ALICE.oid, app_id) is None

    thread = await post(stack, act.channel_message(stack.service_url, "status"))

    assert texts(stack, thread) == [REPLIED_PRIVATELY]
    installation = stack.sim.tenant.teams.installed(ALICE.oid, app_id)
    assert installation is not None
    [status] = cards_in(stack, installation.chat_id)  # her new chat with the app: no welcome card before the answer
    assert "Exchange-Admins" in card_text(status)


async def test_a_stored_1_1_chat_teams_refuses_is_opened_again(stack: Stack) -> None:
    await post(stack, act.message(stack.service_url, "help"))
    stack.connector.block(PERSONAL)  # e.g. the user removed the app and added it again: the old chat is gone

    thread = await post(stack, act.channel_message(stack.service_url, "status"))

    assert texts(stack, thread) == [REPLIED_PRIVATELY]
    private = the_new_1_1(stack)
    assert private != PERSONAL and len(cards_in(stack, private)) == 1


async def test_when_teams_fails_to_open_the_1_1_chat_the_user_is_told_the_truth(stack: Stack) -> None:
    stack.connector.fail_next(502, times=3)  # every attempt of the create call (the connector client retries 502)

    thread = await post(stack, act.channel_message(stack.service_url, "activate Exchange-Admins 1h"))

    assert texts(stack, thread) == [PRIVATE_CHAT_FAILED]
    assert graph_writes(stack) == []


async def test_a_card_button_used_in_a_channel_is_answered_privately(stack: Stack) -> None:
    data = {"pim": 1, "verb": "activate", "groupId": EXCHANGE, "groupName": "Exchange-Admins", "access": "member",
            "durationMinutes": 60}  # fmt: skip
    click = act.card_submit(stack.service_url, data, reply_to="activity-1")
    channel = act.channel_message(stack.service_url, "")
    click.update(conversation=channel["conversation"], channelData=channel["channelData"])

    thread = await post(stack, click)

    assert texts(stack, thread) == [REPLIED_PRIVATELY] and cards_in(stack, thread) == []
    private = the_new_1_1(stack)
    assert texts(stack, private)[0].startswith("You used one of my cards in a channel")
    [result] = cards_in(stack, private)
    assert element(result, "outcome-0-state")["text"] == "Active"


async def test_help_and_admin_commands_stay_in_the_channel(stack: Stack) -> None:
    for text in ("help", "approvals status", "feed status", "approvals here Security-Operators", "what?"):
        thread = await post(stack, act.channel_message(stack.service_url, text, FRANK))
        replies = stack.connector.messages(thread)
        assert len(replies) == 1 and replies[0].body.get("text") != REPLIED_PRIVATELY, text
    assert stack.connector.created == []
    assert {r.conversation_id.split(";")[0] for r in stack.connector.messages()} == {"19:incidents@thread.tacv2"}


async def test_help_in_a_channel_offers_what_works_there(stack: Stack) -> None:
    thread = await post(stack, act.channel_message(stack.service_url, "help"))
    [card] = cards_in(stack, thread)
    commands = [element(card, f"example-{i}-command")["text"] for i in range(4)]
    assert commands == ["feed here", "approvals here Security-Operators", "approvals status", "help"]
    assert "private chat" in element(card, "intro")["text"]

    chat = await post(stack, act.group_chat_message(stack.service_url, "help"))
    [card] = cards_in(stack, chat)
    assert element(card, "example-0-command")["text"] == "help" and maybe_element(card, "example-1") is None
