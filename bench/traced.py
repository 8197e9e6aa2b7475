"""`python -m bench.traced`: the bot (app.py's main) with tracemalloc on, for finding what grows in the memory soak.

tracemalloc starts before app.py is imported, keeping $BENCH_TRACE_FRAMES frames (default 12) of each allocation; 0
leaves it off (the allocators' figures alone, undistorted: tracemalloc's own tables triple RSS). SIGUSR1 writes a
snapshot to $BENCH_TRACE/snapshot-<n>.pickle and appends one JSON line to $BENCH_TRACE/rss.jsonl: the snapshot's
number, the Python heap tracemalloc traces (current and peak), the process's RSS, what pymalloc holds (its 1 MiB
arenas, the bytes in use and free in them), what glibc's malloc holds (mallinfo2: in use, free in its arenas, mapped)
and SQLite's own memory. SIGUSR2 does the same and then calls glibc's malloc_trim(0), writing a second line after it:
how much of RSS was free memory the allocator kept (a diagnosis only; the product never trims).
$BENCH_TRACE_BURST_MB: also a snapshot (burst-*.pickle) when the traced heap rises that far above its lowest of the
last minute, to see what a periodic burst holds. Compare two snapshots with `python -m bench.traced diff A B`. Only
for diagnosis: tracemalloc roughly doubles the CPU of each turn, so no figure of the bench comes from it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import linecache
import os
import re
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from itertools import count
from pathlib import Path
from types import FrameType

__all__ = ["main"]


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sqlite_mb() -> float | None:
    """SQLite's own memory in this process (sqlite3_memory_used), when the module's library exposes it."""
    try:
        import _sqlite3  # noqa: PLC0415

        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return float(lib.sqlite3_memory_used()) / 2**20
    except (OSError, AttributeError):
        return None


def _pymalloc() -> dict[str, float | None]:
    """Python's own small-object allocator (pymalloc: 1 MiB arenas mapped apart from glibc's heap, so not in
    mallinfo2): arenas held, and the bytes in use and free in them (sys._debugmallocstats, which writes to fd 2)."""
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    found: dict[str, float | None] = {}
    for label, name in (
        ("arenas allocated current", "pymalloc_arenas"),
        ("bytes in allocated blocks", "pymalloc_in_use_mb"),
        ("bytes in available blocks", "pymalloc_free_mb"),
    ):
        if match := re.search(rf"# {label}\s*=\s*([\d,]+)", text):
            value = float(match.group(1).replace(",", ""))
            found[name] = value if name == "pymalloc_arenas" else value / 2**20
    return found


def figures(libc: ctypes.CDLL | None) -> dict[str, float | None]:
    current, peak = tracemalloc.get_traced_memory()
    row: dict[str, float | None] = {
        "time": time.time(),
        "rss_mb": _rss_mb(),
        "traced_mb": current / 2**20,
        "traced_peak_mb": peak / 2**20,
        "sqlite_mb": _sqlite_mb(),
    } | _pymalloc()
    if libc is not None and hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
        row |= {
            "malloc_in_use_mb": info.uordblks / 2**20,  # allocated from the arenas (small blocks)
            "malloc_free_mb": info.fordblks / 2**20,  # free in the arenas, still held
            "malloc_arena_mb": info.arena / 2**20,
            "malloc_mmapped_mb": info.hblkhd / 2**20,
        }
    return row


def main() -> None:
    out = Path(os.environ["BENCH_TRACE"])
    out.mkdir(parents=True, exist_ok=True)
    libc = _libc()
    numbers = count(1)

    def dump(number: int, event: str) -> None:
        with (out / "rss.jsonl").open("a") as f:
            f.write(json.dumps({"n": number, "event": event} | figures(libc)) + "\n")

    def snapshot(signum: int, _frame: FrameType | None) -> None:
        number = next(numbers)
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(out / f"snapshot-{number}.pickle"))
        dump(number, "snapshot")
        if signum == signal.SIGUSR2 and libc is not None:
            libc.malloc_trim(0)
            dump(number, "after malloc_trim")

    frames = int(os.environ.get("BENCH_TRACE_FRAMES", "12"))
    if frames:
        tracemalloc.start(frames)
        if burst := float(os.environ.get("BENCH_TRACE_BURST_MB", "0")):
            threading.Thread(target=_watch_bursts, args=(out, burst), daemon=True).start()
    signal.signal(signal.SIGUSR1, snapshot)
    signal.signal(signal.SIGUSR2, snapshot)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import app  # noqa: PLC0415 (after tracemalloc: what app.py's imports allocate is traced too)

    app.main()


def _watch_bursts(out: Path, burst_mb: float) -> None:
    """A snapshot whenever the traced heap is `burst_mb` above its lowest level of the last minute (at most one a
    minute): what a periodic burst holds at once, which a signal at a fixed time would miss."""
    lows: list[tuple[float, float]] = []
    last = 0.0
    for n in count(1):
        time.sleep(0.05)
        now, current = time.monotonic(), tracemalloc.get_traced_memory()[0] / 2**20
        lows = [(t, m) for t, m in lows if t > now - 60] + [(now, current)]
        low = min(m for _, m in lows)
        if current - low > burst_mb and now - last > 60:
            last = now
            tracemalloc.take_snapshot().dump(str(out / f"burst-{n}-{low:.0f}-{current:.0f}.pickle"))


def diff(before: Path, after: Path, *, top: int = 25, group: str = "traceback") -> None:
    """The `top` allocation sites whose traced size grew most from `before` to `after`, with their stacks."""
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    old, new = old.filter_traces(skip), new.filter_traces(skip)
    stats = new.compare_to(old, group)
    total = sum(s.size_diff for s in stats)
    print(f"traced growth {total / 2**20:+.2f} MB over {sum(s.count_diff for s in stats):+,} blocks")
    for stat in stats[:top]:
        print(f"\n{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8,} blocks (now {stat.size / 1024:.1f} KiB)")
        for frame in list(stat.traceback)[-8:]:
            line = linecache.getline(frame.filename, frame.lineno).strip()
            print(f"    {frame.filename.removeprefix(str(Path.cwd()) + '/')}:{frame.lineno}  {line}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "diff":
        diff(Path(sys.argv[2]), Path(sys.argv[3]), group=sys.argv[4] if len(sys.argv) > 4 else "traceback")
    else:
        main()
