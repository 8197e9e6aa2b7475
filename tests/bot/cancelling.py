"""A typed `cancel <group>`, confirmed: the command asks first (issue 11, point 9); tests that only need the request
cancelled answer the question as a person would."""

from __future__ import annotations

from tests.bot.conftest import Stack
from tests.cards.cardtools import element, maybe_element
from tests.fakes import activities as act
from tests.fakes.activities import ALICE, TeamsUser


async def cancel_typed(stack: Stack, group: str = "Security-Operators", user: TeamsUser = ALICE) -> int:
    """Type `cancel <group>`, then press Cancel request on each question it asks, as an older client does (the
    Action.Submit twin: the answer arrives in the chat as text). The HTTP status of the last POST."""
    chat = act.personal_conversation(user)["id"]
    before = len(stack.connector.messages(chat))
    status, _ = await stack.post(act.message(stack.service_url, f"cancel {group}", user))
    for asked in stack.connector.messages(chat)[before:]:
        if asked.card is None or maybe_element(asked.card, "outcome-0-keep") is None:
            continue
        button = element(asked.card, "outcome-0-cancel")["fallback"]
        status, _ = await stack.post(act.card_submit(stack.service_url, button["data"], asked.activity_id, user))
    return status
