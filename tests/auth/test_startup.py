"""`python app.py` refuses to start without an app id (unless anonymous mode is asked for), naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env={**keep, **env}, capture_output=True, text=True, timeout=60
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
