"""A real restart: the bot process is killed (SIGKILL) and started again on the same SQLite file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp

from devtools.stack import bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from devtools.teams.connector import FakeConnector, running_connector
from tests.support.cards import card_text, element, request_id_of
from tests.support.processes import start_bot, tenant_process
from tests.support.state import StateFile


async def say(http: aiohttp.ClientSession, port: str, connector: FakeConnector, text: str) -> dict:
    before = len(connector.messages())
    async with http.post(f"http://127.0.0.1:{port}/api/messages", json=act.message(connector.url, text)) as r:
        assert r.status == 201, await r.text()
    replies = connector.messages()[before:]
    # The last card: a text may follow it (an approval request tells the requester who was notified).
    reply = next((r for r in reversed(replies) if r.card is not None), replies[-1])
    return {"card": reply.card or {}, "activity_id": reply.activity_id}


async def test_references_pending_requests_and_card_ids_survive_a_kill_and_restart(tmp_path: Path) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        db = tmp_path / "state.sqlite3"
        env = bot_environment(tenant, free_port(), db)
        port = env["PORT"]
        bot = await start_bot(env, tmp_path / "bot.log")
        async with aiohttp.ClientSession() as http:
            try:
                pending = await say(http, port, connector, "activate Security-Operators 1h because restart drill")
                active = await say(http, port, connector, "activate Exchange-Admins 1h")
                over_max = await say(http, port, connector, "activate Helpdesk-Tier1 10h")
                request_id = request_id_of(pending["card"], "outcome-0-request")

                os.kill(bot.pid, signal.SIGKILL)
                await bot.wait()
                bot = await start_bot(env, tmp_path / "bot.log")

                store = StateFile(db)
                try:
                    kept = await store.read(
                        [f"ref/user/{ALICE.oid}", f"request/{request_id}", f"card/{active['activity_id']}"]
                    )
                finally:
                    store.close()
                assert kept[f"ref/user/{ALICE.oid}"]["reference"]["serviceUrl"] == connector.url
                assert kept[f"request/{request_id}"]["groupName"] == "Security-Operators"
                assert kept[f"card/{active['activity_id']}"]["kind"] == "activation"

                # The restarted bot answers, and a button on a card sent before the restart still works.
                button = element(over_max["card"], "outcome-0-activate-max")
                click = act.card_execute(connector.url, button["verb"], button["data"], over_max["activity_id"])
                async with http.post(f"http://127.0.0.1:{port}/api/messages", json=click) as r:
                    assert r.status == 200
                    body = await r.json()
                assert element(body["value"], "outcome-0-state")["text"] == "Active"
                status = await say(http, port, connector, "status")
                assert "Security-Operators" in card_text(status["card"])
            finally:
                bot.terminate()
                await bot.wait()
