"""`demo request` (issue 11, point 1) through POST /api/messages: only with BOT_DEMO, a simulated colleague asks, with
their own token and outside the bot, for a group the typing user approves (Network-Admins: Alice and Bob approve,
Carol and Dave are eligible). The bot writes nothing to PIM for it; without BOT_DEMO "demo" is an unknown word."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.approvals import ADOPT_AFTER
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant.seed import CAROL, DAVE, NETWORK_ADMINS
from tests.support.approvals import answered_card, approval_cards, click, poll_once
from tests.support.cards import element, maybe_element
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def demo_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    # As `make demo` sets it: Network-Admins is one of the admin feed's groups, so the approval poll reads it.
    async with running_stack(tmp_path, BOT_DEMO="1", FEED_GROUPS="Network-Admins") as served:
        yield served


def replies(stack: Stack) -> list[str]:
    conversation = act.personal_conversation(ALICE)["id"]
    return [str(r.body.get("text") or "") for r in stack.connector.messages(conversation)]


def graph_writes(stack: Stack) -> list[dict[str, Any]]:
    """PIM writes: requests (activation, deactivation, cancel) and approvers' decisions, by anyone."""
    return [
        e
        for e in stack.sim.tenant.log.recent()
        if e["method"] in ("POST", "PATCH") and ("ScheduleRequests" in e["path"] or "assignmentApprovals" in e["path"])
    ]


async def say(stack: Stack, text: str) -> str:
    before = len(replies(stack))
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status == 201
    [reply] = replies(stack)[before:]
    return reply


async def test_demo_request_has_a_colleague_ask_for_a_group_alice_approves(demo_stack: Stack) -> None:
    stack = demo_stack
    reply = await say(stack, "demo request")
    assert reply.startswith("Carol Chen just asked for Network-Admins (“"), reply
    assert "not through me" in reply and "within half a minute" in reply
    [carols] = stack.sim.tenant.requests_for("assignment", principal_id=CAROL, group_id=NETWORK_ADMINS)
    assert (carols.status, carols.action, carols.created_by.id) == ("PendingApproval", "selfActivate", CAROL)
    # The colleague's own write, made by the simulated tenant's Carol; the bot wrote nothing.
    assert [(e["method"], e["oid"]) for e in graph_writes(stack)] == [("POST", CAROL)]

    assert (await say(stack, "Demo Request")).startswith("Dave Diaz just asked for Network-Admins")
    refused = await say(stack, "demo request")
    assert refused.startswith("No colleague could ask: every colleague who may ask for Network-Admins already")
    assert len(graph_writes(stack)) == 2
    waiting = stack.sim.tenant.requests_for("assignment", group_id=NETWORK_ADMINS)
    assert [r.principal_id for r in waiting if r.status == "PendingApproval"] == [CAROL, DAVE]


async def test_alice_approves_the_colleagues_request_from_the_card_the_approval_poll_brings(demo_stack: Stack) -> None:
    stack = demo_stack
    await say(stack, "demo request")
    [request] = [
        r for r in stack.sim.tenant.requests_for("assignment", principal_id=CAROL) if r.status == "PendingApproval"
    ]
    assert approval_cards(stack, ALICE) == []
    # The bot finds the request as it finds one made in the portal: on its approval poll, once it is older than the
    # few seconds left to the client that made it.
    assert await poll_once(stack) == 0
    await stack.sim_control("POST", "/clock", {"advance_seconds": ADOPT_AFTER.total_seconds() + 1})
    assert await poll_once(stack) == 1
    [card] = approval_cards(stack, ALICE)
    facts = {f["title"]: f["value"] for f in element(card.card or {}, "facts")["facts"]}
    assert facts["Requested by"] == "<at>Carol Chen</at>" and facts["Group"] == "Network-Admins"
    assert element(card.card or {}, "reason")["isRequired"] is True

    without_reason = answered_card(await click(stack, ALICE, card, "approve"))
    assert "reason" in element(without_reason, "notice")["text"]  # the policy wants the approver's reason
    assert stack.sim.tenant.request("assignment", request.id).status == "PendingApproval"  # type: ignore[union-attr]

    approved = answered_card(await click(stack, ALICE, card, "approve", reason="change approved in CAB"))
    assert element(approved, "state")["text"].startswith("Approved by Alice Admin at ")
    assert stack.sim.tenant.request("assignment", request.id).status == "Provisioned"  # type: ignore[union-attr]
    decisions = [e for e in graph_writes(stack) if e["method"] == "PATCH"]
    assert [(e["oid"], e["status"]) for e in decisions] == [(ALICE.oid, 204)]  # Graph answers a PATCH 204


async def test_demo_alone_or_with_another_word_explains_the_demo_commands(demo_stack: Stack) -> None:
    for text in ("demo", "demo please", "demo request now"):
        assert (await say(demo_stack, text)).startswith("In this demo, “demo request” has a colleague ask")
    assert graph_writes(demo_stack) == []


async def test_an_approver_of_nothing_is_told_so(demo_stack: Stack) -> None:
    status, _ = await demo_stack.post(act.message(demo_stack.service_url, "demo request", act.FRANK))
    assert status == 201
    [reply] = [
        str(r.body.get("text")) for r in demo_stack.connector.messages(act.personal_conversation(act.FRANK)["id"])
    ]
    assert reply == "No colleague could ask: no group's activation needs the approval of Frank Fisher."
    assert graph_writes(demo_stack) == []


async def test_without_bot_demo_there_is_no_demo_command(stack: Stack) -> None:
    status, _ = await stack.post(act.message(stack.service_url, "demo request", ALICE))
    assert status == 201
    assert "just asked" not in str([r.body for r in stack.connector.sent])
    assert [
        r for r in stack.sim.tenant.requests_for("assignment", group_id=NETWORK_ADMINS) if r.principal_id == CAROL
    ] == []
    assert graph_writes(stack) == []


async def test_the_demos_welcome_offers_a_button_that_has_a_colleague_ask(demo_stack: Stack) -> None:
    stack = demo_stack
    status, _ = await stack.post(act.installation(stack.service_url, ALICE))
    assert status in (200, 201)
    [welcome] = [r for r in stack.connector.messages(act.personal_conversation(ALICE)["id"]) if r.card]
    button = element(welcome.card or {}, "demo-request")
    assert button["title"] == "A colleague asks for access"
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], welcome.activity_id, ALICE)
    )
    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message", body
    assert body["value"].startswith("Carol Chen just asked for Network-Admins"), body
    assert [(e["method"], e["oid"]) for e in graph_writes(stack)] == [("POST", CAROL)]
    # The Action.Submit twin (older Teams clients) answers with the same words in the chat.
    submit = button["fallback"]["data"]
    status, _ = await stack.post(act.card_submit(stack.service_url, submit, welcome.activity_id, ALICE))
    assert status == 201 and replies(stack)[-1].startswith("Dave Diaz just asked for Network-Admins")


async def test_without_bot_demo_the_welcome_has_no_demo_button_and_a_forged_click_does_nothing(stack: Stack) -> None:
    status, _ = await stack.post(act.installation(stack.service_url, ALICE))
    assert status in (200, 201)
    [welcome] = [r for r in stack.connector.messages(act.personal_conversation(ALICE)["id"]) if r.card]
    assert maybe_element(welcome.card or {}, "demo-request") is None
    forged = {"pim": 1, "command": "demo request"}
    status, body = await stack.post(act.card_execute(stack.service_url, "run", forged, welcome.activity_id, ALICE))
    assert status == 200 and "That button did not work" in json.dumps(body), body
    assert graph_writes(stack) == []
