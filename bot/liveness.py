"""Which bot processes are alive (issue 10, point 5).

Work that one process holds on a shared record (an approver's claim on a decision, the fan-out of a new request's
cards) names the process by its owner id, so that another process, or this one after a restart, can tell at once
whether the holder is gone instead of waiting out a timeout while the people who click are told to try again.

Owner ids are `host:pid:random`; the random part tells two lives of one pid apart (a container restarted under the
same pid). Every process writes a heartbeat, `process/{owner}` = {"beat": wall time}, every `beat_seconds`, and deletes
it on a clean shutdown. A holder is gone when

* it ran on this host and its pid is gone, or the pid is this process's but the owner is none of the lives running
  here (a kill -9 and a restart on the same host: known at once);
* its heartbeat is missing or older than `expiry_seconds` (another host: known within that time, 20 s by default).

Hosts sharing one state file must have clocks that agree within a few seconds (the feed's lease assumes the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from bot.store import ANY, Conflict, Store
from bot.store import keys as keyspace

__all__ = ["Liveness", "gone_here", "new_owner", "register_owner"]

log = logging.getLogger(__name__)

PRUNE_AFTER = 24 * 3600.0  # heartbeats of processes silent this long are deleted at start-up

_LIVE_HERE: set[str] = set()  # the owners running in this process (tests run several bots in one process)


def new_owner() -> str:
    """A fresh owner id for this process: `host:pid:random`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def register_owner(owner: str) -> None:
    """Say that `owner` runs in this process (so `gone_here` does not take it for a previous life of this pid)."""
    _LIVE_HERE.add(owner)


def gone_here(owner: str) -> bool:
    """True when `owner` ran on this host and is certainly gone (its pid is dead, or it is a previous life of this
    process's pid). Owners on other hosts are never judged here: only their heartbeat can tell."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner not in _LIVE_HERE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Liveness:
    """This process's owner id and heartbeat, and whether another owner still lives."""

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        beat_seconds: float = 5.0,
        expiry_seconds: float = 20.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.owner = owner or new_owner()
        self.beat_seconds = beat_seconds
        self._expiry = expiry_seconds
        self._wall = wall
        register_owner(self.owner)

    async def start(self) -> None:
        """The first heartbeat (before the process serves anything), and old heartbeats of dead processes pruned."""
        await self.beat()
        async for key, found in self._store.items(keyspace.HEARTBEATS):
            if self._wall() - float(found.value.get("beat") or 0) > PRUNE_AFTER:
                with contextlib.suppress(Conflict):  # it beat again meanwhile: alive after all
                    await self._store.delete(key, found.etag)

    async def beat(self) -> None:
        await self._store.put_if(keyspace.heartbeat(self.owner), {"beat": self._wall()}, ANY)

    async def run(self) -> None:
        """Beat every `beat_seconds` until cancelled; a failed write is retried at the next beat."""
        while True:
            await asyncio.sleep(self.beat_seconds)
            try:
                await self.beat()
            except Exception:
                log.warning("could not write this process's heartbeat", exc_info=True)

    async def stop(self) -> None:
        """A clean shutdown: what this process held is released by its callers; its heartbeat goes."""
        _LIVE_HERE.discard(self.owner)
        with contextlib.suppress(Exception):
            await self._store.delete(keyspace.heartbeat(self.owner))

    async def alive(self, owner: str) -> bool:
        """Whether the process `owner` may still be working (this process always is)."""
        if owner == self.owner:
            return True
        if gone_here(owner):
            return False
        found = await self._store.get(keyspace.heartbeat(owner))
        return found is not None and self._wall() - float(found.value.get("beat") or 0) <= self._expiry
