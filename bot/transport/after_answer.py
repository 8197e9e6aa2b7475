"""Work that starts once the HTTP answer to the current activity is written.

An approval click is answered with the final card, and only then are the other copies updated (issue 9, point 6).
Starting those updates as background tasks is not enough: the tasks would run their first steps (dozens of Bot
Connector calls being prepared) on the event loop while the answer is still on its way out, and delay it. So the
handler of POST /api/messages (bot.transport.routes) collects what a turn wants started, writes its answer, then starts
it. Outside a request (the pollers, a proactive turn), or once the answer is out, the work starts at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Starts", "after_answer", "collecting"]

log = logging.getLogger(__name__)


class Starts:
    """What a turn asked to start after its answer."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []
        self.answered = False

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def run(self) -> None:
        """The answer is out: start everything collected (one that fails is logged, the others still start), and
        anything asked later starts at once."""
        self.answered = True
        waiting, self.waiting = self.waiting, []
        for start in waiting:
            try:
                start()
            except Exception:
                log.exception("could not start work after the answer")


_CURRENT: ContextVar[Starts | None] = ContextVar("after_answer", default=None)


def after_answer(start: Callable[[], None]) -> None:
    """Call `start` once the answer to the activity being handled is written; at once when there is none to wait for."""
    current = _CURRENT.get()
    if current is None or current.answered:
        start()
    else:
        current.waiting.append(start)


@contextmanager
def collecting() -> Iterator[Starts]:
    """While the turn runs, `after_answer` collects into the Starts yielded; the caller runs them after answering."""
    starts = Starts()
    token = _CURRENT.set(starts)
    try:
        yield starts
    finally:
        _CURRENT.reset(token)
