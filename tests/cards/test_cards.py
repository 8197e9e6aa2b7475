"""What each card says and offers, asserted by element id."""

from __future__ import annotations

import ast
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cards import (
    activation_card,
    deactivation_card,
    help_card,
    help_text,
    needs_input_card,
    slip_card,
    status_card,
    summary_text,
)
from cards.actions import DecisionAction, InvalidCardAction, RunAction, Verb, parse_action_data, parse_click
from cards.activation import settled_activation_card
from core.commands import parse
from core.errors import DurationTooLong, NotActive, NotEligible, PolicyViolation
from core.models import Access, Eligibility, PimRequest, RequestStatus, Ticket
from core.outcomes import Refused
from tests.support import card_samples as samples
from tests.support.card_samples import EXCHANGE, GOLDEN, HR, NOW, TZ
from tests.support.cards import all_ids, buttons, element, maybe_element, request_id_of, walk

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"


def facts(card: dict[str, Any], element_id: str) -> dict[str, str]:
    return {f["title"]: f["value"] for f in element(card, element_id)["facts"]}


def texts(card: dict[str, Any]) -> str:
    return "\n".join(o["text"] for o in walk(card) if o.get("type") == "TextBlock")


# ---- invariants for every card ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_card_invariants(name: str) -> None:
    card = GOLDEN[name]()
    assert (card["type"], card["version"], card["msteams"]["width"]) == ("AdaptiveCard", "1.5", "Full")
    assert set(card["msteams"]) <= {"width", "entities"}  # mentions: shape checked by the renderer's hand checks
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["fallbackText"].strip()
    ids = all_ids(card)
    assert len(ids) == len(set(ids)), "ids must be unique"
    # Table cells (and what they hold) are found through their row's id: ids on every cell would cost a digest a
    # fifth of its rows.
    in_cells = {id(o) for row in walk(card) if row.get("type") == "TableRow" for o in walk(row["cells"])}
    content = {k: v for k, v in card.items() if k != "msteams"}  # mention entities are host data, not elements
    everything = [o for o in walk(content) if "type" in o and o["type"] != "AdaptiveCard" and id(o) not in in_cells]
    assert all("id" in o for o in everything), "every element and action has an id"
    assert len(json.dumps(card, ensure_ascii=False).encode()) < 28 * 1024
    for action in walk(card):
        if action.get("type", "").startswith("Action."):
            assert action["type"] in ("Action.Execute", "Action.Submit", "Action.OpenUrl")
            if action["type"] == "Action.OpenUrl":  # the step-up sign-in link (the bot's own page) or the PIM blade
                url = action["url"]
                assert url.startswith("https://")
                assert "/auth/stepup/start?state=" in url or url.startswith(
                    "https://entra.microsoft.com/#view/Microsoft_Azure_PIMCommon/"
                )
    for button in buttons(card):
        parent = next(o for o in walk(card) if button in o.get("actions", []))
        assert parent["type"] == "ActionSet", "Action.Execute lives in an ActionSet (older clients need it)"


def test_cards_do_not_import_transport_or_graph() -> None:
    forbidden = ("botbuilder", "botframework", "httpx", "aiohttp", "graph", "bot", "msal")
    for path in CARDS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for imported in names:
                assert imported.split(".")[0] not in forbidden, f"{path.name} imports {imported}"


# ---- activation --------------------------------------------------------------------------------------------------


def test_activated_member() -> None:
    card = GOLDEN["activation_member"]()
    assert element(card, "outcome-0-title")["text"] == "Exchange-Admins · Member"
    assert element(card, "outcome-0-state")["text"] == "Active"
    assert facts(card, "outcome-0-facts") == {
        "Starts": "Sun 22 Nov, 14:05 (CET)",
        "Ends": "Sun 22 Nov, 16:05 (CET)",
        "Duration": "2 h",
    }
    assert request_id_of(card, "outcome-0-request") == "a6f3c2d1-0e9b-4a8c-b7d6-e5f4a3b2c1d0"
    assert maybe_element(card, "outcome-0-note") is None
    button = element(card, "outcome-0-deactivate")
    assert (button["title"], button["verb"]) == ("Deactivate", "deactivate")
    assert parse_action_data(button["data"], verb="deactivate").group_id == EXCHANGE.id


