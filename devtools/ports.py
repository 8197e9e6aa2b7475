"""Is a TCP port free, and if not, which process listens on it: read from /proc (Linux), no `ss` or `lsof` needed.

`make demo` asks before it starts anything: a second demo on the same ports would otherwise start a bot that dies with
"address already in use" while the first bot answers its health check, and a Playground that quietly moves to a random
port (local-clients.md §3.1), so the banner would name ports that belong to someone else.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Holder", "holders", "in_use"]

PROC = Path("/proc")
_LISTEN = "0A"  # the TCP_LISTEN state in /proc/net/tcp (include/net/tcp_states.h)


@dataclass(frozen=True)
class Holder:
    """A process with a listening socket on the port; `parent` is its parent's, when readable (a demo's children are
    recognised by it)."""

    pid: int
    command: str
    parent_pid: int | None = None
    parent_command: str = ""

    def describe(self) -> str:
        text = f"process {self.pid} ({self.command or 'command line not readable'})"
        if self.parent_pid and self.parent_command:
            text += f", started by process {self.parent_pid} ({self.parent_command})"
        return text


def in_use(port: int, proc: Path = PROC) -> bool:
    """True if something listens on `port` on any local address: a LISTEN socket in /proc/net/tcp or tcp6 (not a
    connection of a stopped demo still in TIME_WAIT, which does not keep a server from binding). Without /proc, a bind
    to all interfaces is tried instead."""
    listening = _listening_inodes(port, proc)
    if listening is not None:
        return bool(listening)
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 here
            continue
        with s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return True
    return False


def holders(port: int, proc: Path = PROC) -> list[Holder]:
    """The processes listening on `port`, as far as /proc shows them (another user's sockets need root to be
    attributed; then the list is empty although the port is in use)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: list[Holder] = []
    for entry in proc.iterdir():
        if entry.name.isdigit() and wanted & _open_files(entry):
            pid = int(entry.name)
            parent = _parent(pid, proc)
            found.append(Holder(pid, _command(pid, proc), parent, _command(parent, proc) if parent else ""))
    return sorted(found, key=lambda h: h.pid)


def _open_files(process: Path) -> set[str]:
    """What the process's file descriptors point at (`socket:[inode]` for sockets); empty if not ours to read."""
    try:
        fds = list((process / "fd").iterdir())
    except OSError:  # gone, or another user's
        return set()
    links = set()
    for fd in fds:
        try:
            links.add(fd.readlink().as_posix())
        except OSError:  # closed meanwhile (the listing's own descriptor, say)
            continue
    return links


def _listening_inodes(port: int, proc: Path) -> set[str] | None:
    """The inodes of the sockets listening on `port`; None when /proc/net cannot be read (not Linux)."""
    inodes: set[str] = set()
    tables = []
    for table in ("tcp", "tcp6"):
        try:
            tables.append((proc / "net" / table).read_text().splitlines()[1:])
        except OSError:
            continue
    if not tables:
        return None
    for lines in tables:
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command(pid: int, proc: Path) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def _parent(pid: int, proc: Path) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    return ppid or None
