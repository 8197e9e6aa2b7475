"""`python -m simtenant` prints one JSON line when listening and serves HTTPS with the CA it wrote."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_simtenant_startup_line(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simtenant",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        "--seed",
        "bench:3",
        "--sign-in-http",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=15)
        info = json.loads(line)
        assert set(info) == {
            "graph_base_url",
            "authority_host",
            "tenant_id",
            "client_id",
            "client_secret",
            "ca_file",
            "control_url",
            "sign_in_origin",
        }
        assert info["sign_in_origin"].startswith("http://127.0.0.1:")
        assert info["ca_file"] == str((state_dir / "ca.pem").resolve())
        assert info["graph_base_url"] == info["authority_host"] + "/v1.0"
        assert json.loads((state_dir / "simtenant.json").read_text()) == info
        context = ssl.create_default_context(cafile=info["ca_file"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            async with session.get(f"{info['control_url']}/clock") as response:
                assert response.status == 200
            config = f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration"
            async with session.get(config) as response:
                body = await response.json()
                assert body["token_endpoint"] == f"{info['authority_host']}/{info['tenant_id']}/oauth2/v2.0/token"
                authorize = f"{info['sign_in_origin']}/{info['tenant_id']}/oauth2/v2.0/authorize"
                assert body["authorization_endpoint"] == authorize
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
    assert process.returncode == 0
    assert process.stdout is not None and await process.stdout.read() == b""  # exactly one line
