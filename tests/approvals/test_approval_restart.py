"""A real restart (issue 4, point 10): approval cards sent before the bot process is killed can be clicked after it
starts again on the same SQLite file, and every copy is still updated and the requester still told."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp

from devtools.stack import bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, FRANK
from devtools.teams.connector import running_connector
from tests.support.approvals import CAROL, conversation
from tests.support.cards import element
from tests.support.processes import start_bot, tenant_process


async def test_an_approval_card_sent_before_a_restart_decides_after_it(tmp_path: Path) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        env = bot_environment(tenant, free_port(), tmp_path / "state.sqlite3")
        url = f"http://127.0.0.1:{env['PORT']}/api/messages"
        bot = await start_bot(env, tmp_path / "bot.log")
        async with aiohttp.ClientSession() as http:
            try:
                for user, text in (
                    (BOB, "help"),
                    (CAROL, "help"),
                    (ALICE, "activate Security-Operators 1h because drill"),
                ):
                    async with http.post(url, json=act.message(connector.url, text, user)) as r:
                        assert r.status == 201, await r.text()
                [bob_card] = [r for r in connector.messages(conversation(BOB)) if r.card and "refresh" in r.card]
                [carol_card] = [r for r in connector.messages(conversation(CAROL)) if r.card and "refresh" in r.card]

                os.kill(bot.pid, signal.SIGKILL)
                await bot.wait()
                bot = await start_bot(env, tmp_path / "bot.log")

                data = {**element(bob_card.card or {}, "approve")["data"], "reason": "after the restart"}
                click = act.card_execute(connector.url, "approve", data, bob_card.activity_id, BOB)
                async with http.post(url, json=click) as r:
                    assert r.status == 200
                    body = await r.json()
                assert element(body["value"], "state")["text"].startswith("Approved by Bob Builder at ")

                def spread() -> bool:  # the updates made after the click was answered
                    updated = {r.conversation_id for r in connector.sent if r.method == "PUT"}
                    told = any("approved by" in str(r.body.get("text")) for r in connector.sent)
                    return told and {conversation(CAROL), conversation(ALICE)} <= updated

                await connector.wait_until(spread)
                puts = [r for r in connector.sent if r.method == "PUT"]
                # Carol's copy, and Bob's own once PIM's end of the access is known (his answer went out before it).
                [put] = [r for r in puts if r.conversation_id not in (conversation(ALICE), conversation(BOB))]
                assert put.activity_id == carol_card.activity_id
                # Alice's own waiting card, kept before the restart, loses its Cancel button after it.
                [mine] = [r for r in puts if r.conversation_id == conversation(ALICE)]
                assert element(mine.card or {}, "outcome-0-state")["text"] == "Approved"
                told = [str(r.body.get("text")) for r in connector.messages(conversation(ALICE)) if r.body.get("text")]
                assert any("approved by Bob Builder" in t and "active until" in t for t in told), told
            finally:
                bot.terminate()
                await bot.wait()


async def test_an_approvals_channel_set_before_a_restart_still_gets_the_requests_after_it(tmp_path: Path) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        env = bot_environment(tenant, free_port(), tmp_path / "state.sqlite3", {"BOT_ADMINS": FRANK.oid})
        url = f"http://127.0.0.1:{env['PORT']}/api/messages"
        bot = await start_bot(env, tmp_path / "bot.log")
        async with aiohttp.ClientSession() as http:
            try:
                here = act.channel_message(connector.url, "approvals here Security-Operators", FRANK)
                async with http.post(url, json=here) as r:
                    assert r.status == 201, await r.text()
                [answer] = [str(m.body.get("text")) for m in connector.messages(here["conversation"]["id"])]
                assert "will now be posted in this channel" in answer

                os.kill(bot.pid, signal.SIGKILL)
                await bot.wait()
                bot = await start_bot(env, tmp_path / "bot.log")

                for user, text in ((BOB, "help"), (ALICE, "activate Security-Operators 1h because drill")):
                    async with http.post(url, json=act.message(connector.url, text, user)) as r:
                        assert r.status == 201, await r.text()
                channel, thread = here["channelData"]["channel"]["id"], here["conversation"]["id"]
                [post] = [
                    m
                    for m in connector.messages()
                    if m.conversation_id.startswith(f"{channel};messageid=") and m.conversation_id != thread
                ]
                assert post.card is not None and post.card["refresh"]["userIds"] == [BOB.mri]
            finally:
                bot.terminate()
                await bot.wait()
