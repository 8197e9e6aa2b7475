"""`python -m bot.store copy`: a deployment's state moved from SQLite to Azure Blob Storage (Azurite), run as an
operator runs it, idempotent and resumable."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.store.azureblob import AzureBlobStore
from bot.store.sqlite import SqliteStore
from devtools.azurite import Azurite

ROOT = Path(__file__).resolve().parents[2]


def run_copy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.store", "copy", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_sqlite_state_is_copied_to_blob_storage_once_and_a_second_run_changes_nothing(
    tmp_path: Path, azurite: Azurite
) -> None:
    db = tmp_path / "state.sqlite3"
    source = SqliteStore(db)
    for i in range(25):
        await source.put_if(f"request/{i:03d}", {"i": i, "name": "Exchange-Admins.2h"}, None)
    await source.put_if("ref/user/0b1c2d3e", {"conversation": "a:1xyz"}, None)
    assert await source.acquire("feed", "a-running-process", timedelta(seconds=30))
    await source.aclose()
    container = azurite.container_name()
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, "AZURE_STORAGE_CONTAINER": container}

    first = await asyncio.to_thread(run_copy, "--from", f"sqlite:{db}", "--to", "azureblob", env=env)
    assert first.returncode == 0, first.stderr
    assert "26 copied" in first.stdout and azurite.connection_string not in first.stdout + first.stderr

    target = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    try:
        assert [k async for k in target.keys("")] == ["ref/user/0b1c2d3e", *(f"request/{i:03d}" for i in range(25))]
        found = await target.get("request/007")
        assert found is not None and found.value == {"i": 7, "name": "Exchange-Admins.2h"}
        await target.put_if("request/001", {"i": 1, "decided": True}, "*")  # a bot already running on the target

        again = await asyncio.to_thread(run_copy, "--from", f"sqlite:{db}", "--to", "azureblob", env=env)
        assert again.returncode == 0, again.stderr
        assert "25 already there, 1 differs" in again.stdout and "--overwrite" in again.stdout
        kept = await target.get("request/001")
        assert kept is not None and kept.value == {"i": 1, "decided": True}
    finally:
        await target.aclose()


def test_a_bad_store_spec_or_missing_settings_are_named_without_a_stack_trace(tmp_path: Path) -> None:
    bad = run_copy("--from", "postgres://x", "--to", "azureblob", env={})
    assert bad.returncode == 2 and "is not a store: write sqlite:PATH or azureblob" in bad.stderr
    missing = run_copy(
        "--from", f"sqlite:{tmp_path / 's.db'}", "--to", "azureblob", env={"AZURE_STORAGE_CONTAINER": ""}
    )
    assert missing.returncode == 2 and "azureblob needs AZURE_STORAGE_CONTAINER" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
