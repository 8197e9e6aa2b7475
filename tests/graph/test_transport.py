"""graph.transport: httpx over aiohttp (httpx-aiohttp) answers as httpx's own transport did, and names a failure by
whether the request may have left, which decides whether graph.client may send a write again."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from graph.transport import GraphHttpClient, graph_transport

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    async def echo(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"got": request.headers.get("X-Probe"), "path": request.path_qs}, status=201)

    async def hang_up(request: web.Request) -> web.Response:
        received.append(await request.read())
        assert request.transport is not None
        request.transport.close()  # the request arrived: the server closes without answering
        await asyncio.sleep(1)
        return web.Response()

    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"value": ["é" * 3000]}).encode())
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json", "request-id": "r-1"}
        return web.Response(body=body, headers=headers)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response()

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/hang-up", hang_up)
    app.router.add_get("/slow", slow)
    app.router.add_get("/gzipped", gzipped)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield str(test_server.make_url("/")).rstrip("/"), received
    finally:
        await test_server.close()


def _client(**kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=graph_transport(ssl.create_default_context(), LIMITS), **kwargs)  # type: ignore[arg-type]


async def test_a_request_goes_through_with_httpx_as_the_api(server: tuple[str, list[bytes]]) -> None:
    base, received = server
    async with _client() as http:
        response = await http.post(f"{base}/echo?$filter=a%20eq%20'b'", json={"x": 1}, headers={"X-Probe": "p"})
    assert response.status_code == 201 and response.json() == {"got": "p", "path": "/echo?$filter=a%20eq%20'b'"}
    assert received == [b'{"x":1}'] or received == [b'{"x": 1}']


async def test_a_compressed_answer_is_decoded_once_and_its_headers_kept(server: tuple[str, list[bytes]]) -> None:
    base, _ = server
    async with _client() as http:
        response = await http.get(f"{base}/gzipped")
        again = await http.get(f"{base}/gzipped")  # the connection went back to the pool and serves again
    assert response.json() == {"value": ["é" * 3000]} and again.json() == response.json()
    assert response.headers["request-id"] == "r-1" and response.headers["content-encoding"] == "gzip"


async def test_a_refused_connection_was_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    async with _client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/x", json={})


async def test_a_connection_closed_after_the_request_may_have_been_sent(server: tuple[str, list[bytes]]) -> None:
    base, received = server
    async with _client() as http:
        with pytest.raises(httpx.TransportError) as raised:
            await http.post(f"{base}/hang-up", json={"action": "selfActivate"})
    # Not ConnectError/ConnectTimeout (httpx-aiohttp's own mapping): graph.client must not send the write again.
    assert isinstance(raised.value, httpx.ReadError), type(raised.value)
    assert received == [b'{"action":"selfActivate"}'] or received == [b'{"action": "selfActivate"}']


async def test_a_read_timeout_is_a_read_timeout(server: tuple[str, list[bytes]]) -> None:
    base, _ = server
    async with _client(timeout=httpx.Timeout(0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{base}/slow")


async def test_the_graph_client_keeps_cookies_a_response_sets_and_reads_no_others() -> None:
    """GraphHttpClient skips the cookie jar for answers that set no cookie (graph.transport); one that sets a cookie
    is read as httpx would, and the cookie goes out with the next request, also after the jar is replaced."""
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        if request.url.path == "/set":
            return httpx.Response(200, headers={"Set-Cookie": "affinity=a1; Path=/"})
        return httpx.Response(200, json={})

    async with GraphHttpClient(transport=httpx.MockTransport(answer)) as http:
        await http.get("https://graph.example/plain")
        assert len(http.cookies.jar) == 0
        await http.get("https://graph.example/set")
        assert http.cookies.get("affinity") == "a1"
        await http.get("https://graph.example/plain")
        http.cookies = {"other": "o1"}
        await http.get("https://graph.example/set")
        await http.get("https://graph.example/plain")
    assert sent == [None, None, "affinity=a1", "other=o1", "other=o1; affinity=a1"]
