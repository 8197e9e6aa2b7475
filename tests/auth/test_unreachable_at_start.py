"""Microsoft Entra unreachable when the bot starts (issue 9, point 8): the bot starts anyway with production settings,
`/healthz` says what it cannot reach, commands that need Graph get a kind answer and nothing is written, and once Entra
answers again the bot recovers by itself. Entra's two hosts here (the Graph app's authority, the bot's own login) sit
behind `Switch`es that refuse connections until they are switched up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from devtools.teams import activities as act
from devtools.teams.connector import FakeConnector, running_connector
from settings import load_settings
from simtenant import run_simtenant
from simtenant.seed import EXCHANGE_ADMINS
from tests.fakes.botframework import IdentityStandIns, running_identity
from tests.fakes.switch import Switch
from tests.support.stack import bot_server, production_env, seams


@dataclass
class Outage:
    sim: Any
    ids: IdentityStandIns
    connector: FakeConnector
    server: TestServer
    http: aiohttp.ClientSession
    graph_entra: Switch
    bot_entra: Switch
    env: dict[str, str]

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        token = self.ids.channel.activity_token(self.env["MicrosoftAppId"], str(activity["serviceUrl"]))
        async with self.http.post(
            self.server.make_url("/api/messages"), json=activity, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return r.status, await r.json(content_type=None) if r.content_length != 0 else None

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.server.make_url("/healthz")) as r:
            return r.status, await r.json()

    async def health_until(self, ready: Callable[[dict[str, Any]], bool], seconds: float = 30.0) -> dict[str, Any]:
        """Poll /healthz until `ready` (the bot retries by itself, with backoff: no clock is moved for it)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            _, body = await self.health()
            if ready(body) or asyncio.get_running_loop().time() > deadline:
                return body
            await asyncio.sleep(0.2)

    def activations(self) -> list[Any]:
        requests = self.sim.tenant.requests_for("assignment", group_id=EXCHANGE_ADMINS)
        return [r for r in requests if r.action == "selfActivate"]


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@asynccontextmanager
async def outage(tmp_path: Path) -> AsyncIterator[Outage]:
    async with (
        run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim,
        running_identity() as ids,
        running_connector(ssl_context=ids.ca.server_context()) as connector,
    ):
        app_id, secret = "5c1f6a1e-7d2b-4e8a-9f3c-1b2d3e4f5a6b", "bot-secret-value-outage"
        ids.login.register(app_id, secret, sim.tenant_id)
        connector.verify_bearer = ids.login.verify
        graph_entra = Switch("127.0.0.1", port_of(sim.authority_host))
        bot_entra = Switch("127.0.0.1", port_of(ids.login.url))
        env = production_env(sim, ids, tmp_path, app_id, secret)
        env["AUTHORITY_HOST"] = graph_entra.origin
        env["TO_CHANNEL_FROM_BOT_LOGIN_URL"] = f"{bot_entra.origin}/botframework.com"
        try:
            # Started with Entra unreachable: it used to raise here (msal's authority discovery).
            async with bot_server(load_settings(env), seams(sim)) as server, aiohttp.ClientSession() as http:
                yield Outage(sim, ids, connector, server, http, graph_entra, bot_entra, env)
        finally:
            await graph_entra.down()
            await bot_entra.down()


def unreachable(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if check["reachable"] is False}


async def test_the_bot_starts_says_what_it_cannot_reach_and_recovers_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with outage(tmp_path) as o:
        status, body = await o.health()
        assert status == 200 and body["status"] == "degraded"
        assert unreachable(body) == {"entra_graph", "entra_bot"}
        assert body["checks"]["entra_graph"]["host"] == f"127.0.0.1:{o.graph_entra.port}"
        assert body["checks"]["entra_graph"]["error"] == "ConnectionError"

        # Nothing can be said without the bot's own token, but nothing fails loudly either.
        status, _ = await o.post(act.message(o.connector.url, "activate Exchange-Admins 1h"))
        assert status == 201 and o.connector.sent == [] and o.activations() == []
        # A card click is answered in the HTTP response itself: kindly.
        data = {"pim": 1, "verb": "activate", "groupId": EXCHANGE_ADMINS, "groupName": "Exchange-Admins",
                "access": "member", "durationMinutes": 60}  # fmt: skip
        status, answer = await o.post(act.card_execute(o.connector.url, "activate", data, reply_to="activity-1"))
        assert status == 200 and "Microsoft Entra" in json.dumps(answer) and o.activations() == []

        await o.bot_entra.up()
        body = await o.health_until(lambda b: "entra_bot" not in unreachable(b))
        assert unreachable(body) == {"entra_graph"} and body["status"] == "degraded"
        status, _ = await o.post(act.message(o.connector.url, "activate Exchange-Admins 1h"))
        assert status == 201 and o.activations() == []
        [reply] = [m.body for m in o.connector.messages() if m.body.get("type") == "message"]
        assert "Microsoft Entra" in json.dumps(reply) and "try again" in json.dumps(reply), reply

        await o.graph_entra.up()
        body = await o.health_until(lambda b: b["status"] == "ok")
        assert body["status"] == "ok" and unreachable(body) == set()
        status, _ = await o.post(act.message(o.connector.url, "activate Exchange-Admins 1h"))
        assert status == 201 and len(o.activations()) == 1

        text = caplog.text + json.dumps(body)
        assert "bot-secret-value-outage" not in text and o.sim.client_secret not in text
        assert "Traceback" not in caplog.text
