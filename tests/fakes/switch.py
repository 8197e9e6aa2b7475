"""A local TCP port that refuses connections until `up()`, then forwards each one to a target: an outside service
that is unreachable when the bot starts and comes back later, TLS and all (bytes are piped, not looked at)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.fakes.ports import ReservedPort

__all__ = ["Switch"]


class Switch:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._reserved: ReservedPort | None = ReservedPort()
        self.port = self._reserved.port
        self._server: asyncio.Server | None = None
        # Every piped connection, both ends: asyncio.Server.close() leaves accepted connections open (Python 3.11), and
        # one left for the garbage collector is an "unclosed transport" ResourceWarning in whichever test runs then.
        self._writers: set[asyncio.StreamWriter] = set()
        self._forwards: set[asyncio.Task[None]] = set()

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def up(self) -> None:
        if self._reserved is not None:  # the first time: the socket held since the port was chosen
            sock, self._reserved = self._reserved.socket, None
            self._server = await asyncio.start_server(self._forward, sock=sock)
        else:  # again after down(): the port was ours until then
            self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Stop listening and cut every connection piped so far, both ends, and wait until they are closed."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._forwards, return_exceptions=True)
        if self._reserved is not None:  # never up: the reserved socket is ours to close
            self._reserved.socket.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._forwards.add(task)
        self._writers.add(writer)
        try:
            try:
                target_reader, target_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            self._writers.add(target_writer)
            try:
                await asyncio.gather(_pipe(reader, target_writer), _pipe(target_reader, writer), return_exceptions=True)
            finally:
                await _closed(target_writer)
                self._writers.discard(target_writer)
        finally:
            await _closed(writer)
            self._writers.discard(writer)
            self._forwards.discard(task)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        sink.close()


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
