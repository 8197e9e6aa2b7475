"""`make demo`: the simulated tenant, the bot and the Agents Playground, wired together. Ctrl-C stops all three.

Before anything starts, the bot's and the Playground's ports are checked: a port in use is named with the process that
holds it, and the demo exits 1 (a second demo would otherwise start a bot that dies with "address already in use"
while the first one answers its health check). Each run has its own directory, `var/demo/runs/<time>-<pid>/`, with the
tenant's state and CA, the bot's state and every log; `var/demo/current` points at the newest (the one `python -m
simtenant assign|request` talks to); the five newest runs are kept. While the demo runs, its three processes are
watched: if one stops, the demo says which, prints that process's last log lines, stops the others and exits 1.

In the demo the Playground's user, Alice, is also a bot admin (BOT_ADMINS), some groups are monitored by the admin feed
(FEED_GROUPS), `demo request` (BOT_DEMO) has a colleague ask for a group Alice approves, and the bot is PIM's custom
extension of Teams Admins (a ticket rule) and Security-Operators (on-call auto-approval from the seeded Shifts schedule
of "Ops Rotation", where Alice is on call): devtools.demo_extension, devtools/demo_rules.toml.

Environment: BOT_PORT (3978), PLAYGROUND_PORT (56150), DEMO_STATE_DIR (var/demo; the tests use a temporary one).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from subprocess import Popen

from devtools import demo_extension, ports
from devtools.stack import (
    DEMO_BOT_SETTINGS,
    ROOT,
    bot_environment,
    bot_process,
    free_port,
    playground,
    publish_bot_app,
    simulated_tenant,
    write_playground_config,
)

KEEP_RUNS = 5
TAIL_LINES = 20


@dataclass(frozen=True)
class Child:
    """One process of the demo and the logs that say why it stopped."""

    name: str
    proc: Popen[bytes]
    logs: tuple[Path, ...]


def main() -> int:
    base = Path(os.environ.get("DEMO_STATE_DIR") or ROOT / "var" / "demo")
    try:
        bot_port, ui_port = _port("BOT_PORT", 3978), _port("PLAYGROUND_PORT", 56150)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    held = _held([(bot_port, "the bot"), (ui_port, "the Agents Playground")])
    if held:
        print(held, file=sys.stderr)
        return 1
    run = _new_run(base)
    stop = False

    def _interrupt(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _interrupt)
    died: Child | None = None
    try:
        with ExitStack() as stack:
            try:
                children = _start(stack, run, bot_port, ui_port)
            except RuntimeError as e:  # a process did not come up: its log is in the message
                print(f"\nThe demo could not start: {e}", file=sys.stderr, flush=True)
                return 1
            print(_banner(base, run, ui_port), flush=True)
            died = _watch(children, lambda: stop)
            if died is not None:
                print(_obituary(died), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    if died is not None:
        print("The demo stopped.", file=sys.stderr)
        return 1
    print("Stopped.")
    return 0


def _port(key: str, default: int) -> int:
    raw = os.environ.get(key) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{key}={raw!r} is not a port number (1-65535)")
    return int(raw)


def _held(wanted: Sequence[tuple[int, str]]) -> str:
    """'' when every port is free, else what holds which and what to do."""
    lines: list[str] = []
    another_demo = False
    for port, what in wanted:
        if not ports.in_use(port):
            continue
        found = ports.holders(port)
        by = " and ".join(h.describe() for h in found) or "a process this user cannot see"
        lines.append(f"Port {port}, which {what} needs, is already in use by {by}.")
        another_demo = another_demo or any("devtools.demo" in h.command + h.parent_command for h in found)
    if not lines:
        return ""
    if another_demo:
        lines.append("Another `make demo` is running: stop it first (Ctrl-C in its terminal), or give this one other")
    else:
        lines.append("Stop that process first, or give the demo other")
    lines.append(f"ports: BOT_PORT={free_port()} PLAYGROUND_PORT={free_port()} make demo")
    return "\n".join(lines)


def _new_run(base: Path) -> Path:
    """A fresh run directory, `current` pointing at it, the oldest runs beyond KEEP_RUNS removed (not live ones)."""
    runs = base / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    run = runs / name
    for n in itertools.count(2):
        try:
            run.mkdir()
            break
        except FileExistsError:
            run = runs / f"{name}-{n}"
    (run / "demo.pid").write_text(f"{os.getpid()}\n")
    link = base / f".current-{os.getpid()}"
    link.symlink_to(run.relative_to(base), target_is_directory=True)
    os.replace(link, base / "current")
    for old in sorted(p for p in runs.iterdir() if p.is_dir())[:-KEEP_RUNS]:
        if not _live(old):
            shutil.rmtree(old, ignore_errors=True)
    return run


def _live(run: Path) -> bool:
    """Whether the demo that made this run directory still runs."""
    try:
        pid = int((run / "demo.pid").read_text())
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"devtools.demo" in command


def _start(stack: ExitStack, run: Path, bot_port: int, ui_port: int) -> list[Child]:
    sim_dir, pg_dir = run / "simtenant", run / "playground"
    tenant, sim = stack.enter_context(simulated_tenant(sim_dir))
    # The bot is PIM's custom extension of two groups (a ticket rule, on-call auto-approval): devtools.demo_extension
    url, app_id_uri = demo_extension.endpoint(bot_port)
    env = bot_environment(
        tenant, bot_port, run / "state.sqlite3", DEMO_BOT_SETTINGS | demo_extension.bot_settings(app_id_uri)
    )
    bot = stack.enter_context(bot_process(env, run / "bot.log"))
    demo_extension.link_groups(tenant, url, app_id_uri)
    publish_bot_app(tenant)  # approvers who never wrote to the bot get the card: it installs its app for them
    write_playground_config(pg_dir, tenant.tenant_id)
    ui = stack.enter_context(playground(pg_dir, bot_port, ui_port))
    return [
        Child("The simulated tenant", sim, (sim_dir / "simtenant.log",)),
        Child("The bot", bot, (run / "bot.log",)),
        Child("The Agents Playground", ui, (pg_dir / "playground.out", pg_dir / "playground.log")),
    ]


def _watch(children: Sequence[Child], stopping: Callable[[], bool]) -> Child | None:
    """Until asked to stop (None) or until a child stops by itself (that child)."""
    while True:
        time.sleep(0.5)
        if stopping():
            return None
        for child in children:
            if child.proc.poll() is not None:
                return child


def _obituary(child: Child) -> str:
    code = child.proc.returncode
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    lines = [f"\n{child.name} stopped unexpectedly: it {how}."]
    for log in child.logs:
        try:
            tail = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        except OSError:
            continue
        if tail:
            lines.append(f"Its last log lines ({log}):")
            lines += [f"  {line}" for line in tail]
    return "\n".join(lines)


def _banner(base: Path, run: Path, ui_port: int) -> str:
    python = sys.executable
    if Path(python).is_relative_to(ROOT):
        python = str(Path(python).relative_to(ROOT))
    where = "" if base == ROOT / "var" / "demo" else f" --state-dir {run / 'simtenant'}"
    act = f"{python} -m simtenant"
    return "\n".join(
        [
            "",
            "PIM bot demo is running against the simulated tenant (contoso.test).",
            f"  Open the Agents Playground:  http://127.0.0.1:{ui_port}",
            "  You are Alice Admin. Try:     activate Exchange-Admins 2h",
            '                                activate "Teams Admins" 90m because INC-4711',
            '                                activate "Teams Admins" 1h because x ticket CHG-1   (ticket rule)',
            "                                activate Security-Operators 1h because patching   (you are on call)",
            "                                activate Security-Operators 2h because patching   (to the approvers)",
            "                                status    |    deactivate Exchange-Admins    |    help",
            "  As an approver:               demo request   (a colleague asks for Network-Admins; you approve)",
            "  As the bot's admin:           @PIM Bot feed here   (in the IT Operations - PIM Approvals channel)",
            f"    then, in another terminal:  {act} assign carol Teams-Admins{where}",
            f"  Logs: {run}/bot.log, {run}/simtenant/simtenant.log",
            "Press Ctrl-C to stop.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
