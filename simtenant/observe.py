"""What the tenant lets tests and demos steer and watch: injected faults, request counters, a request log."""

from __future__ import annotations

import re
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_FAULT_CODES", "ConnectionDropped", "Fault", "FaultRegistry", "RequestLog", "Stats"]

DEFAULT_FAULT_CODES = {
    429: "TooManyRequests",
    500: "UnknownError",
    502: "UnknownError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class ConnectionDropped(Exception):
    """An injected fault's `drop`: the HTTP connection is closed without any answer."""


@dataclass(slots=True)
class Fault:
    """One injected fault.

    Matches requests whose method equals `method` (None = any) and whose path (`/v1.0/...` for Graph, inner $batch
    requests included; `/{tenant}/oauth2/v2.0/token` for tokens) matches the `path` regex (re.search).
    Before processing (default): wait `delay_seconds`, then answer `status` (if set) without doing the work, or
    carry on normally. With `after_processing`: do the work, wait `delay_seconds`, then answer `status` (if set)
    or the real response — the request took effect although the client may have given up waiting.
    With `drop`, the connection is closed instead of answering (after the work with `after_processing`): the client
    sees a connection lost mid-request. A dropped request inside a $batch drops the whole batch's connection.
    `skip` matching requests pass untouched before it hits (e.g. the second read of the same URL);
    `times` = how many requests it hits (None = until cleared)."""

    path: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    retry_after: float | None = None
    times: int | None = 1
    delay_seconds: float = 0.0
    after_processing: bool = False
    code: str | None = None
    message: str | None = None
    wrapped: bool = False
    drop: bool = False
    skip: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from the /_sim/faults body. Raises ValueError on bad input."""
        known = {
            "method",
            "path",
            "status",
            "retry_after",
            "times",
            "delay_seconds",
            "after_processing",
            "code",
            "message",
            "wrapped",
            "drop",
            "skip",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        try:
            pattern = re.compile(str(data.get("path", ".*")))
        except re.error as exc:
            raise ValueError(f"bad path regex: {exc}") from exc
        status = data.get("status")
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError("status must be an integer 400..599")
        times = data.get("times", 1)
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null (unlimited)")
        skip = data.get("skip", 0)
        if not isinstance(skip, int) or skip < 0:
            raise ValueError("skip must be a non-negative integer")
        method = data.get("method")
        return cls(
            path=pattern,
            method=str(method).upper() if method not in (None, "*") else None,
            status=status,
            retry_after=float(data["retry_after"]) if data.get("retry_after") is not None else None,
            times=times,
            delay_seconds=float(data.get("delay_seconds") or 0.0),
            after_processing=bool(data.get("after_processing", False)),
            code=data.get("code"),
            message=data.get("message"),
            wrapped=bool(data.get("wrapped", False)),
            drop=bool(data.get("drop", False)),
            skip=skip,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "retry_after": self.retry_after,
            "times": self.times,
            "delay_seconds": self.delay_seconds,
            "after_processing": self.after_processing,
            "code": self.code,
            "message": self.message,
            "wrapped": self.wrapped,
            "drop": self.drop,
            "skip": self.skip,
            "hits": self.hits,
        }

    @property
    def error_code(self) -> str:
        if self.code:
            return self.code
        return DEFAULT_FAULT_CODES.get(self.status or 500, "UnknownError")

    @property
    def error_message(self) -> str:
        if self.message is not None:
            return self.message
        if self.status == 429:
            return "Too many requests. Retry after the time in the Retry-After header."
        return "Injected fault."


class FaultRegistry:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[Fault]:
        return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, counting the hit (and dropping a fault that is used up)."""
        if not self._faults:
            return None
        for fault in self._faults:
            if (fault.method is None or fault.method == method.upper()) and fault.path.search(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


class Stats:
    """graph_requests: HTTP requests to /v1.0 (a $batch counts once); batch_inner_requests: requests inside
    batches; token_requests: token endpoint calls (/oauth2/v2.0/token and /_sim/token); by_route: "METHOD route"
    counts for outer and inner Graph requests alike (so its sum can exceed graph_requests)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.graph_requests = 0
        self.batch_inner_requests = 0
        self.token_requests = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()

    def to_json(self) -> dict[str, Any]:
        return {
            "graph_requests": self.graph_requests,
            "batch_inner_requests": self.batch_inner_requests,
            "token_requests": self.token_requests,
            "by_route": dict(self.by_route),
            "by_status": {str(status): count for status, count in sorted(self.by_status.items())},
        }


class RequestLog:
    def __init__(self, limit: int = 1000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def add(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        entries = list(self._entries)
        return entries[-limit:] if limit else entries
