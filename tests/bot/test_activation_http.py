"""Activation, deactivation, status and help, through POST /api/messages with Teams-shaped activities.

The simulated tenant enforces Graph's rules and records who called what; the fake Bot Connector records replies.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, FRANK
from tests.support.cards import buttons, card_text, element, facts, maybe_element, request_id_of
from tests.support.chat import assignment_requests, say, self_activations
from tests.support.stack import Stack
from tests.support.state import StateFile

TEAMS_ADMINS = "bbbbbbbb-0000-4000-8000-000000000002"


def graph_log(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.sim.tenant.log.recent())


async def test_activate_activates_as_the_user_and_answers_without_a_typing_indicator(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins 2h")

    kinds = [r.type for r in stack.connector.sent]
    assert kinds == ["message"]  # ready within half a second: no typing indicator (bot.transport.typing)
    assert element(card, "outcome-0-state")["text"] == "Active"
    f = facts(card, "outcome-0-facts")
    # In Alice's zone (Berlin), the way her en-US client reads times (point 10): "Mon, Dec 7, 8:10 AM (CET)".
    assert re.fullmatch(r"[A-Z][a-z]{2}, [A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2} [AP]M \(CES?T\)", f["Ends"]), f["Ends"]
    [request] = self_activations(stack)
    assert request["principalId"] == ALICE.oid
    assert request["scheduleInfo"]["expiration"]["duration"] == "PT2H"
    assert request_id_of(card, "outcome-0-request") == request["id"]
    # Graph saw the user's delegated token for the write, never the app's, and no admin action happened.
    writes = [e for e in graph_log(stack) if e["method"] == "POST" and "assignmentScheduleRequests" in e["path"]]
    assert writes and all(e["caller"] == "user" and e["oid"] == ALICE.oid for e in writes)
    assert not [r for r in assignment_requests(stack) if r["action"].startswith("admin")]
    assert [b["title"] for b in buttons(card)] == ["Deactivate"]


async def test_no_duration_uses_the_policy_maximum_and_says_so(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins")
    assert "8 h" in card_text(card) and "maximum" in card_text(card).lower()
    [request] = self_activations(stack)
    assert request["scheduleInfo"]["expiration"]["duration"] == "PT8H"


async def test_unknown_group_suggests_the_closest_eligible_names(stack: Stack) -> None:
    card = await say(stack, "activate Exchnge-Admin 1h")
    message = element(card, "outcome-0-message")["text"]
    assert "Exchnge-Admin" in message and "Exchange-Admins" in message
    assert self_activations(stack) == []


async def test_over_the_maximum_is_refused_with_the_maximum_named_and_a_button_for_it(stack: Stack) -> None:
    card = await say(stack, "activate Helpdesk-Tier1 10h")  # cold: the policy is read first, nothing is sent
    assert "at most 8 h" in element(card, "outcome-0-message")["text"]
    card = await say(stack, "activate Helpdesk-Tier1 10h")  # warm: the cached policy is read again, then refuses
    assert "at most 8 h" in element(card, "outcome-0-message")["text"]
    assert _activation_posts(stack) == []
    [button] = [b for b in buttons(card) if b["type"] == "Action.Execute"]
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], reply_to="activity-x")
    )
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert element(body["value"], "outcome-0-state")["text"] == "Active"
    assert [r["scheduleInfo"]["expiration"]["duration"] for r in self_activations(stack)] == ["PT8H"]


def _activation_posts(stack: Stack) -> list[dict[str, Any]]:
    return [e for e in graph_log(stack) if e["method"] == "POST" and "assignmentScheduleRequests" in e["path"]]


async def test_missing_justification_and_ticket_ask_for_exactly_those_then_the_submit_activates(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 90m')
    inputs = [e for e in _walk(card) if str(e.get("type", "")).startswith("Input.")]
    assert sorted(i["id"] for i in inputs) == ["justification", "ticket"]
    assert self_activations(stack) == []
    # An older client clicks the Action.Submit fallback: a message whose value is the data plus the inputs.
    [execute] = [b for b in buttons(card) if b["type"] == "Action.Execute"]
    submit = execute["fallback"]
    assert submit["type"] == "Action.Submit"
    value = dict(submit["data"], justification="INC-4711 rollout", ticket="INC-4711")
    status, _ = await stack.post(act.card_submit(stack.service_url, value, reply_to="activity-1"))
    assert status == 201
    result = stack.connector.messages()[-1].card or {}
    assert element(result, "outcome-0-state")["text"] == "Active"
    [request] = self_activations(stack)
    assert request["justification"] == "INC-4711 rollout"
    assert request["ticketInfo"]["ticketNumber"] == "INC-4711"
    assert request["scheduleInfo"]["expiration"]["duration"] == "PT1H30M"


async def test_justification_and_ticket_in_the_command_need_no_card(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 90m because INC-4711 rollout ticket INC-4711')
    assert element(card, "outcome-0-state")["text"] == "Active"


async def test_approval_group_is_submitted_and_names_the_approvers(stack: Stack) -> None:
    card = await say(stack, "activate Security-Operators 1h because incident INC-9")
    assert element(card, "outcome-0-state")["text"] == "Waiting for approval"
    message = element(card, "outcome-0-message")["text"]
    assert "Bob Builder" in message and "PIM-Approvers" in message
    [request] = self_activations(stack)
    assert request["status"] == "PendingApproval"
    # The pending request is durable: it is in the SQLite store the bot keeps.

    store = StateFile(stack.state_db)
    try:
        saved = await store.read([f"request/{request['id']}"])
    finally:
        store.close()
    assert saved[f"request/{request['id']}"]["groupName"] == "Security-Operators"


async def test_mfa_and_authentication_context_are_explained_plainly(stack: Stack) -> None:
    card = await say(stack, "activate Privileged-Role-Admins 30m because maintenance")
    assert "multi-factor" in element(card, "outcome-0-message")["text"].lower()
    card = await say(stack, "activate Finance-Prod 30m")
    assert "authentication context “Sensitive admin actions”" in element(card, "outcome-0-message")["text"]
    assert all(r["status"] != "Provisioned" for r in self_activations(stack))


async def test_already_active_pending_and_eligibility_windows_are_explained(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    card = await say(stack, "activate Exchange-Admins 1h")
    assert "already active until" in element(card, "outcome-0-message")["text"]
    await say(stack, "activate Security-Operators 1h because x")
    card = await say(stack, "activate Security-Operators 1h because x")
    assert "already waiting" in element(card, "outcome-0-message")["text"]
    card = await say(stack, "activate SharePoint-Admins 1h")
    assert "ended" in element(card, "outcome-0-message")["text"]
    card = await say(stack, "activate Intune-Admins 1h")
    assert "starts" in element(card, "outcome-0-message")["text"]
    assert len([r for r in self_activations(stack) if r["status"] == "Provisioned"]) == 1


async def test_several_groups_one_justification_one_line_each_and_owner_access(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins, Helpdesk-Tier1 1h because patch window")
    assert element(card, "outcome-0-state")["text"] == "Active"
    assert element(card, "outcome-1-state")["text"] == "Active"
    assert {r["justification"] for r in self_activations(stack)} == {"patch window"}
    card = await say(stack, "activate Exchange-Admins as owner 1h because audit")
    assert "Owner" in element(card, "outcome-0-title")["text"]
    assert self_activations(stack)[-1]["accessId"] == "owner"


async def test_group_inherited_eligibility_activates(stack: Stack) -> None:
    card = await say(stack, "activate Helpdesk-Tier1 1h", FRANK)
    assert element(card, "outcome-0-state")["text"] == "Active"


async def test_deactivate_explains_the_five_minute_rule_then_works_by_command_and_by_button(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    card = await say(stack, "deactivate Exchange-Admins")
    assert "5 minutes" in card_text(card)
    stack.sim.tenant.clock.advance(timedelta(minutes=6))
    card = await say(stack, "deactivate Exchange-Admins")
    assert element(card, "outcome-0-state")["text"] == "Deactivated"

    activated = await say(stack, "activate Helpdesk-Tier1 1h")
    stack.sim.tenant.clock.advance(timedelta(minutes=6))
    [button] = [b for b in buttons(activated) if b["type"] == "Action.Execute"]
    status, body = await stack.post(act.card_execute(stack.service_url, button["verb"], button["data"], "a-1"))
    assert status == 200
    assert element(body["value"], "outcome-0-state")["text"] == "Deactivated"
    deactivations = [r for r in assignment_requests(stack) if r["action"] == "selfDeactivate"]
    assert len(deactivations) == 2


async def test_status_lists_eligible_and_active_memberships(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    card = await say(stack, "status")
    text = card_text(card)
    for name in ("Exchange-Admins", "Teams Admins", "Security-Operators", "Helpdesk-Tier1", "Intune-Admins"):
        assert name in text
    assert maybe_element(card, "status-active") is not None or "Active" in text


async def test_help_and_unknown_text_show_usage(stack: Stack) -> None:
    card = await say(stack, "help")
    assert "activate Exchange-Admins 2h" in card_text(card)
    card = await say(stack, "make me admin")
    assert "“make”" in card_text(card)
    card = await say(stack, "activate Exchange-Admins 2x")
    assert "2x" in card_text(card)


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for v in node.values():
            found.extend(_walk(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(_walk(v))
    return found


async def test_the_activate_for_the_maximum_button_keeps_the_justification_and_ticket(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 6h because rollout ticket INC-4711')
    assert "at most 4 h" in element(card, "outcome-0-message")["text"]
    [button] = [b for b in buttons(card) if b["type"] == "Action.Execute"]
    status, body = await stack.post(act.card_execute(stack.service_url, button["verb"], button["data"], "a-1"))
    assert status == 200
    assert element(body["value"], "outcome-0-state")["text"] == "Active"
    [request] = self_activations(stack)
    assert request["justification"] == "rollout" and request["ticketInfo"]["ticketNumber"] == "INC-4711"
    assert request["scheduleInfo"]["expiration"]["duration"] == "PT4H"
