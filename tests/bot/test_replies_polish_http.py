"""Issue 11, point 9, through POST /api/messages: what the user typed is on the card that asks for the rest, and a
typed `cancel` asks once before it withdraws a request."""

from __future__ import annotations

from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from devtools.teams.connector import Recorded
from simtenant import seed
from tests.support.approvals import conversation, request_approval
from tests.support.cards import buttons, element, maybe_element, request_id_of, walk
from tests.support.chat import assignment_requests, say, self_activations
from tests.support.elsewhere import alice_elsewhere
from tests.support.stack import Stack


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


def questions(stack: Stack) -> list[Recorded]:
    return [
        r
        for r in stack.connector.messages(conversation(ALICE))
        if r.card is not None and maybe_element(r.card, "outcome-0-keep") is not None
    ]


async def press(stack: Stack, card: Recorded, button_id: str, user: act.TeamsUser = ALICE) -> dict[str, Any]:
    button = element(card.card or {}, button_id)
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], card.activity_id, user)
    )
    assert status == 200 and isinstance(body, dict), body
    return body


async def test_a_typed_cancel_asks_once_and_keep_it_changes_nothing(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    status, _ = await stack.post(act.message(stack.service_url, "cancel Security-Operators", ALICE))
    assert status == 201

    [asked] = questions(stack)
    card = asked.card or {}
    assert element(card, "outcome-0-message")["text"] == "Cancel your request for Security-Operators?"
    assert [(b["title"], b.get("style")) for b in buttons(card)] == [
        ("Cancel request", "destructive"),
        ("Keep it", None),
    ]
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "PendingApproval"  # only asked

    kept = await press(stack, asked, "outcome-0-keep")
    assert kept["type"] == "application/vnd.microsoft.card.adaptive", kept
    assert element(kept["value"], "outcome-0-message")["text"] == "Kept: your request still waits for approval."
    assert buttons(kept["value"]) == []  # answered once: the question gives way
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "PendingApproval"


async def test_cancel_request_on_the_question_cancels_and_the_question_says_so(stack: Stack) -> None:
    request_id, bob_card, _ = await request_approval(stack)
    await stack.post(act.message(stack.service_url, "cancel Security-Operators", ALICE))
    [asked] = questions(stack)

    # Someone else pressing Alice's buttons changes nothing.
    refused = await press(stack, asked, "outcome-0-cancel", BOB)
    assert "Only the person who asked" in refused["value"]
    assert "Only the person who asked" in (await press(stack, asked, "outcome-0-keep", BOB))["value"]

    answer = await press(stack, asked, "outcome-0-cancel")
    assert answer["value"] == "I cancelled your request for Security-Operators."
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Canceled"
    [settled] = [r.card for r in stack.connector.sent if r.method == "PUT" and r.activity_id == asked.activity_id]
    assert element(settled or {}, "outcome-0-state")["text"] == "Cancelled"
    assert maybe_element(settled or {}, "outcome-0-actions") is None
    [approver_copy] = [
        r.card for r in stack.connector.sent if r.method == "PUT" and r.activity_id == bob_card.activity_id
    ]
    assert element(approver_copy or {}, "state")["text"].startswith("Cancelled by the requester")


async def test_a_request_made_in_the_portal_is_asked_about_too_and_keep_it_works(stack: Stack) -> None:
    made = await alice_elsewhere(stack, "selfActivate", seed.SECURITY_OPERATORS, justification="made in the portal")
    await stack.post(act.message(stack.service_url, "cancel Security-Operators", ALICE))
    [asked] = questions(stack)
    assert request_id_of(asked.card or {}, "outcome-0-request") == made["id"]
    kept = await press(stack, asked, "outcome-0-keep")
    assert element(kept["value"], "outcome-0-message")["text"] == "Kept: your request still waits for approval."
    assert await press(stack, asked, "outcome-0-cancel") == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "I cancelled your request for Security-Operators.",
    }
    [after] = [r for r in assignment_requests(stack) if r["id"] == made["id"]]
    assert after["status"] == "Canceled"
