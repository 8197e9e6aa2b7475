"""Issue 10, point 3: never "nothing was changed" for a write that may have landed.

When Graph's answer to a write is lost (the connection drops after Graph acted, or the answer comes after the bot's
timeout) and reading the outcome back fails too, the user (or approver) is told "I could not confirm yet; I will tell
you in a moment"; the bot keeps looking in the background, across a restart, and then tells the truth: the normal
result card, "You approved it", or "nothing was changed" only once Graph has shown that no request exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.reconcile import RETRY_AFTER, SETTLE
from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import (
    CAROL,
    answered_card,
    approval_cards,
    approval_patches,
    approver_updates,
    click,
    conversation,
    hello,
    request_approval,
    texts,
)
from tests.support.cards import card_text, element, maybe_element
from tests.support.chat import EXCHANGE, cancel_typed, say, self_activations
from tests.support.stack import Stack, another_bot, follow_up, poll, running_stack
from tests.support.state import StateFile

WRITE = r"assignmentScheduleRequests$"
REQUESTS = r"assignmentScheduleRequests"  # the outcome is read back from the user's requests in the group
APPROVALS = r"assignmentApprovals/"
STAGES = r"assignmentApprovals/.+/stages/"


@pytest.fixture
async def quick(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, quick=True) as stack:
        yield stack


def alice_cards(stack: Stack, since: int = 0) -> list[dict[str, Any]]:
    return [r.card for r in stack.connector.messages(conversation(ALICE))[since:] if r.card is not None]


def sent_to_alice(stack: Stack) -> int:
    return len(stack.connector.messages(conversation(ALICE)))


def exchange_activations(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in self_activations(stack) if r["groupId"] == EXCHANGE]


async def warm(stack: Stack) -> None:
    """Alice's PIM view is read (and kept) before the faults: the activation's only Graph call is then its write."""
    await say(stack, "status")


def unconfirmed_said(card: dict[str, Any]) -> str:
    assert element(card, "outcome-0-state")["text"] == "Not confirmed yet", card_text(card)
    message = str(element(card, "outcome-0-message")["text"])
    assert "I could not confirm yet" in message and "I will tell you in a moment" in message
    assert "nothing was changed" not in card_text(card).lower()
    return message


async def test_activation_dropped_after_graph_acted_and_unreadable_is_unconfirmed_then_told_active(
    quick: Stack,
) -> None:
    await warm(quick)
    quick.sim.tenant.add_fault(method="POST", path=WRITE, drop=True, after_processing=True, times=1)
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, times=None)

    card = await say(quick, "activate Exchange-Admins 1h")

    unconfirmed_said(card)
    [request] = exchange_activations(quick)
    assert request["status"] == "Provisioned"  # it happened
    # Graph still cannot be read: the bot keeps trying and says nothing more.
    before = sent_to_alice(quick)
    quick.sim.tenant.advance(10)
    assert await follow_up(quick) == 0
    assert sent_to_alice(quick) == before

    quick.sim.tenant.faults.clear()
    quick.sim.tenant.advance(30)
    assert await follow_up(quick) == 1

    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Active"
    assert maybe_element(told, "outcome-0-deactivate") is not None
    assert request["id"] in card_text(told)
    assert len(exchange_activations(quick)) == 1
    quick.sim.tenant.advance(600)
    assert await follow_up(quick) == 0  # told once
    assert sent_to_alice(quick) == before + 1


async def test_activation_answered_after_the_timeout_twice_is_unconfirmed_then_told_active(quick: Stack) -> None:
    await warm(quick)
    # Graph takes longer than the bot waits, for the write and for the one re-send after an empty read-back: both
    # are carried out (the second refused, the first having landed) after the bot gave up waiting.
    quick.sim.tenant.add_fault(method="POST", path=WRITE, delay_seconds=1.0, times=2)

    card = await say(quick, "activate Exchange-Admins 1h")

    unconfirmed_said(card)
    await _until(lambda: quick.sim.tenant.faults.list() == [] and len(exchange_activations(quick)) == 1)
    await asyncio.sleep(1.2)  # the second write, refused, has come and gone too
    before = sent_to_alice(quick)
    assert await follow_up(quick) == 1
    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Active"
    assert len(exchange_activations(quick)) == 1


async def test_nothing_was_changed_only_once_graph_shows_no_request(quick: Stack) -> None:
    await warm(quick)
    quick.sim.tenant.add_fault(method="POST", path=WRITE, status=503, times=1)  # refused before any work
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, times=None)

    unconfirmed_said(await say(quick, "activate Exchange-Admins 1h"))

    quick.sim.tenant.faults.clear()
    before = sent_to_alice(quick)
    quick.sim.tenant.advance(10)
    assert await follow_up(quick) == 0  # no request yet, but the write could still be on its way
    assert sent_to_alice(quick) == before
    quick.sim.tenant.advance(SETTLE)
    assert await follow_up(quick) == 1
    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Not activated"
    assert "nothing was changed" in element(told, "outcome-0-message")["text"]
    assert exchange_activations(quick) == []


async def test_when_graph_stays_unreadable_the_bot_gives_up_saying_it_still_does_not_know(quick: Stack) -> None:
    await warm(quick)
    quick.sim.tenant.add_fault(method="POST", path=WRITE, drop=True, after_processing=True, times=1)
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, times=None)
    unconfirmed_said(await say(quick, "activate Exchange-Admins 1h"))
    before = sent_to_alice(quick)

    ended = 0
    for wait in RETRY_AFTER:
        quick.sim.tenant.advance(wait + timedelta(seconds=1))
        ended += await follow_up(quick)

    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Not confirmed"
    message = element(told, "outcome-0-message")["text"]
    assert "has not confirmed" in message and "status" in message and "nothing was changed" not in message
    quick.sim.tenant.advance(3600)
    assert await follow_up(quick) == 0
    assert len(alice_cards(quick, before)) == 1


async def test_a_restarted_bot_carries_on_and_tells_the_truth(quick: Stack) -> None:
    await warm(quick)
    quick.sim.tenant.add_fault(method="POST", path=WRITE, drop=True, after_processing=True, times=1)
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, times=None)
    unconfirmed_said(await say(quick, "activate Exchange-Admins 1h"))
    await quick.server.close()  # the bot stops; what it was following up is in its store
    quick.sim.tenant.faults.clear()
    quick.sim.tenant.advance(20)
    before = sent_to_alice(quick)

    async with another_bot(quick, quick=True) as restarted:
        assert await follow_up(quick, restarted.server) == 1

    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Active"
    assert len(exchange_activations(quick)) == 1


async def test_deactivation_dropped_after_graph_acted_is_unconfirmed_then_told_deactivated(quick: Stack) -> None:
    await say(quick, "activate Exchange-Admins 1h")
    quick.sim.tenant.advance(600)  # past PIM's five-minute rule
    quick.sim.tenant.add_fault(method="POST", path=WRITE, drop=True, after_processing=True, times=1)
    # Deactivation reads Alice's view first (its requests among them): that read passes, every later one fails.
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, skip=1, times=None)

    card = await say(quick, "deactivate Exchange-Admins")

    message = unconfirmed_said(card)
    assert "deactivated" in message
    assert quick.sim.tenant.members(EXCHANGE) == []
    quick.sim.tenant.faults.clear()
    before = sent_to_alice(quick)
    quick.sim.tenant.advance(10)
    assert await follow_up(quick) == 1
    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Deactivated"


async def test_an_approval_whose_answer_is_lost_and_unreadable_is_unconfirmed_then_told_as_his(quick: Stack) -> None:
    request_id, _, carol_card = await request_approval(quick)
    bob_card = [r for r in quick.connector.messages(conversation(BOB)) if r.card and maybe_element(r.card, "approve")]
    quick.sim.tenant.add_fault(method="PATCH", path=STAGES, drop=True, after_processing=True, times=1)
    # The approval is read once before the decision (the rules); every read after it fails.
    quick.sim.tenant.add_fault(method="GET", path=APPROVALS, status=503, skip=1, times=None)

    answer = answered_card(await click(quick, BOB, bob_card[0], "approve", "ok for the window"))

    notice = element(answer, "notice")["text"]
    assert "I could not confirm yet" in notice and "I will tell you in a moment" in notice
    assert "nothing was changed" not in card_text(answer).lower()
    assert quick.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    quick.sim.tenant.faults.clear()
    # The poller leaves it to the follow-up, which knows whose decision it was.
    assert await poll(quick) == 0
    bob_before = len(quick.connector.messages(conversation(BOB)))
    alice_before = len(quick.connector.messages(conversation(ALICE)))

    assert await follow_up(quick) == 1

    assert texts(quick, BOB, bob_before) == ["You approved Alice Admin's request for Security-Operators."]
    puts = [u for u in approver_updates(quick) if u.conversation_id == conversation(CAROL)]
    [put] = puts
    assert put.activity_id == carol_card.activity_id
    assert element(put.card or {}, "state")["text"].startswith("Approved by Bob Builder at ")
    [told] = texts(quick, ALICE, alice_before)
    assert "approved by Bob Builder" in told
    assert len(approval_patches(quick)) <= 1  # the log misses the dropped one; the tenant holds one decision
    assert await poll(quick) == 0 and await follow_up(quick) == 0


async def test_an_approver_whose_lost_answer_is_read_back_is_told_he_approved_not_someone(quick: Stack) -> None:
    request_id, bob_card, _ = await request_approval(quick)
    quick.sim.tenant.add_fault(method="PATCH", path=STAGES, drop=True, after_processing=True, times=1)

    answer = answered_card(await click(quick, BOB, bob_card, "approve", "ok"))

    assert element(answer, "notice")["text"] == "You approved Alice Admin's request for Security-Operators."
    assert "already" not in card_text(answer)
    assert element(answer, "state")["text"].startswith("Approved by Bob Builder at ")
    # Clicking his stale card again says the same, not "already approved by Bob Builder".
    again = answered_card(await click(quick, BOB, bob_card, "approve", "ok"))
    assert element(again, "notice")["text"] == "You approved Alice Admin's request for Security-Operators."


async def _until(condition: Any, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the tenant never got there"
        await asyncio.sleep(0.05)


async def test_a_cancel_whose_answer_is_lost_and_unreadable_is_not_called_nothing_changed(quick: Stack) -> None:
    request_id, _, _ = await request_approval(quick)
    quick.sim.tenant.add_fault(method="POST", path=r"/cancel$", drop=True, after_processing=True, times=1)
    quick.sim.tenant.add_fault(method="GET", path=r"assignmentScheduleRequests/[0-9a-f-]+$", status=503, times=None)
    before = len(quick.connector.messages(conversation(ALICE)))

    status = await cancel_typed(quick)

    assert status == 201
    [said] = texts(quick, ALICE, before)
    assert "has not confirmed whether this was done" in said and "nothing was changed" not in said
    assert quick.sim.tenant.requests["assignment"][request_id.lower()].status == "Canceled"
    quick.sim.tenant.faults.clear()
    assert await poll(quick) == 1  # the poller finds it cancelled and says so everywhere
    assert any("was cancelled" in t for t in texts(quick, ALICE, before))


async def test_a_waiting_request_the_bot_already_keeps_is_not_sent_to_the_approvers_twice(quick: Stack) -> None:
    await hello(quick, BOB, CAROL)
    await warm(quick)
    quick.sim.tenant.add_fault(method="POST", path=WRITE, drop=True, after_processing=True, times=1)
    quick.sim.tenant.add_fault(method="GET", path=REQUESTS, status=503, times=None)
    unconfirmed_said(await say(quick, "activate Security-Operators 1h because incident INC-9"))
    [request] = [r for r in self_activations(quick) if r["status"] == "PendingApproval"]
    # Meanwhile the request became known another way (the approval poller finding it waiting in PIM, cards sent).
    storage = StateFile(quick.state_db)
    try:
        await storage.write({f"request/{request['id']}": {"requestId": request["id"], "status": "PendingApproval"}})
    finally:
        storage.close()
    quick.sim.tenant.faults.clear()
    before = sent_to_alice(quick)
    quick.sim.tenant.advance(10)

    assert await follow_up(quick) == 1

    [told] = alice_cards(quick, before)
    assert element(told, "outcome-0-state")["text"] == "Waiting for approval"
    assert approval_cards(quick, BOB) == [] and approval_cards(quick, CAROL) == []
