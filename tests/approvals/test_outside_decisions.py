"""Issue 4, points 7 and 9: decisions made outside the bot (portal, Graph, expiry) reach every card and the requester
through the poller; `cancel` by the requester; `pending` for an approver."""

from __future__ import annotations

from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import (
    CAROL,
    approval_cards,
    conversation,
    decide_in_tenant,
    poll_once,
    request_approval,
    texts,
)
from tests.support.cards import element, maybe_element, request_id_of
from tests.support.chat import cancel_typed
from tests.support.stack import Stack


def puts(stack: Stack) -> list[Any]:
    """Updates of the approvers' copies (the requester's own card: tests/approvals/test_requester_card.py)."""
    return [r for r in stack.connector.sent if r.method == "PUT" and r.conversation_id != conversation(ALICE)]


async def test_an_approval_in_the_portal_reaches_every_copy_and_the_requester_once(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    assert await poll_once(stack) == 0  # nothing changed yet
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    await decide_in_tenant(stack, request_id, "Approve")

    assert await poll_once(stack) == 1

    updated = {(r.activity_id, element(r.card or {}, "state")["text"].split(" at ")[0]) for r in puts(stack)}
    assert updated == {(bob_card.activity_id, "Approved"), (carol_card.activity_id, "Approved")}
    assert all(maybe_element(r.card or {}, "approve") is None for r in puts(stack))
    [told] = texts(stack, ALICE, alice_before)
    assert "was approved" in told
    # A second sweep changes nothing.
    assert await poll_once(stack) == 0
    assert len(puts(stack)) == 2 and len(texts(stack, ALICE, alice_before)) == 1


async def test_a_denial_in_the_portal_is_spread(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    await decide_in_tenant(stack, request_id, "Deny")

    assert await poll_once(stack) == 1

    assert len(puts(stack)) == 2
    assert all(element(r.card or {}, "state")["text"].startswith("Denied") for r in puts(stack))
    [told] = texts(stack, ALICE, alice_before)
    assert "was denied" in told


async def test_after_24_hours_every_copy_says_expired_and_the_requester_is_told(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    stack.sim.tenant.advance(24 * 3600 + 60)

    assert await poll_once(stack) == 1

    assert len(puts(stack)) == 2
    assert all(element(r.card or {}, "state")["text"].startswith("Expired") for r in puts(stack))
    [told] = texts(stack, ALICE, alice_before)
    assert "expired" in told
    assert await poll_once(stack) == 0


async def test_alice_cancels_her_request_and_every_approver_card_says_so(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))

    status = await cancel_typed(stack)

    assert status == 201
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Canceled"
    assert {r.activity_id for r in puts(stack)} == {bob_card.activity_id, carol_card.activity_id}
    assert all(element(r.card or {}, "state")["text"].startswith("Cancelled by the requester") for r in puts(stack))
    told = texts(stack, ALICE, alice_before)
    assert any("I cancelled your request for Security-Operators" in t for t in told)
    assert await poll_once(stack) == 0  # already recorded: the poller does not spread it again
    # Nothing left to cancel.
    before = len(stack.connector.messages(conversation(ALICE)))
    await cancel_typed(stack)
    assert any("no request for Security-Operators" in t for t in texts(stack, ALICE, before))


async def test_bob_sees_his_open_requests_as_actionable_cards(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    before = len(approval_cards(stack, BOB))

    status, _ = await stack.post(act.message(stack.service_url, "pending", BOB))

    assert status == 201
    cards = approval_cards(stack, BOB)[before:]
    assert len(cards) == 1
    assert request_id_of(cards[0].card or {}, "request-id") == request_id
    # Alice (the requester) has nothing to approve.
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    await stack.post(act.message(stack.service_url, "pending", ALICE))
    assert any("No requests are waiting" in t for t in texts(stack, ALICE, alice_before))
    # Once decided, it is no longer pending for Carol.
    await decide_in_tenant(stack, request_id, "Approve")
    await poll_once(stack)
    carol_before = len(stack.connector.messages(conversation(CAROL)))
    await stack.post(act.message(stack.service_url, "pending", CAROL))
    assert any("No requests are waiting" in t for t in texts(stack, CAROL, carol_before))


async def test_the_cancel_button_on_alices_waiting_card_cancels_and_only_alice_may_use_it(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    [waiting] = [
        r
        for r in stack.connector.messages(conversation(ALICE))
        if r.card is not None and maybe_element(r.card, "outcome-0-cancel") is not None
    ]
    button = element(waiting.card or {}, "outcome-0-cancel")
    graph_before = len(stack.sim.tenant.log.recent())

    # Bob (an approver, not the requester) clicks a copy of it: refused, read-only, nothing reaches Graph.
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], waiting.activity_id, BOB)
    )
    assert status == 200 and "Only the person who asked" in str(body)
    assert len(stack.sim.tenant.log.recent()) == graph_before
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "PendingApproval"
    assert puts(stack) == []

    # Alice clicks it: cancelled as her, every approver card says so.
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], waiting.activity_id, ALICE)
    )
    assert status == 200 and "I cancelled your request for Security-Operators" in str(body)
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Canceled"
    assert {r.activity_id for r in puts(stack)} == {bob_card.activity_id, carol_card.activity_id}
    assert all(element(r.card or {}, "state")["text"].startswith("Cancelled by the requester") for r in puts(stack))
    assert await poll_once(stack) == 0
