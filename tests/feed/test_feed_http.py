"""The admin feed over HTTP (issue 5): an admin types `feed here` in a channel, admins change PIM behind the bot's
back (Graph admin requests with an app token), and after a feed cycle the channel has one card per change — once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.transport.connector import ConnectorError
from cards.wording import FEED_WAITING_FOR_SERVICE_URL, format_time
from core.feed import UnknownFeedGroups
from core.models import TimeStyle
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, FRANK
from simtenant.seed import BOB, CAROL, DAVE, EXCHANGE_ADMINS, INTUNE_ADMINS, SECURITY_OPERATORS, TEAMS_ADMINS
from tests.support.cards import card_text, element
from tests.support.feed import (
    CHANNEL,
    FeedStack,
    feed_here,
    for_days,
    running_feed_stack,
    say_in_channel,
    say_in_channel_card,
    until,
)


async def test_admin_changes_made_outside_the_bot_arrive_in_the_channel_once(feed_stack: FeedStack) -> None:
    await feed_here(feed_stack)
    now = await feed_stack.now()
    await feed_stack.admin("eligibility", "adminAssign", BOB, EXCHANGE_ADMINS, **for_days(now, 30))
    await feed_stack.admin("eligibility", "adminRemove", ALICE.oid, TEAMS_ADMINS)
    await feed_stack.admin(
        "assignment", "adminAssign", CAROL, INTUNE_ADMINS, justification="incident", **until(now + timedelta(hours=4))
    )

    assert await feed_stack.cycle() == 3
    posts = feed_stack.channel_posts()
    texts = [card_text(p.card or {}) for p in posts]
    assert len(posts) == 3 and all(p.card for p in posts), texts
    assert any("Bob Builder" in t and "Exchange-Admins" in t for t in texts), texts
    assert any("Alice Admin" in t and "Teams Admins" in t for t in texts), texts
    assert any("Carol Chen" in t and "Intune-Admins" in t for t in texts), texts

    # Nothing changed since: the next cycles post nothing, and no change is posted twice.
    assert await feed_stack.cycle() == 0
    assert await feed_stack.cycle() == 0
    assert len(feed_stack.channel_posts()) == 3


async def test_an_eligibility_starting_next_week_is_posted_when_it_is_made_and_not_again_when_it_starts(
    feed_stack: FeedStack,
) -> None:
    await feed_here(feed_stack)
    now = await feed_stack.now()
    start = (now + timedelta(days=7)).replace(microsecond=0)
    schedule = {"startDateTime": start.isoformat(), **until(now + timedelta(days=97))["scheduleInfo"]}
    await feed_stack.admin(
        "eligibility", "adminAssign", BOB, EXCHANGE_ADMINS, justification="joins next week", scheduleInfo=schedule
    )
    assert await feed_stack.cycle() == 1  # at once, not when the eligibility starts
    [post] = feed_stack.channel_posts()
    text = card_text(post.card or {})
    assert "Bob Builder" in text and "Exchange-Admins" in text and "joins next week" in text, text
    channel = await feed_stack.desk.channel()
    assert channel is not None
    way = TimeStyle(channel.time_zone, channel.locale)  # the way of the admin who typed `feed here`
    assert f"{format_time(start, way, reference=now)} –" in text, text  # the window's own start
    await feed_stack.graph.advance(7 * 86400 + 60)
    assert await feed_stack.cycle() == 0  # its start is not news a second time
    assert len(feed_stack.channel_posts()) == 1


async def test_an_active_assignment_ending_by_the_tenant_clock_is_posted(feed_stack: FeedStack) -> None:
    now = await feed_stack.now()
    await feed_stack.admin(
        "assignment", "adminAssign", DAVE, EXCHANGE_ADMINS, justification="incident", **until(now + timedelta(hours=2))
    )
    await feed_here(feed_stack)
    await feed_stack.graph.advance(3 * 3600)  # the assignment expires in the tenant
    assert await feed_stack.cycle() == 1
    [post] = feed_stack.channel_posts()
    assert "Dave Diaz" in card_text(post.card or {})


async def test_a_burst_of_fifty_changes_becomes_a_digest(feed_stack: FeedStack) -> None:
    await feed_here(feed_stack)
    now = await feed_stack.now()
    for n in range(50):
        user = f"dddddddd-0000-4000-8000-{n:012d}"
        await feed_stack.sim_control("POST", "/seed/add_user", {"user_id": user, "display_name": f"Temp {n}"})
        await feed_stack.admin("eligibility", "adminAssign", user, EXCHANGE_ADMINS, **for_days(now, 7))
    posted = await feed_stack.cycle()
    posts = feed_stack.channel_posts()
    assert 1 <= len(posts) == posted <= 5, len(posts)
    assert "50" in card_text(posts[0].card or {})
    assert await feed_stack.cycle() == 0


async def test_only_admins_move_the_feed(feed_stack: FeedStack) -> None:
    answer = await say_in_channel(feed_stack, "feed here", FRANK)
    assert "Only the bot's admins can use “feed here”" in answer and "nothing was changed" in answer
    assert await feed_stack.desk.channel() is None
    assert await feed_stack.cycle() == 0

    await feed_here(feed_stack)
    answer = await say_in_channel(feed_stack, "feed off", FRANK)
    assert "Only the bot's admins can use “feed off”" in answer
    channel = await feed_stack.desk.channel()
    assert channel is not None and channel.on


async def test_feed_here_in_a_personal_chat_points_to_the_channel(feed_stack: FeedStack) -> None:
    status, _ = await feed_stack.post(act.message(feed_stack.service_url, "feed here"))
    assert status in (200, 201)
    [reply] = [r for r in feed_stack.connector.messages() if r.body.get("text")]
    assert "in the Teams channel where the admin feed should go" in reply.body["text"]
    assert await feed_stack.desk.channel() is None


async def test_feed_off_stops_posting_and_feed_here_elsewhere_says_where_it_moved_from(
    feed_stack: FeedStack,
) -> None:
    await feed_here(feed_stack)
    answer = await say_in_channel(feed_stack, "feed off")
    assert "The admin feed is off" in answer
    now = await feed_stack.now()
    await feed_stack.admin("eligibility", "adminAssign", BOB, EXCHANGE_ADMINS, **for_days(now, 30))
    assert await feed_stack.cycle() == 0
    assert feed_stack.channel_posts() == []
    assert "is off" in await say_in_channel(feed_stack, "feed status")

    await feed_here(feed_stack)  # on again: a fresh baseline, so the change made while off is not posted
    other = act.channel_message(feed_stack.service_url, "feed here")
    other["channelData"]["channel"] = {"id": "19:audit@thread.tacv2", "name": "Audit"}
    other["conversation"]["id"] = "19:audit@thread.tacv2;messageid=1"
    await feed_stack.post(other)
    [moved] = [r for r in feed_stack.connector.messages("19:audit@thread.tacv2;messageid=1") if r.body.get("text")]
    assert "moved from 19:incidents@thread.tacv2" in moved.body["text"]
    await feed_stack.admin("eligibility", "adminAssign", BOB, SECURITY_OPERATORS, **for_days(now, 30))
    await feed_stack.cycle()  # (the move also woke the background loop: either cycle may be the one that posts)
    assert feed_stack.channel_posts() == []
    assert len(feed_stack.channel_posts("19:audit@thread.tacv2")) == 1


async def test_feed_status_shows_the_channel_and_the_last_poll(feed_stack: FeedStack) -> None:
    await feed_here(feed_stack)
    activity = act.channel_message(feed_stack.service_url, "feed status", FRANK)  # anyone may ask
    await feed_stack.post(activity)
    [reply] = [r for r in feed_stack.connector.messages(activity["conversation"]["id"]) if r.card]
    text = card_text(reply.card or {})
    assert CHANNEL in text


async def test_an_approval_decided_in_teams_is_posted_with_the_approver(feed_stack: FeedStack) -> None:
    await feed_here(feed_stack)
    url = feed_stack.service_url
    await feed_stack.post(act.message(url, "help", act.BOB))  # Bob can be reached in Teams
    await feed_stack.post(act.message(url, "activate Security-Operators 1h because feed drill"))
    [card] = [r for r in feed_stack.connector.messages(f"a:personal-{act.BOB.oid}") if r.card and "refresh" in r.card]
    data = {**element(card.card or {}, "approve")["data"], "reason": "looks fine"}
    status, _ = await feed_stack.post(act.card_execute(url, "approve", data, card.activity_id, act.BOB))
    assert status == 200

    await feed_stack.cycle()
    texts = [card_text(p.card or {}) for p in feed_stack.channel_posts()]
    decided = [t for t in texts if "Bob Builder" in t and "Security-Operators" in t and "Alice Admin" in t]
    assert len(decided) == 1, texts
    assert await feed_stack.cycle() == 0  # the decision is remembered as posted: never again
    assert len(feed_stack.channel_posts()) == len(texts)


async def test_a_refused_post_stays_queued_and_is_posted_later_without_a_repeat_note(feed_stack: FeedStack) -> None:
    await feed_here(feed_stack)
    now = await feed_stack.now()
    await feed_stack.admin("eligibility", "adminAssign", BOB, EXCHANGE_ADMINS, **for_days(now, 30))
    feed_stack.connector.fail_next(503, times=3)  # every retry of the connector client refused
    with pytest.raises(ConnectorError):
        await feed_stack.cycle()
    assert feed_stack.connector.failures == [], feed_stack.connector.failures
    assert feed_stack.channel_posts() == []
    status = await say_in_channel_card(feed_stack, "feed status")
    assert "Posting to the channel failed" in card_text(status)

    assert await feed_stack.cycle() == 1
    [post] = feed_stack.channel_posts()
    assert post.card is not None and "Bob Builder" in card_text(post.card)
    status = await say_in_channel_card(feed_stack, "feed status")
    assert "Posting to the channel failed" not in card_text(status)


async def test_unknown_feed_groups_are_named_when_the_feed_is_set_up(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, FEED_GROUPS="Exchange-Admins, No-Such-Group") as stack:
        answer = await say_in_channel(stack, "feed here")
        assert "now posts here" in answer and "FEED_GROUPS needs fixing" in answer and "“No-Such-Group”" in answer
        with pytest.raises(UnknownFeedGroups):
            await stack.cycle()
        assert "No-Such-Group" in card_text(await say_in_channel_card(stack, "feed status"))


async def test_feed_channel_from_the_settings_posts_once_the_service_url_is_known(tmp_path: Path) -> None:
    configured = "19:configured@thread.tacv2"
    async with running_feed_stack(tmp_path, FEED_CHANNEL=configured) as stack:
        assert await stack.cycle() == 0  # no conversation yet: no service URL to post with
        assert await stack.desk.status_card(None) == FEED_WAITING_FOR_SERVICE_URL
        status, _ = await stack.post(act.message(stack.service_url, "feed status"))  # Teams sends the service URL
        assert status in (200, 201)
        [reply] = [r for r in stack.connector.messages() if r.card]
        assert configured in card_text(reply.card or {})

        assert await stack.cycle() == 0  # the personal chat told the bot its service URL: this is the baseline
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", BOB, EXCHANGE_ADMINS, **for_days(now, 30))
        assert await stack.cycle() == 1
        [post] = stack.channel_posts(configured)
        assert "Bob Builder" in card_text(post.card or {})

        # `feed off` by an admin wins over the setting.
        assert "is off" in await say_in_channel(stack, "feed off")
        await stack.admin("eligibility", "adminAssign", BOB, SECURITY_OPERATORS, **for_days(now, 30))
        assert await stack.cycle() == 0
        assert len(stack.channel_posts(configured)) == 1
