"""Scheduled activations and "is it live?" (issue 14 points 1 and 2), through POST /api/messages against the simulated
tenant: the start said in the user's zone and sent to PIM as a future startDateTime, `status` while it waits, `cancel`,
the 1:1 message when it starts, and the directory check after an activation (with the tenant's membership lag)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from app import PARTS_KEY
from bot.live import LiveDesk
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from tests.support.cards import buttons, card_text, element, facts
from tests.support.chat import EXCHANGE, cancel_typed, say, self_activations
from tests.support.stack import Stack

# Monday 7 December 2026, 12:00 in Berlin (Alice's zone in the test activities).
NOON_BERLIN = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def frozen_at(stack: Stack, when: datetime = NOON_BERLIN) -> None:
    stack.sim.tenant.clock.set(when)
    stack.sim.tenant.clock.freeze()


def live(stack: Stack) -> LiveDesk:
    desk: LiveDesk = stack.server.app[PARTS_KEY].live
    return desk


def alices_chat(stack: Stack) -> list[Any]:
    return stack.connector.messages(act.personal_conversation(ALICE)["id"])


async def test_a_scheduled_activation_waits_in_pim_shows_in_status_and_is_announced_when_it_starts(
    stack: Stack,
) -> None:
    frozen_at(stack)
    card = await say(stack, "activate Exchange-Admins 2h at 14:00")

    assert element(card, "outcome-0-state")["text"] == "Scheduled"
    assert facts(card, "outcome-0-facts")["Starts"] == "Mon, Dec 7, 2:00 PM (CET)"  # said back in her zone
    [request] = self_activations(stack)
    assert request["scheduleInfo"]["startDateTime"].startswith("2026-12-07T13:00:00")  # PIM gets UTC
    assert request["status"] == "Granted"  # until it starts (simtenant Settings.scheduled_request_status)
    assert stack.sim.tenant.members(EXCHANGE) == []
    assert [b["title"] for b in buttons(card)] == ["Cancel"]

    status = await say(stack, "status")
    detail = element(status, "scheduled-0-detail")["text"]
    assert "starts Mon, Dec 7, 2:00 PM (CET)" in detail and "PIM: Granted" in detail
    assert [b["title"] for b in buttons(status) if b["id"].startswith("scheduled-")] == ["Cancel"]

    assert await live(stack).cycle() == 0  # not due yet
    before = len(alices_chat(stack))
    stack.sim.tenant.advance(timedelta(hours=2, minutes=1))
    assert await live(stack).cycle() == 1
    [started] = [m.card for m in alices_chat(stack)[before:]]
    assert element(started, "heading")["text"] == "Your scheduled activation started"
    assert element(started, "outcome-0-state")["text"] == "Active"
    assert element(started, "outcome-0-live")["text"].startswith("In effect now")
    assert "sign out and in again" in element(started, "outcome-0-lag")["text"]
    assert stack.sim.tenant.members(EXCHANGE) == [ALICE.oid]
    assert await live(stack).cycle() == 0  # said once


async def test_a_scheduled_activation_is_cancelled_with_the_typed_command_and_never_announced(stack: Stack) -> None:
    frozen_at(stack)
    stack.sim.tenant.settings.scheduled_request_status = "ScheduleCreated"  # the other status Graph may show
    card = await say(stack, "activate Exchange-Admins 1h tomorrow 9:00")
    assert facts(card, "outcome-0-facts")["Starts"] == "Tue, Dec 8, 9:00 AM (CET)"
    status = await say(stack, "status")
    assert "PIM: ScheduleCreated" in element(status, "scheduled-0-detail")["text"]

    before = len(alices_chat(stack))
    await cancel_typed(stack, "Exchange-Admins")
    question, answer = alices_chat(stack)[before:]
    assert element(question.card, "outcome-0-state")["text"] == "Scheduled"
    assert "cancelled your request for Exchange-Admins" in answer.body["text"]
    [request] = self_activations(stack)
    assert request["status"] == "Canceled"

    stack.sim.tenant.advance(timedelta(days=1))
    assert await live(stack).cycle() == 0
    assert len(alices_chat(stack)) == before + 2  # nothing more said
    assert stack.sim.tenant.members(EXCHANGE) == []


async def test_past_and_ambiguous_starts_are_explained_and_nothing_is_requested(stack: Stack) -> None:
    frozen_at(stack)
    past = await say(stack, "activate Exchange-Admins 2h at 09:00")
    message = element(past, "outcome-0-message")["text"]
    assert "Mon, Dec 7, 9:00 AM (CET) has already passed" in message
    assert "Did you mean Tue, Dec 8, 9:00 AM (CET)?" in message
    ambiguous = await say(stack, "activate Exchange-Admins 2h at 9")
    assert "could be morning or evening" in card_text(ambiguous)
    skipped = await say(stack, "activate Exchange-Admins 1h at 2027-03-28T02:30")
    assert "the clocks go forward" in element(skipped, "outcome-0-message")["text"]
    assert self_activations(stack) == []


async def test_without_a_time_zone_from_teams_the_time_is_utc_and_the_card_says_so(stack: Stack) -> None:
    frozen_at(stack)
    activity = act.message(stack.service_url, "activate Exchange-Admins 2h at 14:00", time_zone=None)
    activity.pop("localTimestamp")
    before = len(alices_chat(stack))
    status, _ = await stack.post(activity)
    assert status == 201
    card = next(m.card for m in reversed(alices_chat(stack)[before:]) if m.card is not None)
    assert "did not send its time zone" in element(card, "outcome-0-note")["text"]
    [request] = self_activations(stack)
    assert request["scheduleInfo"]["startDateTime"].startswith("2026-12-07T14:00:00")


async def test_the_activitys_local_timezone_or_timestamp_offset_place_the_start(stack: Stack) -> None:
    frozen_at(stack)
    activity = act.message(stack.service_url, "activate Exchange-Admins 2h at 14:00", time_zone=None)
    activity["localTimezone"] = "America/New_York"  # Bot Framework Activity schema: IANA name
    assert (await stack.post(activity))[0] == 201
    [request] = self_activations(stack)
    assert request["scheduleInfo"]["startDateTime"].startswith("2026-12-07T19:00:00")


async def test_only_an_offset_from_local_timestamp_is_used_when_no_zone_is_known(stack: Stack) -> None:
    frozen_at(stack)
    activity = act.message(stack.service_url, "activate Exchange-Admins 2h at 18:00", time_zone=None)
    activity["localTimestamp"] = "2026-12-07T16:00:00+05:00"
    assert (await stack.post(activity))[0] == 201
    [request] = self_activations(stack)
    assert request["scheduleInfo"]["startDateTime"].startswith("2026-12-07T13:00:00")


async def test_an_activation_checks_the_directory_and_follows_a_membership_that_lags(stack: Stack) -> None:
    frozen_at(stack)
    stack.sim.tenant.settings.membership_lag_seconds = 30
    card = await say(stack, "activate Exchange-Admins 1h")
    assert element(card, "outcome-0-state")["text"] == "Active"
    assert "does not show you as a member yet" in element(card, "outcome-0-live")["text"]
    checks = [e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/checkMemberGroups")]
    assert checks and all(e["caller"] == "app" for e in checks)  # app-only, one call

    before = len(alices_chat(stack))
    stack.sim.tenant.advance(10)
    assert await live(stack).cycle() == 0  # still lagging: checked again later
    stack.sim.tenant.advance(25)
    assert await live(stack).cycle() == 1
    [told] = alices_chat(stack)[before:]
    assert told.body["text"].startswith("Exchange-Admins: in effect now.")
    assert "35 s after it was activated" in told.body["text"]


async def test_without_lag_the_activation_card_says_in_effect_now(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins 1h")
    assert element(card, "outcome-0-live")["text"] == "In effect now: Microsoft Entra ID shows you as a member."
    assert await live(stack).cycle() == 0  # nothing followed


async def test_a_membership_still_missing_after_the_check_window_is_said_honestly(tmp_path: Any) -> None:
    from tests.support.stack import running_stack

    async with running_stack(tmp_path, LIVE_CHECK_SECONDS="60", LIVE_NOTES="Exchange-Admins=Ask #exchange.") as s:
        frozen_at(s)
        s.sim.tenant.settings.membership_lag_seconds = 3600
        card = await say(s, "activate Exchange-Admins 1h")
        assert element(card, "outcome-0-lag")["text"].endswith("Ask #exchange.")
        before = len(alices_chat(s))
        s.sim.tenant.advance(61)
        assert await live(s).cycle() == 1
        [told] = alices_chat(s)[before:]
        assert "still does not show you as a member" in told.body["text"]


async def test_the_demos_row_in_ten_minutes_is_scheduled_then_announced(stack: Stack) -> None:
    """README's demo table: `activate Helpdesk-Tier1 1h in 10 minutes`."""
    frozen_at(stack)
    card = await say(stack, "activate Helpdesk-Tier1 1h in 10 minutes")
    assert element(card, "outcome-0-state")["text"] == "Scheduled"
    assert facts(card, "outcome-0-facts")["Starts"] == "Mon, Dec 7, 12:10 PM (CET)"
    before = len(alices_chat(stack))
    stack.sim.tenant.advance(timedelta(minutes=9))
    assert await live(stack).cycle() == 0
    stack.sim.tenant.advance(timedelta(minutes=1))
    assert await live(stack).cycle() == 1
    [started] = [m.card for m in alices_chat(stack)[before:]]
    assert element(started, "outcome-0-state")["text"] == "Active"
    assert element(started, "outcome-0-live")["text"].startswith("In effect now")


