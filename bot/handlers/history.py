"""`history` (typed, or a page button of its card): the user's own PIM-for-Groups requests of the last 30 days, from
Graph (core.history, graph.history). In a channel or group chat it continues in the 1:1 chat like every command
about the user's own access (bot.handler)."""

from __future__ import annotations

import logging

import cards
from bot.handlers.replies import Replies
from bot.turn import Turn
from cards.elements import JsonDict
from cards.history import history_card
from core.errors import DirectoryError
from core.history import HistorySource, history_since, page_of
from core.ports import Clock

__all__ = ["Histories"]

log = logging.getLogger(__name__)


class Histories:
    """`source` None: history is not wired (a bot built without Graph's history reader): said so, kindly."""

    def __init__(self, source: HistorySource | None, clock: Clock, replies: Replies) -> None:
        self._source = source
        self._clock = clock
        self._replies = replies

    async def answer(self, turn: Turn, page: int) -> JsonDict | str:
        """The card of page `page` (the last one when there are fewer), or the text that explains why there is none."""
        if self._source is None:
            return "Your request history is not available here."
        try:
            read = await self._source.user_history(turn.actor.object_id, history_since(self._clock.now()))
        except DirectoryError as e:
            log.info("history of %s could not be read: %s", turn.actor.object_id, e)
            return cards.explain(e, turn.actor.time_style)
        return history_card(page_of(read, page), turn.actor.time_style)

    async def show(self, turn: Turn, page: int) -> None:
        """A typed `history [page]`."""
        answer = await self.answer(turn, page)
        if isinstance(answer, str):
            await turn.send_text(answer)
        else:
            await self._replies.card(turn, answer, kind="history")
