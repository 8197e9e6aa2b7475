"""`help`, the usage card, and the answer to text that was no command (a slip)."""

from __future__ import annotations

import logging

import cards
from bot.handlers.replies import Replies
from bot.turn import Turn
from cards.elements import JsonDict
from core.admins import Admins
from core.commands import Help
from core.errors import DirectoryError
from core.models import Actor

__all__ = ["Usage"]

log = logging.getLogger(__name__)


class Usage:
    """`demo`: the demo's commands exist (BOT_DEMO), so the usage shows them."""

    def __init__(self, admins: Admins, replies: Replies, *, demo: bool) -> None:
        self._admins = admins
        self._replies = replies
        self._demo = demo

    async def show(self, turn: Turn) -> None:
        """The usage card for the conversation it goes to: in a channel or group chat it offers what works there."""
        await self._replies.card(turn, await self.card(turn.where, turn.actor), kind="help")

    async def card(self, where: str, actor: Actor | None) -> JsonDict:
        """The whole usage for a conversation of type `where`; in the 1:1 chat of one of the bot's admins, with the
        admin commands."""
        admin = False
        if where == "personal" and actor is not None:
            try:
                admin = await self._admins.is_admin(actor)
            except DirectoryError as e:  # the usage without the admin part beats no usage
                log.warning("could not tell whether %s is an admin: %s", actor.object_id, e)
        return cards.help_card(where=where, admin=admin, demo=self._demo)

    async def slip(self, turn: Turn, slip: Help) -> None:
        """Text that was no command: one line and a few buttons built from the user's own groups (cards.slip). They
        come from the user's snapshot, read app-only: at most one round trip, none while it is cached. In a channel
        or group chat nothing of the user's own access is read or shown."""
        view = None
        if turn.where == "personal":
            try:
                view = await turn.service.glance(turn.actor)
            except DirectoryError as e:  # the line and the buttons that need no groups still help
                log.warning("could not read the groups of %s to answer a slip: %s", turn.actor.object_id, e)
        await self._replies.card(turn, cards.slip_card(slip, view, where=turn.where), kind="slip")
