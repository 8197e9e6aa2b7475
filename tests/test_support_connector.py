"""The end-to-end tests' shared client leaves no socket open once its event loop is closed, also when a TLS peer has
not answered the close_notify of a connection aiohttp closed gracefully (the flaky "unclosed transport"
ResourceWarning of clean-clone runs; tests/support/e2e.py's `http`)."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import trustme

from tests.support.e2e import lasting_connector


@pytest.fixture
def deaf_tls_peer() -> Iterator[tuple[int, ssl.SSLContext]]:
    """A TLS server that answers one request per connection and then never reads again (no close_notify back)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def one(raw: socket.socket) -> None:
        with server_context.wrap_socket(raw, server_side=True) as tls:
            held.append(tls)
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            stop.wait(30)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(raw,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], client_context
    finally:
        stop.set()
        listener.close()


def _sockets_left_open(make: Any, port: int, client_context: ssl.SSLContext) -> int:
    """Open one keep-alive TLS connection, let aiohttp close it gracefully (its keep-alive expires), close the client
    and then the event loop: how many of the sockets made meanwhile are still open."""
    made: list[Any] = []
    original = asyncio.selector_events._SelectorSocketTransport.__init__

    def noted(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    async def run() -> None:
        connector = make(ssl=client_context, keepalive_timeout=0.2)
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(f"https://127.0.0.1:{port}/") as response:
                await response.read()
            await asyncio.sleep(0.5)

    with pytest.MonkeyPatch.context() as patch:  # asyncio's own class: the one place that sees every socket made
        patch.setattr(asyncio.selector_events._SelectorSocketTransport, "__init__", noted)
        with asyncio.Runner() as runner:
            runner.run(run())
    left = [t for t in made if t._sock is not None]
    for transport in left:  # closed here, by hand: its loop is gone
        transport._sock.close()
        transport._sock = None
    return len(left)


def test_no_socket_of_the_shared_client_outlives_its_loop(deaf_tls_peer: tuple[int, ssl.SSLContext]) -> None:
    port, client_context = deaf_tls_peer
    assert _sockets_left_open(lasting_connector, port, client_context) == 0
    if aiohttp.connector.NEEDS_CLEANUP_CLOSED:  # where asyncio leaks them, aiohttp's default connector does
        assert _sockets_left_open(aiohttp.TCPConnector, port, client_context) == 1
