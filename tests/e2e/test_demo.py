"""`make demo` runs `python -m devtools.demo`: it must come up with a usable Playground and leave nothing behind.

Run as a user would: a subprocess in its own session, stopped with SIGTERM (a service manager, `kill`) or with SIGINT to
the whole process group (Ctrl-C in a terminal reaches every process of the foreground group, not only the demo).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from devtools.stack import ROOT, free_port
from tests.cards.cardtools import element, maybe_element
from tests.e2e.conftest import require_playground
from tests.e2e.playground import PlaygroundClient

pytestmark = [pytest.mark.playground]

URL_LINE = "Open the Agents Playground:"


def descendants(pid: int) -> dict[int, str]:
    """Live descendants of `pid` (from /proc), with their command lines."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = cmdline(child)
                todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has exited; only its exit status is left)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        try:
            probe.connect(("127.0.0.1", port))
        except OSError as e:
            if e.errno != errno.ECONNREFUSED:
                raise
        else:
            return False
    with socket.socket() as s:  # nothing listens on any interface (the Playground listens on all of them)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


async def read_until(stream: asyncio.StreamReader, marker: str, within: float) -> tuple[str, list[str]]:
    lines: list[str] = []

    async def scan() -> str:
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError("the demo exited before printing its URL:\n" + "".join(lines))
            line = raw.decode(errors="replace")
            lines.append(line)
            if marker in line:
                return line

    try:
        return await asyncio.wait_for(scan(), within), lines
    except TimeoutError:
        raise AssertionError(f"no {marker!r} within {within:.0f}s:\n" + "".join(lines)) from None


@pytest.mark.parametrize("stop", ["SIGTERM to the demo", "SIGINT to its process group (Ctrl-C)"])
async def test_make_demo_starts_the_three_processes_serves_the_playground_and_stops_cleanly(
    tmp_path: Path, stop: str
) -> None:
    require_playground()
    bot_port, ui_port = free_port(), free_port()
    state_dir = tmp_path / "demo"
    env = dict(
        os.environ,
        BOT_PORT=str(bot_port),
        PLAYGROUND_PORT=str(ui_port),
        DEMO_STATE_DIR=str(state_dir),
        PYTHONUNBUFFERED="1",
    )
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.demo",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert demo.stdout is not None
    children: dict[int, str] = {}
    try:
        line, _ = await read_until(demo.stdout, URL_LINE, within=90)
        url = line.split(URL_LINE, 1)[1].strip()
        assert url == f"http://127.0.0.1:{ui_port}"

        children = descendants(demo.pid)
        kinds = sorted(k for k in ("-m simtenant", "app.py", "agentsplayground") for c in children.values() if k in c)
        assert kinds == ["-m simtenant", "agentsplayground", "app.py"], children
        sim_port = int(json.loads((state_dir / "simtenant" / "simtenant.json").read_text())["control_url"].split(":")[2]
                       .split("/")[0])  # fmt: skip

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.get(url) as r:
                page = await r.text()
                assert r.status == 200 and "<script" in page.lower(), page[:500]
            async with http.get(f"{url}/_debug/ping") as r:
                assert r.status == 200 and (await r.text()).strip() == "pong"
            async with http.get(f"http://127.0.0.1:{bot_port}/healthz") as r:
                assert r.status == 200
            # Wired together: a message typed in the Playground reaches the bot, which reads the simulated tenant.
            client = PlaygroundClient(url, http, diagnostics=lambda: (state_dir / "bot.log").read_text()[-3000:])
            await client.connect()
            try:
                await client.say("status")
                while not maybe_element(card := (await client.next_card(within=30)).card or {}, "eligible-heading"):
                    pass  # the Playground may flush earlier messages first
                assert element(card, "heading")["text"] == "Your PIM groups"
            finally:
                await client.close()

        if stop.startswith("SIGTERM"):
            demo.send_signal(signal.SIGTERM)
        else:
            os.killpg(demo.pid, signal.SIGINT)
        code = await asyncio.wait_for(demo.wait(), timeout=45)
        rest = (await demo.stdout.read()).decode(errors="replace")
        assert code == 0, rest
        assert "Stopped." in rest, rest
        assert "Traceback" not in rest, rest
    finally:
        if demo.returncode is None:
            os.killpg(demo.pid, signal.SIGKILL)
            await demo.wait()

    left = {pid: c for pid, c in children.items() if running(pid)}
    assert left == {}, f"orphans after the demo stopped: {left}"
    for port in (bot_port, ui_port, sim_port):
        assert port_is_free(port), f"port {port} is still in use after the demo stopped"
