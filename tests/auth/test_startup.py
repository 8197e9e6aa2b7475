"""`python app.py` refuses to start without an app id (unless anonymous mode is asked for), naming the key; and starts
when Microsoft Entra and Graph cannot even be resolved, saying so on /healthz."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp.test_utils import unused_port

from tests.support.processes import app_env

ROOT = Path(__file__).resolve().parents[2]
TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=app_env(env), capture_output=True, text=True, timeout=60
    )


def test_an_empty_app_id_without_anonymous_mode_refuses_to_start_and_says_why() -> None:
    result = _start(
        {
            "MicrosoftAppId": "",
            "GRAPH_CLIENT_ID": APP,
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_SECRET": "graph-secret-value",
            "USER_TOKENS": "simulated",
            "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
        }
    )
    assert result.returncode == 2
    assert "cannot start" in result.stderr
    assert "MicrosoftAppId is missing" in result.stderr and "BOT_ALLOW_ANONYMOUS=1" in result.stderr
    assert "graph-secret-value" not in result.stderr + result.stdout


def test_bad_endpoint_settings_refuse_to_start_each_one_named() -> None:
    result = _start(
        {
            "MicrosoftAppId": APP,
            "MicrosoftAppPassword": "bot-secret-value",
            "MicrosoftAppTenantId": TENANT,
            "USER_TOKENS": "simulated",
            "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
            "BOT_CLOUD": "mars",
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": "http://login.botframework.com/v1/.well-known/openidconfiguration",
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": "login.microsoftonline.com",
        }
    )
    assert result.returncode == 2
    for key in ("BOT_CLOUD", "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", "TO_CHANNEL_FROM_BOT_LOGIN_URL"):
        assert key in result.stderr
    assert "bot-secret-value" not in result.stderr + result.stdout


def test_with_entra_and_graph_unresolvable_the_bot_starts_and_healthz_says_what_it_cannot_reach(
    tmp_path: Path,
) -> None:
    nowhere = "pim-bot-test.invalid"  # RFC 6761: .invalid names never resolve
    port = unused_port()
    env = app_env(
        {
            "MicrosoftAppId": APP,
            "MicrosoftAppPassword": "bot-secret-value",
            "MicrosoftAppTenantId": TENANT,
            "USER_TOKENS": "sso",
            "OAUTH_CONNECTION_NAME": "graph-sso",
            "AUTHORITY_HOST": f"https://login.{nowhere}",
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": f"https://login.{nowhere}/botframework.com",
            "GRAPH_BASE_URL": f"https://graph.{nowhere}/v1.0",
            "STATE_DB": str(tmp_path / "state.sqlite3"),
            "PORT": str(port),
        }
    )
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            body = _health(port, proc)
            assert body["status"] == "degraded"
            checks = body["checks"]
            assert isinstance(checks, dict)
            assert checks["entra_graph"]["reachable"] is False and checks["entra_bot"]["reachable"] is False
            assert checks["entra_graph"]["host"] == f"login.{nowhere}" and checks["entra_graph"]["error"]
            assert proc.poll() is None  # still serving
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    output = log_path.read_text()
    assert "Traceback" not in output and "cannot be reached" in output
    assert "bot-secret-value" not in output + json.dumps(body)


def _health(port: int, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "the bot exited"
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/healthz", timeout=2
            ) as r:
                assert r.status == 200
                body: dict[str, object] = json.loads(r.read())
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
