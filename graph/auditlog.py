"""What every reader of PIM's audit log (`GET /auditLogs/directoryAudits`) shares: its one budget and its paging.

The audit API is throttled apart from the rest of Graph: "Five requests per 10 seconds" per app per tenant for
directoryAudit (Microsoft Graph throttling limits, Microsoft Entra logs and reports: microsoftgraph/microsoft-graph-
docs-contrib `includes/throttling-entra-logs-reports.md`; graph-pim-groups.md §9). The budget is the app's, not a
reader's: the admin feed's read every cycle (graph.feed) and an `audit export` (graph.history) spend the same five,
so app.py makes one `AuditPacer` per process and gives it to both. Another process of the same app still shares the
tenant's budget unseen: its 429s are waited out by each reader, per Retry-After.

`audit_rows` is the one `@odata.nextLink` loop both readers page with.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from core.errors import DirectoryUnavailable
from core.ports import Clock
from graph.client import JsonObject

__all__ = ["AUDIT_REQUESTS", "AUDIT_WINDOW", "AuditPacer", "audit_rows"]

AUDIT_REQUESTS = 5  # requests the audit API allows an app per tenant …
AUDIT_WINDOW = timedelta(seconds=10)  # … in this window (module docstring)


class AuditPacer:
    """At most `limit` audit requests in any `window`, on the bot's clock: `async with pacer.slot():` around each one
    waits (with `sleep`) until the oldest of the last `limit` left the window. A request counts from when its answer
    came (the server saw it at some time before that), so however long requests take, no `window` at the server
    holds more than `limit`. One request at a time per process, in the order they asked (asyncio.Lock is first come,
    first served), so a feed cycle's read waits at most about two windows behind a long export, never for all of it.
    One pacer per process, shared by its readers (module doc)."""

    def __init__(
        self,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        limit: int = AUDIT_REQUESTS,
        window: timedelta = AUDIT_WINDOW,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._limit = limit
        self._window = window
        self._done: deque[datetime] = deque()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds waited in all (figures, tests)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._lock:
            while True:
                now = self._clock.now()
                while self._done and self._done[0] <= now - self._window:
                    self._done.popleft()
                if len(self._done) < self._limit:
                    break
                wait = (self._done[0] + self._window - now).total_seconds()
                self.waited += wait
                await self._sleep(max(wait, 0.01))
            try:
                yield
            finally:
                self._done.append(self._clock.now())


async def audit_rows(
    url: str, page: Callable[[str, int], Awaitable[JsonObject]], max_pages: int
) -> AsyncIterator[JsonObject]:
    """The entries of one audit query, page after page: `page(url, n)` reads page `n` (from 0) as its reader does
    (paced, patient or not), and its `@odata.nextLink` is followed until there is none. More than `max_pages` pages
    is DirectoryUnavailable rather than a read without end."""
    for n in range(max_pages):
        body = await page(url, n)
        for row in body.get("value") or ():
            if isinstance(row, dict):
                yield row
        next_link = body.get("@odata.nextLink")
        if not isinstance(next_link, str) or not next_link:
            return
        url = next_link
    raise DirectoryUnavailable(f"the PIM audit log has more than {max_pages} pages for this read")
