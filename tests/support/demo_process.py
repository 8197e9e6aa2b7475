"""`make demo` (python -m devtools.demo) as a user starts it, for the end-to-end tests: a subprocess in its own session,
its output read until it prints the Playground's URL, stopped with SIGTERM (and its whole group killed if need be)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools.stack import ROOT, free_port
from tests.support.e2e import require_playground

URL_LINE = "Open the Agents Playground:"
BANNER_END = "Press Ctrl-C to stop."


@dataclass
class Demo:
    process: asyncio.subprocess.Process
    state_dir: Path  # DEMO_STATE_DIR
    bot_port: int
    ui_port: int
    url: str = ""
    output: list[str] = field(default_factory=list)  # what it printed so far (the whole banner, once running)

    @property
    def run(self) -> Path:
        """This run's own directory (state, CA, logs)."""
        return (self.state_dir / "current").resolve()

    def bot_log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.run / "bot.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def rest(self, within: float) -> tuple[int, str]:
        """Wait for it to exit: its exit code and everything it printed after the URL line."""
        assert self.process.stdout is not None
        code = await asyncio.wait_for(self.process.wait(), within)
        tail = (await self.process.stdout.read()).decode(errors="replace")
        self.output.append(tail)
        return code, tail


async def start_demo(
    state_dir: Path, bot_port: int, ui_port: int, ending_poll: str = "3600"
) -> asyncio.subprocess.Process:
    """`ending_poll`: DEMO_ENDING_POLL_SECONDS (the cards of access about to end come only in the tests of them)."""
    env = dict(
        os.environ, BOT_PORT=str(bot_port), PLAYGROUND_PORT=str(ui_port), DEMO_STATE_DIR=str(state_dir),
        PYTHONUNBUFFERED="1", DEMO_ENDING_POLL_SECONDS=ending_poll,
    )  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.demo",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


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


@asynccontextmanager
async def running_demo(state_dir: Path, *, ending_poll: str = "3600") -> AsyncIterator[Demo]:
    """The demo on free ports, up (its URL printed); stopped at the end if it still runs."""
    require_playground()
    bot_port, ui_port = free_port(), free_port()
    demo = Demo(await start_demo(state_dir, bot_port, ui_port, ending_poll), state_dir, bot_port, ui_port)
    try:
        assert demo.process.stdout is not None
        line, demo.output = await read_until(demo.process.stdout, URL_LINE, within=90)
        demo.url = line.split(URL_LINE, 1)[1].strip()
        _, rest = await read_until(demo.process.stdout, BANNER_END, within=10)
        demo.output += rest
        yield demo
    finally:
        if demo.process.returncode is None:
            demo.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(demo.process.wait(), 45)
            except TimeoutError:
                os.killpg(demo.process.pid, signal.SIGKILL)
                await demo.process.wait()
