"""A real restart: the bot process is killed (SIGKILL) and started again on the same SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.storage import SqliteStorage
from devtools.stack import ROOT, Tenant, bot_environment, free_port
from tests.bot.test_activation_http import card_text
from tests.cards.cardtools import element, request_id_of
from tests.fakes import activities as act
from tests.fakes.activities import ALICE
from tests.fakes.connector import FakeConnector, running_connector


@asynccontextmanager
async def tenant_process(state_dir: Path) -> AsyncIterator[Tenant]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simtenant", "--port", "0", "--state-dir", str(state_dir), "--seed", "demo",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        info = json.loads(line)
        yield Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__})
    finally:
        proc.terminate()
        await proc.wait()


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "app.py"), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError("the bot exited: " + await asyncio.to_thread(log.read_text))
            try:
                async with http.get(f"http://127.0.0.1:{env['PORT']}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not start: " + (await asyncio.to_thread(log.read_text))[-2000:])


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

                store = SqliteStorage(db)
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
