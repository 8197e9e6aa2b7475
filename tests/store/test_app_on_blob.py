"""The bot on Azure Blob Storage (STORE=azureblob, Azurite): it starts, keeps its state in the container, and a
store that refuses it stops the start with one line that says why."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.store import keys
from bot.store.azureblob import AzureBlobStore
from devtools.azurite import ACCOUNT, Azurite
from devtools.stack import free_port
from tests.support.processes import app_env

ROOT = Path(__file__).resolve().parents[2]
TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        "MicrosoftAppId": APP,
        "MicrosoftAppPassword": "bot-secret-value",
        "MicrosoftAppTenantId": TENANT,
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
        "PORT": "0",
    }
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=app_env({**base, **env}), capture_output=True, text=True, timeout=90
    )


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_blob_store_that_refuses_the_bots_key_stops_the_start_saying_so_without_the_key(azurite: Azurite) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    connection_string = azurite.connection_string.replace(
        azurite.connection_string.split("AccountKey=")[1].split(";")[0], wrong_key
    )
    result = _start(
        {
            "STORE": "azureblob",
            "AZURE_STORAGE_CONNECTION_STRING": connection_string,
            "AZURE_STORAGE_CONTAINER": azurite.container_name(),
        }
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cannot start" in result.stderr
    assert "Azure Blob Storage did not accept the bot's credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong_key not in result.stderr + result.stdout and ACCOUNT in connection_string


async def test_the_bot_starts_on_blob_storage_and_keeps_its_state_there(azurite: Azurite, tmp_path: Path) -> None:
    """Started with STORE=azureblob (Entra and Graph unreachable: it starts anyway), the bot creates its container and
    writes its process heartbeat there, not to a SQLite file."""
    container = azurite.container_name()
    port = free_port()
    env = app_env(
        {
            "MicrosoftAppId": "",
            "BOT_ALLOW_ANONYMOUS": "1",
            "GRAPH_CLIENT_ID": APP,
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_SECRET": "graph-secret-value",
            "GRAPH_BASE_URL": "https://graph.invalid/v1.0",
            "AUTHORITY_HOST": "https://login.invalid",
            "USER_TOKENS": "simulated",
            "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
            "PORT": str(port),
            "STATE_DB": str(tmp_path / "must-not-exist.sqlite3"),
            "STORE": "azureblob",
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "AZURE_STORAGE_CONTAINER": container,
        }
    )
    log = tmp_path / "bot.log"
    proc = _spawn(env, log)
    try:
        deadline = time.monotonic() + 60
        store = AzureBlobStore.from_connection_string(azurite.connection_string, container)
        try:
            beats: list[str] = []
            while not beats and time.monotonic() < deadline and proc.poll() is None:
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):  # the container does not exist until the bot made it
                    beats = [key async for key in store.keys(keys.HEARTBEATS)]
        finally:
            await store.aclose()
        assert beats, log.read_text(errors="replace")[-3000:]
        assert not (tmp_path / "must-not-exist.sqlite3").exists()
        assert "state store: Azure Blob Storage container" in log.read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
