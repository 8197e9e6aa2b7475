"""A lean Bot Connector stand-in for the benchmark: every send answers 201 {"id"} at once.

`python -m bench.connector --port N`. Unlike devtools/teams/connector.py it keeps nothing but counters
(GET /stats → {"activities", "typing"}; POST /stats/reset), so it costs the bots' replies as little as possible.
A 1:1 `POST /v3/conversations` (the bot opening a chat with an approver who never wrote, bench/reach.py) answers 201
with a conversation id of its own for that member, as Teams does for a user who has the app.

For the approval benchmark it can also keep a timeline: `POST /events/reset?record=1` starts it (empty), and from then
every send is kept as {"t": wall-clock seconds at arrival, "method", "conversation", "id" (the activity id answered or
updated), "approval" (an approval card: one with an `approve` action), "body" (approval cards only, parsed)};
`GET /events` returns them, `POST /events/reset` (no record) stops and empties it. Off by default, so the
throughput rounds cost what they did.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

from bench import serve

_TYPING = b'"typing"'
_APPROVE = (b'"id": "approve"', b'"id":"approve"')


class Counters:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.activities = 0
        self.typing = 0
        self.record = False
        self.events: list[dict[str, Any]] = []


COUNTERS = web.AppKey("counters", Counters)


async def send(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    body = await request.read()
    counters.activities += 1
    if _TYPING in body:
        counters.typing += 1
    activity_id = request.match_info.get("aid") or f"activity-{next(counters.ids)}"
    if counters.record:
        approval = any(marker in body for marker in _APPROVE)
        counters.events.append({
            "t": time.time(),
            "method": request.method,
            "conversation": request.match_info["cid"],
            "id": activity_id,
            "approval": approval,
            "body": json.loads(body) if approval else None,
        })  # fmt: skip
    return web.json_response({"id": activity_id}, status=201 if request.method == "POST" else 200)


async def create_conversation(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    body = await request.json()
    counters.activities += 1
    member = str(((body.get("members") or [{}])[0]).get("id") or "")
    if counters.record:
        counters.events.append({"t": time.time(), "method": "CREATE", "conversation": "", "id": "", "approval": False,
                                "body": None})  # fmt: skip
    return web.json_response({"id": f"a:bench-{member}"}, status=201)


async def stats(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    return web.json_response({"activities": counters.activities, "typing": counters.typing})


async def reset(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    counters.activities = counters.typing = 0
    return web.json_response({"activities": 0, "typing": 0})


async def events(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNTERS].events)


async def reset_events(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    counters.events = []
    counters.record = request.query.get("record") == "1"
    return web.json_response({"record": counters.record})


def create_app() -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[COUNTERS] = Counters()
    for path in ("/v3/conversations/{cid}/activities", "/v3/conversations/{cid}/activities/{aid}"):
        app.router.add_post(path, send)
        app.router.add_put(path, send)
    app.router.add_post("/v3/conversations", create_conversation)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", reset)
    app.router.add_get("/events", events)
    app.router.add_post("/events/reset", reset_events)
    return app


if __name__ == "__main__":
    serve(create_app(), "lean Bot Connector stand-in: every send answers 201")
