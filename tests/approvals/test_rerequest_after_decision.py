"""Issue 10, point 6: once the bot learns that a request no longer waits (a decision clicked in Teams, one found by
the poller, or the requester's cancel), the requester's cached view of PIM is dropped, so asking again at once makes a
new request instead of "already waiting (request <the closed one>)".

Alice types `status` while she waits: that reads (and caches, for 60 s) her view with the request waiting in it."""

from __future__ import annotations

from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from tests.support.approvals import CAROL, answered_card, click, decide_in_tenant, poll_once, request_approval, texts
from tests.support.chat import cancel_typed, self_activations
from tests.support.stack import Stack

AGAIN = "activate Security-Operators 1h because incident INC-9"


async def _waiting_in_status(stack: Stack) -> None:
    status, _ = await stack.post(act.message(stack.service_url, "status", ALICE))
    assert status == 201


async def _asks_again_and_a_new_request_waits(stack: Stack, closed_id: str) -> None:
    before = len(texts(stack, ALICE))
    status, _ = await stack.post(act.message(stack.service_url, AGAIN, ALICE))
    assert status == 201
    requests = self_activations(stack)
    assert len(requests) == 2, [t for t in texts(stack, ALICE, before)]
    fresh = requests[-1]
    assert fresh["id"] != closed_id and fresh["status"] == "PendingApproval"
    assert not any(closed_id in t for t in texts(stack, ALICE, before))


async def test_after_a_denial_clicked_in_teams_asking_again_makes_a_new_request(stack: Stack) -> None:
    request_id, _, carol_card = await request_approval(stack)
    await _waiting_in_status(stack)
    answered_card(await click(stack, CAROL, carol_card, "deny", "not now"))
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Denied"

    await _asks_again_and_a_new_request_waits(stack, request_id)


async def test_after_a_denial_found_by_the_poller_asking_again_makes_a_new_request(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    await _waiting_in_status(stack)
    await decide_in_tenant(stack, request_id, "Deny")
    assert await poll_once(stack) == 1

    await _asks_again_and_a_new_request_waits(stack, request_id)


async def test_after_cancelling_asking_again_makes_a_new_request(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    await _waiting_in_status(stack)
    before = len(texts(stack, ALICE))
    status = await cancel_typed(stack)
    assert status == 201
    assert any("I cancelled your request" in t for t in texts(stack, ALICE, before))

    await _asks_again_and_a_new_request_waits(stack, request_id)
