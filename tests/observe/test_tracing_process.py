"""OpenTelemetry tracing, on through the standard OTEL_* variables, in a bot process exporting OTLP over HTTP to a
collector stand-in: one activation is one trace, the turn's server span with its Graph calls (httpx) and Bot
Connector calls (aiohttp) as children, named by templated route or operation, with no id in any name or URL."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from devtools.stack import bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.connector import running_connector
from tests.support.otlp import running_collector
from tests.support.processes import start_bot, tenant_process

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


async def test_one_activation_is_one_trace_turn_then_graph_then_bot_connector(tmp_path: Path) -> None:
    async with (
        tenant_process(tmp_path / "sim") as tenant,
        running_connector() as connector,
        running_collector() as collector,
    ):
        port = free_port()
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SERVICE_NAME": "pim-bot-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports (the SDK's default is 5 s)
        }
        env = bot_environment(tenant, port, tmp_path / "state.sqlite3", otel)
        bot = await start_bot(env, tmp_path / "bot.log")
        try:
            activity = act.message(connector.url, "activate Exchange-Admins 1h because INC-4711")
            async with aiohttp.ClientSession() as http:
                async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
                    assert r.status == 201, await r.text()

            def turn_exported() -> bool:
                turns = [s for s in collector.spans if s.name == "turn message"]
                return bool(turns) and len(collector.children(turns[0])) >= 3

            await collector.wait_for(turn_exported)
        finally:
            bot.terminate()
            await bot.wait()

    [turn] = [s for s in collector.spans if s.name == "turn message"]
    assert turn.kind == "SPAN_KIND_SERVER" and turn.parent_id == "" and turn.service == "pim-bot-under-test"
    children = collector.children(turn)
    names = [c.name for c in children]
    assert all(c.kind == "SPAN_KIND_CLIENT" for c in children), names
    graph = [n for n in names if n.startswith(("GET /", "POST /"))]
    connector_calls = [n for n in names if " connector " in n]
    assert "POST /identityGovernance/privilegedAccess/group/assignmentScheduleRequests" in graph, names
    assert "POST connector reply" in connector_calls, names  # the typing indicator and the card
    # Graph's calls come before the card that tells their outcome: the last child is the reply with the card.
    assert names[-1] == "POST connector reply", names
    traced = [s for s in collector.spans if s.trace_id == turn.trace_id]
    shown = " ".join(s.name + " " + str(s.attributes.get("url.full", s.attributes.get("http.url", ""))) for s in traced)
    assert not GUID.findall(shown), shown
    assert "a:" not in shown and "%3A" not in shown, shown  # no conversation id
    assert not [s for s in collector.spans if s.name.endswith("/healthz")]  # the probes make no spans
