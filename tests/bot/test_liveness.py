"""Which bot processes are alive (bot.liveness): heartbeats on the shared store, and on this host the pid itself. Each
Liveness has its own SQLite connection, as separate processes would."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.liveness import Liveness, gone_here
from bot.store import ANY
from bot.store.sqlite import SqliteStore
from tests.support.feed import Wall


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[SqliteStore]]:
    """Two connections to one state file, as two processes would have."""
    first, second = SqliteStore(tmp_path / "state.sqlite3"), SqliteStore(tmp_path / "state.sqlite3")
    yield [first, second]
    first.close()
    second.close()


async def test_a_process_on_another_host_lives_while_it_beats_and_not_after(stores: list[SqliteStore]) -> None:
    wall = Wall()
    other = Liveness(stores[0], owner="host-b:202:bb", wall=wall, expiry_seconds=20)
    me = Liveness(stores[1], owner="host-a:101:aa", wall=wall, expiry_seconds=20)
    await other.start()
    assert await me.alive(other.owner)
    wall.now += 15
    await other.beat()
    wall.now += 19
    assert await me.alive(other.owner)
    wall.now += 2  # it stopped beating (killed) 21 s ago
    assert not await me.alive(other.owner)


async def test_a_process_that_never_beat_or_shut_down_cleanly_is_not_alive(stores: list[SqliteStore]) -> None:
    wall = Wall()
    other = Liveness(stores[0], owner="host-b:202:bb", wall=wall)
    me = Liveness(stores[1], owner="host-a:101:aa", wall=wall)
    assert not await me.alive("host-c:303:cc")
    await other.start()
    await other.stop()
    assert not await me.alive(other.owner)
    assert await me.alive(me.owner)


async def test_on_this_host_a_dead_pid_is_known_at_once_whatever_its_heartbeat_says(
    stores: list[SqliteStore],
) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    dead = f"{socket.gethostname()}:{proc.pid}:dd"
    await stores[0].put_if(f"process/{dead}", {"beat": 1e12}, ANY)
    assert gone_here(dead)
    assert not await Liveness(stores[1]).alive(dead)


async def test_a_previous_life_of_this_pid_is_gone_and_the_lives_running_here_are_not(
    stores: list[SqliteStore],
) -> None:
    here = f"{socket.gethostname()}:{os.getpid()}"
    running = Liveness(stores[0])
    assert running.owner.startswith(here + ":")
    assert not gone_here(running.owner)
    assert gone_here(f"{here}:0ldl1fe0")  # e.g. a container restarted under the same pid
    assert not gone_here(f"another-host:{os.getpid()}:0ldl1fe0")  # other hosts are judged by their heartbeat


async def test_start_prunes_heartbeats_silent_for_a_day(stores: list[SqliteStore]) -> None:
    wall = Wall()
    await stores[0].put_if("process/old:1:aa", {"beat": wall.now - 2 * 86400}, ANY)
    await stores[0].put_if("process/new:2:bb", {"beat": wall.now}, ANY)
    await Liveness(stores[1], owner="me:3:cc", wall=wall).start()
    assert [key async for key in stores[1].keys("process/")] == ["process/me:3:cc", "process/new:2:bb"]
