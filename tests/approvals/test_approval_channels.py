"""Approvals channels (issue 4, point 2) through POST /api/messages: an admin types `approvals here <group>` in a Teams
channel (or APPROVAL_CHANNELS maps the group), and each request of that group that needs approval is also posted
there: read-only for everyone, refreshed into Approve/Deny for the approvers; a click there decides as the clicker
(delegated PATCH) or is refused before Graph; every later update re-renders the channel post.

Security-Operators (seed "demo"): approvers Bob and PIM-Approvers (Carol, Dave). Frank is the bot's admin
(BOT_ADMINS) unless a test says otherwise; Alice asks for access.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cards.times import format_time
from core.models import TimeStyle
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, FRANK, TeamsUser
from devtools.teams.connector import Recorded
from tests.support.approvals import (
    CAROL,
    DAVE,
    answered_card,
    approval_cards,
    approval_patches,
    approval_writes,
    conversation,
    hello,
    poll_once,
    spread,
    texts,
)
from tests.support.cards import element, maybe_element, request_id_of
from tests.support.chat import cancel_typed, self_activations
from tests.support.stack import Stack, another_bot, no_bot_yet

SECOPS = "bbbbbbbb-0000-4000-8000-000000000003"  # Security-Operators (simtenant.seed.SECURITY_OPERATORS)
CHANNEL = "19:incidents@thread.tacv2"  # where devtools.teams.activities.channel_message posts
SETTINGS_CHANNEL = "19:secops-approvals@thread.tacv2"

StackFactory = Callable[..., Awaitable[Stack]]

BERLIN_EN_US = TimeStyle("Europe/Berlin", "en-US")  # as the test activities say (clientInfo, locale)


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[StackFactory]:
    """Bots with extra settings, one per call, on one tenant, connector and state file (tests.support.stack)."""
    async with no_bot_yet(tmp_path) as base, AsyncExitStack() as bots:

        async def make(**extra: str) -> Stack:
            return await bots.enter_async_context(another_bot(base, **extra))

        yield make


async def in_channel(stack: Stack, text: str, user: TeamsUser = FRANK) -> str:
    """`text` typed in the #incidents channel with the bot @mentioned; the bot's text reply in that thread."""
    activity = act.channel_message(stack.service_url, text, user)
    status, _ = await stack.post(activity)
    assert status == 201
    [reply] = [
        r
        for r in stack.connector.messages(activity["conversation"]["id"])
        if r.body.get("text") and r.body.get("replyToId") == activity["id"]
    ]
    return str(reply.body["text"])


def channel_posts(stack: Stack, channel: str = CHANNEL) -> list[Recorded]:
    """New posts the bot made in a channel (each its own thread: `<channel>;messageid=<id>`)."""
    return [r for r in stack.connector.messages() if r.conversation_id.startswith(f"{channel};messageid=activity-")]


async def activate_secops(stack: Stack) -> tuple[str, str]:
    """Bob and Carol have chatted with the bot; Alice asks for Security-Operators. (request id, what Alice was told)."""
    await hello(stack, BOB, CAROL)
    status, _ = await stack.post(act.message(stack.service_url, "activate Security-Operators 1h because INC-9", ALICE))
    assert status == 201
    [request] = self_activations(stack)
    [told] = [t for t in texts(stack, ALICE) if "sent your request" in t]
    return str(request["id"]), told


def channel_invoke(stack: Stack, post: Recorded, verb: str, user: TeamsUser, **data: Any) -> dict[str, Any]:
    """A click on the channel post, as Teams sends it: an invoke from the post's thread, replying to the post."""
    payload = {"pim": 1, "requestId": data.pop("request_id"), **data}
    activity = act.card_execute(stack.service_url, verb, payload, post.activity_id, user)
    activity["conversation"] = {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": act.DEMO_TENANT,
        "id": post.conversation_id,
    }
    activity["channelData"] = {
        "channel": {"id": CHANNEL},
        "team": {"id": "19:team-ops"},
        "tenant": {"id": act.DEMO_TENANT},
    }
    return activity


async def click_in_channel(stack: Stack, post: Recorded, verb: str, user: TeamsUser, **data: Any) -> dict[str, Any]:
    status, body = await stack.post(channel_invoke(stack, post, verb, user, **data))
    assert status == 200, body
    assert isinstance(body, dict)
    await spread(stack)
    return body


# ---- approvals here / off / status ---------------------------------------------------------------------------------


