"""Odd but harmless input over HTTP (issue 10, point 8): malformed mention entities and non-object invoke values get
a kind answer, never "Sorry, something went wrong"; control characters never reach a card or Graph; a click on
someone else's card names the group, never shows its id."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools.teams import activities as act
from tests.support.cards import buttons, card_text, element
from tests.support.chat import EXCHANGE, say, self_activations
from tests.support.stack import Stack

SORRY = "something went wrong"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def everything_said(stack: Stack) -> str:
    return json.dumps([r.body for r in stack.connector.messages()])


@pytest.mark.parametrize(
    "entities",
    [
        [{"type": "mention", "mentioned": "PIM Bot", "text": 5}],
        [{"type": "mention", "text": None, "mentioned": {"id": act.BOT_ID, "name": 3}}],
        [{"type": "mention", "text": "<at>(a+)+$</at>", "mentioned": {"id": act.BOT_ID}}],
        [{"type": "mention", "text": "<at>[</at>", "mentioned": {"id": act.BOT_ID, "name": "["}}],
        [{"type": "mention"}],
        [{"type": 5}, {"type": None}, {}],
    ],
)
async def test_malformed_mention_entities_do_not_stop_the_command(stack: Stack, entities: list[Any]) -> None:
    activity = act.channel_message(stack.service_url, "help")
    activity["entities"] = entities
    status, _ = await stack.post(activity)
    assert status == 201
    [reply] = stack.connector.messages()
    assert reply.card is not None and "activate" in card_text(reply.card)
    assert SORRY not in everything_said(stack)


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        5,
        "activate",
        None,
        {"action": "activate"},
        {"action": [1]},
        {"action": {"verb": 5, "data": "str"}},
        {"action": {"verb": "activate", "data": [1]}},
        {"action": {"verb": "activate", "data": {"pim": 1, "groupId": [EXCHANGE], "access": {}}}},
        {"action": {"verb": "deactivate", "data": {"pim": 1, "groupId": EXCHANGE, "groupName": "x", "access": []}}},
        {"action": {"verb": "approve", "data": {"pim": 1, "requestId": [1], "reason": 7}}},
        {"action": {"verb": "activate", "data": {"pim": 1.0, "durationMinutes": "60"}}},
        {"authentication": 5, "state": [1], "action": {"verb": None}},
    ],
)
async def test_odd_invoke_values_get_a_kind_answer_and_change_nothing(stack: Stack, value: Any) -> None:
    activity = act.card_execute(stack.service_url, "activate", {}, reply_to="a-1")
    activity["value"] = value
    status, body = await stack.post(activity)
    assert status == 200
    assert SORRY not in json.dumps(body) + everything_said(stack)
    assert "button did not work" in json.dumps(body)
    assert self_activations(stack) == []


@pytest.mark.parametrize("value", [[1, 2], 5, "activate", {"pim": "1", "verb": ["activate"]}])
async def test_odd_submit_values_get_a_kind_answer_and_change_nothing(stack: Stack, value: Any) -> None:
    status, _ = await stack.post(act.card_submit(stack.service_url, value, reply_to="a-1"))
    assert status == 201
    assert stack.connector.messages() and SORRY not in everything_said(stack)
    assert self_activations(stack) == []


async def test_control_characters_typed_in_a_command_reach_neither_the_card_nor_graph(stack: Stack) -> None:
    card = await say(
        stack, 'activate "Teams\x00 Admins" 90m because roll\x1b[31mout\x07 of\x7f INC-4711\x85 ticket INC-\x004711'
    )
    assert element(card, "outcome-0-state")["text"] == "Active"
    [request] = self_activations(stack)
    assert request["justification"] == "roll[31mout of INC-4711"
    assert request["ticketInfo"]["ticketNumber"] == "INC-4711"
    assert not CONTROL.search(everything_said(stack))


async def test_control_characters_typed_into_the_cards_inputs_are_removed_not_refused(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 90m')
    [execute] = [b for b in buttons(card) if b["type"] == "Action.Execute"]
    data = dict(execute["data"], justification="INC-4711\x00 roll\x0bout\x1b", ticket="INC-\x074711")
    status, body = await stack.post(act.card_execute(stack.service_url, "activate", data, reply_to="a-1"))
    assert status == 200
    assert element(body["value"], "outcome-0-state")["text"] == "Active"
    [request] = self_activations(stack)
    assert request["justification"] == "INC-4711 rollout"
    assert request["ticketInfo"]["ticketNumber"] == "INC-4711"
    assert not CONTROL.search(json.dumps(body) + everything_said(stack))


@pytest.mark.parametrize("verb", ["deactivate", "activate"])
async def test_a_click_on_someone_elses_card_names_the_group_never_its_id(stack: Stack, verb: str) -> None:
    card = await say(stack, "activate Exchange-Admins 1h")
    data = element(card, "outcome-0-deactivate")["data"]
    if verb == "activate":
        data = {**data, "durationMinutes": 60}
    stack.sim.tenant.advance(600)
    # Frank holds no eligibility for Exchange-Admins: the click acts as Frank, and is refused.
    status, body = await stack.post(act.card_execute(stack.service_url, verb, data, "a-1", act.FRANK))
    assert status == 200
    shown = json.dumps(body)
    assert "Exchange-Admins" in shown and not GUID.search(shown), shown
    assert element(body["value"], "outcome-0-state")["text"].startswith("Not ")
