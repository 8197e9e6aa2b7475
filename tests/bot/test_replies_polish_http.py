"""Issue 11, point 9, through POST /api/messages: what the user typed is on the card that asks for the rest, and a
typed `cancel` asks once before it withdraws a request."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import Stack
from tests.bot.test_activation_http import say, self_activations
from tests.cards.cardtools import element, walk
from tests.fakes import activities as act


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in walk(card) if str(o.get("type", "")).startswith("Input.")}


async def test_a_ticket_in_the_command_is_filled_in_on_the_card_that_asks_for_the_justification(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 1h ticket INC-1')

    shown = inputs(card)
    assert list(shown) == ["justification", "ticket"]
    assert shown["ticket"]["value"] == "INC-1" and "value" not in shown["justification"]
    assert "needs a justification" in element(card, "heading")["text"]  # what is missing, not what was given
    # The user adds the justification and submits: the inputs, as Teams merges them into the button's data.
    button = element(card, "submit")
    data = {**button["data"], "justification": "rollout", "ticket": shown["ticket"]["value"]}
    status, body = await stack.post(act.card_execute(stack.service_url, "activate", data, "needs-card"))
    assert status == 200 and body["statusCode"] == 200, body
    assert element(body["value"], "outcome-0-state")["text"] == "Active"
    [request] = self_activations(stack)
    assert request["justification"] == "rollout" and request["ticketInfo"]["ticketNumber"] == "INC-1"
