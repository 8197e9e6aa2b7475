"""The simulated tenant and the bot as real processes (`python -m simtenant`, `python app.py`), for the restart and
crash tests."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from devtools.stack import ROOT, Tenant


def app_env(values: Mapping[str, str]) -> dict[str, str]:
    """The environment of a bot started as a process: `values`, over only what Python itself needs of this process's
    environment, so that no setting of the developer's or the CI's reaches the bot and changes what it does."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, **values}


@asynccontextmanager
async def tenant_process(state_dir: Path) -> AsyncIterator[Tenant]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simtenant", "--port", "0", "--state-dir", str(state_dir), "--seed", "demo",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        info = json.loads(line)
        yield Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__})
    finally:
        proc.terminate()
        await proc.wait()


async def start_bot(env: dict[str, str], log: Path, *python: str) -> asyncio.subprocess.Process:
    """`python [python…] app.py` with `env`, its output in `log`; once /healthz answers. `python`: interpreter options
    (`-X importtime`: every module it imports, on stderr)."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *python, str(ROOT / "app.py"), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError("the bot exited: " + await asyncio.to_thread(log.read_text))
            try:
                async with http.get(f"http://127.0.0.1:{env['PORT']}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not start: " + (await asyncio.to_thread(log.read_text))[-2000:])
