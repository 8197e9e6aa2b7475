"""Issue 4, point 8: one reminder to the approvers after APPROVAL_REMINDER_MINUTES; one warning to the requester an
hour before the 24 h expiry, with a one-click re-submit of the same request. Driven by the poller and the simulated
tenant's clock (the bot's clock follows Graph's Date header, and every poll makes a Graph call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cards.actions import Verb, parse_action_data
from cards.approval import expiry_warning_card
from core.models import Access, Group
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import CAROL, conversation, poll_once, reminders, request_approval, warnings
from tests.support.cards import element
from tests.support.chat import cancel_typed, self_activations
from tests.support.stack import Stack


async def test_one_reminder_after_an_hour_then_one_warning_with_a_resubmit_that_works(stack: Stack) -> None:
    request_id, _, _ = await request_approval(stack)
    stack.sim.tenant.advance(30 * 60)
    await poll_once(stack)
    assert reminders(stack, BOB) == [] and reminders(stack, CAROL) == []

    stack.sim.tenant.advance(31 * 60)  # 61 minutes
    await poll_once(stack)
    [bob] = reminders(stack, BOB)
    assert request_id in bob and "Security-Operators" in bob
    assert len(reminders(stack, CAROL)) == 1
    assert warnings(stack) == []
    await poll_once(stack)
    assert len(reminders(stack, BOB)) == 1 and len(reminders(stack, CAROL)) == 1  # not again

    stack.sim.tenant.advance(22 * 3600)  # 23 h 1 min
    await poll_once(stack)
    [warning] = warnings(stack)
    await poll_once(stack)
    assert len(warnings(stack)) == 1  # once
    assert len(reminders(stack, BOB)) == 1

    button = element(warning, "resubmit")
    action = parse_action_data(button["data"], verb=button["verb"])
    assert action.verb is Verb.ACTIVATE and action.group_name == "Security-Operators"
    assert action.justification == "incident INC-9"


async def test_the_resubmit_button_activates_once_the_old_request_is_cancelled(stack: Stack) -> None:
    """The same button the warning carries (same builder, same record values), clicked once the old request is closed
    by its requester, without moving the clock (the 24 h expiry is the next test)."""
    request_id, _, _ = await request_approval(stack)
    await cancel_typed(stack)
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Canceled"
    old = self_activations(stack)[0]
    warning = expiry_warning_card(
        Group(old["groupId"], "Security-Operators"),
        Access.MEMBER,
        request_id,
        datetime.now(UTC),
        None,
        duration=timedelta(hours=1),
        justification="incident INC-9",
    )
    button = element(warning, "resubmit")
    before = len(self_activations(stack))
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], "warning-card", ALICE)
    )
    assert status == 200
    fresh = self_activations(stack)[before:]
    assert len(fresh) == 1, str(body)[:3000]
    assert fresh[0]["status"] == "PendingApproval" and fresh[0]["id"] != request_id
    assert fresh[0]["justification"] == "incident INC-9"


async def test_send_it_again_after_the_real_24_hour_expiry_submits_a_fresh_request(stack: Stack) -> None:
    """The warning's button, clicked after PIM closed the request at 24 h. By then Alice's delegated token from the
    original request has expired on the tenant's clock: the 401 drops it and the write is retried once with a fresh
    token, so the click makes exactly one new request and Alice is not told of a failure."""
    request_id, _, _ = await request_approval(stack)
    stack.sim.tenant.advance(23 * 3600 + 60)
    await poll_once(stack)
    [warning] = warnings(stack)
    stack.sim.tenant.advance(3600)  # past the 24 h expiry
    await poll_once(stack)
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status in ("Canceled", "Failed")

    button = element(warning, "resubmit")
    before = len(self_activations(stack))
    alice_before = len(stack.connector.messages(conversation(ALICE)))
    log_before = len(stack.sim.tenant.log.recent())
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], button["data"], "warning-card", ALICE)
    )
    assert status == 200
    fresh = self_activations(stack)[before:]
    assert len(fresh) == 1, str(body)[:3000]
    assert fresh[0]["status"] == "PendingApproval" and fresh[0]["id"] != request_id
    assert fresh[0]["justification"] == "incident INC-9"
    # One refusal, of the stale token; the fresh one went through.
    assert [e["status"] for e in stack.sim.tenant.log.recent()[log_before:] if e["caller"] != "app"].count(401) == 1
    assert "Not activated" not in str(body) and "permission" not in str(body)
    assert all("permission" not in str(r.body) for r in stack.connector.messages(conversation(ALICE))[alice_before:])
