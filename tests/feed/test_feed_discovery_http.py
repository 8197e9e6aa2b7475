"""FEED_DISCOVER over HTTP (issue 5, point 1): with FEED_GROUPS naming one group, the bot also monitors every group
the PIM audit log names. A group PIM-touched in the tenant, never configured, is found, starts with a baseline (its
existing assignments are not announced), and its later changes are posted; `feed status` says how many were found."""

from __future__ import annotations

from pathlib import Path

from simtenant.seed import BOB, CAROL
from tests.support.cards import card_text, fact
from tests.support.feed import FeedStack, feed_here, for_days, running_feed_stack, say_in_channel, say_in_channel_card

FRESH = "eeeeeeee-0000-4000-8000-000000000001"


def audit_reads(stack: FeedStack) -> int:
    return sum(1 for e in stack.sim.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits")


async def test_a_group_known_only_from_the_audit_log_is_monitored_and_its_changes_posted(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, FEED_GROUPS="Exchange-Admins", FEED_DISCOVER="1") as stack:
        await stack.sim_control("POST", "/seed/add_group", {"group_id": FRESH, "display_name": "Fresh-PIM-Group"})
        now = await stack.now()
        # Made outside the bot before the feed starts: an existing eligibility, and the group's only trace in PIM.
        await stack.admin("eligibility", "adminAssign", BOB, FRESH, **for_days(now, 30))

        answer = await say_in_channel(stack, "feed here")
        assert "I watch 1 group: Exchange-Admins. PIM groups I find in the PIM audit log are added" in answer
        assert await stack.cycle() == 0  # the first cycle reads the audit log and takes a baseline: nothing is posted
        # The cycle `feed here` woke (both spellings of PIM's service, the first time), then this one: one request
        # (the loop's own first cycle may come after the channel is stored, on a busy machine: then one more).
        first = audit_reads(stack)
        assert first in (3, 4), first
        status = await say_in_channel_card(stack, "feed status")
        # The demo's nine PIM groups (simtenant.seed.DEMO_PIM_GROUPS) and the fresh one; Exchange-Admins is one of them.
        assert fact(status, "Monitored") == "10 groups (discovering from the PIM audit log: 10 groups found)"
        assert "Fresh-PIM-Group" in card_text(status) and "Exchange-Admins" in card_text(status)

        await stack.admin("eligibility", "adminAssign", CAROL, FRESH, **for_days(now, 30))
        assert await stack.cycle() == 1
        [post] = stack.channel_posts()
        text = card_text(post.card or {})
        assert "Carol Chen" in text and "Fresh-PIM-Group" in text
        assert "Bob Builder" not in text

        assert await stack.cycle() == 0
        assert audit_reads(stack) == first + 2  # one request a cycle: within the audit API's 5 requests / 10 s


async def test_with_discovery_alone_the_groups_come_from_the_audit_log(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, FEED_GROUPS="", FEED_DISCOVER="1") as stack:
        answer = await say_in_channel(stack, "feed here")
        assert "I watch the PIM groups I find in the PIM audit log, from the first check on." in answer
        assert await stack.cycle() == 0
        status = await say_in_channel_card(stack, "feed status")
        assert fact(status, "Monitored") == "9 groups (discovering from the PIM audit log: 9 groups found)"


async def test_without_feed_discover_only_feed_groups_are_monitored(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, FEED_GROUPS="Exchange-Admins") as stack:
        await stack.sim_control("POST", "/seed/add_group", {"group_id": FRESH, "display_name": "Fresh-PIM-Group"})
        await feed_here(stack)
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, FRESH, **for_days(now, 30))
        before = audit_reads(stack)  # the baseline's and the loop's own first cycles (when that comes is the loop's)
        assert await stack.cycle() == 0
        assert audit_reads(stack) == before + 1  # read every cycle for approval outcomes, but no group taken from it
        status = await say_in_channel_card(stack, "feed status")
        assert fact(status, "Monitored") == "1 group"
