"""Button data: what the cards send, and `parse_action_data` refusing everything else (card data is untrusted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cards.actions import (
    CardAction,
    DecisionAction,
    InvalidCardAction,
    Verb,
    activate_data,
    deactivate_button,
    deactivate_data,
    execute_button,
    parse_action_data,
    parse_click,
)
from cards.elements import to_json
from core.models import Access, Ticket
from tests.support.card_samples import EXCHANGE, GOLDEN, TEAMS
from tests.support.cards import buttons


def activate(**overrides: Any) -> dict[str, Any]:
    data = activate_data(EXCHANGE, Access.MEMBER, timedelta(hours=2))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def test_activate_data_round_trips() -> None:
    data = activate_data(
        TEAMS, Access.OWNER, timedelta(minutes=90), justification="INC-4711 rollout", ticket=Ticket("INC-4711", "SNOW")
    )
    assert data == {
        "pim": 1,
        "groupId": TEAMS.id,
        "groupName": "Teams Admins",
        "access": "owner",
        "durationMinutes": 90,
        "justification": "INC-4711 rollout",
        "ticket": "INC-4711",
        "ticketSystem": "SNOW",
    }
    assert parse_action_data(data, verb="activate") == CardAction(
        Verb.ACTIVATE,
        TEAMS.id,
        "Teams Admins",
        Access.OWNER,
        timedelta(minutes=90),
        "INC-4711 rollout",
        Ticket("INC-4711", "SNOW"),
    )


def test_policy_maximum_is_null_duration() -> None:
    data = activate_data(EXCHANGE, Access.MEMBER, None)
    assert data["durationMinutes"] is None
    assert parse_action_data({**data, "verb": "activate"}).duration is None


def test_deactivate_data_round_trips() -> None:
    data = deactivate_data(EXCHANGE, Access.MEMBER)
    assert parse_action_data(data, verb="deactivate") == CardAction(
        Verb.DEACTIVATE, EXCHANGE.id, "Exchange-Admins", Access.MEMBER
    )


def test_submit_fallback_carries_the_same_data_plus_verb() -> None:
    button = to_json(execute_button("b", "Go", Verb.ACTIVATE, activate()))
    assert button["type"] == "Action.Execute" and button["verb"] == "activate"
    fallback = button["fallback"]
    assert fallback == {
        "type": "Action.Submit",
        "id": "b-submit",
        "title": "Go",
        "data": {**activate(), "verb": "activate"},
    }


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_button_on_every_card_parses_both_ways(name: str) -> None:
    for button in buttons(GOLDEN[name]()):
        fallback = button["fallback"]
        assert fallback["type"] == "Action.Submit"
        assert fallback["title"] == button["title"]
        assert fallback["data"] == {**button["data"], "verb": button["verb"]}
        assert parse_click(button["data"], verb=button["verb"]) == parse_click(fallback["data"])


def test_inputs_merged_by_teams_are_read_and_trimmed() -> None:
    action = parse_action_data(activate(justification="  patch window \n", ticket=" CHG-1 "), verb="activate")
    assert (action.justification, action.ticket) == ("patch window", Ticket("CHG-1"))
    blank = parse_action_data(activate(justification="   ", ticket=""), verb="activate")
    assert (blank.justification, blank.ticket) == (None, None)


FORGED: list[tuple[str, object, str | None]] = [
    ("not an object", ["pim", 1], "activate"),
    ("foreign card data", {"action": "approve", "requestId": "x"}, "approve"),
    ("no marker", {k: v for k, v in activate().items() if k != "pim"}, "activate"),
    ("marker true", activate(pim=True), "activate"),
    ("future format", activate(pim=2), "activate"),
    ("no verb anywhere", activate(), None),
    ("unknown verb", activate(), "approve"),
    ("verbs disagree", activate(verb="deactivate"), "activate"),
    ("verb not text", activate(verb=1), None),
    ("group id with a path", activate(groupId="../users/x"), "activate"),
    ("group id empty", activate(groupId=""), "activate"),
    ("group id not text", activate(groupId=7), "activate"),
    ("group name missing", activate(groupName=...), "activate"),
    ("group name blank", activate(groupName="   "), "activate"),
    ("group name too long", activate(groupName="x" * 300), "activate"),
    ("group name with a newline", activate(groupName="a\nb"), "activate"),
    ("access admin", activate(access="admin"), "activate"),
    ("access capitalised", activate(access="Member"), "activate"),
    ("access a list", activate(access=["member"]), "activate"),
    ("access an object", activate(access={"member": 1}), "activate"),
    ("duration missing", activate(durationMinutes=...), "activate"),
    ("duration bool", activate(durationMinutes=True), "activate"),
    ("duration text", activate(durationMinutes="120"), "activate"),
    ("duration float", activate(durationMinutes=90.5), "activate"),
    ("duration zero", activate(durationMinutes=0), "activate"),
    ("duration negative", activate(durationMinutes=-5), "activate"),
    ("duration a year", activate(durationMinutes=525600), "activate"),
    ("justification too long", activate(justification="x" * 501), "activate"),
    ("justification not text", activate(justification=["a"]), "activate"),
    ("ticket with newline", activate(ticket="A\nB"), "activate"),
    ("ticket system alone", activate(ticketSystem="SNOW"), "activate"),
    ("extra key", activate(principalId="someone-else"), "activate"),
    ("actor smuggled in", activate(actor={"object_id": "x"}), "activate"),
    ("deactivate with duration", {**deactivate_data(EXCHANGE, Access.MEMBER), "durationMinutes": 5}, "deactivate"),
    ("deactivate with justification", {**deactivate_data(EXCHANGE, Access.MEMBER), "justification": "x"}, "deactivate"),
]


@pytest.mark.parametrize(("data", "verb"), [(d, v) for _, d, v in FORGED], ids=[n for n, _, _ in FORGED])
def test_forged_or_malformed_data_is_rejected(data: Any, verb: str | None) -> None:
    with pytest.raises(InvalidCardAction) as raised:
        parse_action_data(data, verb=verb)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value).startswith("invalid card action data: ")
    assert "button" in raised.value.user_message


def test_control_characters_typed_into_text_fields_are_removed() -> None:
    data = activate(
        justification="roll\x00out\x1b[1m\n\tnow\x85", ticket="INC-\x074711", groupName="Exchange\x7f-Admins"
    )
    action = parse_action_data(data, verb="activate")
    assert (action.justification, action.ticket, action.group_name) == (
        "rollout[1m\n\tnow",
        Ticket("INC-4711"),
        "Exchange-Admins",
    )
    click = parse_click({"pim": 1, "requestId": "req-1", "reason": "ok\x00 for now\x9b"}, verb="approve")
    assert click == DecisionAction(Verb.APPROVE, "req-1", "ok for now")
    with pytest.raises(InvalidCardAction):
        parse_action_data(activate(justification="\x00\x01", groupName="\x00"), verb="activate")  # nothing left


def test_rejection_message_does_not_echo_large_values() -> None:
    with pytest.raises(InvalidCardAction) as raised:
        parse_action_data(activate(groupId="A" * 5000), verb="activate")
    assert len(str(raised.value)) < 200


def test_deactivate_button_ids() -> None:
    button = to_json(deactivate_button("x-deactivate", EXCHANGE, Access.OWNER))
    assert (button["id"], button["fallback"]["id"], button["title"]) == (
        "x-deactivate",
        "x-deactivate-submit",
        "Deactivate",
    )
    assert button["data"]["access"] == "owner"


def test_decision_clicks_parse_to_a_request_id_and_a_trimmed_reason() -> None:
    data = {"pim": 1, "requestId": "req-1", "reason": "  ok for the patch window \n"}
    assert parse_click(data, verb="approve") == DecisionAction(Verb.APPROVE, "req-1", "ok for the patch window")
    assert parse_click({**data, "verb": "deny"}) == DecisionAction(Verb.DENY, "req-1", "ok for the patch window")
    assert parse_click({"pim": 1, "requestId": "req-1"}, verb="refresh") == DecisionAction(Verb.REFRESH, "req-1")
    with pytest.raises(InvalidCardAction):
        parse_action_data(data, verb="approve")  # not an activation button
    for forged in ({"pim": 1, "requestId": "../x"}, {"pim": 1, "requestId": "r", "groupId": "g"}, {"requestId": "r"}):
        with pytest.raises(InvalidCardAction):
            parse_click(forged, verb="approve")