def test_activated_owner_with_policy_maximum() -> None:
    card = GOLDEN["activation_owner_policy_max"]()
    assert element(card, "outcome-0-title")["text"] == "Teams Admins · Owner"
    assert element(card, "outcome-0-note")["text"] == "Used the policy maximum of 8 h."
    assert parse_action_data(element(card, "outcome-0-deactivate")["data"], verb="deactivate").access is Access.OWNER


def test_awaiting_approval_names_the_approvers() -> None:
    card = GOLDEN["activation_awaiting_approval"]()
    assert element(card, "outcome-0-state")["text"] == "Waiting for approval"
    assert element(card, "outcome-0-message")["text"] == "Submitted, waits for approval by Bob Builder, PIM-Approvers."
    assert facts(card, "outcome-0-facts") == {
        "Duration": "1 h",
        "Request expires (if nobody decides)": "Mon 23 Nov, 14:05 (CET)",
    }
    assert request_id_of(card, "outcome-0-request") == "c8f5e4d3-2a1b-4cae-9d8f-a7b6c5d4e3f2"
    # The requester may withdraw it: one Cancel button carrying only the request id.
    [cancel] = buttons(card)
    assert cancel["id"] == "outcome-0-cancel" and cancel["verb"] == "cancel"
    assert parse_click(cancel["data"], verb="cancel") == DecisionAction(
        Verb.CANCEL, "c8f5e4d3-2a1b-4cae-9d8f-a7b6c5d4e3f2"
    )
    assert parse_click(cancel["fallback"]["data"]) == DecisionAction(
        Verb.CANCEL, "c8f5e4d3-2a1b-4cae-9d8f-a7b6c5d4e3f2"
    )


def test_over_maximum_offers_the_maximum() -> None:
    card = GOLDEN["activation_over_max"]()
    assert element(card, "outcome-0-state")["text"] == "Not activated"
    assert element(card, "outcome-0-message")["text"] == (
        "The PIM policy for Exchange-Admins allows at most 8 h; you asked for 10 h."
    )
    button = element(card, "outcome-0-activate-max")
    assert button["title"] == "Activate for 8 h"
    action = parse_action_data(button["data"], verb=button["verb"])
    assert (action.group_id, action.access, action.duration) == (EXCHANGE.id, Access.MEMBER, timedelta(hours=8))


def test_over_maximum_without_a_known_maximum_or_group_has_no_button() -> None:
    unknown_max = Refused("Exchange-Admins", Access.MEMBER, DurationTooLong(timedelta(hours=10), None), EXCHANGE)
    no_group = Refused("Exchange-Admins", Access.MEMBER, DurationTooLong(timedelta(hours=10), timedelta(hours=8)))
    assert buttons(activation_card([unknown_max, no_group], TZ)) == []


def test_unavailable_says_nothing_changed() -> None:
    card = GOLDEN["activation_unavailable"]()
    assert element(card, "outcome-0-message")["text"].startswith(
        "Microsoft Graph is not answering right now; nothing was changed."
    )


