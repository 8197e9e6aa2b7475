"""`BotConnector`: the ProactiveAdapter (bot.transport) over botbuilder's CloudAdapter, and proactive sends whose
failures reach the caller.

botbuilder runs `adapter.continue_conversation` through the turn pipeline, whose `on_turn_error` logs the callback's
exception and swallows it: a proactive send the Bot Connector refused (the user blocked the bot: 403; a conversation
gone: 404) would look like a success with no activity id. Callers that record what was delivered (approval cards and
their later updates) need the failure, so this runs the callback inside the continuation and raises its exception
afterwards, outside botbuilder's pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import BotAdapter, CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, ConversationReference

from bot.transport import ChannelPost, Reference
from bot.transport.activity import reference_of
from bot.transport.wire import SentCard

__all__ = ["BotConnector", "continue_raising", "update_card"]


async def continue_raising(
    adapter: BotAdapter,
    reference: Reference | ConversationReference,
    callback: Callable[[TurnContext], Awaitable[None]],
    app_id: str,
) -> None:
    """`adapter.continue_conversation(reference, callback, app_id)`, raising what `callback` raised."""
    failure: list[Exception] = []

    async def run(turn_context: TurnContext) -> None:
        try:
            await callback(turn_context)
        except Exception as e:  # handed to the caller below, not to botbuilder's on_turn_error
            failure.append(e)

    if not isinstance(reference, ConversationReference):
        reference = ConversationReference().deserialize(dict(reference))
    await adapter.continue_conversation(reference, run, app_id)
    if failure:
        raise failure[0]


async def update_card(
    adapter: BotAdapter, reference: Reference, activity_id: str, card: Mapping[str, Any], app_id: str
) -> None:
    """Replace the bot's message `activity_id` in the conversation of `reference` with the Adaptive Card `card`
    (a PUT of the activity, proactively); raises what the Bot Connector refused."""

    async def update(turn_context: TurnContext) -> None:
        activity = _card(card)
        activity.id = activity_id
        await turn_context.update_activity(activity)

    await continue_raising(adapter, reference, update, app_id)


def _card(card: Mapping[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))


class BotConnector:
    """The ProactiveAdapter over botbuilder's adapter (a CloudAdapter in the app, whose connector client is
    bot.transport.connector's: its refusals raise ConnectorError)."""

    def __init__(self, adapter: BotAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    @property
    def app_id(self) -> str:
        return self._app_id

    @property
    def adapter(self) -> BotAdapter:
        """botbuilder's adapter (for bot.transport's own use: the inbound route)."""
        return self._adapter

    # Transitional, for callers not yet speaking ProactiveAdapter (issue 12 removes them): botbuilder's two
    # proactive entry points, passed through.
    async def continue_conversation(self, *args: Any, **kwargs: Any) -> Any:
        return await self._adapter.continue_conversation(*args, **kwargs)

    async def create_conversation(self, *args: Any, **kwargs: Any) -> Any:
        return await self._adapter.create_conversation(*args, **kwargs)

    async def continue_as(self, reference: Reference, callback: Callable[[TurnContext], Awaitable[None]]) -> None:
        await continue_raising(self._adapter, reference, callback, self._app_id)

    async def send_card(self, reference: Reference, card: Mapping[str, Any]) -> str:
        return await self._send(reference, _card(card))

    async def send_text(self, reference: Reference, text: str) -> str:
        return await self._send(reference, MessageFactory.text(text))

    async def _send(self, reference: Reference, activity: Activity) -> str:
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(activity)
            sent.append(str(getattr(response, "id", "") or ""))

        await self.continue_as(reference, send)
        return sent[0] if sent else ""

    async def update_card(self, reference: Reference, activity_id: str, card: Mapping[str, Any]) -> None:
        await update_card(self._adapter, reference, activity_id, card, self._app_id)

    async def open_personal_chat(self, user_id: str, tenant_id: str, service_url: str, bot: Mapping[str, Any]) -> str:
        parameters = ConversationParameters(
            is_group=False,
            bot=_account(bot),
            members=[ChannelAccount(id=user_id)],
            tenant_id=tenant_id,
            # ConversationParameters.tenant_id serialises as `tenantID`: Teams reads the tenant from channelData.
            channel_data={"tenant": {"id": tenant_id}},
        )
        opened: list[str] = []

        async def created(turn_context: TurnContext) -> None:
            opened.append(str(turn_context.activity.conversation.id or ""))

        await self._create(parameters, created, service_url)
        return opened[0] if opened else ""

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
        if (card is None) == (text is None):
            raise ValueError("a channel post is a card or a text")
        parameters = ConversationParameters(
            is_group=True,
            bot=_account(bot),
            tenant_id=tenant_id,
            # ConversationParameters.tenant_id serialises as `tenantID`: Teams reads the tenant from channelData.
            channel_data={"channel": {"id": channel_id}, "tenant": {"id": tenant_id}},
            activity=_card(card) if card is not None else MessageFactory.text(text or ""),
        )
        posted: list[ChannelPost] = []

        async def created(turn_context: TurnContext) -> None:
            # botbuilder hands the new thread's conversation (`19:…;messageid=…`) and activity id to this turn.
            posted.append(ChannelPost(reference_of(turn_context.activity), str(turn_context.activity.id or "")))

        await self._create(parameters, created, service_url)
        return posted[0] if posted else ChannelPost({}, "")

    async def _create(
        self,
        parameters: ConversationParameters,
        callback: Callable[[TurnContext], Awaitable[None]],
        service_url: str,
    ) -> None:
        # CloudAdapter.create_conversation makes the connector call before it runs the turn pipeline, so a refusal
        # raises here (ConnectorError) instead of vanishing into on_turn_error.
        create = self._adapter.create_conversation
        await create(self._app_id, callback, parameters, "msteams", service_url, None)


def _account(bot: Mapping[str, Any]) -> ChannelAccount | None:
    return ChannelAccount(id=bot.get("id"), name=bot.get("name")) if bot else None
