"""PIM's custom extension decided by the rules file, through the real surfaces: the simulated tenant calls the bot's
endpoint during selfActivate (as PIM does, with a token from its Entra), whether the activation comes from the bot or
straight from the person (the portal's way); the requester is told an auto-approval or a denial, approvers see that
the extension passed the request on, the admin feed gets each evaluation once (PIM's retries included), and a rule
that cannot decide in time gets the fallback within the deadline."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import PARTS_KEY
from bot.extension.contract import PATH
from bot.store import keys
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from simtenant.extensions import CustomExtension
from simtenant.seed import EXCHANGE_ADMINS, SECURITY_OPERATORS
from tests.support.approvals import approval_cards, conversation, hello, texts
from tests.support.cards import maybe_element
from tests.support.chat import self_activations
from tests.support.extension import APP_ID_URI, call_extension, callout
from tests.support.feed import FeedStack, feed_here, running_feed_stack

OPS_ROTATION = "cccccccc-0000-4000-8000-0000000000aa"  # a team with a Shifts schedule

RULES = f"""
[[rule]]
name = "ticket"
group = "Exchange-Admins"
require_ticket = {{ pattern = "^INC-[0-9]{{4,}}$", form = "INC- and at least four digits (INC-4711)" }}

[[rule]]
name = "on call"
group = "{SECURITY_OPERATORS}"
access = "member"
[rule.auto_approve]
on_shift = "{OPS_ROTATION}"
schedule = "Ops Rotation"
"""


@pytest.fixture
async def ruled(tmp_path: Path) -> AsyncIterator[FeedStack]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    env = {"PIM_EXTENSION_APP_ID_URI": APP_ID_URI, "PIM_EXTENSION_RULES": str(rules)}
    async with running_feed_stack(tmp_path, **env) as stack:
        stack.sim.tenant.add_group(OPS_ROTATION, "Ops Rotation", members=[ALICE.oid, BOB.oid])
        link_the_bot(stack, EXCHANGE_ADMINS, SECURITY_OPERATORS)
        yield stack


def link_the_bot(stack: FeedStack, *groups: str) -> None:
    """Make the bot the groups' (member) custom extension in the simulated tenant, as `admin extension setup` does:
    PIM then calls it before every activation of them (simtenant.extensions)."""
    tenant = stack.sim.tenant
    for group in groups:
        extension = tenant.add_custom_extension(
            CustomExtension(
                id=str(uuid.uuid4()), display_name="Teams bot rules", target_url=str(stack.server.make_url(PATH)),
                resource_id=APP_ID_URI, resource_type="entraGroups", timeout_ms=10000, max_retries=2,
            )
        )  # fmt: skip
        tenant.link_extension(group, "member", extension.id)


def on_shift(stack: FeedStack, user: str, hours: float = 4) -> None:
    now = stack.sim.tenant.clock.now()
    stack.sim.tenant.add_shift(OPS_ROTATION, user, now - timedelta(hours=1), now + timedelta(hours=hours))


async def stored(stack: FeedStack, request_id: str) -> Any:
    found = await stack.server.app[PARTS_KEY].store.get(keys.extension_evaluation(request_id))
    return found.value if found is not None else None


async def say(stack: FeedStack, text: str) -> list[str]:
    before = len(stack.connector.messages(conversation(ALICE)))
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status == 201
    return texts(stack, ALICE, before)


async def test_a_missing_ticket_is_denied_and_the_requester_told_the_expected_form(ruled: FeedStack) -> None:
    before = len(ruled.connector.messages(conversation(ALICE)))
    status, _ = await ruled.post(act.message(ruled.service_url, "activate Exchange-Admins 1h because patching", ALICE))
    assert status == 201
    assert self_activations(ruled) == []  # PIM refused it: nothing was made
    # The reasons reach Alice once: in the refusal card when Graph's error carried them, else in a line after it.
    replies = ruled.connector.messages(conversation(ALICE))[before:]
    in_cards = json.dumps([r.card for r in replies if r.card], ensure_ascii=False)
    in_lines = [str(r.body.get("text")) for r in replies if r.body.get("text")]
    expected = "A ticket number of the form INC- and at least four digits (INC-4711) is required; none was given"
    told_in_a_line = [line for line in in_lines if expected in line]
    assert (expected in in_cards) != bool(told_in_a_line), (in_cards, in_lines)
    assert len(told_in_a_line) <= 1


async def test_a_good_ticket_goes_on_and_nothing_extra_is_said(ruled: FeedStack) -> None:
    said = await say(ruled, "activate Exchange-Admins 1h because patching ticket INC-4711")
    [request] = self_activations(ruled)
    assert request["status"] == "Provisioned"
    assert (await stored(ruled, request["id"]))["rule"] == "default"
    assert not any("activation rules" in t or "automatically" in t for t in said)


async def test_whoever_is_on_call_is_approved_automatically_and_told_so(ruled: FeedStack) -> None:
    on_shift(ruled, ALICE.oid)
    said = await say(ruled, "activate Security-Operators 1h because incident INC-9")
    [request] = self_activations(ruled)
    assert request["status"] == "Provisioned"  # no approval stage: AutoApproved skips it
    assert "Security-Operators: Approved automatically: you are on call in Ops Rotation." in said
    assert approval_cards(ruled, BOB) == []


async def test_off_shift_the_request_reaches_the_approvers_whose_card_says_the_extension_passed_it(
    ruled: FeedStack,
) -> None:
    await hello(ruled, BOB)
    on_shift(ruled, BOB.oid)  # someone else is on call
    await say(ruled, "activate Security-Operators 1h because incident INC-9")
    [request] = self_activations(ruled)
    assert request["status"] == "PendingApproval"
    [card] = approval_cards(ruled, BOB)
    screened = maybe_element(card.card or {}, "screened")
    assert screened is not None and "passed to you for approval" in screened["text"]


async def test_a_portal_activation_is_decided_by_the_same_rules(ruled: FeedStack) -> None:
    denied = await ruled.graph.activate(EXCHANGE_ADMINS, ALICE.oid, justification="portal")
    assert denied.status == 400 and "CustomExtensionRule" in str(denied.body)
    assert "INC- and at least four digits" in str(denied.body)
    granted = await ruled.graph.activate(EXCHANGE_ADMINS, ALICE.oid, justification="portal", ticket="INC-1234")
    assert granted.status == 201, granted.body


async def test_each_evaluation_is_posted_to_the_feed_once_also_when_pim_retries(ruled: FeedStack) -> None:
    await feed_here(ruled)
    body = callout(group=EXCHANGE_ADMINS, ticket=None)
    first = await call_extension(ruled, body)
    again = await call_extension(ruled, body)  # PIM's retry of the same request
    assert first == again and first[1]["evaluationOutcome"] == "Denied"
    await ruled.cycle()
    await ruled.cycle()
    posts = [p for p in ruled.channel_posts() if "activation rules" in str(p.card) or "rule 'ticket'" in str(p.card)]
    assert len(posts) == 1, [p.card for p in ruled.channel_posts()]
    shown = str(posts[0].card)
    assert "Alice Admin" in shown and "Exchange-Admins" in shown and "Denied" in shown
    assert "A ticket number of the form" in shown


async def test_a_rule_that_cannot_decide_in_time_gets_the_fallback_within_the_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    env = {"PIM_EXTENSION_APP_ID_URI": APP_ID_URI, "PIM_EXTENSION_RULES": str(rules),
           "PIM_EXTENSION_DEADLINE_SECONDS": "1"}  # fmt: skip
    async with running_feed_stack(tmp_path, **env) as stack:
        stack.sim.tenant.add_group(OPS_ROTATION, "Ops Rotation", members=[ALICE.oid])
        on_shift(stack, ALICE.oid)
        await stack.sim_control("POST", "/faults", {"path": "/schedule/shifts", "delay_seconds": 3, "times": 1})
        started = time.monotonic()
        status, answer = await call_extension(stack, callout(group=SECURITY_OPERATORS))
        took = time.monotonic() - started
    assert status == 200 and answer["evaluationOutcome"] == "Approved"
    assert "could not decide in time" in answer["reason"][0] and "'on call'" in answer["reason"][0]
    # The deadline is 1 s and the rule's read takes 3: under 2.5 s, the fallback did not wait for the rule (the slack
    # is for a shared 2-core machine: a clean-clone run beside three memory soaks measured 1.70 s).
    assert took < 2.5, took
    assert "rule 'on call' could not decide within 1 s; answered the fallback Approved" in caplog.text


async def test_a_member_of_the_named_group_is_approved_automatically_through_nested_groups(tmp_path: Path) -> None:
    oncall, engineers = "cccccccc-0000-4000-8000-0000000000bb", "cccccccc-0000-4000-8000-0000000000cc"
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f'[[rule]]\nname = "on-call group"\ngroup = "Security-Operators"\n'
        f'auto_approve = {{ member_of = "{oncall}", member_of_name = "On-call engineers" }}\n',
        encoding="utf-8",
    )
    env = {"PIM_EXTENSION_APP_ID_URI": APP_ID_URI, "PIM_EXTENSION_RULES": str(rules)}
    async with running_feed_stack(tmp_path, **env) as stack:
        stack.sim.tenant.add_group(engineers, "Network engineers", members=[ALICE.oid])
        stack.sim.tenant.add_group(oncall, "On-call engineers", members=[engineers])  # Alice through a nested group
        link_the_bot(stack, SECURITY_OPERATORS)
        said = await say(stack, "activate Security-Operators 1h because incident INC-9")
        [request] = self_activations(stack)
    assert request["status"] == "Provisioned"  # the rule named the group by its display name, resolved per request
    assert "Security-Operators: Approved automatically: you are a member of On-call engineers." in said
