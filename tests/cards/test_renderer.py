"""Every golden card through the official Adaptive Cards JS renderer, strictly (local-clients.md §4 rules a–d).

Also: what the renderer hands the host when a button is clicked, fed back through `parse_action_data`, for current
clients (Action.Execute) and old ones (the Action.Submit fallback).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cards import CardAction, Verb, parse_action_data
from core.models import Access, Ticket
from tests.support.card_samples import EXCHANGE, GOLDEN, HR, SECOPS
from tests.support.renderer import MAX_CARD_BYTES, CardRenderer, hand_check, round_trip_diff

pytestmark = pytest.mark.browser

GOLDEN_DIR = Path(__file__).with_name("golden")
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


def golden(name: str) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return card


def test_there_are_golden_cards_to_check() -> None:
    assert {p.stem for p in GOLDEN_FILES} == set(GOLDEN)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_card_passes_strict_renderer_check(card_renderer: CardRenderer, path: Path) -> None:
    card = json.loads(path.read_text(encoding="utf-8"))
    assert card["version"] == "1.5"
    report = card_renderer.assert_strict(card)
    # Old clients see the same buttons, each its Action.Submit twin.
    assert report.old_client_buttons == report.buttons
    assert report.size < MAX_CARD_BYTES


# ---- the Execute/Submit pattern --------------------------------------------------------------------------------


def _card_with(action: dict[str, Any], *, in_action_set: bool = True) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "id": "t", "text": "x"}],
    }
    if in_action_set:
        card["body"].append({"type": "ActionSet", "id": "a", "actions": [action]})
    else:
        card["actions"] = [action]
    return card


def _deactivate_button() -> dict[str, Any]:
    button: dict[str, Any] = golden("activation_member")["body"][1]["items"][3]["actions"][0]
    assert button["id"] == "outcome-0-deactivate"
    return button


def test_string_fallback_from_the_docs_loses_the_button_on_old_clients(card_renderer: CardRenderer) -> None:
    button = dict(_deactivate_button(), fallback="Action.Submit")
    report = card_renderer.check(_card_with(button))
    assert report.buttons == ["Deactivate"]
    assert report.old_client_buttons == []
    assert any("without an Action.Submit fallback" in p for p in report.problems)


def test_object_fallback_in_an_action_set_is_what_the_cards_use(card_renderer: CardRenderer) -> None:
    report = card_renderer.assert_strict(_card_with(_deactivate_button()))
    assert report.old_client_buttons == ["Deactivate"]


def test_execute_without_fallback_is_reported(card_renderer: CardRenderer) -> None:
    button = {k: v for k, v in _deactivate_button().items() if k != "fallback"}
    report = card_renderer.check(_card_with(button))
    assert any("without an Action.Submit fallback" in p for p in report.problems)


# ---- the harness catches what the renderer drops silently --------------------------------------------------------


def test_unknown_property_is_caught_by_the_round_trip(card_renderer: CardRenderer) -> None:
    card = golden("help")
    card["body"][0]["colour"] = "red"
    report = card_renderer.check(card)
    assert "/body/0/colour: lost in the round trip (unknown or invalid property)" in report.problems


def test_invalid_enum_value_is_caught(card_renderer: CardRenderer) -> None:
    card = golden("help")
    card["body"][0]["size"] = "Huge"
    assert not card_renderer.check(card).ok


def test_wrongly_typed_value_is_caught(card_renderer: CardRenderer) -> None:
    card = golden("help")
    card["body"][1]["text"] = 42
    assert not card_renderer.check(card).ok


def test_table_would_be_fine_at_15_but_not_at_12(card_renderer: CardRenderer) -> None:
    card = golden("status_empty")
    card["body"].append({"type": "Table", "id": "tbl", "columns": [{"width": 1}], "rows": []})
    assert card_renderer.check(card).ok
    card["version"] = "1.2"
    assert not card_renderer.check(card).ok


def test_duplicate_ids_are_caught(card_renderer: CardRenderer) -> None:
    card = golden("help")
    card["body"][1]["id"] = card["body"][0]["id"]
    assert any("DuplicateId" in p for p in card_renderer.check(card).problems)


def test_required_input_without_label_is_caught(card_renderer: CardRenderer) -> None:
    card = golden("needs_ticket")
    ticket = next(e for e in card["body"] if e.get("id") == "ticket")
    del ticket["label"]
    assert any("RequiredInputsShouldHaveLabel" in p for p in card_renderer.check(card).problems)


def test_hand_checks_for_what_the_renderer_never_reports() -> None:
    card = golden("help")
    broken = copy.deepcopy(card)
    del broken["type"], broken["version"]
    broken["body"][0].pop("type")
    problems = hand_check(broken)
    assert any(p.startswith("/type") for p in problems)
    assert any(p.startswith("/version") for p in problems)
    assert "/body/0 has no 'type'" in problems
    assert hand_check(dict(card, version="1.6"))[0].startswith("/version 1.6 is above 1.5")
    assert hand_check(dict(card, msteams={"width": "Wide"}))
    big = dict(card, body=card["body"] * 40)
    assert any("bytes serialized" in p for p in hand_check(big))
    # A mention Teams would not show: its <at> text is not in the card, or it lacks the mentioned id.
    mentioned = golden("approval_approver")
    assert hand_check(mentioned) == []
    entity = mentioned["msteams"]["entities"][0]
    elsewhere = dict(mentioned, msteams={"width": "Full", "entities": [dict(entity, text="<at>Bob</at>")]})
    assert any("does not appear in the card's text" in p for p in hand_check(elsewhere))
    anonymous = dict(mentioned, msteams={"width": "Full", "entities": [dict(entity, mentioned={"name": "Alice"})]})
    assert any("is not a mention" in p for p in hand_check(anonymous))


def test_round_trip_diff_ignores_only_the_documented_differences() -> None:
    sent = {"version": "1.5", "$schema": "s", "msteams": {"width": "Full"}, "body": [{"type": "X", "items": []}]}
    assert round_trip_diff(sent, {"body": [{"type": "X"}]}) == []
    assert round_trip_diff({"body": [{"wrap": True}]}, {"body": [{"wrap": 1}]}) == [
        "/body/0/wrap: sent True, renderer has 1"
    ]


# ---- clicking: what the bot receives ---------------------------------------------------------------------------


def test_deactivate_click_parses_to_the_same_action_on_new_and_old_clients(card_renderer: CardRenderer) -> None:
    card = golden("activation_member")
    new = card_renderer.click(card, "Deactivate")
    old = card_renderer.click(card, "Deactivate", old_client=True)
    assert new is not None and old is not None
    assert (new["type"], new["verb"]) == ("Action.Execute", "deactivate")
    assert old["type"] == "Action.Submit"
    expected = CardAction(Verb.DEACTIVATE, EXCHANGE.id, EXCHANGE.display_name, Access.MEMBER)
    assert parse_action_data(new["data"], verb=new["verb"]) == expected
    assert parse_action_data(old["data"]) == expected


def test_activate_for_policy_maximum_click(card_renderer: CardRenderer) -> None:
    executed = card_renderer.click(golden("activation_over_max"), "Activate for 8 h")
    assert executed is not None
    action = parse_action_data(executed["data"], verb=executed["verb"])
    assert (action.verb, action.group_id, action.duration) == (Verb.ACTIVATE, EXCHANGE.id, timedelta(hours=8))


def test_expiry_warning_send_it_again_is_the_same_request_on_new_and_old_clients(card_renderer: CardRenderer) -> None:
    card = golden("approval_expiry_warning")
    expected = CardAction(
        Verb.ACTIVATE,
        SECOPS.id,
        SECOPS.display_name,
        Access.MEMBER,
        timedelta(hours=2),
        "INC-4711 containment",
        Ticket("INC-4711"),
    )
    for old_client in (False, True):
        executed = card_renderer.click(card, "Send it again", old_client=old_client)
        assert executed is not None
        assert parse_action_data(executed["data"], verb=executed.get("verb")) == expected


def test_needs_input_submits_typed_values_with_what_was_known(card_renderer: CardRenderer) -> None:
    card = golden("needs_ticket")  # justification given in the command, ticket missing
    for old_client in (False, True):
        executed = card_renderer.click(card, "Activate", {"ticket": "CHG-0042"}, old_client=old_client)
        assert executed is not None
        action = parse_action_data(executed["data"], verb=executed["verb"])
        assert action == CardAction(
            Verb.ACTIVATE,
            HR.id,
            HR.display_name,
            Access.MEMBER,
            None,
            "quarterly access review",
            Ticket("CHG-0042"),
        )


def test_needs_input_refuses_to_submit_empty_required_inputs(card_renderer: CardRenderer) -> None:
    card = golden("needs_both")
    assert card_renderer.click(card, "Activate") is None
    assert card_renderer.click(card, "Activate", {"justification": "patch window"}) is None
    executed = card_renderer.click(card, "Activate", {"justification": "patch\nwindow", "ticket": "INC-4711"})
    assert executed is not None
    action = parse_action_data(executed["data"], verb=executed["verb"])
    assert (action.justification, action.ticket, action.duration) == (
        "patch\nwindow",
        Ticket("INC-4711"),
        timedelta(hours=1),
    )
