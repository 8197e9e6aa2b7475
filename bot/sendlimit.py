"""Teams' per-conversation send limits, kept by waiting (never by dropping).

Teams allows a bot, per thread, 7 sends in 1 s, 8 in 2 s, 60 in 30 s and 1800 in an hour (teams-platform.md §6.1,
"per bot per thread: send, create conversation"); above that it answers 429. One `ConversationLimiter` per process
(the connector factory's) is shared by every send and update: the approvals fan-out, the admin feed, replies.

How: a send *reserves* the earliest instant at which it fits every window, given the instants already reserved for
that conversation, records it, and then sleeps until it. Reserving is synchronous (no await between looking and
recording), so concurrent senders need no lock, get FIFO order, and a send that fits right away never sleeps: the
hot path is a dict lookup, a few deque end reads and an append.

Channel threads (`19:…@thread.tacv2;messageid=…`) count against their channel: Teams' docs do not say whether a
reply chain is its own "thread" for these limits, so the limiter assumes the stricter reading.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

__all__ = ["TEAMS_SEND_LIMITS", "ConversationLimiter", "conversation_key"]

# (window seconds, sends allowed in any window of that length), per bot per conversation.
TEAMS_SEND_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_SWEEP_EVERY = 4096  # reservations between sweeps of idle conversations (keeps memory bounded, cost amortised)


def conversation_key(conversation_id: str) -> str:
    """The conversation a send counts against: a channel thread counts against its channel."""
    return conversation_id.split(";messageid=", 1)[0]


class _Window:
    __slots__ = ("held_until", "slots")

    def __init__(self, size: int) -> None:
        self.slots: deque[float] = deque(maxlen=size)  # reserved instants, ascending; only the last `size` matter
        self.held_until = 0.0  # a 429's Retry-After: nothing goes out before this


class ConversationLimiter:
    """Async, per-conversation sliding windows. `clock` is monotonic seconds; `sleep` waits that many seconds.

    `margin` widens every window a little, so requests that leave on time but arrive bunched (network jitter) still
    fit at Teams' end."""

    def __init__(
        self,
        limits: Sequence[tuple[float, int]] = TEAMS_SEND_LIMITS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
    ) -> None:
        if not limits or any(span <= 0 or count < 1 for span, count in limits):
            raise ValueError(f"limits must be (seconds > 0, count >= 1) pairs, got {limits!r}")
        self._limits = tuple((span + margin, count) for span, count in limits)
        self._keep = max(count for _, count in limits)
        self._horizon = max(span for span, _ in self._limits)
        self.clock = clock
        self.sleep = sleep
        self._windows: dict[str, _Window] = {}
        self._reservations = 0
        self.waited = 0  # sends that had to wait (observability; tests)

    def reserve(self, conversation_id: str) -> float:
        """Book the earliest instant a send to this conversation fits every window; return the seconds to wait."""
        now = self.clock()
        key = conversation_key(conversation_id)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(self._keep)
        slots = window.slots
        at = max(now, window.held_until)
        if slots:
            at = max(at, slots[-1])  # reservations stay in order: FIFO, and the deque stays sorted
            for span, count in self._limits:
                if len(slots) >= count:
                    at = max(at, slots[-count] + span)  # the count-th latest send must have left the window
        slots.append(at)
        self._reservations += 1
        if self._reservations % _SWEEP_EVERY == 0:
            self._sweep(now)
        return at - now

    async def acquire(self, conversation_id: str) -> None:
        """Wait (if needed) until a send to this conversation keeps within Teams' limits. Never refuses."""
        wait = self.reserve(conversation_id)
        if wait > 0:
            self.waited += 1
            await self.sleep(wait)

    def hold(self, conversation_id: str, seconds: float) -> None:
        """Teams said 429 with Retry-After: no send to this conversation before then, retries included."""
        window = self._windows.get(conversation_key(conversation_id))
        if window is not None:
            window.held_until = max(window.held_until, self.clock() + seconds)

    def held_until(self, conversation_id: str) -> float:
        """The clock time before which nothing goes to this conversation because of a 429 (0 when none)."""
        window = self._windows.get(conversation_key(conversation_id))
        return window.held_until if window is not None else 0.0

    def _sweep(self, now: float) -> None:
        idle = [
            k
            for k, w in self._windows.items()
            if (not w.slots or w.slots[-1] < now - self._horizon) and w.held_until < now
        ]
        for k in idle:
            del self._windows[k]

    def __len__(self) -> int:
        """Conversations currently tracked."""
        return len(self._windows)
