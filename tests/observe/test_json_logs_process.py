"""The bot as a process with LOG_FORMAT=json: every line one JSON object, and one activation followed end to end by
its activity id, Graph's request id and PIM's request id; no secret in it; and nothing of OpenTelemetry imported
(tracing is off) — seen by the interpreter itself (`-X importtime` names every module the process imports)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from devtools.stack import bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.connector import running_connector
from tests.support.processes import start_bot, tenant_process


def split_log(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(the log's JSON lines, the interpreter's import lines). Anything else fails the test."""
    lines: list[dict[str, Any]] = []
    imports: list[str] = []
    for line in text.splitlines():
        if line.startswith("import time:"):
            imports.append(line)
            continue
        record = json.loads(line)  # raises for a line that is not JSON
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= record.keys(), line
        lines.append(record)
    return lines, imports


async def test_json_log_lines_follow_one_activation_and_tracing_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        port = free_port()
        env = bot_environment(tenant, port, tmp_path / "state.sqlite3", {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})
        log = tmp_path / "bot.log"
        bot = await start_bot(env, log, "-X", "importtime")
        try:
            trust = ssl.create_default_context(cafile=tenant.ca_file)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
                # Graph throttles the activation's first $batch once: the retry is logged with Graph's request id.
                fault = {"method": "POST", "path": r"\$batch", "status": 429, "retry_after": 0, "times": 1}
                async with http.post(f"{tenant.control_url}/faults", json=fault) as r:
                    assert r.status < 300, await r.text()
                activity = act.message(connector.url, "activate Security-Operators 1h because INC-4711")
                async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
                    assert r.status == 201, await r.text()
                async with http.get(f"{tenant.control_url}/requests?limit=200") as r:
                    graph_log = (await r.json())["requests"]
        finally:
            bot.terminate()
            await bot.wait()
    lines, imports = split_log(log.read_text(encoding="utf-8"))

    writes = [e for e in graph_log if e["method"] == "POST" and e["path"].endswith("/assignmentScheduleRequests")]
    assert writes, graph_log
    turn = [line for line in lines if line.get("activity_id") == activity["id"]]
    assert turn and all(line["conversation_id"] == activity["conversation"]["id"] for line in turn)
    [retry] = [line for line in turn if "429" in line["message"] and "retrying" in line["message"]]
    assert retry["logger"] == "graph.client" and retry["graph_request_id"] in retry["message"]
    [outcome] = [line for line in turn if line["message"].startswith("activation outcome: AwaitingApproval")]
    pim_request_id = outcome["pim_request_id"]
    assert pim_request_id in outcome["message"]
    assert outcome["graph_request_id"] and outcome["graph_client_request_id"]
    assert outcome["graph_request_id"] != retry["graph_request_id"]  # the last call's, not the throttled one's
    assert tenant.client_secret not in log.read_text(encoding="utf-8")
    # httpx's line per request is for LOG_LEVEL=DEBUG (each costs CPU; the ids above already follow the calls).
    assert not [line for line in lines if line["logger"] == "httpx"]

    imported = " ".join(imports)
    assert "prometheus_client" in imported  # the import log works: the metrics library is in it
    assert "opentelemetry" not in imported
