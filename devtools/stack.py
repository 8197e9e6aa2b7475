"""Start the local stack as real processes: the simulated tenant, the bot, the Microsoft 365 Agents Playground.

Used by `make demo`, the Playground end-to-end tests and the benchmark, so all three run the same thing.
`python_server` starts the benchmark's own helper servers (bench/) the same way.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_BIN = ROOT / "node_modules" / ".bin" / "agentsplayground"


@dataclass(frozen=True)
class Tenant:
    graph_base_url: str
    authority_host: str
    tenant_id: str
    client_id: str
    client_secret: str
    ca_file: str
    control_url: str


@dataclass(frozen=True)
class PlaygroundUser:
    id: str
    name: str
    upn: str
    oid: str

    def yaml(self) -> str:
        given, _, surname = self.name.partition(" ")
        return (
            f"{{ id: {self.id}, name: {self.name}, userPrincipleName: {self.upn}, aadObjectId: {self.oid}, "
            f"givenName: {given}, surname: {surname or given}, email: {self.upn} }}"
        )


def _demo_user(name: str, n: int) -> PlaygroundUser:
    # The Playground's id of a user is its Entra object id: a 1:1 create_conversation names the user by object id,
    # which Teams accepts for a user who has the app (teams-platform.md §6), and the Playground opens a personal chat
    # only for one of its own user ids. So the demo's approvers can be reached, as in Teams, without ever writing.
    oid = f"aaaaaaaa-0000-4000-8000-{n:012d}"
    return PlaygroundUser(oid, name, f"{name.split()[0].lower()}@contoso.test", oid)


# The demo tenant's people (simtenant/seed.py). The Playground wants exactly one current user and five others.
DEMO_USERS = tuple(
    _demo_user(name, n)
    for n, name in enumerate(
        ("Alice Admin", "Bob Builder", "Carol Chen", "Dave Diaz", "Erin Evans", "Frank Fisher"), start=1
    )
)
# The bot's settings in `make demo`, beside bot_environment's: every role can be played from the Playground. Alice is
# the bot's admin; the admin feed watches four groups (Network-Admins, which Alice approves, also puts its waiting
# requests on the approval poll: a request made outside the bot gets its cards); polls are quick; `demo …` commands on.
# Access about to end is checked every 15 s (DEMO_ENDING_POLL_SECONDS: the end-to-end tests that do not look at it set
# it to an hour, so its cards never come between a command and its answer there).
DEMO_BOT_SETTINGS = {
    "BOT_ADMINS": DEMO_USERS[0].oid,
    "FEED_GROUPS": "Exchange-Admins, Teams Admins, Security-Operators, Network-Admins",
    "FEED_POLL_SECONDS": "10",
    "APPROVAL_POLL_SECONDS": "5",
    "LIVE_POLL_SECONDS": "5",  # a scheduled activation is announced within seconds of its start
    "ENDING_POLL_SECONDS": os.environ.get("DEMO_ENDING_POLL_SECONDS", "15"),
    "BOT_DEMO": "1",
}
BOT_NAME = "PIM Bot"
PLAYGROUND_BOT_ID = "28:pim-bot"  # the bot's id in the Playground's config (a bot id "pim-bot")
DEMO_TEAMS_APP_ID = "0c1d2e3f-4a5b-4c6d-9e8f-a0b1c2d3e4f5"  # the demo bot's Teams app manifest id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready.\n{detail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 (loopback only)
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def simulated_tenant(state_dir: Path, seed: str = "demo") -> Iterator[tuple[Tenant, subprocess.Popen[bytes]]]:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "simtenant.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simtenant", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state_dir),
         "--seed", seed, "--sign-in-http"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulated tenant did not start; see {state_dir / 'simtenant.log'}")
        info = json.loads(line)
        yield Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__}), proc
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()  # else a ResourceWarning (an error under pytest's filterwarnings=error) at GC
        log.close()


def bot_environment(
    tenant: Tenant, port: int, state_db: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "GRAPH_", "USER_TOKENS"))}
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "MicrosoftAppId": "",
            "BOT_ALLOW_ANONYMOUS": "1",
            "GRAPH_BASE_URL": tenant.graph_base_url,
            "GRAPH_SCOPE": "https://graph.microsoft.com/.default",  # the simulated tenant issues Graph tokens
            "AUTHORITY_HOST": tenant.authority_host,
            "GRAPH_TENANT_ID": tenant.tenant_id,
            "GRAPH_CLIENT_ID": tenant.client_id,
            "GRAPH_CLIENT_SECRET": tenant.client_secret,
            "CA_FILE": tenant.ca_file,
            "USER_TOKENS": "simulated",
            "SIMULATED_TENANT_URL": tenant.control_url,
            "STATE_DB": str(state_db),
            # The step-up sign-in page (MFA / authentication context) is served by the bot itself; in the demo the
            # browser reaches it on loopback (plain http is accepted only in anonymous development mode).
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@contextmanager
def bot_process(env: Mapping[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=dict(env), stdout=log, stderr=log)
        try:
            _wait_http(f"http://127.0.0.1:{env['PORT']}/healthz", proc, 30, "the bot", log_path)
            yield proc
        finally:
            stop_process(proc)


@contextmanager
def python_server(
    args: Sequence[str], port: int, log_path: Path, what: str, *, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`python <args>` (a helper server of the benchmark or the tests), ready once GET 127.0.0.1:port/healthz answers;
    stopped (SIGTERM, then SIGKILL) on exit. Its stdout and stderr go to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=dict(env) if env is not None else None, stdout=log, stderr=log
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/healthz", proc, 30, what, log_path)
            yield proc
        finally:
            stop_process(proc)


def publish_bot_app(tenant: Tenant, bot_id: str = PLAYGROUND_BOT_ID) -> str:
    """Put the bot's app in the simulated tenant's org catalog (an admin's upload), so the bot can install it for
    approvers who never wrote to it. Without a messaging endpoint: the Playground knows only its own conversations, so
    Teams' install events (in chats it does not know) are not modelled; the bot opens each chat itself through the
    Playground's create_conversation. Returns the catalog id."""
    body = json.dumps({"display_name": BOT_NAME, "bot_id": bot_id, "external_id": DEMO_TEAMS_APP_ID}).encode()
    request = urllib.request.Request(
        f"{tenant.control_url}/teams/apps", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    context = ssl.create_default_context(cafile=tenant.ca_file)
    with urllib.request.urlopen(request, timeout=10, context=context) as r:  # noqa: S310 (the local tenant)
        app_id: str = json.loads(r.read())["id"]
        return app_id


def write_playground_config(directory: Path, tenant_id: str) -> Path:
    """The Playground's .m365agentsplayground.yml with the demo tenant's people, one team and one group chat."""
    directory.mkdir(parents=True, exist_ok=True)
    current, *others = DEMO_USERS
    lines = [
        'version: "0.1.1"',
        f"tenantId: {tenant_id}",
        f'bot: {{ id: "{PLAYGROUND_BOT_ID}", name: {BOT_NAME} }}',
        f"currentUser: {current.yaml()}",
        "users:",
        *[f"  - {u.yaml()}" for u in others],
        "personalChat: { id: personal-chat-alice }",
        "groupChat: { id: group-chat-release, name: Release Squad }",
        "team: { id: team-it-ops, name: IT Operations, aadGroupId: bbbbbbbb-0000-4000-8000-0000000000ff,",
        "        channels: [ { id: channel-pim-approvals, name: PIM Approvals } ] }",
    ]
    path = directory / ".m365agentsplayground.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def playground(directory: Path, bot_port: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    if not PLAYGROUND_BIN.exists():
        raise RuntimeError("the Agents Playground is not installed: run `npm ci` (or `make setup`)")
    env = dict(os.environ)
    env.update({"TEAMSAPPTESTER_BROWSER": "none", "M365_AGENTS_PLAYGROUND_LOGFILE": str(directory / "playground.log")})
    with (directory / "playground.out").open("ab") as out:
        proc = subprocess.Popen(
            [str(PLAYGROUND_BIN), "start", "-e", f"http://127.0.0.1:{bot_port}/api/messages", "-c", "msteams",
             "-p", str(port), "--disable-telemetry"],
            cwd=directory, env=env, stdout=out, stderr=out,
        )  # fmt: skip
        try:
            # A ceiling, not a wait: the Playground (node) answers in 2-5 s on a quiet machine, but took over 30 s on
            # a loaded 2-core one, and every Playground test of the run then failed at its setup.
            _wait_http(
                f"http://127.0.0.1:{port}/_debug/ping", proc, 90, "the Agents Playground", directory / "playground.log"
            )
            yield proc
        finally:
            stop_process(proc)
