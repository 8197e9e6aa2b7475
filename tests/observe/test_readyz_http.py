"""GET /readyz through HTTP: ready when the store answers and an app-only Graph token can be had; the feed lease is
shown, one instance holding it; a bot whose Graph secret Entra refuses is alive (/healthz 200) but not ready (503)."""

from __future__ import annotations

from typing import Any

from app import PARTS_KEY
from tests.support.stack import Stack, another_bot


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
