"""Issue 11, points 8 and 9, through POST /api/messages: the approval cards' times say what they are (while it waits,
when the request lapses unless someone decides; once approved, until when the access runs, as PIM scheduled it),
Approve is the primary action, and the cards an approver fetched with `pending` follow the decision like every other
copy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cards.wording import format_time
from core.models import TimeStyle
from devtools.teams import activities as act
from devtools.teams.activities import BOB
from tests.support.approvals import (
    CAROL,
    answered_card,
    approval_cards,
    approver_updates,
    click,
    conversation,
    poll_once,
    reminders,
    request_approval,
)
from tests.support.cards import element, maybe_element
from tests.support.stack import Stack

WAITING = "Request expires (if nobody decides)"


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for f in element(card, "facts")["facts"]}


async def test_a_waiting_card_says_when_the_request_lapses_and_an_approved_one_until_when_access_runs(
    stack: Stack,
) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    waiting = facts(bob_card.card or {})
    assert WAITING in waiting and "Active until" not in waiting and "Expires at" not in waiting
    assert element(bob_card.card or {}, "approve")["style"] == "positive"
    assert element(bob_card.card or {}, "deny")["style"] == "destructive"

    # Bob decides three hours later: PIM schedules the hour from the approval on, not from the request.
    stack.sim.tenant.advance(timedelta(hours=3))
    final = answered_card(await click(stack, BOB, bob_card, "approve", "ok"))

    request = stack.sim.tenant.requests["assignment"][request_id.lower()]
    assert request.schedule_info is not None and request.schedule_info.start is not None
    ends = request.schedule_info.start + timedelta(hours=1)
    assert ends > request.created + timedelta(hours=3)  # not the request's time plus its duration
    # The answer to Bob's click goes out before PIM's end is read; his card gains it with every other copy.
    assert "Active until" not in facts(final) and not [t for t in facts(final) if "expire" in t.lower()]
    [carol_copy] = [u.card for u in approver_updates(stack) if u.activity_id == carol_card.activity_id]
    [bob_copy] = [u.card for u in approver_updates(stack) if u.activity_id == bob_card.activity_id]
    for card in (bob_copy or {}, carol_copy or {}):  # each written the way its reader's messages said (point 10)
        after = facts(card)
        assert after["Active until"] == format_time(ends, TimeStyle("Europe/Berlin", "en-US")), after
        assert not [title for title in after if "expire" in title.lower()], after


async def test_a_denied_card_shows_no_expiry_and_no_end(stack: Stack) -> None:
    _, bob_card, _ = await request_approval(stack)
    final = answered_card(await click(stack, BOB, bob_card, "deny", "not now"))
    after = facts(final)
    assert "Active until" not in after and WAITING not in after
    assert "Requested at" in after


async def test_cards_shown_by_pending_are_updated_after_the_decision(stack: Stack) -> None:
    request_id, bob_card, _ = await request_approval(stack)
    status, _ = await stack.post(act.message(stack.service_url, "pending", CAROL))
    assert status == 201
    [_, from_pending] = approval_cards(stack, CAROL)  # the fan-out's card, then the one `pending` showed

    final = answered_card(await click(stack, BOB, bob_card, "approve", "ok"))

    updated = [u for u in approver_updates(stack) if u.activity_id == from_pending.activity_id]
    assert [u.conversation_id for u in updated] == [conversation(CAROL)]
    assert updated[0].card is not None and maybe_element(updated[0].card, "approve") is None
    assert element(updated[0].card, "state")["text"] == element(final, "state")["text"]


async def test_an_approver_holding_a_second_copy_from_pending_is_reminded_once(stack: Stack) -> None:
    await request_approval(stack)
    await stack.post(act.message(stack.service_url, "pending", CAROL))
    stack.sim.tenant.advance(timedelta(minutes=61))
    await poll_once(stack)
    assert len(reminders(stack, CAROL)) == 1 and len(reminders(stack, BOB)) == 1