def test_several_groups_one_section_each_in_order() -> None:
    card = GOLDEN["activation_mixed"]()
    assert element(card, "heading")["text"] == "Activation of 6 groups"
    states = [element(card, f"outcome-{i}-state")["text"] for i in range(6)]
    assert states == [
        "Active",
        "Waiting for approval",
        "Needs more information",
        "Not activated",
        "Not activated",
        "Not activated",
    ]
    assert element(card, "outcome-2-message")["text"] == "Needs a justification — see the card below."
    assert "Did you mean Exchange-Admins or Teams Admins?" in element(card, "outcome-3-message")["text"]
    assert [b["id"] for b in buttons(card)] == ["outcome-0-deactivate", "outcome-1-cancel", "outcome-4-activate-max"]
    assert card["fallbackText"].splitlines()[0] == ("Exchange-Admins (member): active until Sun 22 Nov, 16:05 (CET).")
    assert len(card["fallbackText"].splitlines()) == 6


def test_policy_violation_section() -> None:
    refused = Refused("Exchange-Admins", Access.MEMBER, PolicyViolation(["TicketingRule"]), EXCHANGE)
    card = activation_card([refused], TZ)
    assert element(card, "outcome-0-message")["text"] == (
        "The PIM policy for Exchange-Admins refused the request: ticket information is required."
    )


# ---- needs input -------------------------------------------------------------------------------------------------


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in walk(card) if o.get("type", "").startswith("Input.")}


def test_needs_justification_only() -> None:
    card = GOLDEN["needs_justification"]()
    assert list(inputs(card)) == ["justification", "ticket"]
    field = inputs(card)["justification"]
    assert field == {
        "type": "Input.Text",
        "id": "justification",
        "label": "Justification",
        "placeholder": "Why do you need access? e.g. INC-4711 rollout",
        "isMultiline": True,
        "maxLength": 500,
        "isRequired": True,
        "errorMessage": "Please say why you need access.",
    }
    assert facts(card, "facts") == {"Group": "HR-Data-Readers", "Access": "Member", "Duration": "1 h"}
    submit = element(card, "submit")
    assert submit["title"] == "Activate"
    # The ticket the command carried is shown, filled in; both come from the inputs, neither from the button's data.
    assert inputs(card)["ticket"]["value"] == "INC-4711" and inputs(card)["ticket"]["isRequired"] is True
    assert "ticket" not in submit["data"] and "justification" not in submit["data"]


def test_needs_ticket_only_shows_the_justification_given_and_keeps_the_policy_maximum() -> None:
    card = GOLDEN["needs_ticket"]()
    assert list(inputs(card)) == ["justification", "ticket"]
    assert inputs(card)["ticket"]["isRequired"] is True and "value" not in inputs(card)["ticket"]
    assert inputs(card)["ticket"]["errorMessage"] and inputs(card)["ticket"]["label"] == "Ticket number"
    assert inputs(card)["justification"]["value"] == "quarterly access review"
    assert facts(card, "facts")["Duration"] == "Policy maximum"
    data = element(card, "submit")["data"]
    assert data["durationMinutes"] is None and "justification" not in data


def test_a_ticket_with_a_ticket_system_travels_unseen_since_no_input_edits_the_system() -> None:
    needs = samples.needs(True, False, ticket=Ticket("INC-7", "ServiceNow"))
    card = needs_input_card(needs, TZ)
    assert list(inputs(card)) == ["justification"]
    data = element(card, "submit")["data"]
    assert (data["ticket"], data["ticketSystem"]) == ("INC-7", "ServiceNow")


def test_needs_both() -> None:
    card = GOLDEN["needs_both"]()
    assert list(inputs(card)) == ["justification", "ticket"]
    assert element(card, "heading")["text"] == "HR-Data-Readers needs a justification and a ticket number"
    data = element(card, "submit")["data"]
    assert parse_action_data(data, verb="activate").group_id == HR.id


def test_needs_input_prefills_what_is_asked_again() -> None:
    card = needs_input_card(samples.needs(True, True, justification="draft reason", ticket=Ticket("INC-1")), TZ)
    assert inputs(card)["justification"]["value"] == "draft reason"
    assert inputs(card)["ticket"]["value"] == "INC-1"
    data = element(card, "submit")["data"]
    assert "justification" not in data and "ticket" not in data


