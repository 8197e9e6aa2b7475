"""The markers tests/conftest.py sets. Every test gets one of three, by what its code reaches (nobody decorates 2,500
tests by hand):

- `process`: real subprocesses (the bot or the tenant as a process, the Playground, chromium, the benchmark);
- `stack`: servers in this process on local sockets (the simulated tenant, the Bot Connector stand-in, the bot);
- `unit`: neither. A unit test that opens a socket or starts a process fails, so the marker stays true.

What the code reaches: the names the test function, its fixtures and the helpers they call (in tests/, devtools/,
bench/ and manifest/, followed a few calls deep) refer to. `slow` marks what `make test-fast` leaves out: it runs
`-m "(unit or stack) and not slow"`."""

from __future__ import annotations

import socket
import subprocess
import types
from collections.abc import Iterator
from typing import Any

import pytest

# A name that starts processes or a browser.
PROCESS_NAMES = frozenset(
    {
        "subprocess",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "Popen",
        "async_playwright",
        "sync_playwright",
        "open_renderer",
        "bot_process",
        "simulated_tenant",
        "running_demo",
        "start_demo",
    }
)
# A name that serves or connects over a local socket.
STACK_NAMES = frozenset(
    {
        "TestServer",
        "TestClient",
        "ClientSession",
        "TCPConnector",
        "run_simtenant",
        "running_stack",
        "running_connector",
        "running_identity",
        "running_token_service",
        "open_connection",
        "start_server",
        "create_server",
        "ReservedPort",
        "free_port",
        "socket",
    }
)
# Left out of `make test-fast`: the adversarial suite (races, fuzzing, fault matrices: a minute and more together).
SLOW = ("tests/adversarial/",)
DEPTH = 4


def _ours(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.startswith(("tests", "devtools", "bench", "manifest"))


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _reached(func: Any, seen: set[int], depth: int = DEPTH) -> set[str]:
    """The global names `func` refers to, and those of the functions and classes of ours it refers to."""
    func = getattr(func, "__wrapped__", func)
    code = getattr(func, "__code__", None)
    if code is None or id(func) in seen or depth < 0:
        return set()
    seen.add(id(func))
    names: set[str] = set()
    for each in _codes(code):
        names.update(each.co_names)
    namespace = getattr(func, "__globals__", {})
    for name in list(names):
        target = namespace.get(name)
        if isinstance(target, types.ModuleType) and target.__name__.startswith(("tests", "devtools", "bench")):
            for attribute in names & set(vars(target)):  # module.function(...): both names are in co_names
                if _ours(member := getattr(target, attribute)):
                    names |= _reached(member, seen, depth - 1)
        elif isinstance(target, type) and _ours(target):
            for member in vars(target).values():
                names |= _reached(member, seen, depth - 1)
        elif callable(target) and _ours(target):
            names |= _reached(target, seen, depth - 1)
    return names


def _kind(item: pytest.Function) -> str:
    for given in ("process", "stack", "unit"):  # set where no name shows it (a fixture's parameter: Azurite's cases)
        if item.get_closest_marker(given):
            return given
    if item.get_closest_marker("playground") or item.get_closest_marker("browser"):
        return "process"
    seen: set[int] = set()
    names = _reached(item.function, seen)
    for defs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in defs:
            if _ours(fixturedef.func) and fixturedef.func.__module__ != __name__:  # not the guard below
                names |= _reached(fixturedef.func, seen)
    if names & PROCESS_NAMES:
        return "process"
    if names & STACK_NAMES:
        return "stack"
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        kind = _kind(item)
        if not item.get_closest_marker(kind):
            item.add_marker(kind)
        if item.nodeid.startswith(SLOW):
            item.add_marker("slow")


class _Forbidden(AssertionError):
    pass


@pytest.fixture(autouse=True)
def unit_stays_unit(request: pytest.FixtureRequest) -> Iterator[None]:
    """A `unit` test may not open a socket or start a process: if it does, its marker is wrong."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _Forbidden(f"{request.node.nodeid} is marked unit but opens a socket or starts a process")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket.socket, "bind", refuse)
        patch.setattr(subprocess.Popen, "__init__", refuse)
        yield
