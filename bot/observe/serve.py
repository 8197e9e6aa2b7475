"""`GET /metrics` on a listener of its own (METRICS_PORT), never on the bot's messaging port.

Why a port of its own: the messaging endpoint faces the internet (Teams' Bot Connector posts to it), while metrics
are for the operator's Prometheus inside the network. Off (no METRICS_PORT), nothing listens.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.observe.metrics import REGISTRY

__all__ = ["MetricsServer", "metrics"]

log = logging.getLogger(__name__)


async def metrics(request: web.Request) -> web.Response:
    """The registry in the format the scraper asks for (Accept): Prometheus' text format 0.0.4, which every
    Prometheus reads, unless it asks for OpenMetrics."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(REGISTRY), headers={"Content-Type": content_type})


class MetricsServer:
    """`port` None: off. 0: any free port (`port` tells which once started)."""

    def __init__(self, host: str, port: int | None) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self.port is None:
            return
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as e:  # the port is taken: the bot serves its users all the same, and says why
            log.error("no metrics: cannot listen on %s:%s (%s)", self.host, self.port, e.strerror or e)
            await self.stop()
            self.port = None
            return
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("metrics at http://%s:%s/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