# ---- deactivation ------------------------------------------------------------------------------------------------


def test_deactivated() -> None:
    card = GOLDEN["deactivation_done"]()
    assert element(card, "heading")["text"] == "Deactivation"
    assert element(card, "outcome-0-state")["text"] == "Deactivated"
    assert element(card, "outcome-0-message")["text"] == "Your member access to Exchange-Admins has ended."


def test_too_soon_keeps_the_activation_with_when_it_can_end_and_the_button() -> None:
    card = GOLDEN["deactivation_too_soon"]()
    assert element(card, "outcome-0-state")["text"] == "Still active"
    assert element(card, "outcome-0-state")["color"] == "Good"
    assert facts(card, "outcome-0-facts")["Ends"] == "Sun 22 Nov, 16:03 (CET)"
    assert element(card, "outcome-0-note")["text"] == (
        "You can deactivate from 14:09 (in 4 min). PIM does not end an activation in its first 5 minutes."
    )
    assert maybe_element(card, "outcome-0-message") is None
    assert element(card, "outcome-0-deactivate")["verb"] == "deactivate"


def test_too_soon_as_the_answer_to_the_activation_cards_button_is_that_activation_card() -> None:
    card = GOLDEN["activation_too_soon_to_deactivate"]()
    assert element(card, "heading")["text"] == "Activation"
    assert (element(card, "outcome-0-state")["text"], element(card, "outcome-0-state")["color"]) == ("Active", "Good")
    assert list(facts(card, "outcome-0-facts")) == ["Starts", "Ends", "Duration"]
    assert "from 14:09 (in 4 min)" in element(card, "outcome-0-note")["text"]
    assert [b["title"] for b in buttons(card)] == ["Deactivate"]


def test_not_active_is_said_in_a_neutral_colour() -> None:
    card = GOLDEN["deactivation_not_active"]()
    assert element(card, "outcome-0-message")["text"] == (
        "You have no active member access to Teams Admins, so there is nothing to deactivate."
    )
    assert (element(card, "outcome-0-state")["text"], element(card, "outcome-0-state")["color"]) == (
        "Nothing to deactivate",
        "Accent",
    )
    assert buttons(card) == []


def test_already_active_and_already_waiting_are_no_failures() -> None:
    card = GOLDEN["activation_already_active_or_waiting"]()
    states = [element(card, f"outcome-{i}-state") for i in range(2)]
    assert [(s["text"], s["color"]) for s in states] == [
        ("Already active", "Accent"),
        ("Already waiting for approval", "Accent"),
    ]
    assert "already active until Sun 22 Nov, 16:05" in element(card, "outcome-0-message")["text"]
    assert all(o.get("color") != "Attention" for o in walk(card))


def test_a_refusal_assigned_by_an_admin_is_neutral_and_a_real_refusal_stays_red() -> None:
    by_admin = deactivation_card([Refused("Tier0", Access.MEMBER, NotActive(assigned_by_admin=True))], TZ)
    assert element(by_admin, "outcome-0-state")["color"] == "Accent"
    refused = GOLDEN["activation_over_max"]()
    assert (element(refused, "outcome-0-state")["text"], element(refused, "outcome-0-state")["color"]) == (
        "Not activated",
        "Attention",
    )


def test_deactivating_an_unknown_group() -> None:
    card = deactivation_card([Refused("Payrol", Access.MEMBER, NotEligible("Payrol", ("Payroll",)))], TZ)
    assert element(card, "outcome-0-message")["text"].endswith("Did you mean Payroll?")


# ---- status ------------------------------------------------------------------------------------------------------


