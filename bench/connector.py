"""A lean Bot Connector stand-in for the benchmark: every send answers 201 {"id"} at once.

`python -m bench.connector --port N`. Unlike tests/fakes/connector.py it keeps nothing but counters
(GET /stats → {"activities", "typing"}; POST /stats/reset), so it costs the bots' replies as little as possible.
"""

from __future__ import annotations

import itertools

from aiohttp import web

from bench import serve

_TYPING = b'"typing"'


class Counters:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.activities = 0
        self.typing = 0


COUNTERS = web.AppKey("counters", Counters)


async def send(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    body = await request.read()
    counters.activities += 1
    if _TYPING in body:
        counters.typing += 1
    return web.json_response({"id": f"activity-{next(counters.ids)}"}, status=201)


async def stats(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    return web.json_response({"activities": counters.activities, "typing": counters.typing})


async def reset(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    counters.activities = counters.typing = 0
    return web.json_response({"activities": 0, "typing": 0})


def create_app() -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[COUNTERS] = Counters()
    for path in ("/v3/conversations/{cid}/activities", "/v3/conversations/{cid}/activities/{aid}"):
        app.router.add_post(path, send)
        app.router.add_put(path, send)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", reset)
    return app


if __name__ == "__main__":
    serve(create_app(), "lean Bot Connector stand-in: every send answers 201")
