"""The floor: a plain aiohttp handler for POST /api/messages that reads the body and answers 201, nothing else.

`python -m bench.plain --port N`. What aiohttp and the loopback cost per request on this machine.
"""

from __future__ import annotations

from aiohttp import web

from bench import serve


async def messages(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=201)


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


if __name__ == "__main__":
    serve(create_app(), "plain aiohttp handler: POST /api/messages -> 201")
