"""Work a process holds on an approval record (a claim, a fan-out, a spread) and whether it may still be going on.

A mark names the process (bot.liveness) and the piece of work: a mark of a process that is gone is recognised at
once, not after a timeout; one of this process counts while its work runs here; any mark older than the bound given
for its kind of work is over, live process or not.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.approvals.records import Mark
from bot.liveness import Liveness
from core.ports import Clock

__all__ = ["CLAIM_TTL", "Work"]

CLAIM_TTL = timedelta(minutes=2)  # a claim older than this belongs to a decision that never finished, live or not


class Work:
    def __init__(self, liveness: Liveness, clock: Clock) -> None:
        self._live = liveness
        self._clock = clock
        self._running: set[str] = set()  # tokens of the work this process is carrying out

    def start(self) -> Mark:
        """A mark of work this process starts now; it counts as running here until `done`."""
        mark = Mark(self._live.owner, uuid.uuid4().hex, self._clock.now())
        self._running.add(mark.token)
        return mark

    def done(self, mark: Mark | None) -> None:
        if mark is not None:
            self._running.discard(mark.token)

    async def held(self, mark: Mark | None, ttl: timedelta) -> bool:
        """Whether the work of `mark` may still be going on: its process lives (here: the work runs), and it is
        younger than `ttl`. A mark with no process named is judged by its age alone."""
        if mark is None or mark.at is None or self._clock.now() - mark.at >= ttl:
            return False
        if not mark.owner:
            return True
        if mark.owner == self._live.owner:
            return mark.token in self._running
        return await self._live.alive(mark.owner)
