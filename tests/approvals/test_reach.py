"""Issue 9, point 1: approvers are reached whether or not they ever typed to the bot. Through POST /api/messages with
the simulated tenant and the recording Bot Connector.

Security-Operators (seed "demo"): approvers Bob (singleUser) and PIM-Approvers (Carol, Dave).
"""

from __future__ import annotations

from tests.approvals.test_inline_approvals import CAROL, DAVE, approval_cards, texts
from tests.bot.conftest import Stack
from tests.fakes import activities as act
from tests.fakes.activities import ALICE, BOB

ACTIVATE = "activate Security-Operators 1h because incident INC-9"


async def test_approvers_whose_only_activity_was_the_install_event_get_the_card(stack: Stack) -> None:
    # Bob's app was installed by a Teams admin's setup policy: Teams sent installationUpdate (add) and nothing else.
    # Carol's install arrived as the conversationUpdate with the bot in membersAdded. Neither typed a word.
    assert (await stack.post(act.installation(stack.service_url, BOB)))[0] in (200, 201)
    assert (await stack.post(act.bot_added(stack.service_url, CAROL)))[0] in (200, 201)

    status, _ = await stack.post(act.message(stack.service_url, ACTIVATE, ALICE))
    assert status == 201
    assert len(approval_cards(stack, BOB)) == 1
    assert len(approval_cards(stack, CAROL)) == 1
    [told] = [t for t in texts(stack, ALICE) if "sent your request" in t]
    assert "Bob Builder" in told and "Carol Chen" in told, told


async def test_an_install_event_from_another_tenant_binds_nobody(stack: Stack) -> None:
    foreign = act.installation(stack.service_url, BOB)
    foreign["channelData"]["tenant"]["id"] = "00000000-0000-0000-0000-0000000000ff"
    foreign["conversation"]["tenantId"] = "00000000-0000-0000-0000-0000000000ff"
    assert (await stack.post(foreign))[0] in (200, 201)
    assert stack.connector.messages() == []  # not even the help card: the bot does not serve that tenant

    status, _ = await stack.post(act.message(stack.service_url, ACTIVATE, ALICE))
    assert status == 201
    assert approval_cards(stack, BOB) == [] and approval_cards(stack, DAVE) == []
