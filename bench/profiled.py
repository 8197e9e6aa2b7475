"""`python -m bench.profiled`: the bot (app.py's main) with a switchable cProfile, for the benchmark's profile summary.

SIGUSR1 starts profiling the event loop's thread, SIGUSR2 stops it and writes the stats to $BENCH_PROFILE (pstats
format). The bench profiles one extra phase of warm `activate` turns after the measured rounds, so the profiler's own
overhead is in none of the figures it reports.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from pathlib import Path
from types import FrameType

__all__ = ["main"]


def main() -> None:
    out = Path(os.environ["BENCH_PROFILE"])
    # Wall time (the default timer): CPU time (time.process_time) costs a system call per event and inflates the
    # small functions tenfold. Under load the event loop is busy nearly all the time, so wall is close to CPU.
    profiler = cProfile.Profile()

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    if os.environ.get("BENCH_PROFILE_START"):  # the start-up itself: from here until SIGUSR2
        profiler.enable()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import app  # noqa: PLC0415 (after the handlers: a signal may come as soon as the bot answers /healthz)

    app.main()


if __name__ == "__main__":
    main()
