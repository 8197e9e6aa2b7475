"""Inline approvals (issue 4) through POST /api/messages: approval cards to the approvers, the decision made by Graph
as the clicking approver, every copy kept true, exactly one decision under races, nothing sent for the wrong people.

Security-Operators (seed "demo"): approvers Bob (singleUser) and PIM-Approvers (Carol, Dave); approvers must give a
reason. Bob and Carol have chatted with the bot (their references are stored); Dave has not.
"""

from __future__ import annotations

import asyncio

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, FRANK
from tests.support.approvals import (
    CAROL,
    DAVE,
    answered_card,
    approval_cards,
    approval_patches,
    approval_writes,
    approver_updates,
    click,
    conversation,
    hello,
    request_approval,
    spread,
    stack_copies,
    texts,
)
from tests.support.cards import card_text, element, maybe_element, request_id_of
from tests.support.chat import self_activations
from tests.support.stack import Stack


async def test_approvers_get_cards_and_the_requester_is_told_who_was_notified(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    card = bob_card.card or {}
    facts = {f["title"]: f["value"] for f in element(card, "facts")["facts"]}
    # The requester is @mentioned (Teams resolves an Entra object id in a card mention): approvers can click through.
    assert facts["Requested by"] == "<at>Alice Admin</at>" and facts["Group"] == "Security-Operators"
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Alice Admin</at>", "mentioned": {"id": ALICE.oid, "name": "Alice Admin"}}
    ]
    assert facts["Access"] == "Member" and facts["Duration"] == "1 h"
    assert facts["Justification"] == "incident INC-9" and request_id_of(card, "request-id") == request_id
    assert "Request expires (if nobody decides)" in facts and "Requested at" in facts
    assert element(card, "reason")["isRequired"] is True  # the policy requires the approver's reason
    assert element(card, "approve")["fallback"]["type"] == "Action.Submit"
    assert card["refresh"]["action"]["verb"] == "refresh"
    assert sorted(card["refresh"]["userIds"]) == sorted([BOB.mri, CAROL.mri])
    assert approval_cards(stack, DAVE) == [] and approval_cards(stack, ALICE) == []
    [told] = [t for t in texts(stack, ALICE) if "sent your request" in t]
    assert "Bob Builder" in told and "Carol Chen" in told and "could not reach Dave Diaz" in told
    assert carol_card.card == bob_card.card
    assert approval_writes(stack) == []


async def test_an_approver_whose_card_could_not_be_delivered_is_not_counted_as_notified(stack: Stack) -> None:
    # Carol blocked the bot after she chatted with it: the Bot Connector refuses every send to her chat (403).
    await hello(stack, BOB, CAROL)
    stack.connector.block(conversation(CAROL))
    status, _ = await stack.post(
        act.message(stack.service_url, "activate Security-Operators 1h because incident INC-9", ALICE)
    )
    assert status == 201
    [request] = self_activations(stack)
    assert len(approval_cards(stack, BOB)) == 1 and approval_cards(stack, CAROL) == []
    [told] = [t for t in texts(stack, ALICE) if "sent your request" in t]
    assert "to Bob Builder in Teams" in told and "Teams did not accept the card for Carol Chen" in told, told
    # Dave never wrote to the bot, and this tenant's catalog lacks the bot's app (tests/approvals/test_reach.py).
    assert "could not reach Dave Diaz in Teams: my app is not in your organisation's Teams app catalog" in told
    copies = [c for c in await stack_copies(stack, request["id"]) if not c.get("channel")]
    assert [c["userId"] for c in copies] == [BOB.oid] and all(c["activityId"] for c in copies)


async def test_bob_approves_every_copy_is_updated_and_alice_is_told(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))

    final = answered_card(await click(stack, BOB, bob_card, "approve", "ok for the patch window"))

    [patch] = approval_patches(stack)
    assert patch["oid"] == BOB.oid and patch["caller"] != "app"  # decided by Graph as Bob, delegated
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    state = element(final, "state")["text"]
    assert state.startswith("Approved by Bob Builder at ") and state.endswith(" — ok for the patch window")
    assert maybe_element(final, "approve") is None and "refresh" not in final
    # Carol's copy, and Bob's own once PIM's end of the access is known (his answer went out before it).
    puts = {(u.conversation_id, u.activity_id): u.card for u in approver_updates(stack)}
    assert set(puts) == {(conversation(CAROL), carol_card.activity_id), (conversation(BOB), bob_card.activity_id)}
    assert all(c is not None and element(c, "state")["text"] == state for c in puts.values())
    [told] = texts(stack, ALICE, alice_before)
    assert "approved by Bob Builder" in told and "active until" in told

    # Carol clicks her (now stale) card afterwards: told who decided; nothing more reaches Graph.
    late = answered_card(await click(stack, CAROL, carol_card, "approve", "me too"))
    assert "already approved by Bob Builder" in element(late, "notice")["text"]
    assert maybe_element(late, "approve") is None
    assert len(approval_writes(stack)) == 1


async def test_non_approver_requester_and_forged_ids_are_refused_before_any_write(stack: Stack) -> None:
    # Frank: Graph's approval read (with his token) says the stage is not his; Alice: the requester, refused before
    # any Graph call; a forged id: not a request the bot knows (tests/approvals/test_graph_decides_approvers.py).
    request_id, bob_card, _ = await request_approval(stack)

    frank = answered_card(await click(stack, FRANK, bob_card, "approve", "sure"))
    assert "not an approver for Security-Operators" in element(frank, "notice")["text"]
    assert maybe_element(frank, "approve") is None
    alice = answered_card(await click(stack, ALICE, bob_card, "approve", "approving myself"))
    assert "own request" in element(alice, "notice")["text"]
    forged = await click(stack, BOB, bob_card, "approve", "x", requestId="not-a-known-request")
    assert forged["type"] == "application/vnd.microsoft.activity.message"
    assert "could not find that request" in forged["value"]
    # Bob without the required reason: asked for one, nothing sent.
    no_reason = answered_card(await click(stack, BOB, bob_card, "approve"))
    assert "requires a reason" in element(no_reason, "notice")["text"]
    assert maybe_element(no_reason, "approve") is not None

    assert approval_writes(stack) == []
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "PendingApproval"


