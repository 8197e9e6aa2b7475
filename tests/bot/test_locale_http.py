"""Issue 11, point 10, through POST /api/messages: dates and times follow the user's locale (the activity's `locale`)
and zone (clientInfo `timezone`), the zone named as people know it, never by its IANA id; an approver's card is
written the approver's way, not the requester's."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import CAROL, approval_cards, conversation
from tests.support.cards import buttons, facts
from tests.support.chat import say
from tests.support.stack import Stack

# A weekday, a date and a time, the zone last: "Sun, Nov 22, 2:05 PM (EST)" (month first, 12 hours) or
# "Sun 22 Nov, 14:05 (CET)" (day first, 24 hours).
MONTH_FIRST_12H = r"[A-Z][a-z]{2}, [A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2} [AP]M \((?P<zone>[^)]+)\)"
DAY_FIRST_24H = r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2} \((?P<zone>[^)]+)\)"


def no_zone_ids(stack: Stack) -> None:
    sent = json.dumps([r.body for r in stack.connector.sent])
    assert not re.search(r"\((?:America|Europe|Asia|Australia)/", sent), "an IANA id was shown"


@pytest.mark.parametrize(
    ("locale", "zone", "pattern", "zone_names"),
    [
        ("en-US", "America/New_York", MONTH_FIRST_12H, {"EST", "EDT"}),
        ("en-GB", "Europe/London", DAY_FIRST_24H, {"GMT", "BST"}),
        ("de-DE", "Europe/Berlin", DAY_FIRST_24H, {"CET", "CEST"}),
        ("en-US", "Asia/Dubai", MONTH_FIRST_12H, {"Dubai time"}),
    ],
)
async def test_the_activation_card_reads_the_users_way(
    stack: Stack, locale: str, zone: str, pattern: str, zone_names: set[str]
) -> None:
    card = await say(stack, "activate Exchange-Admins 2h", time_zone=zone, locale=locale)
    for title in ("Starts", "Ends"):
        shown = facts(card, "outcome-0-facts")[title]
        match = re.fullmatch(pattern, shown)
        assert match is not None and match["zone"] in zone_names, shown
    no_zone_ids(stack)


async def test_the_answer_to_a_click_reads_like_the_answer_to_the_command(stack: Stack) -> None:
    # A card click's invoke carries no clientInfo: the user's last message said how they read times.
    card = await say(stack, "activate Exchange-Admins 2h", time_zone="America/New_York", locale="en-US")
    button = next(b for b in buttons(card) if b["title"] == "Deactivate")
    status, body = await stack.post(act.card_execute(stack.service_url, "deactivate", button["data"], "a-card"))
    assert status == 200, body
    answer: dict[str, Any] = body["value"]
    if "outcome-0-facts" in json.dumps(answer):  # PIM's first five minutes: the activation is shown again
        assert facts(answer, "outcome-0-facts")["Ends"] == facts(card, "outcome-0-facts")["Ends"]
    assert re.search(r"\d{1,2}:\d{2} [AP]M", json.dumps(answer)), answer
    no_zone_ids(stack)


async def test_each_approver_reads_the_request_their_own_way(stack: Stack) -> None:
    await stack.post(act.message(stack.service_url, "help", BOB, time_zone="Europe/London", locale="en-GB"))
    await stack.post(act.message(stack.service_url, "help", CAROL, time_zone="America/New_York", locale="en-US"))
    await stack.post(
        act.message(
            stack.service_url,
            "activate Security-Operators 1h because incident INC-9",
            ALICE,
            time_zone="Asia/Tokyo",
            locale="ja-JP",
        )
    )
    [bob_card] = approval_cards(stack, BOB)
    [carol_card] = approval_cards(stack, CAROL)
    bob = facts(bob_card.card or {}, "facts")["Requested at"]
    carol = facts(carol_card.card or {}, "facts")["Requested at"]
    assert re.fullmatch(DAY_FIRST_24H, bob) and re.search(r"\((GMT|BST)\)$", bob), bob
    assert re.fullmatch(MONTH_FIRST_12H, carol) and re.search(r"\((EST|EDT)\)$", carol), carol
    alice = [
        r.card for r in stack.connector.messages(conversation(ALICE)) if r.card and "outcome-0-facts" in str(r.card)
    ]
    expires = facts(alice[-1] or {}, "outcome-0-facts")["Request expires (if nobody decides)"]
    assert re.fullmatch(DAY_FIRST_24H, expires) and expires.endswith("(JST)"), expires
    no_zone_ids(stack)
