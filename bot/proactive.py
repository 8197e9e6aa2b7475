"""Proactive sends whose failures reach the caller.

botbuilder runs `adapter.continue_conversation` through the turn pipeline, whose `on_turn_error` logs the callback's
exception and swallows it: a proactive send the Bot Connector refused (the user blocked the bot: 403; a conversation
gone: 404) would look like a success with no activity id. Callers that record what was delivered (approval cards and
their later updates) need the failure, so this runs the callback inside the continuation and raises its exception
afterwards, outside botbuilder's pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ConversationReference

from bot.wire import SentCard

__all__ = ["continue_raising", "update_card"]


async def continue_raising(
    adapter: Any,
    reference: dict[str, Any] | ConversationReference,
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

    if isinstance(reference, dict):
        reference = ConversationReference().deserialize(reference)
    await adapter.continue_conversation(reference, run, app_id)
    if failure:
        raise failure[0]


async def update_card(
    adapter: Any, reference: dict[str, Any], activity_id: str, card: dict[str, Any], app_id: str
) -> None:
    """Replace the bot's message `activity_id` in the conversation of `reference` with the Adaptive Card `card`
    (a PUT of the activity, proactively); raises what the Bot Connector refused."""

    async def update(turn_context: TurnContext) -> None:
        activity = MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
        activity.id = activity_id
        await turn_context.update_activity(activity)

    await continue_raising(adapter, reference, update, app_id)