def test_status_full() -> None:
    card = GOLDEN["status_full"]()
    active = [
        (element(card, f"active-{i}-title")["text"], element(card, f"active-{i}-detail")["text"]) for i in range(3)
    ]
    assert active == [
        ("Exchange-Admins · Member", "until Sun 22 Nov, 15:45 (CET)"),
        ("HR-Data-Readers · Owner", "until Sat 19 Dec, 14:05 (CET), assigned by an admin"),
        ("Tier0-Break-Glass · Member", "permanent, assigned by an admin"),
    ]
    # Only activations can be ended by the user; only eligibilities in effect, neither active nor waiting, activated.
    assert [b["id"] for b in buttons(card)] == ["active-0-deactivate", "eligible-3-activate"]
    assert element(card, "pending-0-title")["text"] == "Security-Operators · Member"
    assert element(card, "pending-0-detail")["text"] == ("requested Sun 22 Nov, 13:53 (CET), for 1 h")
    eligible = {
        element(card, f"eligible-{i}-title")["text"]: element(card, f"eligible-{i}-detail")["text"] for i in range(4)
    }
    assert eligible == {
        "Exchange-Admins · Member": "until Wed 21 Apr 2027, 15:05 (CEST)",
        "HR-Data-Readers · Member": ("starts Tue 24 Nov, 14:05 (CET), until Mon 27 Dec 2027, 14:05 (CET)"),
        "Security-Operators · Member": ("until Thu 21 Jan 2027, 14:05 (CET) (through a group you are a member of)"),
        "Teams Admins · Owner": "permanent",
    }
    assert maybe_element(card, "active-empty") is None and maybe_element(card, "eligible-empty") is None


def test_status_is_sorted_whatever_graph_returned() -> None:
    view = samples.status_full()
    shuffled = type(view)(view.eligible[::-1], view.active[::-1], view.pending, view.group_names, view.now)
    assert status_card(shuffled, TZ) == status_card(view, TZ)


def test_status_with_nothing_active_suggests_a_real_group_and_each_eligible_row_activates() -> None:
    card = GOLDEN["status_nothing_active"]()
    assert element(card, "active-empty")["text"] == (
        "Nothing is active right now. Activate a group below, or type “activate Exchange-Admins 1h”."
    )
    titles = {element(card, f"eligible-{i}-title")["text"]: i for i in range(3)}
    assert list(titles) == ["Exchange-Admins · Member", "HR-Data-Readers · Member", "Teams Admins · Member"]
    assert [b["id"] for b in buttons(card)] == ["eligible-0-activate", "eligible-2-activate"]  # HR starts later
    click = parse_action_data(element(card, "eligible-2-activate")["data"], verb="activate")
    assert (click.group_name, click.access, click.duration) == ("Teams Admins", Access.MEMBER, None)  # policy maximum


def test_the_status_hint_quotes_a_name_with_spaces_and_says_owner() -> None:
    view = samples.status_nothing_active()
    owner_only = type(view)((Eligibility(samples.TEAMS, Access.OWNER, None, None),), (), (), view.group_names, view.now)
    hint = element(status_card(owner_only, TZ), "active-empty")["text"]
    assert hint.endswith('type “activate "Teams Admins" as owner 1h”.')


def test_status_empty_is_friendly() -> None:
    card = GOLDEN["status_empty"]()
    assert element(card, "active-empty")["text"] == "Nothing is active right now."
    assert "not eligible for any group" in element(card, "eligible-empty")["text"]
    assert maybe_element(card, "pending") is None
    assert card["fallbackText"] == "Active: nothing right now.\nEligible: no groups."


# ---- help --------------------------------------------------------------------------------------------------------


def test_help_lists_the_examples() -> None:
    card = GOLDEN["help"]()
    commands = [o["text"] for o in walk(card) if str(o.get("id", "")).endswith("-command")]
    assert commands[:5] == [
        "activate Exchange-Admins 2h",
        'activate "Teams Admins" 90m because INC-4711 rollout',
        "activate Exchange-Admins, Teams Admins 1h for patch window",
        "activate Exchange-Admins as owner 30m",
        "activate Security-Operators 1h reason: incident ticket INC-4711",
    ]
    assert {"deactivate Exchange-Admins", "status", "help"} <= set(commands)
    assert maybe_element(card, "reason") is None


