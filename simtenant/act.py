"""`python -m simtenant assign|request …`: people of a *running* simulated tenant act behind the bot's back.

    python -m simtenant assign carol Teams-Admins [--owner] [--days 180] [--by erin]
    python -m simtenant request carol Network-Admins [--minutes 60] [--because "…"]
    python -m simtenant request --approver alice

`assign`: an administrator makes the user eligible, as in the Entra portal; `request`: a colleague asks for a group
with their own token (with `--approver`: a colleague eligible for a group that person approves). Both go through the
tenant's control API (POST /_sim/act/assign|request, simtenant.colleagues), which makes the Graph request as that
person. The tenant is found by its `simtenant.json` in `--state-dir`: by default the running `make demo`'s
(var/demo/current/simtenant). Standard library only; exit status 0 when Graph took the request, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "main"]

COMMANDS = ("assign", "request")
DEMO_TENANT = Path(__file__).resolve().parent.parent / "var" / "demo" / "current" / "simtenant"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simtenant", description=__doc__.split("\n\n")[0])
    parser.set_defaults(state_dir=DEMO_TENANT)
    sub = parser.add_subparsers(dest="command", required=True)
    assign = sub.add_parser("assign", help="an administrator makes a user eligible for a group (Entra portal)")
    assign.add_argument("user", help="e.g. carol, carol@contoso.test or an object id")
    assign.add_argument("group", help="e.g. Teams-Admins (case and separators do not matter)")
    assign.add_argument("--owner", action="store_true", help="eligible as owner, not member")
    assign.add_argument("--days", type=int, default=180, help="how long the eligibility lasts (default 180)")
    assign.add_argument("--by", help="the administrator (default: the tenant's first, Erin in the demo)")
    request = sub.add_parser("request", help="a colleague asks for a group with their own token (Entra portal)")
    request.add_argument("user", nargs="?", help="who asks, e.g. carol")
    request.add_argument("group", nargs="?", help="for which group, e.g. Network-Admins")
    request.add_argument("--approver", help="instead of user and group: someone asks for a group this person approves")
    request.add_argument("--minutes", type=int, default=60)
    request.add_argument("--because", dest="justification", help="the justification (default: a plausible one)")
    for p in (assign, request):
        p.add_argument("--state-dir", type=Path, default=DEMO_TENANT, help="the running tenant's --state-dir")
    args = parser.parse_args(argv)
    if args.command == "request" and not args.approver and not (args.user and args.group):
        parser.error("request needs a user and a group, or --approver")
    return args


def _tenant(state_dir: Path) -> dict[str, Any]:
    info = state_dir / "simtenant.json"
    try:
        found: dict[str, Any] = json.loads(info.read_text())
    except (OSError, ValueError):
        raise SystemExit(
            f"No running simulated tenant found ({info} is missing): start `make demo` first, or give --state-dir."
        ) from None
    return found


def _post(tenant: dict[str, Any], path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{tenant['control_url']}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=tenant["ca_file"])
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as r:  # noqa: S310 (the local tenant)
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except OSError as e:
        where = tenant["control_url"]
        raise SystemExit(f"The simulated tenant at {where} does not answer ({e}): is the demo still running?") from None


def _said(command: str, status: int, answer: dict[str, Any]) -> str:
    if "user" not in answer:
        return f"Nothing was done: {answer.get('error') or status}."
    user, group, by = answer["user"]["name"], answer["group"]["name"], answer["by"]["name"]
    if status >= 300:
        error = answer.get("error") or {}
        detail = error.get("message") if isinstance(error, dict) else error
        return f"Graph refused it ({status}): {detail}"
    request = answer["request"]
    if command == "assign":
        return (
            f"{by} made {user} eligible for {request['accessId']} of {group} "
            f"(eligibility request {request['id']}, {request['status']})."
        )
    return (
        f"{user} asked for {request['accessId']} of {group}: “{request['justification']}” "
        f"(request {request['id']}, {request['status']})."
    )


def main(argv: list[str]) -> int:
    args = _parse(argv)
    tenant = _tenant(args.state_dir)
    if args.command == "assign":
        body: dict[str, Any] = {
            "user": args.user, "group": args.group, "access": "owner" if args.owner else "member", "days": args.days,
        }  # fmt: skip
        if args.by:
            body["by"] = args.by
    else:
        body = {"minutes": args.minutes}
        body.update({"approver": args.approver} if args.approver else {"user": args.user, "group": args.group})
        if args.justification:
            body["justification"] = args.justification
    status, answer = _post(tenant, f"/act/{args.command}", body)
    print(_said(args.command, status, answer))
    return 0 if status < 300 else 1
