"""A clock that agrees with Microsoft Graph's.

PIM decides with its own clock (the five-minute rule, activation ends, eligibility windows). `GraphClock` is the
local clock corrected by the offset observed in the `Date` header of Graph's responses, so the bot's pre-flight
checks agree with Graph even when this machine's clock is off — and, against the simulated tenant, when a test or
a demo moves the tenant's clock. Offsets within the header's one-second resolution (plus latency) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["GraphClock"]

_NOISE = timedelta(seconds=2)


class GraphClock:
    def __init__(self, graph_base_url: str = "", local: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._base = graph_base_url.rstrip("/")
        self._local = local
        self._offset = timedelta(0)
        # The last Date header read and what it says: Graph's answers within one second carry the same header, so a
        # busy bot parses it about once a second instead of on every response (parsing it: a few µs each time).
        self._last: tuple[str, datetime | None] = ("", None)

    def now(self) -> datetime:
        return self._local() + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def observe(self, date_header: str | None) -> None:
        """Learn Graph's time from a response's `Date` header."""
        if not date_header:
            return
        header, server = self._last
        if date_header != header:
            server = _parsed(date_header)
            self._last = (date_header, server)
        if server is None:
            return
        offset = server - self._local()
        # The header has one-second resolution and arrives after some latency: small differences are noise.
        self._offset = offset if abs(offset) > _NOISE else timedelta(0)

    async def on_response(self, response: httpx.Response) -> None:
        """An httpx response event hook; only Graph's own answers count (not token endpoints or other hosts)."""
        if str(response.request.url).startswith(self._base):
            self.observe(response.headers.get("Date"))


def _parsed(date_header: str) -> datetime | None:
    """The time a `Date` header says (UTC when it names no zone); None when it is not a date."""
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    return server.replace(tzinfo=UTC) if server.tzinfo is None else server