def test_help_with_reason_shows_it_first_and_not_in_red() -> None:
    card = GOLDEN["help_with_reason"]()
    assert card["body"][0]["id"] == "reason"
    assert element(card, "reason")["text"].startswith("That button did not work")
    assert "color" not in element(card, "reason")
    assert card["fallbackText"].startswith("That button did not work")


def test_help_lists_the_admin_commands_to_admins_only() -> None:
    plain, admin = GOLDEN["help"](), GOLDEN["help_admin"]()
    assert maybe_element(plain, "admin") is None
    assert not any("feed" in o.get("text", "") or "approvals here" in o.get("text", "") for o in walk(plain))
    commands = [element(admin, f"admin-{i}-command")["text"] for i in range(3)]
    assert commands == ["feed here", "approvals here Security-Operators", "approvals status"]
    assert "in a Teams channel" in element(admin, "admin-heading")["text"]
    assert "Admins, in a channel: “feed here”" in admin["fallbackText"]
    # Everything a non-admin sees is there too: help stays complete.
    assert [o.get("text") for o in walk(plain) if o.get("id", "").startswith("example-")] == [
        o.get("text") for o in walk(admin) if o.get("id", "").startswith("example-")
    ]


# ---- slips --------------------------------------------------------------------------------------------------------


def _titles(card: dict[str, Any]) -> list[str]:
    return [b["title"] for b in buttons(card)]


def test_an_unknown_word_gets_one_line_and_buttons_from_the_users_own_groups() -> None:
    card = GOLDEN["slip_unknown_word"]()
    assert [o["id"] for o in card["body"]] == ["line", "suggestions"]  # not the help card
    assert element(card, "line")["text"] == (
        "I didn't understand “asdf”. Try one of these, or “help” for everything I can do."
    )
    # Exchange-Admins' policy is known to allow at most 30 min: the suggestion stays inside it.
    assert _titles(card) == ["Activate Exchange-Admins for 30 min", "Show status", "All commands"]
    assert not any(o.get("color") == "Attention" for o in walk(card))


def test_a_command_without_its_group_offers_the_groups_it_could_act_on() -> None:
    card = GOLDEN["slip_activate_without_group"]()
    assert element(card, "line")["text"] == (
        "Which group should I activate for 1 h? Choose one below, or type “activate Exchange-Admins 1h”."
    )
    # Not HR-Data-Readers (starts later), not Security-Operators (active already): what can be activated now.
    assert _titles(card) == ["Activate Exchange-Admins for 1 h", "Activate Teams Admins for 1 h", "Show status"]
    click = parse_action_data(element(card, "suggestion-1")["data"], verb="activate")
    assert (click.group_id, click.access, click.duration) == (samples.TEAMS.id, Access.MEMBER, timedelta(hours=1))


def test_a_bare_command_with_nothing_to_act_on_says_so() -> None:
    card = GOLDEN["slip_cancel_with_nothing_waiting"]()
    assert element(card, "line")["text"] == "You have no request waiting for approval, so there is nothing to cancel."
    assert _titles(card) == ["Show status", "All commands"]
    view = samples.slip_view()
    deactivate = slip_card(parse("deactivate"), view)
    assert element(deactivate, "line")["text"] == "Which group should I deactivate? Choose one below."
    assert _titles(deactivate) == ["Deactivate Security-Operators", "Show status", "All commands"]
    waiting = PimRequest("req-7", RequestStatus.PENDING_APPROVAL, "selfActivate", samples.TEAMS.id, Access.MEMBER, "u")
    cancel = slip_card(parse("cancel"), type(view)(view.eligible, view.active, (waiting,), view.group_names, NOW))
    assert _titles(cancel)[0] == "Cancel the Teams Admins request"
    assert parse_click(element(cancel, "suggestion-0")["data"], verb="cancel") == DecisionAction(Verb.CANCEL, "req-7")


