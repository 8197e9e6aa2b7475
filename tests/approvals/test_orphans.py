"""Requests nobody recorded (issue 10, point 4): a request waiting for approval that the bot has no record of (made in
the portal, or by a bot killed between the activation and its record) gets its approval cards at the approval poll,
exactly once across processes, with the requester told; the poll reads Graph app-only, 20 groups a `$batch`.

Through POST /api/messages with the simulated tenant (Security-Operators: approvers Bob and PIM-Approvers, i.e. Carol
and Dave) and the recording Bot Connector.
"""

from __future__ import annotations

import asyncio
from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from simtenant import seed
from tests.support.approvals import (
    CAROL,
    DAVE,
    approval_cards,
    assert_settled,
    click,
    conversation,
    hello,
    poll_once,
    requester_updates,
    texts,
    waiting_card,
)
from tests.support.cards import element, request_id_of
from tests.support.chat import cancel_typed
from tests.support.elsewhere import alice_elsewhere
from tests.support.stack import Stack, another_bot
from tests.support.state import StateFile

ADOPT_AFTER_SECONDS = 16  # a little more than the bot's grace for requests its own turns are still recording


async def served_by_an_earlier_request(stack: Stack) -> None:
    """Alice asks for Security-Operators through the bot, and cancels: the bot now serves that group's approvals."""
    await hello(stack, BOB, CAROL, ALICE)
    status, _ = await stack.post(act.message(stack.service_url, "activate Security-Operators 1h because drill", ALICE))
    assert status == 201
    status = await cancel_typed(stack)
    assert status == 201


async def portal_request(stack: Stack, why: str = "from the portal") -> str:
    request = await alice_elsewhere(stack, "selfActivate", seed.SECURITY_OPERATORS, justification=why)
    return str(request["id"])


def cards_for(stack: Stack, request_id: str, user: Any) -> list[Any]:
    return [
        c for c in approval_cards(stack, user) if element(c.card or {}, "approve")["data"]["requestId"] == request_id
    ]


async def test_a_request_made_in_the_portal_gets_its_approval_cards_at_the_next_poll(stack: Stack) -> None:
    await served_by_an_earlier_request(stack)
    request_id = await portal_request(stack)
    before = len(stack.connector.messages(conversation(ALICE)))
    stack.sim.tenant.advance(ADOPT_AFTER_SECONDS)

    assert await poll_once(stack) == 1

    [bob_card], [carol_card] = cards_for(stack, request_id, BOB), cards_for(stack, request_id, CAROL)
    facts = {f["title"]: f["value"] for f in element(bob_card.card or {}, "facts")["facts"]}
    assert facts["Requested by"] == "<at>Alice Admin</at>" and facts["Group"] == "Security-Operators"
    assert facts["Justification"] == "from the portal" and facts["Duration"] == "1 h"
    assert request_id_of(bob_card.card or {}, "request-id") == request_id
    assert cards_for(stack, request_id, DAVE) == []  # never chatted with the bot
    # Alice gets her waiting card (with Cancel) and is told who was notified.
    waiting = waiting_card(stack, request_id)
    assert element(waiting.card or {}, "outcome-0-state")["text"] == "Waiting for approval"
    told = " ".join(texts(stack, ALICE, before))
    assert "sent your request for Security-Operators to Bob Builder and Carol Chen" in told
    # `pending` knows it now.
    status, _ = await stack.post(act.message(stack.service_url, "pending", CAROL))
    assert status == 201
    assert [c.activity_id for c in cards_for(stack, request_id, CAROL)][0] == carol_card.activity_id
    assert len(cards_for(stack, request_id, CAROL)) == 2  # her card, and `pending`'s

    # A second poll adopts nothing more; the request is decided from Teams like any other.
    assert await poll_once(stack) == 0
    answer = await click(stack, BOB, bob_card, "approve", "ok")
    assert element(answer["value"], "state")["text"].startswith("Approved by Bob Builder at ")
    [update] = requester_updates(stack, waiting.activity_id)
    assert_settled(update, "Approved", "Approved by Bob Builder")


async def test_a_request_younger_than_the_grace_is_left_to_the_turn_that_is_recording_it(stack: Stack) -> None:
    await served_by_an_earlier_request(stack)
    request_id = await portal_request(stack)

    assert await poll_once(stack) == 0
    assert cards_for(stack, request_id, BOB) == []

    stack.sim.tenant.advance(ADOPT_AFTER_SECONDS)
    assert await poll_once(stack) == 1
    assert len(cards_for(stack, request_id, BOB)) == 1


async def test_two_processes_polling_at_once_send_each_card_once(stack: Stack) -> None:
    await served_by_an_earlier_request(stack)
    request_id = await portal_request(stack)
    before = len(texts(stack, ALICE))
    stack.sim.tenant.advance(ADOPT_AFTER_SECONDS)

    async with another_bot(stack) as other:
        changed = await asyncio.gather(poll_once(stack), poll_once(other))

    assert sorted(changed) == [0, 1]
    assert len(cards_for(stack, request_id, BOB)) == 1 and len(cards_for(stack, request_id, CAROL)) == 1
    assert len([t for t in texts(stack, ALICE, before) if "sent your request" in t]) == 1


async def test_a_group_the_bot_never_served_is_not_read(stack: Stack) -> None:
    await hello(stack, BOB, CAROL, ALICE)
    request_id = await portal_request(stack)  # nobody ever asked for Security-Operators through the bot
    stack.sim.tenant.advance(ADOPT_AFTER_SECONDS)
    stack.sim.tenant.log.clear()

    assert await poll_once(stack) == 0

    assert cards_for(stack, request_id, BOB) == []
    assert [e for e in stack.sim.tenant.log.recent() if not e["inner"]] == []  # no group to read: no Graph call


async def test_an_idle_poll_costs_one_batch_per_20_served_groups(stack: Stack) -> None:
    await served_by_an_earlier_request(stack)
    stack.sim.tenant.log.clear()

    assert await poll_once(stack) == 0

    calls = [e for e in stack.sim.tenant.log.recent() if not e["inner"]]
    assert [(e["method"], e["path"]) for e in calls] == [("POST", "/v1.0/$batch")]
    [inner] = [e for e in stack.sim.tenant.log.recent() if e["inner"]]
    assert inner["query"]["$filter"] == f"groupId eq '{seed.SECURITY_OPERATORS}' and status eq 'PendingApproval'"
    assert inner["caller"] == "app"


async def test_a_poll_reads_at_most_400_groups_and_the_next_poll_the_rest(stack: Stack) -> None:
    await served_by_an_earlier_request(stack)
    store = StateFile(stack.state_db)
    try:  # 449 more groups the bot once carried approvals of (as the activation path remembers them)
        await store.write({f"approvals/group/{n:08d}-0000-4000-8000-000000000000": {} for n in range(449)})
    finally:
        store.close()

    read: list[set[str]] = []
    for _ in range(2):
        stack.sim.tenant.log.clear()
        assert await poll_once(stack) == 0
        calls = [e for e in stack.sim.tenant.log.recent() if not e["inner"]]
        assert [e["path"] for e in calls] == ["/v1.0/$batch"] * 20  # 400 groups, 20 to a batch
        inner = [e["query"]["$filter"].split("'")[1] for e in stack.sim.tenant.log.recent() if e["inner"]]
        assert len(inner) == len(set(inner)) == 400
        read.append(set(inner))

    assert len(read[0] | read[1]) == 450  # between them, every group
