"""Issue 11, point 12, through POST /api/messages: a team's channel or a group chat the bot is added to gets a welcome
that fits it (what works there, and that one's own access is handled in private), not the 1:1 usage card."""

from __future__ import annotations

from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOT_ID
from tests.support.cards import card_text, element, maybe_element
from tests.support.stack import Stack


def cards_in(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    return [r.card for r in stack.connector.messages(conversation_id) if r.card is not None]


async def test_a_team_gets_a_welcome_in_the_channel_picked_at_install_with_the_channel_commands(stack: Stack) -> None:
    status, _ = await stack.post(act.team_installation(stack.service_url))
    assert status in (200, 201)

    [card] = cards_in(stack, "19:incidents@thread.tacv2")
    assert element(card, "heading")["text"] == "Hello, I'm PIM Bot"
    commands = [element(card, f"example-{i}-command")["text"] for i in range(4)]
    assert commands == [
        "@PIM Bot feed here",
        "@PIM Bot approvals here Security-Operators",
        "@PIM Bot approvals status",
        "@PIM Bot help",
    ]
    text = card_text(card)
    assert "private chat" in element(card, "private")["text"]
    assert "activate Exchange-Admins" not in text and "What I can do" not in text  # not the 1:1 usage
    assert stack.connector.messages(act.personal_conversation(ALICE)["id"]) == []  # nothing in anyone's chat


async def test_a_group_chat_gets_a_welcome_that_says_what_works_there(stack: Stack) -> None:
    status, _ = await stack.post(act.group_chat_installation(stack.service_url))
    assert status in (200, 201)

    [card] = cards_in(stack, "19:oncall@thread.v2")
    assert element(card, "heading")["text"] == "Hello, I'm PIM Bot"
    assert maybe_element(card, "examples") is None  # the admin commands need a channel
    assert "“help”" in element(card, "here")["text"] and "channels" in element(card, "here")["text"]
    assert "private chat" in element(card, "private")["text"]


async def test_an_upgrade_and_the_membership_event_beside_the_install_say_nothing_again(stack: Stack) -> None:
    await stack.post(act.team_installation(stack.service_url))
    added = act.team_installation(stack.service_url)
    added.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    added.pop("action")
    await stack.post(added)
    await stack.post(act.team_installation(stack.service_url, action="add-upgrade"))
    assert len(cards_in(stack, "19:incidents@thread.tacv2")) == 1


async def test_the_personal_chat_still_gets_the_usage(stack: Stack) -> None:
    await stack.post(act.installation(stack.service_url))
    [card] = cards_in(stack, act.personal_conversation(ALICE)["id"])
    assert element(card, "heading")["text"] == "What I can do"


async def test_the_welcome_names_the_private_history_and_scheduling_commands_too(stack: Stack) -> None:
    """Issue 14 added `history` and activating later ("… tomorrow 9:00"): the welcome's list of what is answered in
    private names them, so a team does not learn of them only from the 1:1 help."""
    await stack.post(act.team_installation(stack.service_url))
    [card] = cards_in(stack, "19:incidents@thread.tacv2")
    private = element(card, "private")["text"]
    for command in ("“activate”", "“status”", "“history”"):
        assert command in private
    assert "tomorrow 9:00" in private  # scheduling: said by example, the way users type it
    assert len(private) < 400  # still short
