"""Replies a Teams user would call polished (issue 11, points 4–7), through POST /api/messages against the simulated
tenant: benign outcomes in a neutral colour, the five-minute rule of deactivation without losing the activation card."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from cards.wording import format_clock, format_time
from core.models import TimeStyle
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from simtenant import seed
from tests.support.cards import buttons, element, facts, maybe_element, walk
from tests.support.chat import assignment_requests, say
from tests.support.stack import Stack, another_bot

ALICES_WAY = TimeStyle("Europe/Berlin", "en-US")  # as the test activities say (clientInfo timezone, locale)


async def click(stack: Stack, button: dict[str, Any], reply_to: str = "activity-1") -> dict[str, Any]:
    """Action.Execute on `button`; the card the invoke answers with (it replaces the clicked one)."""
    status, body = await stack.post(act.card_execute(stack.service_url, button["verb"], button["data"], reply_to))
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    card: dict[str, Any] = body["value"]
    return card


def deactivations(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in assignment_requests(stack) if r["action"] == "selfDeactivate"]


# ---- point 7: deactivating in PIM's first five minutes ---------------------------------------------------------


async def test_deactivate_clicked_too_soon_keeps_the_activation_card_and_works_from_the_minute_it_names(
    stack: Stack,
) -> None:
    clock = stack.sim.tenant.clock
    clock.freeze()
    activated = await say(stack, "activate Exchange-Admins 1h")
    started = clock.now()
    shown = facts(activated, "outcome-0-facts")
    clock.advance(timedelta(minutes=1, seconds=40))

    answer = await click(stack, buttons(activated)[0])

    # Still the activation card: its state, its window (the end time above all) and its Deactivate button.
    assert element(answer, "heading")["text"] == "Activation"
    assert element(answer, "outcome-0-state")["text"] == "Active"
    # The click carries no time zone; the typed command did, and the answer is written the same way (Berlin, en-US).
    kept = facts(answer, "outcome-0-facts")
    assert kept == {
        "Starts": format_time(started, ALICES_WAY),
        "Ends": format_time(started + timedelta(hours=1), ALICES_WAY, reference=started),
        "Duration": shown["Duration"],
    }
    assert kept["Ends"] == shown["Ends"]
    earliest = started + timedelta(minutes=5)
    minute = earliest.replace(second=0, microsecond=0)
    minute += timedelta(minutes=1) if minute != earliest else timedelta(0)
    left = math.ceil((earliest - clock.now()).total_seconds() / 60)
    note = element(answer, "outcome-0-note")["text"]
    assert note.startswith(
        f"You can deactivate from {format_clock(minute, ALICES_WAY, reference=clock.now())} (in {left} min)."
    )
    assert not any(o.get("color") == "Attention" for o in walk(answer))
    assert deactivations(stack) == []

    clock.set(earliest - timedelta(seconds=1))  # a second early: still refused, the card still kept
    answer = await click(stack, buttons(answer)[0])
    assert element(answer, "outcome-0-state")["text"] == "Active" and deactivations(stack) == []

    clock.set(minute)  # the minute the note named: the same button works
    done = await click(stack, buttons(answer)[0])
    assert element(done, "outcome-0-state")["text"] == "Deactivated"
    assert len(deactivations(stack)) == 1


async def test_deactivate_typed_too_soon_shows_the_activation_still_running_and_when_it_can_end(stack: Stack) -> None:
    clock = stack.sim.tenant.clock
    clock.freeze()
    activated = await say(stack, "activate Exchange-Admins 2h")

    card = await say(stack, "deactivate Exchange-Admins")

    assert element(card, "heading")["text"] == "Deactivation"
    assert (element(card, "outcome-0-state")["text"], element(card, "outcome-0-state")["color"]) == (
        "Still active",
        "Good",
    )
    assert facts(card, "outcome-0-facts")["Ends"] == facts(activated, "outcome-0-facts")["Ends"]
    ready = clock.now() + timedelta(minutes=5)
    ready += timedelta(minutes=1) if ready.second or ready.microsecond else timedelta(0)
    ready = ready.replace(second=0, microsecond=0)
    assert (
        f"from {format_clock(ready, ALICES_WAY, reference=clock.now())} (in 5 min)"
        in element(card, "outcome-0-note")["text"]
    )
    assert maybe_element(card, "outcome-0-message") is None
    assert [b["title"] for b in buttons(card)] == ["Deactivate"]


# ---- point 6: benign outcomes are not red failures ---------------------------------------------------------------


async def test_already_active_and_nothing_to_deactivate_are_said_neutrally(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    again = await say(stack, "activate Exchange-Admins 1h")
    nothing = await say(stack, "deactivate Helpdesk-Tier1")

    assert (element(again, "outcome-0-state")["text"], element(again, "outcome-0-state")["color"]) == (
        "Already active",
        "Accent",
    )
    assert "already active until" in element(again, "outcome-0-message")["text"]
    assert (element(nothing, "outcome-0-state")["text"], element(nothing, "outcome-0-state")["color"]) == (
        "Nothing to deactivate",
        "Accent",
    )
    assert not any(o.get("color") == "Attention" for card in (again, nothing) for o in walk(card))


# ---- point 5: the status card's hint and Activate buttons --------------------------------------------------------


def _eligible_rows(card: dict[str, Any]) -> dict[str, str]:
    """Eligible row id -> its title ("Exchange-Admins · Member")."""
    rows = [o["id"] for o in walk(card) if re.fullmatch(r"eligible-\d+", str(o.get("id", "")))]
    return {r: element(card, f"{r}-title")["text"] for r in rows}


def _row_of(card: dict[str, Any], title: str) -> str:
    return next(r for r, t in _eligible_rows(card).items() if t == title)


async def test_the_status_hint_names_a_group_the_bot_then_activates(stack: Stack) -> None:
    card = await say(stack, "status")

    hint = element(card, "active-empty")["text"]
    assert "<group>" not in hint
    typed = hint.split("type “", 1)[1].removesuffix("”.")
    assert typed == "activate Exchange-Admins 1h"
    activated = await say(stack, typed)
    assert element(activated, "outcome-0-state")["text"] == "Active"


async def test_each_eligible_row_activates_for_the_policy_maximum_or_asks_for_what_the_policy_wants(
    stack: Stack,
) -> None:
    card = await say(stack, "status")
    rows = _eligible_rows(card)
    # Intune-Admins' eligibility starts next week: no button; every row in effect has one.
    assert {title for r, title in rows.items() if maybe_element(card, f"{r}-activate") is None} == {
        "Intune-Admins · Member"
    }

    done = await click(stack, element(card, f"{_row_of(card, 'Exchange-Admins · Member')}-activate"))
    assert element(done, "outcome-0-state")["text"] == "Active"
    assert "Used the policy maximum of 8 h" in element(done, "outcome-0-note")["text"]
    asked = await click(stack, element(card, f"{_row_of(card, 'Teams Admins · Member')}-activate"))
    assert {e["id"] for e in walk(asked) if str(e.get("type", "")).startswith("Input.")} == {"justification", "ticket"}
    assert [r["groupId"] for r in assignment_requests(stack)] == ["bbbbbbbb-0000-4000-8000-000000000001"]

    # Active now: the row loses its button, the active one has Deactivate.
    again = await say(stack, "status")
    assert maybe_element(again, f"{_row_of(again, 'Exchange-Admins · Member')}-activate") is None
    assert element(again, "active-0-deactivate")["verb"] == "deactivate"


# ---- point 4: slips get one line and buttons from the user's own groups ------------------------------------------


async def slip(stack: Stack, text: str, user: act.TeamsUser = ALICE) -> dict[str, Any]:
    """`text` in the 1:1 chat; its answer, checked to be a slip card (one line and buttons), not the help card."""
    card = await say(stack, text, user)
    assert [e["id"] for e in card["body"]] == ["line", "suggestions"], card
    assert maybe_element(card, "examples") is None
    return card


def titles(card: dict[str, Any]) -> list[str]:
    return [b["title"] for b in buttons(card)]


async def graph_round_trips(stack: Stack) -> int:
    return int((await stack.sim_control("GET", "/stats"))["graph_requests"])


async def test_an_unknown_word_gets_a_line_and_buttons_that_work(stack: Stack) -> None:
    card = await slip(stack, "asdf")

    assert element(card, "line")["text"].startswith("I didn't understand “asdf”.")
    assert titles(card) == ["Activate Exchange-Admins for 1 h", "Show status", "All commands"]
    activated, status, usage = [await click(stack, b) for b in buttons(card)]
    assert element(activated, "outcome-0-state")["text"] == "Active"
    assert [r["scheduleInfo"]["expiration"]["duration"] for r in assignment_requests(stack)] == ["PT1H"]
    assert element(status, "heading")["text"] == "Your PIM groups"
    assert element(usage, "example-0-command")["text"] == "activate Exchange-Admins 2h"


async def test_the_buttons_work_on_old_clients_too(stack: Stack) -> None:
    card = await slip(stack, "asdf")
    status = next(b for b in buttons(card) if b["title"] == "Show status")

    before = len(stack.connector.messages())
    code, _ = await stack.post(act.card_submit(stack.service_url, status["fallback"]["data"], "activity-1"))

    assert code == 201
    [answer] = [r.card for r in stack.connector.messages()[before:] if r.card is not None]
    assert element(answer, "heading")["text"] == "Your PIM groups"


async def test_thanks_is_answered_kindly(stack: Stack) -> None:
    card = await slip(stack, "thanks!")
    assert element(card, "line")["text"] == "You're welcome! Anything else?"
    assert len(buttons(card)) == 3


async def test_activate_without_a_group_offers_the_users_groups_for_that_duration(stack: Stack) -> None:
    card = await slip(stack, "activate 1h")

    assert element(card, "line")["text"] == (
        "Which group should I activate for 1 h? Choose one below, or type “activate Exchange-Admins 1h”."
    )
    assert titles(card) == ["Activate Exchange-Admins for 1 h", "Activate Finance-Prod for 1 h", "Show status"]
    assert "Intune-Admins" not in str(card)  # its eligibility starts next week


async def test_a_bare_cancel_offers_the_waiting_request_and_the_button_cancels_it(stack: Stack) -> None:
    card = await slip(stack, "cancel")
    assert element(card, "line")["text"] == "You have no request waiting for approval, so there is nothing to cancel."
    assert titles(card) == ["Show status", "All commands"]

    await say(stack, "activate Security-Operators 1h because incident INC-9")
    card = await slip(stack, "cancel")

    assert element(card, "line")["text"] == "Which request should I cancel? Choose one below."
    assert titles(card) == ["Cancel the Security-Operators request", "Show status", "All commands"]
    status, body = await stack.post(
        act.card_execute(stack.service_url, "cancel", buttons(card)[0]["data"], "activity-1")
    )
    assert status == 200
    [request] = [r for r in assignment_requests(stack) if r["action"] == "selfActivate"]
    assert request["status"] == "Canceled", body


async def test_a_mistyped_verb_is_offered_as_the_command_it_would_have_been(stack: Stack) -> None:
    card = await slip(stack, "actvate exchange admins 2h")

    assert element(card, "line")["text"] == (
        "I didn't understand “actvate”. Did you mean “activate exchange admins 2h”?"
    )
    done = await click(stack, buttons(card)[0])
    assert element(done, "outcome-0-state")["text"] == "Active"
    assert [r["scheduleInfo"]["expiration"]["duration"] for r in assignment_requests(stack)] == ["PT2H"]


async def test_a_typo_in_a_group_name_offers_the_close_groups_as_buttons(stack: Stack) -> None:
    card = await say(stack, "activate Exchnge-Admin 1h")
    assert "Did you mean Exchange-Admins" in element(card, "outcome-0-message")["text"]

    done = await click(stack, element(card, "outcome-0-suggestion-0"))

    assert element(done, "outcome-0-state")["text"] == "Active"
    assert [(r["groupId"], r["scheduleInfo"]["expiration"]["duration"]) for r in assignment_requests(stack)] == [
        ("bbbbbbbb-0000-4000-8000-000000000001", "PT1H")
    ]


async def test_a_slip_costs_one_graph_read_cold_and_none_warm(stack: Stack) -> None:
    await stack.sim_control("POST", "/stats/reset")
    await slip(stack, "asdf")
    assert await graph_round_trips(stack) == 1  # the user's snapshot, app-only, one $batch

    await stack.sim_control("POST", "/stats/reset")
    await slip(stack, "activate 1h")
    await slip(stack, "thanks")
    assert await graph_round_trips(stack) == 0  # served from the snapshot just read


async def test_a_slip_in_a_channel_shows_nothing_of_the_users_access_and_reads_nothing(stack: Stack) -> None:
    await stack.sim_control("POST", "/stats/reset")
    activity = act.channel_message(stack.service_url, "activate 1h")
    status, _ = await stack.post(activity)
    assert status == 201
    [reply] = stack.connector.messages(activity["conversation"]["id"])
    card = reply.card or {}

    assert titles(card) == ["All commands"]
    assert "private chat" in element(card, "line")["text"]
    assert await graph_round_trips(stack) == 0 and stack.connector.created == []

    # "All commands" clicked there (an old client's Action.Submit) is answered there: the channel's help.
    click_in_channel = act.card_submit(stack.service_url, buttons(card)[0]["fallback"]["data"], "activity-1")
    click_in_channel.update(conversation=activity["conversation"], channelData=activity["channelData"])
    status, _ = await stack.post(click_in_channel)
    assert status == 201 and stack.connector.created == []
    help_card = stack.connector.messages(activity["conversation"]["id"])[-1].card or {}
    assert element(help_card, "example-0-command")["text"] == "feed here"


# ---- help lists the admin commands to admins ----------------------------------------------------------------------


def admin_commands(card: dict[str, Any]) -> list[str]:
    return [o["text"] for o in walk(card) if re.fullmatch(r"admin-\d+-command", str(o.get("id", "")))]


async def test_help_lists_the_admin_commands_to_admins_named_or_by_group(stack: Stack) -> None:
    assert admin_commands(await say(stack, "help")) == []  # nobody is an admin here

    async with another_bot(stack, BOT_ADMINS=BOB.oid) as named:
        assert admin_commands(await say(named, "help", BOB)) == [
            "feed here",
            "approvals here Security-Operators",
            "approvals status",
            "audit export 2026-11-01 2026-11-30",
        ]
        assert admin_commands(await say(named, "help")) == []  # Alice is not named
    async with another_bot(stack, BOT_ADMIN_GROUP=seed.HELPDESK_STAFF) as by_group:
        assert len(admin_commands(await say(by_group, "help"))) == 4  # Alice is a member of Helpdesk-Staff
        assert admin_commands(await say(by_group, "help", BOB)) == []


async def test_show_status_clicked_in_a_channel_answers_in_the_1_1_chat(stack: Stack) -> None:
    await say(stack, "help")  # Alice has a 1:1 chat with the bot
    channel = act.channel_message(stack.service_url, "")
    run = act.card_execute(stack.service_url, "run", {"pim": 1, "command": "status"}, "activity-1")
    run.update(conversation=channel["conversation"], channelData=channel["channelData"])

    status, body = await stack.post(run)

    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    thread = stack.connector.messages(channel["conversation"]["id"])
    assert all(r.card is None for r in thread)  # nothing of Alice's access where others read
    private = stack.connector.messages(act.personal_conversation(ALICE)["id"])
    assert element(private[-1].card or {}, "heading")["text"] == "Your PIM groups"
