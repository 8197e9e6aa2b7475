"""The typing indicator, sent only when a turn's answer is not ready within TYPING_AFTER seconds.

Why not at once: most answers (a warm activation, status) are ready in a few milliseconds, when an indicator shows
nothing the answer would not show at once; it cost a Bot Connector call per turn (about a sixth of a warm turn's CPU),
and it spends one of Teams' 7 sends per second per conversation (teams-platform.md §5). When the answer takes longer
(a cold snapshot, Graph retrying after a 429, a sign-in), the indicator goes out after TYPING_AFTER seconds, before the
answer, as before.

How: `start` schedules the indicator on the turn's context; the context's first outgoing activity that is not itself a
typing indicator cancels it, unless it is already on its way (then it goes first, as it would have at once), and
`stop` (end of the turn) cancels it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes

__all__ = ["TYPING_AFTER", "TypingIndicator"]

log = logging.getLogger(__name__)

TYPING_AFTER = 0.5  # seconds: a person notices a wait from about here on
_PENDING = "pimbot.typing"  # TurnContext.turn_state key of the scheduled indicator

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Pending:
    task: asyncio.Task[None] | None = None
    sending: bool = False  # the delay is over and the indicator is on its way: not cancelled any more

    def cancel(self) -> None:
        if self.task is not None and not self.sending:
            self.task.cancel()


class TypingIndicator:
    """`after` seconds of `sleep` before the indicator goes out (0: at once, as a plain send)."""

    def __init__(self, after: float = TYPING_AFTER, sleep: Sleep = asyncio.sleep) -> None:
        self._after = after
        self._sleep = sleep

    async def start(self, context: TurnContext) -> None:
        """The indicator for this turn: at once when `after` is 0, else scheduled (once per turn)."""
        if self._after <= 0:
            await context.send_activity(Activity(type=ActivityTypes.typing))
            return
        if context.turn_state.get(_PENDING) is not None:
            return
        pending = _Pending()
        context.turn_state[_PENDING] = pending

        async def first_answer(_: TurnContext, activities: list[Activity], send_next: Callable[[], Any]) -> Any:
            if any(a.type != ActivityTypes.typing for a in activities):
                pending.cancel()
            return await send_next()

        context.on_send_activities(first_answer)
        pending.task = asyncio.ensure_future(self._later(context, pending))

    @staticmethod
    def stop(context: TurnContext) -> None:
        """The turn is over: an indicator not yet sent never will be."""
        pending = context.turn_state.pop(_PENDING, None)
        if isinstance(pending, _Pending):
            pending.cancel()
            # The cancelled task's traceback holds this turn's context, which held this record: dropped, the turn is
            # freed when it ends instead of waiting for the garbage collector (bot.transport.emit says why that counts).
            pending.task = None

    async def _later(self, context: TurnContext, pending: _Pending) -> None:
        await self._sleep(self._after)
        pending.sending = True
        try:
            await context.send_activity(Activity(type=ActivityTypes.typing))
        except Exception as e:  # an indicator that did not go out is no reason to fail, or log, the turn
            log.info("typing indicator for activity %s not sent: %s", context.activity.id, type(e).__name__)
