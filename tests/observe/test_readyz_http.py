"""GET /readyz through HTTP: ready when the store answers and an app-only Graph token can be had; the feed lease is
shown, one instance holding it; a bot whose Graph secret Entra refuses is alive (/healthz 200) but not ready (503)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from app import PARTS_KEY
from bot.observe.ready import CHECK_SECONDS
from devtools.azurite import running_azurite
from tests.support.stack import Stack, another_bot, running_stack


async def get(stack: Stack, path: str, instance: int = 0) -> tuple[int, Any]:
    async with stack.http.get(stack.servers[instance].make_url(path)) as r:
        return r.status, await r.json()


async def test_a_bot_that_reaches_its_store_and_entra_is_ready_and_one_instance_holds_the_feed(stack: Stack) -> None:
    async with another_bot(stack) as other:
        for bot in (stack, other):
            await bot.server.app[PARTS_KEY].feed.cycle()
        answers = [await get(bot, "/readyz") for bot in (stack, other)]
    for status, body in answers:
        assert status == 200, body
        assert body["status"] == "ready"
        assert body["checks"]["store"]["ok"] is True and body["checks"]["graph_app_token"]["ok"] is True
    assert sorted(body["feed_lease"] for _, body in answers) == ["held", "standby"]


async def test_a_graph_secret_entra_refuses_makes_the_bot_unready_but_alive(stack: Stack) -> None:
    async with another_bot(stack, GRAPH_CLIENT_SECRET="not-the-secret-entra-knows") as refused:
        status, body = await get(refused, "/readyz")
        alive, health = await get(refused, "/healthz")
    assert status == 503, body
    assert body["status"] == "not ready"
    assert body["checks"]["graph_app_token"] == {"ok": False, "error": "PermissionDenied"}
    assert body["checks"]["store"]["ok"] is True
    assert "not-the-secret" not in str(body)
    assert alive == 200, health


async def test_a_store_that_stops_answering_makes_the_bot_unready_within_the_probe_and_ready_again(
    tmp_path: Path,
) -> None:
    """The state in Azure Blob Storage (Azurite): the storage service stops answering (SIGSTOP: connections hang, as
    behind a dropped firewall rule), and /readyz answers 503 naming the store within its bound; it answers again, and
    the bot is ready again, without a restart."""
    with running_azurite() as azurite:
        blob = {
            "STORE": "azureblob",
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "AZURE_STORAGE_CONTAINER": azurite.container_name(),
        }
        async with running_stack(tmp_path, **blob) as stack:
            assert (await get(stack, "/readyz"))[0] == 200
            os.kill(azurite.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                status, body = await get(stack, "/readyz")
                took = time.monotonic() - started
                alive, _ = await get(stack, "/healthz")
            finally:
                os.kill(azurite.process.pid, signal.SIGCONT)
            again, _ = await get(stack, "/readyz")
    assert status == 503 and body["checks"]["store"] == {"ok": False, "error": f"no answer within {CHECK_SECONDS:g} s"}
    assert body["checks"]["graph_app_token"]["ok"] is True
    assert took < CHECK_SECONDS + 2
    assert alive == 200 and again == 200
