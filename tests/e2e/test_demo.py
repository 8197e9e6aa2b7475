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
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from devtools.stack import ROOT, free_port
from tests.support.cards import element, maybe_element
from tests.support.demo_process import URL_LINE, read_until, running_demo, start_demo
from tests.support.e2e import require_playground
from tests.support.playground import PlaygroundClient

pytestmark = [pytest.mark.playground]


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


@pytest.mark.parametrize("stop", ["SIGTERM to the demo", "SIGINT to its process group (Ctrl-C)"])
async def test_make_demo_starts_the_three_processes_serves_the_playground_and_stops_cleanly(
    tmp_path: Path, stop: str
) -> None:
    require_playground()
    bot_port, ui_port = free_port(), free_port()
    state_dir = tmp_path / "demo"
    demo = await start_demo(state_dir, bot_port, ui_port)
    assert demo.stdout is not None
    children: dict[int, str] = {}
    try:
        line, _ = await read_until(demo.stdout, URL_LINE, within=90)
        url = line.split(URL_LINE, 1)[1].strip()
        assert url == f"http://127.0.0.1:{ui_port}"

        children = descendants(demo.pid)
        kinds = sorted(k for k in ("-m simtenant", "app.py", "agentsplayground") for c in children.values() if k in c)
        assert kinds == ["-m simtenant", "agentsplayground", "app.py"], children
        run = (state_dir / "current").resolve()  # this run's own directory: state, CA and logs
        assert run.parent == state_dir / "runs" and (run / "simtenant" / "ca.pem").exists()
        sim_port = int(json.loads((run / "simtenant" / "simtenant.json").read_text())["control_url"].split(":")[2]
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
            client = PlaygroundClient(url, http, diagnostics=lambda: (run / "bot.log").read_text()[-3000:])
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


async def test_a_second_demo_on_the_same_ports_is_refused_and_a_dying_bot_ends_the_first(tmp_path: Path) -> None:
    async with running_demo(tmp_path / "first") as first:
        children = descendants(first.process.pid)
        [bot] = [pid for pid, command in children.items() if command.split()[-1:] == [str(ROOT / "app.py")]]

        # `make demo` again, in another terminal: it names who holds the ports and starts nothing.
        second = await start_demo(tmp_path / "second", first.bot_port, first.ui_port)
        assert second.stdout is not None
        code = await asyncio.wait_for(second.wait(), 30)
        said = (await second.stdout.read()).decode(errors="replace")
        assert code == 1, said
        assert f"Port {first.bot_port}, which the bot needs, is already in use by process {bot} (" in said, said
        assert f"app.py), started by process {first.process.pid} (" in said, said
        assert f"Port {first.ui_port}, which the Agents Playground needs, is already in use by process " in said
        assert "Another `make demo` is running: stop it first" in said and "Traceback" not in said
        assert not (tmp_path / "second").exists()  # no run directory, no process
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{first.bot_port}/healthz") as r:
            assert r.status == 200  # the first demo is untouched

        # The first demo's bot dies: the demo says so with the bot's last log lines, and stops the rest.
        last = (first.run / "bot.log").read_text().splitlines()[-1]
        os.kill(bot, signal.SIGKILL)
        code, rest = await first.rest(within=45)
        assert code == 1, rest
        assert "The bot stopped unexpectedly: it was killed by SIGKILL." in rest, rest
        assert f"Its last log lines ({first.run / 'bot.log'}):" in rest and f"  {last}" in rest, rest
        assert rest.rstrip().endswith("The demo stopped.") and "Traceback" not in rest, rest

    left = {pid: c for pid, c in children.items() if running(pid)}
    assert left == {}, f"orphans after the demo stopped: {left}"
    for port in (first.bot_port, first.ui_port):
        assert port_is_free(port), f"port {port} is still in use after the demo stopped"


def test_each_run_has_its_own_directory_and_the_newest_five_are_kept(tmp_path: Path) -> None:
    from devtools import demo

    base = tmp_path / "demo"
    runs = [demo._new_run(base) for _ in range(2)]
    assert runs[0] != runs[1] and (base / "current").resolve() == runs[1]
    assert all(r.parent == base / "runs" and (r / "demo.pid").read_text() == f"{os.getpid()}\n" for r in runs)
    old = [base / "runs" / f"20000101-00000{n}-1" for n in range(6)]
    for directory in old:
        directory.mkdir()
    # A run whose demo still runs is never removed (a process whose command line names devtools.demo).
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "devtools.demo"])
    try:
        # Until it has exec'd, the child's command line is still this process's: wait for it to read as a demo.
        cmdline = Path(f"/proc/{live.pid}/cmdline")
        deadline = time.monotonic() + 10
        while b"devtools.demo" not in cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        (old[0] / "demo.pid").write_text(f"{live.pid}\n")
        newest = demo._new_run(base)
    finally:
        live.kill()
        live.wait()
    left = sorted(p for p in (base / "runs").iterdir())
    # The five newest by name (this test's three runs and two old ones) and the live one; the other three removed.
    assert left == sorted([old[0], old[4], old[5], *runs, newest])
