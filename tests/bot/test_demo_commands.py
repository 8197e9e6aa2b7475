"""`demo request` (issue 11, point 1) through POST /api/messages: only with BOT_DEMO, a simulated colleague asks, with
their own token and outside the bot, for a group the typing user approves (Network-Admins: Alice and Bob approve,
Carol and Dave are eligible). The bot writes nothing to PIM for it; without BOT_DEMO "demo" is an unknown word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import create_app
from settings import load_settings
from simtenant import run_simtenant
from simtenant.seed import CAROL, DAVE, NETWORK_ADMINS
from tests.bot.conftest import Stack, bot_env
from tests.fakes import activities as act
from tests.fakes.activities import ALICE
from tests.fakes.connector import running_connector


@pytest.fixture
async def demo_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim, running_connector() as connector:
        state_db = tmp_path / "state.sqlite3"
        app = create_app(load_settings(bot_env(sim, state_db, BOT_DEMO="1")), clock=sim.tenant.clock)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Stack(sim, connector, server, http, state_db)
        finally:
            await server.close()


def replies(stack: Stack) -> list[str]:
    conversation = act.personal_conversation(ALICE)["id"]
    return [str(r.body.get("text") or "") for r in stack.connector.messages(conversation)]


def graph_writes(stack: Stack) -> list[dict[str, Any]]:
    """PIM writes: requests (activation, deactivation, cancel) and approvers' decisions, by anyone."""
    return [
        e
        for e in stack.sim.tenant.log.recent()
        if e["method"] in ("POST", "PATCH") and ("ScheduleRequests" in e["path"] or "assignmentApprovals" in e["path"])
    ]


async def say(stack: Stack, text: str) -> str:
    before = len(replies(stack))
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status == 201
    [reply] = replies(stack)[before:]
    return reply


async def test_demo_request_has_a_colleague_ask_for_a_group_alice_approves(demo_stack: Stack) -> None:
    stack = demo_stack
    reply = await say(stack, "demo request")
    assert reply.startswith("Carol Chen just asked for Network-Admins (“"), reply
    assert "not through me" in reply and "within half a minute" in reply
    [carols] = stack.sim.tenant.requests_for("assignment", principal_id=CAROL, group_id=NETWORK_ADMINS)
    assert (carols.status, carols.action, carols.created_by.id) == ("PendingApproval", "selfActivate", CAROL)
    # The colleague's own write, made by the simulated tenant's Carol; the bot wrote nothing.
    assert [(e["method"], e["oid"]) for e in graph_writes(stack)] == [("POST", CAROL)]

    assert (await say(stack, "Demo Request")).startswith("Dave Diaz just asked for Network-Admins")
    refused = await say(stack, "demo request")
    assert refused.startswith("No colleague could ask: every colleague who may ask for Network-Admins already")
    assert len(graph_writes(stack)) == 2
    waiting = stack.sim.tenant.requests_for("assignment", group_id=NETWORK_ADMINS)
    assert [r.principal_id for r in waiting if r.status == "PendingApproval"] == [CAROL, DAVE]


async def test_demo_alone_or_with_another_word_explains_the_demo_commands(demo_stack: Stack) -> None:
    for text in ("demo", "demo please", "demo request now"):
        assert (await say(demo_stack, text)).startswith("In this demo, “demo request” has a colleague ask")
    assert graph_writes(demo_stack) == []


async def test_an_approver_of_nothing_is_told_so(demo_stack: Stack) -> None:
    status, _ = await demo_stack.post(act.message(demo_stack.service_url, "demo request", act.FRANK))
    assert status == 201
    [reply] = [
        str(r.body.get("text")) for r in demo_stack.connector.messages(act.personal_conversation(act.FRANK)["id"])
    ]
    assert reply == "No colleague could ask: no group's activation needs the approval of Frank Fisher."
    assert graph_writes(demo_stack) == []


async def test_without_bot_demo_there_is_no_demo_command(stack: Stack) -> None:
    status, _ = await stack.post(act.message(stack.service_url, "demo request", ALICE))
    assert status == 201
    assert "just asked" not in str([r.body for r in stack.connector.sent])
    assert [
        r for r in stack.sim.tenant.requests_for("assignment", group_id=NETWORK_ADMINS) if r.principal_id == CAROL
    ] == []
    assert graph_writes(stack) == []
