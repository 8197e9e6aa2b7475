"""The Graph client's HTTP transport: httpx stays the API, aiohttp moves the bytes (the `httpx-aiohttp` package).

Why: httpx's own transport (httpcore over anyio) cost the bot ~0.9 ms of CPU per HTTPS request, most of a warm
`activate` turn's Graph call; under httpx-aiohttp the same request costs about half (issue 16, measured by `make
bench`). Everything above the transport stays httpx's: auth flows, timeouts, event hooks, MockTransport in tests.

What this module adds to the package: failures are named for whether the request may have left. The package maps
aiohttp's errors loosely (any `ClientConnectionError`, a server closing the connection after the request went out
included, becomes `httpx.ConnectTimeout`), and graph.client retries a non-idempotent write only when the request
cannot have been sent (ConnectError, ConnectTimeout, PoolTimeout). So a failure is mapped again from aiohttp's own
error, and the body is read inside the transport, so a failure while reading it is mapped too:
- no connection was made (refused, DNS, TLS handshake, a connect or pool timeout) → ConnectError / ConnectTimeout;
- anything after that (disconnected, reset, a read timeout, a broken body) → ReadError / ReadTimeout: maybe sent.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["GraphHttpClient", "GraphTransport", "graph_transport"]


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which skips reading a response that sets no cookie.

    httpx hands every response to its jar, and the jar first wraps response and request in urllib's types (a URL
    parse and a header copy: about a sixth of httpx's own CPU per Graph call). Graph's answers set no cookie; an
    answer without a Set-Cookie (or Set-Cookie2) header adds nothing to the jar whichever way it is read, so only those
    that carry one are read, as before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class GraphHttpClient(httpx.AsyncClient):
    """`httpx.AsyncClient` for Graph, the same in every way but the cost of reading a response that sets no cookie
    (`_Cookies`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _Cookies(self._cookies.jar)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """httpx's send, less the reference cycle it leaves in every response it has read: the client wraps the body's
        stream in a `BoundAsyncStream` that refers back to the response, so each response (its headers, request and
        URL) would be freed only by the garbage collector, with the allocations that trigger its passes (issue 16;
        tests/bot/test_turn_freed.py). A response read whole keeps its body in `content`, and nothing reads its stream
        again: an empty one stands in for it. A streamed response keeps its stream."""
        response = await super().send(request, **kwargs)
        if not kwargs.get("stream"):
            response.stream = httpx.ByteStream(b"")
        return response

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:  # httpx.Cookies, a dict or a CookieJar, as httpx takes them
        self._cookies = _Cookies(httpx.Cookies(cookies).jar)


class GraphTransport(AiohttpTransport):
    """httpx-aiohttp's transport, its failures mapped by whether the request may have been sent (module docstring)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _mapped(exc.__cause__ or exc, request) from exc.__cause__
        except (aiohttp.ClientError, TimeoutError) as exc:  # left unmapped by the package
            raise _mapped(exc, request) from exc
        # Graph answers in JSON of at most a few MB, and httpx reads it whole anyway: read here, straight from aiohttp
        # (httpx's chunk-by-chunk stream over the package's cost a tenth of the call), and hand httpx the bytes, which
        # it decodes (Content-Encoding) as it would have. Through httpx's stream if the package's response is not
        # where version 0.2 keeps it.
        raw = getattr(response.stream, "_aiohttp_response", None)
        try:
            if not isinstance(raw, aiohttp.ClientResponse):
                await response.aread()
                return response
            body = await raw.read()
        except httpx.TransportError as exc:
            await response.aclose()
            raise _read_failure(exc.__cause__ or exc, request) from exc.__cause__
        except (aiohttp.ClientError, TimeoutError) as exc:
            await response.aclose()
            raise _read_failure(exc, request) from exc
        raw.release()
        return httpx.Response(
            response.status_code,
            headers=response.headers,  # copied as httpx holds them (from `.raw` they were parsed over again)
            content=body,
            request=request,
            extensions=response.extensions,
        )


def _mapped(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """An httpx error for an aiohttp failure before the response head arrived."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, httpx.TransportError):
        return error
    if isinstance(error, aiohttp.ConnectionTimeoutError):  # the connect (or waiting for a pooled connection) timed out
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake: nothing was sent
        return httpx.ConnectError(message, request=request)
    if isinstance(error, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    return _read_failure(error, request)


def _read_failure(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """An httpx error for a failure once the connection was there: the request may have been sent."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, httpx.TransportError):
        return (
            error
            if not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            else httpx.ReadError(message, request=request)
        )
    if isinstance(error, TimeoutError):  # aiohttp's ServerTimeoutError and SocketTimeoutError are TimeoutErrors
        return httpx.ReadTimeout(message, request=request)
    return httpx.ReadError(message, request=request)


def graph_transport(ssl_context: ssl.SSLContext, limits: httpx.Limits) -> GraphTransport:
    """The transport for the bot's httpx client; its aiohttp session is opened here (inside the event loop) and
    closed with the client (`AsyncClient.aclose` closes its transport)."""
    connector = aiohttp.TCPConnector(
        ssl=ssl_context,
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry is not None else 15.0,
    )
    # No cookies (Graph sets none that matter, and httpx keeps its own jar), no proxy from the environment here:
    # httpx mounts its own transports for HTTPS_PROXY & co.
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
    return GraphTransport(verify=ssl_context, limits=limits, client=session)
