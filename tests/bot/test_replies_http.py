"""Replies a Teams user would call polished (issue 11, points 4–7), through POST /api/messages against the simulated
tenant: benign outcomes in a neutral colour, the five-minute rule of deactivation without losing the activation card."""

from __future__ import annotations

import math
import re
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cards.wording import format_time
from tests.bot.conftest import Stack
from tests.bot.test_activation_http import assignment_requests, facts, say
from tests.cards.cardtools import buttons, element, maybe_element, walk
from tests.fakes import activities as act

BERLIN = ZoneInfo("Europe/Berlin")


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
    # The click carries no time zone (the typed command did): the same instants, in UTC.
    kept = facts(answer, "outcome-0-facts")
    assert kept == {
        "Starts": format_time(started, None),
        "Ends": format_time(started + timedelta(hours=1), None, reference=started),
        "Duration": shown["Duration"],
    }
    earliest = started + timedelta(minutes=5)
    minute = earliest.replace(second=0, microsecond=0)
    minute += timedelta(minutes=1) if minute != earliest else timedelta(0)
    left = math.ceil((earliest - clock.now()).total_seconds() / 60)
    note = element(answer, "outcome-0-note")["text"]
    assert note.startswith(f"You can deactivate from {minute.astimezone(UTC):%H:%M} (in {left} min).")
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
    ready = (clock.now() + timedelta(minutes=5)).astimezone(BERLIN)
    ready += timedelta(minutes=1) if ready.second or ready.microsecond else timedelta(0)
    assert f"from {ready:%H:%M} (in 5 min)" in element(card, "outcome-0-note")["text"]
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
