"""A thin async Graph client over an injected `httpx.AsyncClient`: auth header, client-request-id, bounded retries
honouring Retry-After, `@odata.nextLink` paging and JSON batching. It knows OData and HTTP, nothing about PIM."""

from __future__ import annotations

import asyncio
import json as _json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from graph.auth import TokenAuth
from graph.errors import GraphError, GraphTransportError, parse_error
from graph.observe import GRAPH_CALL, CallObserver, GraphCall, route_of

__all__ = ["BatchRequest", "BatchResponse", "GraphClient", "JsonObject", "odata_path"]

JsonObject = dict[str, Any]

log = logging.getLogger(__name__)

MAX_BATCH = 20  # Graph JSON batching limit per $batch request
RETRYABLE = frozenset({429, 503, 504})
# Values keep OData punctuation readable ($filter=principalId%20eq%20'…'); Graph decodes either form.
_SAFE_IN_VALUE = "$'(),=:/@*;!"
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# URLs kept parsed (`_Target`): enough for the URLs a busy bot sends to again and again (every selfActivate goes to
# one, a user's checkMemberGroups to one per user), few enough to stay small (a few hundred kB at most).
_TARGETS_KEPT = 256


def odata_path(path: str, params: Mapping[str, str] | None = None) -> str:
    """`path?$filter=…&$expand=…` with values percent-encoded (spaces as %20), usable both as a request URL suffix and
    as the relative `url` of a batch item."""
    if not params:
        return path
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_SAFE_IN_VALUE)}" for k, v in params.items())
    return f"{path}{'&' if '?' in path else '?'}{query}"


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One item of a `$batch`. `url` is relative to the version root (`/groups/…`), built with `odata_path`."""

    id: str
    method: str
    url: str
    body: JsonObject | None = None
    headers: Mapping[str, str] | None = None
    depends_on: tuple[str, ...] = ()
    idempotent: bool = False  # a POST that only reads (checkMemberGroups): re-sent as a GET is; never on the wire

    @property
    def resendable(self) -> bool:
        return self.idempotent or self.method.upper() == "GET"

    def to_wire(self, depends_on: Sequence[str] | None = None) -> JsonObject:
        item: JsonObject = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers or {})
        if self.body is not None:
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"  # Graph rejects a batch item body without it
            item["body"] = self.body
        if headers:
            item["headers"] = headers
        deps = self.depends_on if depends_on is None else depends_on
        if deps:
            item["dependsOn"] = list(deps)
        return item


@dataclass(frozen=True, slots=True)
class BatchResponse:
    id: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def json(self) -> JsonObject:
        """The body of a successful item; raises its GraphError otherwise."""
        if self.error is not None:
            raise self.error
        return self.body if isinstance(self.body, dict) else {}


@dataclass(frozen=True, slots=True)
class _Target:
    """A URL as httpx parsed it and as the metrics name it (`route_of`). Parsing a URL was the largest part of what
    httpx spends building a request (about 15 µs of ~50, issue 16); an `httpx.URL` is immutable and httpx takes it as
    it is, so a URL sent to again is not parsed again."""

    url: httpx.URL
    route: str


class GraphClient:
    """Async Graph calls with bounded retries.

    * 429/503/504 are retried honouring `Retry-After` (seconds), at most `max_attempts` sends and `max_retry_wait`
      seconds of waiting in total; a Retry-After beyond what is left of that budget raises at once (the caller tells
      the user "try again in N s"). Without the header: exponential backoff with jitter.
    * A write (`idempotent=False`, the default for POST/PATCH) is retried only when Graph certainly did not act on it:
      429, or a connection that never opened. After a read timeout or a 502/503/504 the caller must reconcile.
    * `token=None` means the app-only token from `app_token` (an `httpx.Auth` such as `AppTokenSource`, whose flow
      refreshes a refused token once, or a plain async callable); pass a user's delegated token for self-service
      calls.
    * `observer` is told of every response, failed connection and retry (the bot's metrics); the last answered
      call's ids are in `graph.observe.GRAPH_CALL` for the logs.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        app_token: Callable[[], Awaitable[str]] | httpx.Auth,
        *,
        max_attempts: int = 3,
        max_retry_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        backoff_base: float = 0.5,
        observer: CallObserver | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._app_auth = app_token if isinstance(app_token, httpx.Auth) else TokenAuth(app_token)
        self._max_attempts = max_attempts
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._jitter = jitter
        self._backoff_base = backoff_base
        self._observer = observer
        self._targets: dict[str, _Target] = {}

    # -- plain requests ---------------------------------------------------------------------------------------------

    async def get(
        self,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_retry_wait: float | None = None,
    ) -> JsonObject:
        """`max_retry_wait` overrides the client's for this call (0: report a 429 at once, with its Retry-After)."""
        return await self.request(
            "GET", path, token=token, params=params, headers=headers, idempotent=True, max_retry_wait=max_retry_wait
        )

    async def post(
        self,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
        read_timeout: float | None = None,
    ) -> JsonObject:
        """`read_timeout`: this call's read timeout in seconds, when it may legitimately take longer than the client's
        (a selfActivate that waits for PIM's custom extension)."""
        return await self.request(
            "POST",
            path,
            token=token,
            params=params,
            json=json,
            headers=headers,
            idempotent=idempotent,
            read_timeout=read_timeout,
        )

    async def patch(
        self,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> JsonObject:
        return await self.request(
            "PATCH", path, token=token, params=params, json=json, headers=headers, idempotent=idempotent
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        max_retry_wait: float | None = None,
        read_timeout: float | None = None,
    ) -> JsonObject:
        """Send one request (with retries) and return its JSON object body ({} for 204 or a non-JSON body)."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        response = await self._send(
            method,
            self.url(path, params),
            token,
            json,
            headers,
            idempotent,
            max_retry_wait=max_retry_wait,
            read_timeout=read_timeout,
        )
        return _json_object(response)

    async def get_all(
        self,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int = 100,
    ) -> list[JsonObject]:
        """Every item of a collection, following `@odata.nextLink` verbatim."""
        first = await self.get(path, token=token, params=params, headers=headers)
        return await self.rest_of(first, token=token, headers=headers, max_pages=max_pages)

    async def rest_of(
        self,
        page: JsonObject,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int = 100,
    ) -> list[JsonObject]:
        """The items of `page` plus those of every page after it (for first pages that came from a batch)."""
        items = _values(page)
        next_link = page.get("@odata.nextLink")
        pages = 1
        while isinstance(next_link, str) and next_link:
            if pages >= max_pages:
                raise GraphError(502, "TooManyPages", f"stopped after {max_pages} pages")
            page = await self.get(next_link, token=token, headers=headers)
            items.extend(_values(page))
            next_link = page.get("@odata.nextLink")
            pages += 1
        return items

    # -- batching ---------------------------------------------------------------------------------------------------

    async def batch(self, requests: Sequence[BatchRequest], token: str | None = None) -> dict[str, BatchResponse]:
        """Send `requests` as `POST /$batch` in chunks of at most 20 (items linked by `depends_on` stay together) and
        return the responses by id. Inner failures come back parsed in `BatchResponse.error`, not raised; inner 429s
        (and 503/504 of GETs) are re-sent per their Retry-After within the same bounds as plain requests."""
        ids = [r.id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("batch request ids must be unique")
        chunks = _chunks(requests)
        if len(chunks) == 1:
            return await self._batch_chunk(chunks[0], token)
        outcomes = await asyncio.gather(*(self._batch_chunk(c, token) for c in chunks), return_exceptions=True)
        merged: dict[str, BatchResponse] = {}
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            merged.update(outcome)
        return merged

    async def _batch_chunk(self, chunk: Sequence[BatchRequest], token: str | None) -> dict[str, BatchResponse]:
        results: dict[str, BatchResponse] = {}
        pending = list(chunk)
        waited = 0.0
        for attempt in range(1, self._max_attempts + 1):
            pending_ids = {r.id for r in pending}
            body = {"requests": [r.to_wire([d for d in r.depends_on if d in pending_ids]) for r in pending]}
            idempotent = all(r.resendable for r in pending)
            outer = _json_object(await self._send("POST", self.url("/$batch"), token, body, None, idempotent))
            answered = _batch_responses(outer)
            retry_ids: set[str] = set()
            for request in pending:
                response = answered.get(request.id) or BatchResponse(
                    request.id, 502, {}, None, GraphError(502, "MissingBatchResponse", "no response for this item")
                )
                results[request.id] = response
                self._observe_item(request, response)
                if response.status in RETRYABLE and (response.status == 429 or request.resendable):
                    retry_ids.add(request.id)
            # Items that failed only because an item they depend on was throttled go again with it.
            changed = True
            while changed:
                changed = False
                for request in pending:
                    if request.id not in retry_ids and results[request.id].status == 424:
                        if any(d in retry_ids for d in request.depends_on):
                            retry_ids.add(request.id)
                            changed = True
            if not retry_ids or attempt == self._max_attempts:
                break
            hinted: list[float] = []
            for retry_id in retry_ids:
                error = results[retry_id].error
                if error is not None and error.retry_after is not None:
                    hinted.append(error.retry_after)
            wait = max(hinted) if hinted else self._backoff(attempt)
            if waited + wait > self._max_retry_wait:
                break
            log.info("graph batch: %d item(s) throttled, retrying in %.1fs", len(retry_ids), wait)
            if self._observer is not None:
                for request in pending:
                    if request.id in retry_ids:
                        reason = str(results[request.id].status)
                        self._observer.retrying(request.method.upper(), route_of(request.url), reason)
            await self._sleep(wait)
            waited += wait
            pending = [r for r in chunk if r.id in retry_ids]
        return results

    def _observe_item(self, request: BatchRequest, response: BatchResponse) -> None:
        """A batch item counts as a Graph request of its own (Graph throttles per item); its time is the batch's."""
        if self._observer is None:
            return
        headers = {k.lower(): v for k, v in response.headers.items()}
        call = GraphCall(
            request.method.upper(),
            route_of(request.url),
            response.status,
            headers.get("request-id", ""),
            headers.get("client-request-id", ""),
        )
        self._observer.answered(call, None)

    # -- the one place that talks to httpx --------------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        if path.startswith(("https://", "http://")):
            return odata_path(path, params)  # nextLinks are absolute and opaque: follow them as given
        return self.base_url + odata_path(path if path.startswith("/") else "/" + path, params)

    async def _send(
        self,
        method: str,
        url: str,
        token: str | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        *,
        max_retry_wait: float | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        client_request_id = str(uuid.uuid4())
        # One call's own read timeout (connect stays the client's): httpx's per-request `timeout`.
        per_call = self._http.timeout
        if read_timeout is not None:
            per_call = httpx.Timeout(read_timeout, connect=self._http.timeout.connect)
        limit = self._max_retry_wait if max_retry_wait is None else max_retry_wait
        send_headers = {
            "Accept": "application/json",
            "client-request-id": client_request_id,
            "return-client-request-id": "true",
        }
        if token is not None:
            send_headers["Authorization"] = f"Bearer {token}"
        send_headers.update(headers or {})
        auth = self._app_auth if token is None else None
        waited = 0.0
        attempt = 0
        observer = self._observer
        target = self._target(url)
        route = target.route
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                request = self._request(method, target.url, send_headers, json, per_call)
                response = await self._http.send(request, auth=auth)
            except httpx.TransportError as exc:
                if observer is not None:
                    observer.failed(method, route, type(exc).__name__)
                maybe_sent = not isinstance(exc, _NOT_SENT)
                failure = GraphTransportError(
                    f"{method} {_redact(url)}: {type(exc).__name__}: {exc}",
                    maybe_sent=maybe_sent,
                    timeout=isinstance(exc, httpx.TimeoutException),
                    client_request_id=client_request_id,
                )
                if (maybe_sent and not idempotent) or attempt >= self._max_attempts:
                    raise failure from exc
                wait = self._backoff(attempt)
                if waited + wait > limit:
                    raise failure from exc
                log.info("graph %s: %s, retrying in %.1fs", method, type(exc).__name__, wait)
                if observer is not None:
                    observer.retrying(method, route, type(exc).__name__)
                await self._sleep(wait)
                waited += wait
                continue

            call = GraphCall(
                method,
                route,
                response.status_code,
                response.headers.get("request-id", ""),
                response.headers.get("client-request-id", client_request_id),
            )
            GRAPH_CALL.set(call)
            if observer is not None:
                observer.answered(call, time.perf_counter() - started)
            if response.status_code < 400:
                return response
            error = parse_error(response.status_code, response.headers, response.content)
            if error.client_request_id is None:
                error.client_request_id = client_request_id
            retryable = response.status_code in RETRYABLE and (response.status_code == 429 or idempotent)
            if not retryable or attempt >= self._max_attempts:
                raise error
            wait = error.retry_after if error.retry_after is not None else self._backoff(attempt)
            if waited + wait > limit:
                raise error  # too long to wait inside one user interaction: report "try again in N s"
            log.info(
                "graph %s %s: %d (request-id %s), retrying in %.1fs",
                method,
                _redact(url),
                response.status_code,
                error.request_id,
                wait,
            )
            if observer is not None:
                observer.retrying(method, route, str(response.status_code))
            await self._sleep(wait)
            waited += wait

    def _request(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], json: Any, timeout: httpx.Timeout
    ) -> httpx.Request:
        """The request `AsyncClient.build_request` builds, for a third less of the CPU of a whole Graph call (issue
        16): the client's headers merged with ours as httpx merges them; Host, Content-Length and Content-Type added
        as httpx adds them, in its order; the JSON encoded as httpx encodes it. httpx takes it as a ready stream, so it
        does not normalise every header a second time nor look for the ones it adds. A client with cookies or query
        parameters of its own gets httpx's build_request (tests/graph/test_client.py holds the two equal)."""
        http = self._http
        if http.cookies or http.params:
            return http.build_request(method, url, headers=headers, json=json, timeout=timeout)
        merged = httpx.Headers(http.headers)
        merged.update(headers)
        raw = [(b"Host", url.netloc)] if url.host and "host" not in merged else []
        if json is None:
            body = b""
            sized = "content-length" in merged or "transfer-encoding" in merged
            if method in ("POST", "PUT", "PATCH") and not sized:
                raw.append((b"Content-Length", b"0"))
            raw.extend(merged.raw)
        else:
            body = _json.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
            raw.extend(merged.raw)
            if "content-length" not in merged:
                raw.append((b"Content-Length", str(len(body)).encode("ascii")))
            if "content-type" not in merged:
                raw.append((b"Content-Type", b"application/json"))
        request = httpx.Request(
            method, url, headers=raw, stream=httpx.ByteStream(body), extensions={"timeout": timeout.as_dict()}
        )
        request.read()
        return request

    def _target(self, url: str) -> _Target:
        """`url` parsed and templated: kept from an earlier call to it among the last `_TARGETS_KEPT` URLs (the
        oldest goes first), else now."""
        target = self._targets.get(url)
        if target is None:
            target = _Target(httpx.URL(url), route_of(url))
            if len(self._targets) >= _TARGETS_KEPT:
                del self._targets[next(iter(self._targets))]
            self._targets[url] = target
        return target

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = self._backoff_base * 2.0 ** (attempt - 1)
        return ceiling / 2 + self._jitter() * ceiling / 2


def _chunks(requests: Sequence[BatchRequest]) -> list[list[BatchRequest]]:
    """Split into batches of at most MAX_BATCH, keeping every dependsOn chain inside one batch."""
    group_of: dict[str, int] = {}
    groups: list[list[BatchRequest]] = []
    for request in requests:
        targets = {group_of[d] for d in request.depends_on if d in group_of}
        missing = [d for d in request.depends_on if d not in group_of]
        if missing:
            raise ValueError(f"batch item {request.id!r} depends on {missing}, which must come before it")
        if not targets:
            groups.append([request])
            group_of[request.id] = len(groups) - 1
            continue
        keep = min(targets)
        for other in sorted(targets - {keep}):
            groups[keep].extend(groups[other])
            for moved in groups[other]:
                group_of[moved.id] = keep
            groups[other] = []
        groups[keep].append(request)
        group_of[request.id] = keep
    chunks: list[list[BatchRequest]] = []
    current: list[BatchRequest] = []
    for group in groups:
        if not group:
            continue
        if len(group) > MAX_BATCH:
            raise ValueError(f"a dependsOn chain of {len(group)} items does not fit one batch of {MAX_BATCH}")
        if len(current) + len(group) > MAX_BATCH:
            chunks.append(current)
            current = []
        current.extend(group)
    if current:
        chunks.append(current)
    return chunks


def _batch_responses(outer: JsonObject) -> dict[str, BatchResponse]:
    parsed: dict[str, BatchResponse] = {}
    responses = outer.get("responses")
    if not isinstance(responses, list):
        return parsed
    for item in responses:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        status = item.get("status")
        status = status if isinstance(status, int) else 502
        raw_headers = item.get("headers")
        headers = {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
        body = item.get("body")
        error = parse_error(status, headers, body) if status >= 400 else None
        parsed[item["id"]] = BatchResponse(item["id"], status, headers, body, error)
    return parsed


def _json_object(response: httpx.Response) -> JsonObject:
    if response.status_code == 204 or not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"value": body}


def _values(page: JsonObject) -> list[JsonObject]:
    value = page.get("value")
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _redact(url: str) -> str:
    """Log the path, not the query: filters carry user object ids."""
    return url.split("?", 1)[0]
