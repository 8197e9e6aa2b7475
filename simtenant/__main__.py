"""`python -m simtenant --host 127.0.0.1 --port 0 --state-dir var/simtenant [--seed demo|bench:N|feed:N|empty]
[--sign-in-http]`

Serves the simulated tenant over HTTPS and prints exactly one JSON line to stdout once listening:
{"graph_base_url", "authority_host", "tenant_id", "client_id", "client_secret", "ca_file", "control_url",
"sign_in_origin"} (`--sign-in-http`: the sign-in pages also on plain http at 127.0.0.1, for a browser; else "")
(also written to <state-dir>/simtenant.json). Runs until SIGINT/SIGTERM.

`python -m simtenant assign|request …`: people of a running tenant act behind the bot's back (simtenant.act).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from simtenant import act
from simtenant.seed import build_tenant, check_seed
from simtenant.server import run_simtenant


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simtenant", description="Simulated Entra tenant + Graph PIM.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-dir", default="var/simtenant", help="where ca.pem and simtenant.json go")
    parser.add_argument("--seed", default="demo", help="demo | bench:N | feed:N | empty")
    parser.add_argument("--page-size", type=int, default=None)
    parser.add_argument("--wrapped-errors", action="store_true", help="PIM errors as UnknownError-wrapped")
    parser.add_argument("--freeze-clock", action="store_true", help="sim clock stands still until moved")
    parser.add_argument(
        "--sign-in-http", action="store_true", help="sign-in pages also on plain-http loopback (no browser warning)"
    )
    args = parser.parse_args(argv)
    try:
        check_seed(args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    return args


async def _serve(args: argparse.Namespace) -> None:
    tenant = build_tenant(args.seed)
    if args.page_size:
        tenant.settings.page_size = args.page_size
    tenant.settings.wrapped_errors = args.wrapped_errors
    if args.freeze_clock:
        tenant.clock.freeze()
    async with run_simtenant(
        host=args.host, port=args.port, state_dir=args.state_dir, tenant=tenant, sign_in_http=args.sign_in_http
    ) as sim:
        line = json.dumps(sim.to_json())
        (Path(args.state_dir) / "simtenant.json").write_text(line + "\n")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in act.COMMANDS:
        raise SystemExit(act.main(argv))
    asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    main()
