"""Teams' send limits, per conversation and per app, kept by waiting (never by dropping).

Teams allows a bot, per thread, 7 sends in 1 s, 8 in 2 s, 60 in 30 s and 1800 in an hour (teams-platform.md §6.1,
"per bot per thread: send, create conversation"), and an app 30 requests per second per tenant over all of them
(§6.1, "per app per tenant (global), all": 30 RPS in the msteams-docs repository, 50 in older quotes of the Learn
page; the lower one is kept). Above that Teams answers 429. One `ConversationLimiter` per process (the connector
factory's) is shared by every Bot Connector call: the approvals fan-out, the admin feed, replies, card updates, new
conversations. The app-wide cap is per process, not per tenant: a bot serving several tenants is held to 30 for all
of them together, which is stricter than Teams and needs no tenant on every call.

How: a send *reserves* the earliest instant at which it fits every window, given the instants already reserved,
records it, and then sleeps until it. Reserving is synchronous (no await between looking and recording), so
concurrent senders need no lock, get FIFO order per conversation, and a send that fits right away never sleeps. A
conversation's instants are booked in order (an array, or one float); the app's are not (a send to a quiet
conversation may go now, before those already booked later for a busy one), so they are a sorted list searched by
bisection. The hot path is a dict lookup, a few end reads, two bisections and an insertion into a list of about a
second's sends.

Channel threads (`19:…@thread.tacv2;messageid=…`) count against their channel: Teams' docs do not say whether a
reply chain is its own "thread" for these limits, so the limiter assumes the stricter reading.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence

__all__ = ["TEAMS_APP_LIMITS", "TEAMS_SEND_LIMITS", "ConversationLimiter", "conversation_key"]

Limits = tuple[tuple[float, int], ...]  # (window seconds, sends allowed in any window of that length)

TEAMS_SEND_LIMITS: Limits = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))  # per bot per conversation
TEAMS_APP_LIMITS: Limits = ((1.0, 30),)  # per app (per tenant), over all conversations

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_SWEEP_EVERY = 4096  # reservations between sweeps of idle conversations (keeps memory bounded, cost amortised)


def _widened(limits: Sequence[tuple[float, int]], margin: float) -> Limits:
    if not limits or any(span <= 0 or count < 1 for span, count in limits):
        raise ValueError(f"limits must be (seconds > 0, count >= 1) pairs, got {limits!r}")
    return tuple((span + margin, count) for span, count in limits)


def conversation_key(conversation_id: str) -> str:
    """The conversation a send counts against: a channel thread counts against its channel."""
    return conversation_id.split(";messageid=", 1)[0]


class _AppWindow:
    """The instants booked over all conversations, sorted; booked out of order, so searched rather than appended."""

    __slots__ = ("_full", "_limits", "_span", "booked")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._span = max(span for span, _ in limits)
        self.booked: list[float] = []
        # [start, end): instants known not to fit. Bookings only add sends, so they stay full; under a backlog a send
        # starts searching at its end instead of walking through every full second again.
        self._full = (0.0, 0.0)

    def earliest(self, at: float) -> float:
        """The earliest instant from `at` on at which one more send keeps every window within its count."""
        asked = at
        start, end = self._full
        if start <= at < end:
            at = end
        at = self._search(at)
        if start <= asked <= end:
            self._full = (start, max(end, at))
        elif at > asked:
            self._full = (asked, at)
        return at

    def _search(self, at: float) -> float:
        booked = self.booked
        moved = True
        while moved:
            moved = False
            for span, count in self._limits:
                # Every window [s, s + span) holding `at` lies in (at - span, at + span): few enough there, it fits.
                first = bisect.bisect_right(booked, at - span)
                if bisect.bisect_left(booked, at + span, first) - first < count:
                    continue
                later = self._past_full_windows(at, span, count, first)
                if later > at:
                    at, moved = later, True
        return at

    def _past_full_windows(self, at: float, span: float, count: int, first: int) -> float:
        """`at` moved past the full windows holding it; `at` itself when none is. The windows holding `at` start in
        (at - span, at], and the busiest of them starts at a booked send or at `at` itself. One of `count` sends
        from booked[i] holds all of [booked[i], booked[i] + span), so nothing before booked[i] + span fits. One of
        `count` sends from `at` (no send booked at `at`) holds every instant up to the first send after `at` too: the
        search goes on from that send. A full window that merely starts at the next send, with room from `at`, is
        none of these (it once pushed a send past it: 2 s late)."""
        booked = self.booked
        end = bisect.bisect_right(booked, at)
        last = len(booked) - count
        moved = at
        for i in range(first, end):  # the windows starting at a booked send up to `at`
            if i <= last and booked[i + count - 1] < booked[i] + span:  # `count` sends from booked[i] within span
                moved = max(moved, booked[i] + span)
        if end < len(booked) and (end == 0 or booked[end - 1] < at):  # the window starting at `at`, no send there
            if bisect.bisect_left(booked, at + span, end) - end >= count:
                moved = max(moved, booked[end])
        return moved

    def book(self, at: float, now: float) -> None:
        """Record a send at `at`; forget those no window from `now` on can hold."""
        booked = self.booked
        if booked and booked[0] <= now - self._span:
            del booked[: bisect.bisect_right(booked, now - self._span)]
        bisect.insort(booked, at)


class ConversationLimiter:
    """Async sliding windows per conversation and over the app. `clock` is monotonic seconds; `sleep` waits that
    many seconds.

    `margin` widens every window a little, so requests that leave on time but arrive bunched (network jitter) still
    fit at Teams' end."""

    def __init__(
        self,
        limits: Limits = TEAMS_SEND_LIMITS,
        *,
        app_limits: Limits = TEAMS_APP_LIMITS,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
    ) -> None:
        self._limits = _widened(limits, margin)
        self._keep = max(count for _, count in limits)
        self._trim_at = 2 * self._keep  # a busy conversation drops its oldest half at once (amortised)
        self._horizon = max(span for span, _ in self._limits)
        self._app = _AppWindow(_widened(app_limits, margin))
        self.clock = clock
        self.sleep = sleep
        # Per conversation, keyed by the hash of its id (conversation_key): its reserved instants, ascending (only the
        # last `keep` matter, trimmed in reserve). Kept an hour after the conversation's last send (Teams' hourly
        # limit), so a busy tenant holds one per user it answered in the last hour: 12,000 in the memory soak, whose
        # new user every 0.3 s brings a new 1:1 chat. Hence the lean form: the id's hash, not the id (Teams' 1:1 ids
        # run to a hundred characters, half a window's memory), whose rare collision only makes two conversations
        # share one window's limits, stricter than Teams; a conversation's only send as a float, more as an array of
        # doubles (8 bytes a send against a float's 32 in a list; a deque cost 760 bytes empty); and a 429's hold
        # apart, in `_held` (rare).
        self._windows: dict[int, float | array[float]] = {}  # one send: its instant alone (most chats: 24 bytes)
        self._held: dict[int, float] = {}  # a 429's Retry-After: nothing goes to that conversation before then
        self._reservations = 0
        self.waited = 0  # sends that had to wait (observability; tests)

    def reserve(self, conversation_id: str | None) -> float:
        """Book the earliest instant a send to this conversation fits every window; return the seconds to wait.
        `None`: a call that counts against the app's cap only (a new 1:1 conversation has no thread yet)."""
        now = self.clock()
        key = None
        found: float | array[float] | None = None
        at = now
        if conversation_id is not None:
            key = hash(conversation_key(conversation_id))
            found = self._windows.get(key)
            if self._held:
                at = max(now, self._held.get(key, 0.0))
            if found is not None:
                slots = (found,) if isinstance(found, float) else found
                at = max(at, slots[-1])  # reservations stay in order: FIFO, and the array stays sorted
                for span, count in self._limits:
                    if len(slots) >= count:
                        at = max(at, slots[-count] + span)  # the count-th latest send must have left the window
        # Any later instant still fits the conversation's windows (its bookings all lie before `at`).
        at = self._app.earliest(at)
        self._app.book(at, now)
        if key is not None:
            if found is None:
                self._windows[key] = at
            elif isinstance(found, float):
                self._windows[key] = array("d", (found, at))
            else:
                found.append(at)
                if len(found) > self._trim_at:
                    del found[: -self._keep]
        self._reservations += 1
        if self._reservations % _SWEEP_EVERY == 0:
            self._sweep(now)
        return at - now

    async def acquire(self, conversation_id: str | None) -> None:
        """Wait (if needed) until a call keeps within Teams' limits: its conversation's (`None`: none) and the
        app's. Never refuses."""
        wait = self.reserve(conversation_id)
        if wait > 0:
            self.waited += 1
            await self.sleep(wait)

    def hold(self, conversation_id: str, seconds: float) -> None:
        """Teams said 429 with Retry-After: no send to this conversation before then, retries included."""
        key = hash(conversation_key(conversation_id))
        if key in self._windows:
            self._held[key] = max(self._held.get(key, 0.0), self.clock() + seconds)

    def held_until(self, conversation_id: str) -> float:
        """The clock time before which nothing goes to this conversation because of a 429 (0 when none)."""
        return self._held.get(hash(conversation_key(conversation_id)), 0.0)

    def _sweep(self, now: float) -> None:
        for k in [k for k, until in self._held.items() if until < now]:
            del self._held[k]
        before = now - self._horizon
        idle = [k for k, sent in self._windows.items() if (sent if isinstance(sent, float) else sent[-1]) < before]
        for k in idle:
            if k not in self._held:
                del self._windows[k]

    def __len__(self) -> int:
        """Conversations currently tracked."""
        return len(self._windows)
