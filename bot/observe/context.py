"""The inbound activity a task works for, in a context variable: the JSON log lines name it, the turn metrics count it.

Why a mutable scope in a ContextVar: the HTTP route sets it before the turn starts, and the turn runs in a task of
its own (bot.transport.turns), which copies the context. Copies share the one `TurnScope` object, so what the turn
learns (its activity's type, that it failed) reaches the route, which counts the turn when it answers.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["TURN", "TurnScope", "turn_failed"]


@dataclass(slots=True)
class TurnScope:
    """One inbound activity, filled in as it becomes known. `kind`: its type, for invokes with the name
    (`invoke/adaptiveCard/action`), from a fixed list (bot.observe.metrics.turn_kind); `outcome`: set by the turn
    when the HTTP status does not tell it ("late", "duplicate", "error")."""

    activity_id: str = ""
    conversation_id: str = ""
    kind: str = "unknown"
    outcome: str = ""


TURN: ContextVar[TurnScope | None] = ContextVar("turn", default=None)


def turn_failed() -> None:
    """The turn failed (botbuilder's on_turn_error, a card action's apology): counted as an error, however it was
    answered."""
    scope = TURN.get()
    if scope is not None:
        scope.outcome = "error"
