"""The user's 1:1 chat with the bot, where a command typed in a channel or a group chat continues when it acts as
the user.

Why: Teams offers no bot SSO in channel scope (teams-platform.md §4.1), so a sign-in card there could never be
completed silently, and a person's PIM access is theirs to see, not the whole channel's. The handler decides which
commands stay where they were typed (help, the admin commands); everything else runs in the personal chat, exactly
as if typed there (`PrivateChats.open` gives the reference to continue in).

The personal chat is found in this order:
1. the reference stored when the user last wrote to the bot 1:1 (bot.records, `ref/user/{oid}`);
2. else a 1:1 conversation created through the Bot Connector (§6, "New 1:1 with a user who has the app"), with the
   user's Teams id from the activity (it also works for a user who shares a team with the bot without having added
   it personally; the AAD object id would need the personal install) and their AAD object id, the tenant in
   `channelData.tenant` (`ConversationParameters.tenant_id` serialises as `tenantID`, which Teams does not read).
   The reference is stored, so approvals and later commands reach the user there too.
A stored reference that Teams refuses (403/404: the app was removed or the chat is gone) is replaced by a created one.
Teams refuses to create the chat when the bot cannot reach the user: 403 `BotNotInConversationRoster`
(msteams-docs, bots/how-to/conversations/conversation-messages.md, status codes) — the app is not installed for them.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import ChannelAccount, ConversationParameters

from bot.activity import reference_of
from bot.connector import ConnectorError
from bot.proactive import continue_raising
from bot.records import Records
from core.models import Actor

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
    def __init__(self, records: Records, app_id: str) -> None:
        self._records = records
        self._app_id = app_id

    async def open(self, turn_context: TurnContext, actor: Actor, first_line: str) -> dict[str, Any]:
        """The reference of `actor`'s 1:1 chat, once `first_line` (why the bot writes there) was delivered in it.
        Raises PrivateChatUnavailable when it cannot be reached; nothing else is done then."""
        stored = await self._records.user_reference(actor.object_id)
        if stored is not None:
            try:
                await self._say(turn_context, stored, first_line)
                return stored
            except Exception as e:
                if not _refused(e):
                    log.warning("could not write to the 1:1 chat of %s", actor.object_id, exc_info=True)
                    raise PrivateChatUnavailable(refused=False) from e
                log.info("Teams refused the stored 1:1 chat of %s; opening it again", actor.object_id)
        reference = await self._create(turn_context, actor)
        try:
            await self._say(turn_context, reference, first_line)
        except Exception as e:
            log.warning("could not write to the new 1:1 chat of %s", actor.object_id, exc_info=True)
            raise PrivateChatUnavailable(refused=_refused(e)) from e
        await self._records.remember_conversation(actor, reference, "personal")
        return reference

    async def _say(self, turn_context: TurnContext, reference: dict[str, Any], text: str) -> None:
        async def send(tc: TurnContext) -> None:
            await tc.send_activity(MessageFactory.text(text))

        await continue_raising(turn_context.adapter, reference, send, self._app_id)

    async def _create(self, turn_context: TurnContext, actor: Actor) -> dict[str, Any]:
        """A new (or Teams' existing) 1:1 conversation with the user; its reference, with the user filled in (the
        create turn's activity has none, and the sign-in card needs it)."""
        activity = turn_context.activity
        user = ChannelAccount(
            id=actor.channel_user_id or actor.object_id, name=actor.name, aad_object_id=actor.object_id
        )
        parameters = ConversationParameters(
            is_group=False,
            bot=activity.recipient,
            members=[user],
            tenant_id=actor.tenant_id,
            channel_data={"tenant": {"id": actor.tenant_id}},
        )
        created: dict[str, Any] = {}

        async def remember(tc: TurnContext) -> None:
            created.update(reference_of(tc.activity))

        try:
            await turn_context.adapter.create_conversation(
                self._app_id, remember, parameters, activity.channel_id, activity.service_url, None
            )
        except Exception as e:
            refused = _refused(e)
            log.log(
                logging.INFO if refused else logging.WARNING,
                "could not open a 1:1 chat with %s (%s)",
                actor.object_id,
                e,
                exc_info=not refused,
            )
            raise PrivateChatUnavailable(refused=refused) from e
        conversation = dict(created.get("conversation") or {})
        conversation.update(conversationType="personal", tenantId=actor.tenant_id)
        conversation.pop("tenantID", None)
        created.update(
            conversation=conversation,
            user={"id": user.id, "name": actor.name, "aadObjectId": actor.object_id},
            tenantId=actor.tenant_id,
        )
        created.pop("activityId", None)
        return created