async def test_a_scheduled_activation_that_needs_approval_says_when_it_would_start_and_waits(stack: Stack) -> None:
    frozen_at(stack)
    card = await say(stack, "activate Security-Operators 1h tomorrow 9:00 because patching")
    assert element(card, "outcome-0-state")["text"] == "Waiting for approval"
    assert facts(card, "outcome-0-facts")["Starts"] == "Tue, Dec 8, 9:00 AM (CET)"
    assert "Once approved, it starts on Tue, Dec 8, 9:00 AM (CET)" in element(card, "outcome-0-message")["text"]
    [request] = self_activations(stack)
    assert (request["status"], request["scheduleInfo"]["startDateTime"][:16]) == ("PendingApproval", "2026-12-08T08:00")
    status = await say(stack, "status")
    assert element(status, "pending-0-detail")["text"].startswith("to start Tue, Dec 8, 9:00 AM (CET), requested")
    before = len(alices_chat(stack))
    stack.sim.tenant.advance(timedelta(hours=21, minutes=1))  # past the start, still undecided
    assert await live(stack).cycle() == 0
    assert len(alices_chat(stack)) == before  # nothing said while it waits


async def test_ownership_is_checked_among_the_groups_owners(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins as owner 1h because audit")
    assert element(card, "outcome-0-live")["text"] == "In effect now: Microsoft Entra ID shows you as an owner."
    owners = [e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/owners")]
    assert owners and all(e["caller"] == "app" for e in owners)


async def test_a_bot_process_started_later_announces_a_start_scheduled_before_it(stack: Stack) -> None:
    from tests.support.stack import another_bot

    frozen_at(stack)
    await say(stack, "activate Exchange-Admins 1h at 13:00")
    stack.sim.tenant.advance(timedelta(hours=1))
    before = len(alices_chat(stack))
    async with another_bot(stack) as restarted:  # the same state file: the watch is a record, not a timer
        assert await live(restarted).cycle() == 1
    [started] = [m.card for m in alices_chat(stack)[before:]]
    assert element(started, "heading")["text"] == "Your scheduled activation started"


async def test_deactivating_a_scheduled_activation_says_to_cancel_it(stack: Stack) -> None:
    frozen_at(stack)
    await say(stack, "activate Exchange-Admins 1h at 15:00")
    card = await say(stack, "deactivate Exchange-Admins")
    message = element(card, "outcome-0-message")["text"]
    assert "scheduled to start on Mon, Dec 7, 3:00 PM (CET)" in message
    assert "Type “cancel Exchange-Admins” to withdraw it." in message


async def test_the_scheduled_cards_cancel_button_cancels_it_as_the_user(stack: Stack) -> None:
    frozen_at(stack)
    card = await say(stack, "activate Exchange-Admins 1h at 16:00")
    [button] = buttons(card)
    status, body = await stack.post(act.card_execute(stack.service_url, button["verb"], button["data"], "a-card"))
    assert status == 200, body
    assert "cancelled your request for Exchange-Admins" in json.dumps(body)
    [request] = self_activations(stack)
    assert request["status"] == "Canceled"
    cancels = [e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/cancel")]
    assert [(e["caller"], e["oid"]) for e in cancels] == [("user", ALICE.oid)]
