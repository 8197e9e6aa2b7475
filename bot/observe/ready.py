"""`GET /readyz`: whether this process can do its work now, for a load balancer or an orchestrator to route by.

`/healthz` is liveness: 200 while the process serves, whatever it cannot reach (restarting it cures no outage
elsewhere). `/readyz` answers 503 when a turn would fail here for a reason of this process's: the state store cannot
be read, or no app-only Graph token can be had (Entra unreachable, a secret refused). The admin feed's lease is shown
but never makes a process unready: one instance holds it, the others stand by and serve turns all the same.

Each check is bounded (`CHECK_SECONDS`), so a hanging store or Entra makes the probe answer 503 in time rather than
time out; the answer names the check and the error's type, never a message (it may carry a URL or an id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.store import Store
from bot.store import keys as keyspace

__all__ = ["CHECK_SECONDS", "READINESS_KEY", "Readiness", "readyz"]

CHECK_SECONDS = 3.0


@dataclass(frozen=True)
class Readiness:
    """`store`: the bot's state; `app_token`: one app-only Graph token (msal's cache, or Entra); `lease_held`: whether
    this process holds the admin feed's lease."""

    store: Store
    app_token: Callable[[], Awaitable[str]]
    lease_held: Callable[[], bool]

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the report)."""
        store, token = await asyncio.gather(self._timed(self._read_store()), self._timed(self._token()))
        ready = store["ok"] and token["ok"]
        report = {
            "status": "ready" if ready else "not ready",
            "checks": {"store": store, "graph_app_token": token},
            "feed_lease": "held" if self.lease_held() else "standby",
        }
        return ready, report

    async def _read_store(self) -> None:
        await self.store.get(keyspace.FEED_HEALTH)  # any key: a read that answers (even "none") is a reachable store

    async def _token(self) -> None:
        await self.app_token()

    @staticmethod
    async def _timed(check: Awaitable[None]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check, CHECK_SECONDS)
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {CHECK_SECONDS:g} s"}
        except Exception as e:  # any failure means not ready; its type is enough to look further in the logs
            return {"ok": False, "error": type(e).__name__}
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


READINESS_KEY = web.AppKey("readiness", Readiness)


async def readyz(request: web.Request) -> web.Response:
    """200 and the report when ready; 503 and the report when not, or while the process is still starting."""
    readiness = request.app.get(READINESS_KEY)
    if readiness is None:
        return web.json_response({"status": "starting"}, status=503)
    ready, report = await readiness.check()
    return web.json_response(report, status=200 if ready else 503)