async def test_refresh_gives_approvers_the_buttons_and_others_a_read_only_view(stack: Stack) -> None:
    _, bob_card, _ = await request_approval(stack)
    for user, actionable in ((BOB, True), (CAROL, True), (FRANK, False), (ALICE, False)):
        body = await click(stack, user, bob_card, "refresh")
        card = answered_card(body)
        assert (maybe_element(card, "approve") is not None) is actionable, user.name
    assert approval_writes(stack) == []


async def test_deny_with_a_reason_tells_alice_the_reason(stack: Stack) -> None:
    request_id, _, carol_card = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))

    final = answered_card(await click(stack, CAROL, carol_card, "deny", "no change ticket"))

    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Denied"
    assert element(final, "state")["text"].startswith("Denied by Carol Chen at ")
    [put] = approver_updates(stack)
    assert put.conversation_id == conversation(BOB)
    [told] = texts(stack, ALICE, alice_before)
    assert "denied by Carol Chen" in told and "no change ticket" in told


async def test_concurrent_approvals_reach_graph_exactly_once(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)

    bodies = await asyncio.gather(
        click(stack, BOB, bob_card, "approve", "go"),
        click(stack, CAROL, carol_card, "approve", "go ahead"),
        click(stack, BOB, bob_card, "approve", "go"),  # and a double click
    )

    assert len(approval_writes(stack)) == 1
    [patch] = approval_patches(stack)
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    winner = BOB if patch["oid"] == BOB.oid else CAROL
    cards = [answered_card(b) for b in bodies]
    states = {element(c, "state")["text"] for c in cards}
    assert len(states) == 1 and next(iter(states)).startswith(f"Approved by {winner.name} at ")
    clickers = [BOB, CAROL, BOB]
    notices = [(who, card_text(c)) for who, c in zip(clickers, cards, strict=True) if maybe_element(c, "notice")]
    assert len(notices) == 2
    # Each is told whose decision it was: the double-clicking winner that it was his own.
    for who, notice in notices:
        expected = "You approved Alice Admin's request" if who == winner else f"already approved by {winner.name}"
        assert expected in notice, (who.name, notice)


async def test_old_clients_action_submit_decides_and_replies_with_the_final_card(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    fallback = element(bob_card.card or {}, "approve")["fallback"]
    before = len(stack.connector.messages(conversation(BOB)))

    status, _ = await stack.post(
        act.card_submit(stack.service_url, {**fallback["data"], "reason": "ok"}, bob_card.activity_id, BOB)
    )
    await spread(stack)

    assert status == 201
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    [reply] = [r for r in stack.connector.messages(conversation(BOB))[before:] if r.card is not None]
    assert element(reply.card or {}, "state")["text"].startswith("Approved by Bob Builder at ")
    # No invoke replaced Bob's card, so both copies are updated in place.
    updated = {(r.conversation_id, r.activity_id) for r in approver_updates(stack)}
    assert updated == {
        (conversation(BOB), bob_card.activity_id),
        (conversation(CAROL), carol_card.activity_id),
    }


async def test_a_decision_made_outside_the_bot_is_answered_and_spread_without_a_second_patch(stack: Stack) -> None:
    from simtenant.entities import Caller  # the portal (or e-mail, or Graph) deciding as Dave

    request_id, bob_card, carol_card = await request_approval(stack)
    tenant = stack.sim.tenant
    stage = tenant.approvals[request_id.lower()].stages[0]
    tenant.decide(Caller("user", "portal", DAVE.oid), request_id, stage.id, "Approve", "done in the portal")
    alice_before = len(stack.connector.messages(conversation(ALICE)))

    late = answered_card(await click(stack, BOB, bob_card, "approve", "ok"))

    assert "already approved by Dave Diaz" in element(late, "notice")["text"]
    assert approval_writes(stack) == []  # the rules saw the decided stage: no PATCH was tried
    [put] = approver_updates(stack)
    assert put.activity_id == carol_card.activity_id
    assert "Approved by Dave Diaz" in element(put.card or {}, "state")["text"]
    [told] = texts(stack, ALICE, alice_before)
    assert "approved by Dave Diaz" in told


async def test_a_request_completed_on_the_needs_input_card_goes_to_the_approvers_too(stack: Stack) -> None:
    await hello(stack, BOB, CAROL)
    status, _ = await stack.post(act.message(stack.service_url, "activate Security-Operators 1h", ALICE))
    assert status == 201
    [needs] = [r for r in stack.connector.messages(conversation(ALICE)) if r.card and "justification" in str(r.card)]
    button = element(needs.card or {}, "submit")
    data = {**button["data"], "justification": "INC-10 containment"}
    status, body = await stack.post(act.card_execute(stack.service_url, "activate", data, needs.activity_id, ALICE))
    assert status == 200 and body["statusCode"] == 200, body

    [request] = self_activations(stack)
    assert request["status"] == "PendingApproval"
    assert len(approval_cards(stack, BOB)) == 1 and len(approval_cards(stack, CAROL)) == 1
    assert any("sent your request" in t for t in texts(stack, ALICE))
