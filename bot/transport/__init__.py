"""The bot's side of the Bot Connector outside a user's turn, as one small protocol.

The desks (approvals, feed, sign-in) send cards and texts into conversations they stored earlier, replace cards they
sent, open a personal chat with a user who never wrote, post a new thread in a channel, and sometimes act *as* a turn
of a stored conversation (a proactive turn, where Teams SSO's token service answers for its user). They say so
through `ProactiveAdapter` and never see botbuilder's adapter, `ConversationParameters` or `create_conversation`'s
six positional arguments; `bot.transport.proactive.BotConnector` is the one implementation, over botbuilder's
`CloudAdapter`. A move to the Microsoft 365 Agents SDK or the Teams SDK for Python replaces that class, not the desks.

Every method raises what the Bot Connector refused (`bot.transport.connector.ConnectorError` with its status):
botbuilder's own proactive path would hand the failure to `on_turn_error`, which logs and swallows it.

A conversation reference here is the JSON form `bot.transport.activity.reference_of` writes and the desks store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botbuilder.core import TurnContext

__all__ = ["ChannelPost", "ProactiveAdapter", "Reference"]

Reference = Mapping[str, Any]
"""A stored conversation reference (bot.transport.activity.reference_of's JSON)."""


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """A new thread the bot started in a channel: the thread's conversation reference (`19:…;messageid=…`) and the
    activity id of its first message."""

    reference: dict[str, Any]
    activity_id: str


class ProactiveAdapter(Protocol):
    """What the desks need of the Bot Connector outside a turn (module doc)."""

    @property
    def app_id(self) -> str:
        """The bot's app id (the audience of its tokens and the `bot` of its conversations)."""
        ...

    async def send_card(self, reference: Reference, card: Mapping[str, Any]) -> str:
        """Send the Adaptive Card `card` into the conversation of `reference`; the new activity's id ("" when the
        channel named none)."""
        ...

    async def send_text(self, reference: Reference, text: str) -> str:
        """Send `text` into the conversation of `reference`; the new activity's id."""
        ...

    async def update_card(self, reference: Reference, activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the bot's message `activity_id` in the conversation of `reference` with the Adaptive Card
        `card`."""
        ...

    async def open_personal_chat(self, user_id: str, tenant_id: str, service_url: str, bot: Mapping[str, Any]) -> str:
        """The id of the 1:1 conversation of `bot` ({"id", "name"}) with the user `user_id` (Entra object id or
        Teams id), opened (or found: the Bot Connector answers the same id) through the Bot Connector."""
        ...

    async def post_to_channel(
        self,
        channel_id: str,
        tenant_id: str,
        service_url: str,
        bot: Mapping[str, Any],
        *,
        card: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> ChannelPost:
        """A new thread in the Teams channel `channel_id` whose first message is `card` (or `text`)."""
        ...

    async def continue_as(self, reference: Reference, callback: Callable[[TurnContext], Awaitable[None]]) -> None:
        """Run `callback` in a proactive turn of the conversation of `reference` (a turn in which the user's token
        service answers, and in which `turn_context.send_activity` posts there); raises what `callback` raised."""
        ...
