"""A round-robin reverse proxy in front of the bot instances' /api/messages, as App Service's front end is in front
of a scaled-out web app: each request goes to the next instance in turn, so consecutive activities (and two sent at
once) land on different instances. An instance that refuses the connection (stopped, killed) is skipped for the
next one, as a load balancer's health check would take it out; one that drops a request it already received is
answered 502, not retried (the request may have been acted on; Teams retries on its own)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["INSTANCE_HEADER", "RoundRobin", "running_proxy"]

INSTANCE_HEADER = "X-Served-By"  # the index of the instance that answered, on every proxied answer
_FORWARDED = ("Content-Type", "Authorization")


@dataclass
class RoundRobin:
    backends: Sequence[str]  # the instances' base URLs, http://127.0.0.1:PORT
    url: str = ""
    routed: list[int] = field(default_factory=list)  # the instance each request was answered by, in order
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _http: aiohttp.ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        first = next(self._turn)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            try:
                async with self._http.post(
                    f"{self.backends[index]}{request.path_qs}", data=body, headers=headers
                ) as answer:
                    payload = await answer.read()
                    kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
                    self.routed.append(index)
                    return web.Response(
                        status=answer.status, body=payload, headers={**kept, INSTANCE_HEADER: str(index)}
                    )
            except aiohttp.ClientConnectorError:
                continue  # not listening: the next instance
            except aiohttp.ServerDisconnectedError:
                return web.Response(status=502, text=f"instance {index} dropped the request")
        return web.Response(status=502, text="no instance is up")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/api/messages", self._forward)
        return app


@asynccontextmanager
async def running_proxy(backends: Sequence[str]) -> AsyncIterator[RoundRobin]:
    proxy = RoundRobin(backends)
    # No timeout of our own: a turn may take as long as the bot takes (the tests bound their waits).
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        proxy._http = http
        server = TestServer(proxy.app(), host="127.0.0.1")
        await server.start_server()
        try:
            proxy.url = str(server.make_url("/api/messages"))
            yield proxy
        finally:
            await server.close()
