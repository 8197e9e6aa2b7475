"""devtools.ports: whether a port is taken and by which process, from /proc (what `make demo` says before it starts)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from devtools.ports import holders, in_use
from devtools.stack import free_port


def test_a_listening_port_is_in_use_and_its_process_is_named(tmp_path: Path) -> None:
    port = free_port()
    assert not in_use(port) and holders(port) == []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert in_use(port)
        assert in_use(port, proc=tmp_path)  # without /proc: a bind to all interfaces fails
        [me] = holders(port)
        mine = Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()
        assert (me.pid, me.parent_pid, me.command) == (os.getpid(), os.getppid(), mine)  # pytest or an xdist worker
        assert me.describe().startswith(f"process {os.getpid()} (") and me.command in me.describe()
    assert not in_use(port) and holders(port) == []


def test_connections_left_in_time_wait_do_not_count(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end of the connection stays in TIME_WAIT
    assert not in_use(port) and holders(port) == []
