"""A loopback port chosen and held at once, for a test server whose address must be known before it starts.

`aiohttp.test_utils.unused_port()` closes the socket it probed, so another process (a parallel test, a subprocess of
this one) may take the port before the server binds it: "Address already in use". A `ReservedPort` keeps the bound
socket until the server is given it (`socket_factory` for aiohttp's TestServer, `sock=` for asyncio servers)."""

from __future__ import annotations

import socket

__all__ = ["ReservedPort"]


class ReservedPort:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, 0))
        self.port: int = self.socket.getsockname()[1]

    def factory(self, host: str, port: int, family: socket.AddressFamily) -> socket.socket:
        """aiohttp TestServer's `socket_factory`: the held socket (it must be the address asked for)."""
        assert (host, port) == (self.host, self.port), (host, port)
        return self.socket
