"""Issue 9, point 6: an Approve/Deny click is answered with the final card before the other copies are updated; they are
updated afterwards, all at once, and a spread cut short (the process stopping) is finished by the approval poller.

The Bot Connector stand-in holds every update (PUT) unanswered until released: a slow connector. Security-Operators
(seed "demo"): Bob and Carol have chatted with the bot and get the approval card; Alice asks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app import PARTS_KEY
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from devtools.teams.connector import Recorded
from tests.support.approvals import (
    CAROL,
    answered_card,
    approver_updates,
    conversation,
    poll_once,
    request_approval,
    spread,
    stack_record,
    texts,
)
from tests.support.cards import element
from tests.support.stack import Stack


async def approve(stack: Stack, card: Recorded, user: Any) -> dict[str, Any]:
    data = {**element(card.card or {}, "approve")["data"], "reason": "ok for the patch window"}
    async with asyncio.timeout(30):  # not a speed goal: a bot that waits for the held updates never answers
        status, body = await stack.post(act.card_execute(stack.service_url, "approve", data, card.activity_id, user))
    assert status == 200, body
    return answered_card(body)


def told_alice(stack: Stack, since: int) -> list[str]:
    return [t for t in texts(stack, ALICE, since) if "approved by Bob Builder" in t]


async def test_the_click_is_answered_with_the_final_card_before_the_other_copies_are_updated(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    stack.connector.hold_updates()

    final = await approve(stack, bob_card, BOB)

    state = element(final, "state")["text"]
    assert state.startswith("Approved by Bob Builder at ")
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    # Answered while no other copy is updated yet: Carol's copy, Alice's own card and Bob's copy (gaining PIM's end
    # of the access) are all on their way, at once.
    await stack.connector.wait_until(lambda: stack.connector.held == 3)
    assert approver_updates(stack) == [] and told_alice(stack, alice_before) == []

    stack.connector.release_updates()
    await spread(stack)

    # Carol's copy; Bob's own gains PIM's end of the access after his answer (test_approval_card_polish.py).
    [put] = [u for u in approver_updates(stack) if u.conversation_id != conversation(BOB)]
    assert (put.conversation_id, put.activity_id) == (conversation(CAROL), carol_card.activity_id)
    assert element(put.card or {}, "state")["text"] == state
    assert len(told_alice(stack, alice_before)) == 1
    assert "spread" not in await stack_record(stack, request_id)  # nothing owed any more


async def test_updates_cut_short_by_a_stop_are_finished_by_the_poller(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    stack.connector.hold_updates()
    await approve(stack, bob_card, BOB)
    # Carol's copy, Bob's (gaining PIM's end of the access) and Alice's card.
    await stack.connector.wait_until(lambda: stack.connector.held == 3)

    await stack.server.app[PARTS_KEY].bot.drain(0)  # the process stops before the updates are done
    stack.connector.release_updates()
    assert "spread" in await stack_record(stack, request_id)  # the record says the copies are still owed
    assert told_alice(stack, alice_before) == []

    # Nobody runs it any more (issue 10, point 5: the stopped work is known at once, bot.liveness): the next sweep
    # finishes it, once. A spread another live process still runs is left to it (tests/approvals/test_dead_claims.py).
    assert await poll_once(stack) == 1

    updated = [r for r in approver_updates(stack) if r.activity_id == carol_card.activity_id]
    assert updated and all(element(r.card or {}, "state")["text"].startswith("Approved by Bob") for r in updated)
    assert len(told_alice(stack, alice_before)) == 1
    assert "spread" not in await stack_record(stack, request_id)
    assert await poll_once(stack) == 0