async def test_an_admin_makes_a_channel_the_approvals_channel_and_requests_are_posted_there(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    answer = await in_channel(stack, "approvals here security-operators")
    assert "Requests for Security-Operators that need approval will now be posted in this channel" in answer

    request_id, told = await activate_secops(stack)

    [post] = channel_posts(stack)
    card = post.card or {}
    facts = {f["title"]: f["value"] for f in element(card, "facts")["facts"]}
    assert request_id_of(card, "request-id") == request_id and facts["Requested by"] == "<at>Alice Admin</at>"
    # Read-only for everyone in the channel; the approvers' clients refresh it into the view with the buttons.
    assert maybe_element(card, "approve") is None
    assert element(card, "state")["text"] == "Waiting for an approver to decide."
    assert card["refresh"]["action"]["verb"] == "refresh"
    assert sorted(card["refresh"]["userIds"]) == sorted([BOB.mri, CAROL.mri])
    assert len(approval_cards(stack, BOB)) == len(approval_cards(stack, CAROL)) == 1  # the 1:1 copies as before
    assert "I also posted it in the group's approvals channel." in told
    assert post.body.get("replyToId") is None  # a new post in the channel (its own thread), not a reply
    assert approval_writes(stack) == []


async def test_an_approvers_click_in_the_channel_decides_as_that_approver_and_every_copy_follows(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    request_id, _ = await activate_secops(stack)
    [post] = channel_posts(stack)
    [bob_card] = approval_cards(stack, BOB)

    refreshed = answered_card(await click_in_channel(stack, post, "refresh", CAROL, request_id=request_id))
    assert element(refreshed, "approve")["type"] == "Action.Execute"  # Carol's own view has the buttons

    final = answered_card(
        await click_in_channel(stack, post, "approve", CAROL, request_id=request_id, reason="fine by me")
    )
    assert element(final, "state")["text"].startswith("Approved by Carol Chen at ")
    [patch] = approval_patches(stack)
    assert patch["oid"] == CAROL.oid and patch["caller"] != "app"
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    puts = {(r.conversation_id, r.activity_id): r for r in stack.connector.sent if r.method == "PUT"}
    # The channel post is updated for everyone (the invoke answer replaces it for Carol only); Bob's copy too.
    channel_copy = puts[(post.conversation_id, post.activity_id)].card or {}
    # Carol's answer is written her way (en-US, Berlin: her messages said so); the post for everyone in UTC.
    at = stack.sim.tenant.requests["assignment"][request_id.lower()].completed
    assert element(final, "state")["text"] == f"Approved by Carol Chen at {format_time(at, BERLIN_EN_US)} — fine by me"
    assert element(channel_copy, "state")["text"] == f"Approved by Carol Chen at {format_time(at, None)} — fine by me"
    assert "refresh" not in channel_copy and maybe_element(channel_copy, "approve") is None
    assert (conversation(BOB), bob_card.activity_id) in puts


async def test_a_click_in_the_channel_by_a_non_approver_or_the_requester_never_reaches_graph(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    request_id, _ = await activate_secops(stack)
    [post] = channel_posts(stack)

    frank = answered_card(await click_in_channel(stack, post, "approve", FRANK, request_id=request_id, reason="x"))
    assert "not an approver" in element(frank, "notice")["text"]
    assert maybe_element(frank, "approve") is None
    alice = answered_card(await click_in_channel(stack, post, "approve", ALICE, request_id=request_id, reason="me"))
    assert "your own request" in element(alice, "notice")["text"]
    refreshed = answered_card(await click_in_channel(stack, post, "refresh", FRANK, request_id=request_id))
    assert maybe_element(refreshed, "approve") is None  # a refresh gives a non-approver the read-only view
    assert approval_writes(stack) == []
    assert stack.sim.tenant.requests["assignment"][request_id.lower()].status == "PendingApproval"
    assert [r for r in stack.connector.sent if r.method == "PUT"] == []


async def test_a_decision_in_a_personal_chat_and_a_cancel_update_the_channel_post(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    await activate_secops(stack)
    [post] = channel_posts(stack)
    [bob_card] = approval_cards(stack, BOB)
    data = {**element(bob_card.card or {}, "deny")["data"], "reason": "not during the freeze"}
    status, body = await stack.post(act.card_execute(stack.service_url, "deny", data, bob_card.activity_id, BOB))
    assert status == 200
    await spread(stack)
    [put] = [r for r in stack.connector.sent if r.method == "PUT" and r.activity_id == post.activity_id]
    state = element(put.card or {}, "state")["text"]
    assert state.startswith("Denied by Bob Builder at ") and state.endswith("not during the freeze")


async def test_the_reminder_in_the_channel_thread_points_to_the_card_not_to_a_personal_command(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    request_id, _ = await activate_secops(stack)
    [post] = channel_posts(stack)
    stack.sim.tenant.advance(61 * 60)
    await poll_once(stack)
    [in_thread] = [
        str(r.body.get("text"))
        for r in stack.connector.messages(post.conversation_id)
        if str(r.body.get("text") or "").startswith("Reminder:")
    ]
    assert request_id in in_thread and "the approval card above" in in_thread.lower()
    assert "pending" not in in_thread  # `pending` lists one's own requests in a 1:1 chat, not in a channel
    [personal] = [t for t in texts(stack, BOB) if t.startswith("Reminder:")]
    assert "type “pending”" in personal


async def test_a_cancelled_request_updates_the_channel_post(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    await activate_secops(stack)
    [post] = channel_posts(stack)
    status = await cancel_typed(stack)
    assert status == 201
    [put] = [r for r in stack.connector.sent if r.method == "PUT" and r.activity_id == post.activity_id]
    assert element(put.card or {}, "state")["text"].startswith("Cancelled by the requester")


async def test_someone_who_is_not_an_admin_is_refused_and_nothing_changes(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    answer = await in_channel(stack, "approvals here Security-Operators", ALICE)
    assert "Only the bot's admins can use “approvals here”" in answer and "nothing was changed" in answer
    assert "Only the bot's admins can use “approvals off”" in await in_channel(
        stack, "approvals off Security-Operators", ALICE
    )
    assert "No group posts its approval requests" in await in_channel(
        stack, "approvals status", ALICE
    )  # anyone may look
    await activate_secops(stack)
    assert channel_posts(stack) == []


async def test_with_no_admins_configured_the_refusal_says_how_to_configure_them(make_stack: StackFactory) -> None:
    stack = await make_stack()
    answer = await in_channel(stack, "approvals here Security-Operators")
    assert "none are set up yet" in answer and "BOT_ADMINS" in answer and "BOT_ADMIN_GROUP" in answer
    await activate_secops(stack)
    assert channel_posts(stack) == []


async def test_members_of_a_nested_admin_group_are_admins(make_stack: StackFactory) -> None:
    admins, leads = "0000ad00-0000-4000-8000-000000000001", "0000ad00-0000-4000-8000-000000000002"
    stack = await make_stack(BOT_ADMIN_GROUP=admins)
    stack.sim.tenant.add_group(leads, "Platform Leads", members=[FRANK.oid], is_assignable_to_role=False)
    stack.sim.tenant.add_group(admins, "Bot Admins", members=[leads], is_assignable_to_role=False)
    assert "will now be posted in this channel" in await in_channel(stack, "approvals here Security-Operators")
    assert "Only the bot's admins" in await in_channel(stack, "approvals off Security-Operators", DAVE)


async def test_in_a_personal_chat_the_bot_says_to_type_it_in_the_channel(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    status, _ = await stack.post(act.message(stack.service_url, "approvals here Security-Operators", FRANK))
    assert status == 201
    [answer] = texts(stack, FRANK)
    assert answer.startswith("Type this in the Teams channel where approvals should go")
    assert "“approvals here Security-Operators”" in answer
    await activate_secops(stack)
    assert channel_posts(stack) == []


async def test_a_bare_approvals_in_a_personal_chat_still_lists_the_approvers_open_requests(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await activate_secops(stack)
    before = len(approval_cards(stack, BOB))
    status, _ = await stack.post(act.message(stack.service_url, "approvals", BOB))
    assert status == 201
    assert len(approval_cards(stack, BOB)) == before + 1


async def test_an_unknown_group_is_named_kindly_and_nothing_changes(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    answer = await in_channel(stack, "approvals here Security-Operatorz")
    assert answer.startswith("I could not find a group named “Security-Operatorz” in the directory")
    assert "nothing was changed" in answer
    assert "No group posts its approval requests" in await in_channel(stack, "approvals status")


async def test_off_and_status_show_and_change_the_mapping_of_this_team(make_stack: StackFactory) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid)
    await in_channel(stack, "approvals here Security-Operators")
    await in_channel(stack, f"approvals here {'bbbbbbbb-0000-4000-8000-000000000001'}")  # by object id
    status = await in_channel(stack, "approvals")
    assert "- Exchange-Admins → this channel (set by Frank Fisher on " in status
    assert "- Security-Operators → this channel (set by Frank Fisher on " in status

    assert "no longer posted in a channel" in await in_channel(stack, "approvals off Security-Operators")
    assert "has no approvals channel set in Teams" in await in_channel(stack, "approvals off Security-Operators")
    assert "Security-Operators" not in await in_channel(stack, "approvals status")
    await activate_secops(stack)
    assert channel_posts(stack) == []


# ---- APPROVAL_CHANNELS -----------------------------------------------------------------------------------------------


async def test_a_channel_from_the_settings_gets_the_posts_and_cannot_be_turned_off_in_teams(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(BOT_ADMINS=FRANK.oid, APPROVAL_CHANNELS=f"{SECOPS}={SETTINGS_CHANNEL}")
    request_id, told = await activate_secops(stack)
    [post] = channel_posts(stack, SETTINGS_CHANNEL)
    assert request_id_of(post.card or {}, "request-id") == request_id
    assert "approvals channel" in told
    assert "set in the bot's settings (APPROVAL_CHANNELS)" in await in_channel(
        stack, "approvals off Security-Operators"
    )

    # A channel set in Teams wins over the setting.
    await in_channel(stack, "approvals here Security-Operators")
    status = await cancel_typed(stack)
    assert status == 201
    stack.sim.tenant.clock.advance(timedelta(minutes=6))
    status, _ = await stack.post(act.message(stack.service_url, "activate Security-Operators 1h because again", ALICE))
    assert status == 201
    assert len(channel_posts(stack, SETTINGS_CHANNEL)) == 1 and len(channel_posts(stack)) == 1
