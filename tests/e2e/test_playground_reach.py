"""Issue 9, point 1, in the demo: approvers who never wrote to the bot get the approval card. `make demo` (python -m
devtools.demo) is started as a user would, fresh: the bot has never heard of Bob, Carol or Dave.

The demo puts the bot's app in the simulated tenant's org catalog (devtools.stack.publish_bot_app). Alice asks for
Security-Operators for 2 h (beyond the 1 h the demo's on-call rule approves by itself), whose approvers are Bob, Carol
and Dave: the bot installs its app for them through the simulated
Graph and opens each one's 1:1 chat with the Playground's create_conversation (the Playground's user ids are the object
ids, devtools.stack). The Playground streams only its current user's chats to its UI, so the approvers' cards are read
from its wire log (`/_ws/log/stream`), which keeps every request of the bot with the Playground's answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.demo_process import running_demo
from tests.support.playground import PERSONAL, PlaygroundClient

pytestmark = [pytest.mark.playground]

APPROVERS = {
    "aaaaaaaa-0000-4000-8000-000000000002",  # Bob
    "aaaaaaaa-0000-4000-8000-000000000003",  # Carol
    "aaaaaaaa-0000-4000-8000-000000000004",  # Dave
}


def approval_cards(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("activityName") == "message" and '"approve"' in json.dumps(e)]


async def test_in_the_demo_approvers_who_never_wrote_get_the_card(tmp_path: Path) -> None:
    async with running_demo(tmp_path / "demo") as demo:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            pg = PlaygroundClient(demo.url, http, diagnostics=demo.bot_log_tail)
            await pg.connect()
            entries: list[dict[str, Any]] = []
            try:
                async with http.ws_connect(f"{demo.url}/_ws/log/stream") as log:

                    async def cards_sent() -> None:
                        async for frame in log:
                            entries.append(json.loads(frame.data).get("log") or {})
                            if len(approval_cards(entries)) >= len(APPROVERS):
                                return

                    # 2 h: longer than the demo's on-call rule auto-approves (devtools/demo_rules.toml: 1 h, and Alice
                    # is on call), so PIM's custom extension passes the request on to the approvers
                    await pg.say("activate Security-Operators 2h because patch window")
                    try:
                        await asyncio.wait_for(cards_sent(), 30)
                    except TimeoutError:
                        raise AssertionError(f"{len(entries)} log entries\n{pg.diagnostics()}") from None
                told = await pg.next_message(within=20)
                while "sent your request" not in told.text:
                    told = await pg.next_message(within=20)
            finally:
                await pg.close()

    opened = [e for e in entries if e.get("activityName") == "createConversation"]
    assert {e["request"]["body"]["members"][0]["id"] for e in opened} == APPROVERS, opened
    assert all(e["response"]["statusCode"] == 201 for e in opened)
    cards = approval_cards(entries)
    chats = {e["request"]["body"]["conversation"]["id"] for e in cards}
    assert len(chats) == len(APPROVERS) and PERSONAL not in chats
    assert all(e["response"]["statusCode"] == 201 for e in cards)
    assert told.text.startswith("I sent your request for Security-Operators to Bob Builder, Carol Chen and Dave Diaz")
