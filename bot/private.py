"""The user's 1:1 chat with the bot, where a command typed in a channel or a group chat continues when it acts as
the user.

Why: Teams offers no bot SSO in channel scope (teams-platform.md §4.1), so a sign-in card there could never be
completed silently, and a person's PIM access is theirs to see, not the whole channel's. The handler decides which
commands stay where they were typed (help, the admin commands); everything else runs in the personal chat, exactly
as if typed there (`PrivateChats.open` gives the reference to continue in).

The personal chat is found in this order:
1. the reference stored when the user last wrote to the bot 1:1, or when the app was added for them (bot.conversations,
   `ref/user/{oid}`);
2. else one opened now by bot.approvals.reach (`Reach.open_chat`): a 1:1 `create_conversation` through the Bot Connector
   (teams-platform.md §6, "New 1:1 with a user who has the app"); when Teams refuses it (403
   `BotNotInConversationRoster`: the app is not installed for the user), the bot's app is installed for them through
   Graph first, as for approvers. The reference is stored with the user's Teams id from the activity at hand (the
   bot reads user tokens by it, and the sign-in card's state names the reference's user), so approvals and later
   commands reach the user there too.
A stored reference that Teams refuses (403/404: the app was removed, the chat is gone) is dropped and the chat opened
again. When none can be had, the caller says so where the command was typed.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.approvals.reach import Reach
from bot.conversations import Conversations
from bot.transport import ProactiveAdapter
from bot.transport.connector import ConnectorError
from bot.turn import Turn
from core.models import Actor
from core.reach import Unreached

__all__ = ["PrivateChatUnavailable", "PrivateChats"]

log = logging.getLogger(__name__)

_REFUSED = frozenset({403, 404})  # Teams will not let the bot write to this user there (not a passing failure)


class PrivateChatUnavailable(Exception):
    """The user's 1:1 chat could not be reached. `refused`: Teams said no (the app is not installed for the user, or
    blocked); otherwise it failed for a passing reason (network, Teams unavailable)."""

    def __init__(self, refused: bool) -> None:
        super().__init__("refused by Teams" if refused else "Teams did not answer")
        self.refused = refused


def _refused(error: Exception) -> bool:
    return isinstance(error, ConnectorError) and error.status in _REFUSED


class PrivateChats:
    def __init__(self, conversations: Conversations, reach: Reach, proactive: ProactiveAdapter) -> None:
        self._conversations = conversations
        self._reach = reach
        self._proactive = proactive

    async def open(self, turn: Turn, first_line: str) -> dict[str, Any]:
        """The reference of the turn's user's 1:1 chat, once `first_line` (why the bot writes there) was delivered
        in it. Raises PrivateChatUnavailable when it cannot be reached; nothing else is done then."""
        actor = turn.actor
        stored = await self._conversations.user_reference(actor.object_id)
        if stored is not None:
            try:
                await self._proactive.send_text(stored, first_line)
                return stored
            except Exception as e:
                if not _refused(e):
                    log.warning("could not write to the 1:1 chat of %s", actor.object_id, exc_info=True)
                    raise PrivateChatUnavailable(refused=False) from e
                log.info("Teams refused the stored 1:1 chat of %s; opening it again", actor.object_id)
                await self._conversations.forget_user(actor.object_id)
        opened = await self._reach.open_chat(turn.reference, actor.object_id, actor.tenant_id)
        if isinstance(opened, Unreached):
            log.info("could not open a 1:1 chat with %s: %s", actor.object_id, opened.value)
            raise PrivateChatUnavailable(refused=opened is not Unreached.UNAVAILABLE)
        reference = _with_teams_id(opened, actor)
        try:
            await self._proactive.send_text(reference, first_line)
        except Exception as e:
            log.warning("could not write to the new 1:1 chat of %s", actor.object_id, exc_info=True)
            raise PrivateChatUnavailable(refused=_refused(e)) from e
        await self._conversations.remember(actor, reference, "personal")
        return reference


def _with_teams_id(reference: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """A reference bot.approvals.reach opened names the user by object id only; this user's Teams id is known (they
    just wrote). The bot reads user tokens by the Teams id, and the sign-in card's state names the reference's user."""
    if not actor.channel_user_id:
        return reference
    user = {"id": actor.channel_user_id, "name": actor.name, "aadObjectId": actor.object_id}
    return {**{k: v for k, v in reference.items() if k != "openedByBot"}, "user": user}
