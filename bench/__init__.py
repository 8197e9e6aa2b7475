"""`make bench` / `python -m bench`: throughput, latency, CPU per turn and Graph round trips, written to
docs/benchmarks.md.

Every server runs in its own process (devtools/stack.py starts them): the simulated tenant, our bot (`app.py`), a stock
botbuilder echo bot (bench/echo_bot.py), a plain aiohttp handler (bench/plain.py) and a lean Bot Connector stand-in
(bench/connector.py). The load generator (bench/load.py) runs in the bench process itself.
"""

from __future__ import annotations

import argparse

from aiohttp import web

__all__ = ["healthz", "serve"]


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def serve(app: web.Application, description: str, argv: list[str] | None = None) -> None:
    """Serve `app` on 127.0.0.1:--port until SIGINT/SIGTERM, without access logs (as app.py serves the bot)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