def test_a_mistyped_verb_offers_the_command_it_would_have_been_as_a_button() -> None:
    card = GOLDEN["slip_mistyped_verb"]()
    assert element(card, "line")["text"] == (
        "I didn't understand “actvate”. Did you mean “activate exchange admins 2h because patching”?"
    )
    click = parse_action_data(element(card, "suggestion-0")["data"], verb="activate")
    assert (click.group_name, click.duration, click.justification) == (
        "Exchange-Admins",
        timedelta(hours=2),
        "patching",
    )
    assert _titles(slip_card(parse("stauts"), samples.slip_view()))[0] == "Show status"


def test_thanks_is_welcome() -> None:
    card = slip_card(parse("thanks"), samples.slip_view())
    assert element(card, "line")["text"] == "You're welcome! Anything else?"
    assert len(buttons(card)) == 3


def test_a_slip_without_the_users_groups_still_offers_status_and_help() -> None:
    card = slip_card(parse("asdf"), None)
    assert _titles(card) == ["Show status", "All commands"]


def test_a_slip_in_a_channel_shows_nothing_of_the_users_access() -> None:
    card = GOLDEN["slip_in_a_channel"]()
    assert _titles(card) == ["All commands"]
    assert "private chat" in element(card, "line")["text"]
    # Given the user's groups anyway, a shared conversation's card does not use them.
    assert slip_card(parse("activate 1h"), samples.slip_view(), where="channel") == card


def test_run_buttons_run_only_commands_without_a_group() -> None:
    card = GOLDEN["slip_unknown_word"]()
    assert parse_click(element(card, "suggestion-1")["data"], verb="run") == RunAction("status")
    assert parse_click({**element(card, "suggestion-2")["data"], "verb": "run"}) == RunAction("help")
    for bad in ({"command": "activate Exchange-Admins 8h"}, {"command": "status", "text": "x"}, {"command": 1}):
        with pytest.raises(InvalidCardAction):
            parse_click({"pim": 1, **bad}, verb="run")
    with pytest.raises(InvalidCardAction):
        parse_action_data({"pim": 1, "command": "status"}, verb="run")


def test_a_typos_suggestions_are_buttons_carrying_what_the_command_said() -> None:
    card = GOLDEN["activation_typo_suggestions"]()
    assert element(card, "outcome-0-message")["text"].endswith("Did you mean Exchange-Admins or Teams Admins?")
    # Teams Admins is suggested by name, but only Exchange-Admins can be activated by this user now.
    assert _titles(card) == ["Activate Exchange-Admins for 2 h"]
    click = parse_action_data(element(card, "outcome-0-suggestion-0")["data"], verb="activate")
    assert (click.group_id, click.duration, click.justification) == (EXCHANGE.id, timedelta(hours=2), "patching")
    refused = Refused(
        "Exchnage",
        Access.MEMBER,
        NotEligible("Exchnage", ("Exchange-Admins",), alternatives=[(EXCHANGE, Access.MEMBER)]),
    )
    deactivate = deactivation_card([refused], TZ)
    assert element(deactivate, "outcome-0-suggestion-0")["verb"] == "deactivate"


def test_help_examples_parse_as_commands() -> None:
    from core.commands import (
        Activate,
        ApprovalChannel,
        AuditExport,
        Cancel,
        Deactivate,
        Feed,
        Help,
        History,
        Pending,
        Status,
        parse,
    )

    kinds = Activate | Deactivate | Status | Help | Cancel | Pending | ApprovalChannel | Feed | History | AuditExport
    for o in walk(help_card(admin=True)):
        if str(o.get("id", "")).endswith("-command"):
            assert isinstance(parse(o["text"]), kinds), o["text"]
            assert not (isinstance(parse(o["text"]), Help) and o["text"] != "help"), o["text"]


