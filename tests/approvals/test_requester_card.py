"""Issue 4: once a request waiting for approval settles (approved, denied, cancelled, expired), the requester's own
'waiting for approval' card is updated in place to a read-only version that says so: no Cancel button is left on a
request that no longer waits. Through POST /api/messages with the simulated tenant and the recording Bot Connector.
"""

from __future__ import annotations

import pytest

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import (
    CAROL,
    assert_settled,
    click,
    decide_in_tenant,
    poll_once,
    request_approval,
    requester_updates,
    waiting_card,
    warnings,
)
from tests.support.cards import element, maybe_element
from tests.support.chat import cancel_typed, self_activations
from tests.support.stack import Stack


async def test_an_approval_turns_the_requesters_card_read_only(stack: Stack) -> None:
    request_id, bob_card, _ = await request_approval(stack)
    sent = waiting_card(stack, request_id)
    assert requester_updates(stack, sent.activity_id) == []

    await click(stack, BOB, bob_card, "approve", "ok for the patch window")

    [card] = requester_updates(stack, sent.activity_id)
    assert_settled(card, "Approved", "Approved by Bob Builder at ")
    assert element(card, "outcome-0-message")["text"].endswith(" — ok for the patch window")
    assert element(card, "outcome-0-state")["color"] == "Good"


async def test_a_denial_turns_the_requesters_card_read_only(stack: Stack) -> None:
    request_id, _, carol_card = await request_approval(stack)
    sent = waiting_card(stack, request_id)

    await click(stack, CAROL, carol_card, "deny", "no change ticket")

    [card] = requester_updates(stack, sent.activity_id)
    assert_settled(card, "Denied", "Denied by Carol Chen at ")
    assert element(card, "outcome-0-state")["color"] == "Attention"


@pytest.mark.parametrize("how", ["command", "button"])
async def test_cancelling_turns_the_requesters_card_read_only(stack: Stack, how: str) -> None:
    request_id, _, _ = await request_approval(stack)
    sent = waiting_card(stack, request_id)

    if how == "command":
        await cancel_typed(stack)
    else:
        button = element(sent.card or {}, "outcome-0-cancel")
        status, _ = await stack.post(
            act.card_execute(stack.service_url, button["verb"], button["data"], sent.activity_id, ALICE)
        )
        assert status == 200

    [card] = requester_updates(stack, sent.activity_id)
    assert_settled(card, "Cancelled", "Cancelled by the requester at ")


async def test_an_approval_in_the_portal_reaches_the_requesters_card(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    sent = waiting_card(stack, request_id)
    await decide_in_tenant(stack, request_id, "Approve")

    assert await poll_once(stack) == 1

    [card] = requester_updates(stack, sent.activity_id)
    assert_settled(card, "Approved", "Approved")
    assert await poll_once(stack) == 0 and len(requester_updates(stack, sent.activity_id)) == 1


async def test_expiry_and_then_the_card_a_resubmit_click_answered_with_are_both_updated(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    stack.sim.tenant.advance(23 * 3600 + 60)
    await poll_once(stack)
    [warning] = warnings(stack)
    stack.sim.tenant.advance(3600)
    await poll_once(stack)  # the first request expires; its card says so
    [card] = requester_updates(stack, waiting_card(stack, request_id).activity_id)
    assert_settled(card, "Expired", "Expired: nobody decided within 24 hours.")

    button = element(warning, "resubmit")
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], "warning-card", ALICE)
    )
    assert status == 200 and maybe_element(body["value"], "outcome-0-cancel") is not None
    second = self_activations(stack)[-1]["id"]
    assert second != request_id

    await cancel_typed(stack)

    [card] = requester_updates(stack, "warning-card")  # the invoke's answer replaced the warning card in place
    assert_settled(card, "Cancelled", "Cancelled by the requester at ")
