"""`status` (typed, or its button): the user's eligible and active groups."""

from __future__ import annotations

import cards
from bot.handlers.replies import Replies
from bot.turn import Turn
from cards.elements import JsonDict
from core.errors import DirectoryError

__all__ = ["answer", "show"]


async def answer(turn: Turn) -> JsonDict | str:
    """The status card, or the text that explains why there is none."""
    try:
        view = await turn.service.status(turn.actor)
    except DirectoryError as e:
        return cards.explain(e, turn.actor.time_style)
    return cards.status_card(view, turn.actor.time_style)


async def show(turn: Turn, replies: Replies) -> None:
    """A typed `status`."""
    status = await answer(turn)
    if isinstance(status, str):
        await turn.send_text(status)
    else:
        await replies.card(turn, status, kind="status")