@pytest.mark.parametrize("where", ["channel", "groupChat"])
def test_help_in_a_shared_conversation_offers_only_what_is_answered_there(where: str) -> None:
    from core.commands import ApprovalChannel, Feed, Help, parse

    card = help_card(None, where=where)
    commands = [parse(o["text"]) for o in walk(card) if str(o.get("id", "")).endswith("-command")]
    assert commands and all(isinstance(c, Feed | ApprovalChannel | Help) for c in commands), commands
    assert not [c for c in commands if isinstance(c, Help) and c.reason]
    if where == "groupChat":  # the admin commands need a channel
        assert commands == [Help()]
    assert "private chat" in element(card, "intro")["text"] and "private chat" in card["fallbackText"]
    assert maybe_element(card, "footer") is None  # durations are for the 1:1 chat


# ---- plain text ----------------------------------------------------------------------------------------------------


def test_summary_text_matches_the_cards() -> None:
    assert summary_text([samples.awaiting_approval()], TZ) == (
        "Security-Operators (member): submitted, waits for approval by Bob Builder, PIM-Approvers."
    )
    assert summary_text(samples.needs(True, True), TZ) == (
        "HR-Data-Readers (member): the PIM policy asks for a justification and a ticket number before it activates."
    )
    assert summary_text([], TZ) == "Nothing to report."
    assert help_text().startswith("Try: “activate Exchange-Admins 2h”")
    assert GOLDEN["status_full"]()["fallbackText"].splitlines()[0].startswith("Active: Exchange-Admins (member) until")


def test_utc_when_no_zone_is_known() -> None:
    card = activation_card([samples.activated_member()], None)
    assert facts(card, "outcome-0-facts")["Starts"] == "Sun 22 Nov, 13:05 (UTC)"
    assert NOW.hour == 13


def test_a_settled_request_loses_only_its_own_cancel_button_and_waiting_line() -> None:
    waiting = samples.awaiting_approval()
    sent = activation_card([samples.activated_member(), waiting], TZ)
    before = json.dumps(sent)

    settled = settled_activation_card(
        sent, waiting.request.id, "Cancelled", "Cancelled by the requester.", color="Warning", fallback="SecOps: gone"
    )

    assert json.dumps(sent) == before  # the stored card is not changed in place
    assert maybe_element(settled, "outcome-1-cancel") is None and maybe_element(settled, "outcome-1-actions") is None
    assert element(settled, "outcome-1-state")["text"] == "Cancelled"
    assert element(settled, "outcome-1-state")["color"] == "Warning"
    assert element(settled, "outcome-1-message")["text"] == "Cancelled by the requester."
    # It no longer lapses: its expiry goes, the rest of its facts stay.
    assert facts(settled, "outcome-1-facts") == {"Duration": "1 h"}
    assert "Request expires (if nobody decides)" in facts(sent, "outcome-1-facts")
    assert element(settled, "outcome-0") == element(sent, "outcome-0")  # Exchange-Admins keeps its Deactivate button
    first, second = sent["fallbackText"].split("\n")
    assert settled["fallbackText"] == f"{first}\nSecOps: gone" and "waits for approval" in second


def test_settling_another_request_changes_nothing() -> None:
    sent = activation_card([samples.awaiting_approval()], TZ)
    assert settled_activation_card(sent, "another-request", "Approved", "x", color="Good", fallback="y") == sent


def test_the_expiry_warning_says_when_once() -> None:
    card = GOLDEN["approval_expiry_warning"]()
    shown = json.dumps(card["body"], ensure_ascii=False)
    when = element(card, "message")["text"].rsplit("expires at ", 1)[1].rstrip(".")
    assert shown.count(when) == 1, shown
    assert request_id_of(card, "request-id") == "c3b2a1f0-9e8d-4c7b-8a69-5f4e3d2c1b0a"
