"""What one HTTPS request costs the caller's process, httpx vs aiohttp, side by side in one run.

The bot's Graph call goes through httpx (the product owner's choice) on the httpx-aiohttp transport
(graph/transport.py); the Bot Connector sends go through aiohttp. Three clients: httpx with its own transport, httpx on
the bot's transport, plain aiohttp. This
measures the CPU the *calling* process spends per sequential HTTPS GET to the same local server (the simulated
tenant's tiny `/_sim/info`), so the server's work is not counted. Alternating rounds, median of the rounds.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx

from bench.load import median
from graph.transport import graph_transport

__all__ = ["ClientCost", "client_cost"]

WARMUP = 20


@dataclass(frozen=True)
class ClientCost:
    httpx_ms: float  # CPU ms per request, median of the rounds: httpx's own transport
    aiohttp_ms: float
    bot_ms: float  # httpx on the bot's Graph transport (httpx-aiohttp)
    requests: int  # per client and round
    rounds: int


async def _cpu_per_request(send: Callable[[], Awaitable[None]], n: int) -> float:
    for _ in range(WARMUP):
        await send()
    started = time.process_time()
    for _ in range(n):
        await send()
    return (time.process_time() - started) / n * 1000


async def client_cost(url: str, ca_file: str, *, requests: int = 300, rounds: int = 3) -> ClientCost:
    context = ssl.create_default_context(cafile=ca_file)
    by_httpx: list[float] = []
    by_aiohttp: list[float] = []
    by_bot: list[float] = []
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    async with (
        httpx.AsyncClient(verify=context, trust_env=False) as hx,
        httpx.AsyncClient(transport=graph_transport(context, limits), trust_env=False) as bot,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as ah,
    ):

        async def with_httpx() -> None:
            (await hx.get(url)).raise_for_status()

        async def with_bot_transport() -> None:
            (await bot.get(url)).raise_for_status()

        async def with_aiohttp() -> None:
            async with ah.get(url) as r:
                r.raise_for_status()
                await r.read()

        for r in range(rounds):
            order = [(with_httpx, by_httpx), (with_bot_transport, by_bot), (with_aiohttp, by_aiohttp)]
            for send, into in order[r % 3 :] + order[: r % 3]:
                into.append(await _cpu_per_request(send, requests))
    return ClientCost(median(by_httpx), median(by_aiohttp), median(by_bot), requests, rounds)
