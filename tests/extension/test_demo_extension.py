"""`make demo`'s custom extension (issue 15 point 6), with the demo's own rules file and set-up code
(devtools.demo_extension) against the bot and the simulated tenant in this process: Teams Admins has a ticket rule,
Security-Operators approves whoever is on call in Ops Rotation's seeded Shifts schedule (Alice). Both decide the bot's
activations and a portal-style one (a delegated selfActivate made straight to the tenant) alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.extension.contract import PATH
from devtools import demo_extension
from devtools.stack import Tenant
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant.extensions import PRE_APPROVAL_RULE
from simtenant.seed import FRANK, SECURITY_OPERATORS, TEAMS_ADMINS
from tests.support.approvals import conversation, texts
from tests.support.cards import card_text
from tests.support.chat import self_activations
from tests.support.extension import APP_ID_URI
from tests.support.feed import FeedStack, running_feed_stack


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[FeedStack]:
    async with running_feed_stack(tmp_path, **demo_extension.bot_settings(APP_ID_URI)) as stack:
        sim = stack.sim
        tenant = Tenant(**{k: getattr(sim, k) for k in Tenant.__dataclass_fields__})
        said = await asyncio.to_thread(demo_extension.link_groups, tenant, str(stack.server.make_url(PATH)), APP_ID_URI)
        assert [line.split(":")[0] for line in said] == ["Teams Admins", "Security-Operators"], said
        yield stack


async def say(stack: FeedStack, text: str) -> list[str]:
    before = len(stack.connector.messages(conversation(ALICE)))
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status == 201
    cards = [card_text(r.card) for r in stack.connector.messages(conversation(ALICE))[before:] if r.card is not None]
    return texts(stack, ALICE, before) + cards


async def test_the_demo_links_one_extension_to_both_groups_as_an_administrator_would(demo: FeedStack) -> None:
    tenant = demo.sim.tenant
    [extension] = tenant.custom_extensions.values()  # the second group's set-up found and reused it
    assert (extension.timeout_ms, extension.max_retries, extension.resource_id) == (10000, 2, APP_ID_URI)
    for group in (TEAMS_ADMINS, SECURITY_OPERATORS):
        assert tenant.policy(group, "member").extension_rules[PRE_APPROVAL_RULE].extension_id == extension.id
    writes = [e for e in tenant.log.recent() if e["method"] in ("POST", "PATCH") and "/beta/" in e["path"]]
    assert writes and {e["caller"] for e in writes} == {"user"}  # delegated, through Graph beta


async def test_alice_on_call_is_approved_automatically_for_security_operators(demo: FeedStack) -> None:
    said = await say(demo, "activate Security-Operators 1h because patching")
    [request] = self_activations(demo)
    assert request["status"] == "Provisioned"  # the policy wants approval; the extension skipped it
    assert any("Ops Rotation" in t for t in said), said


async def test_longer_than_the_on_call_rule_allows_goes_to_the_approvers(demo: FeedStack) -> None:
    await say(demo, "activate Security-Operators 2h because patching")
    [request] = self_activations(demo)
    assert request["status"] == "PendingApproval"


async def test_the_ticket_rule_denies_a_ticket_of_another_form_and_says_the_form(demo: FeedStack) -> None:
    said = await say(demo, 'activate "Teams Admins" 1h because rollout ticket CHG-1')
    assert self_activations(demo) == []
    assert any("INC- and at least four digits (INC-4711)" in t for t in said), said
    said = await say(demo, 'activate "Teams Admins" 1h because rollout ticket INC-4711')
    assert [r["status"] for r in self_activations(demo)] == ["Provisioned"]


async def test_a_portal_style_activation_is_decided_by_the_same_rules(demo: FeedStack) -> None:
    denied = await demo.graph.activate(TEAMS_ADMINS, ALICE.oid, justification="portal", ticket="CHG-1")
    assert denied.status == 400 and "INC- and at least four digits" in denied.message
    approved = await demo.graph.activate(TEAMS_ADMINS, ALICE.oid, justification="portal", ticket="INC-4711")
    assert approved.status == 201 and approved.body["status"] == "Provisioned"
    # Frank is not eligible for Security-Operators: PIM refuses before it asks the bot
    assert (await demo.graph.activate(SECURITY_OPERATORS, FRANK)).status == 400
