"""Azurite, Microsoft's Azure Storage emulator (npm `azurite`, a dev dependency in package.json), for the tests and
the benchmark.

Started on a free port (Azurite binds port 0 and prints the one it got), its data in memory, so each run starts
empty and leaves nothing behind. Tests isolate themselves by container (one per test). The account and key are
Azurite's well-known development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite:
"devstoreaccount1"), not a secret.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ACCOUNT", "Azurite", "running_azurite"]

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"Azurite Blob service successfully listens on (http://\S+)")


class Azurite:
    """A running Azurite blob service."""

    def __init__(self, process: subprocess.Popen[str], endpoint: str) -> None:
        self.process = process
        self.endpoint = endpoint  # http://127.0.0.1:PORT

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint}/{ACCOUNT};"
        )

    @staticmethod
    def container_name() -> str:
        """A fresh container name (3-63 lowercase letters, digits and dashes)."""
        return f"t-{uuid.uuid4().hex[:20]}"


@contextmanager
def running_azurite(startup_seconds: float = 30.0) -> Iterator[Azurite]:
    """Azurite's blob service for the duration of the block. A missing node_modules fails loudly (run `make setup`)."""
    binary = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `make setup` (npm ci installs Azurite)")
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",  # the Python SDK may speak a newer API version than this Azurite knows
            "--silent",
            "--disableTelemetry",  # on by default: tests send no usage data, and a stop takes 1 s, not 10
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = _LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        if not ready.wait(startup_seconds) or not found:
            raise RuntimeError(f"Azurite did not start within {time.monotonic() - started:.0f} s")
        yield Azurite(process, found[0])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
