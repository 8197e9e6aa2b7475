"""PimBot: Teams activities in, use cases called, cards out. No rules live here (core/), no Graph calls (graph/)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

import cards
from bot.activity import NotAUser, actor_of, card_action_data, command_text, conversation_kind, reference_of
from bot.records import Records
from cards.actions import CardAction, InvalidCardAction, Verb, parse_action_data
from core.commands import Activate, Deactivate, Help, Status, parse
from core.errors import DirectoryError
from core.models import Actor
from core.outcomes import AwaitingApproval, NeedsInput, Outcome, Refused
from core.ports import Clock
from core.service import PimService

__all__ = ["PimBot"]

log = logging.getLogger(__name__)

CARD = "application/vnd.microsoft.card.adaptive"
SORRY = (
    "Sorry, something went wrong on my side and I could not finish that. "
    "Type `status` to see where things stand before you try again."
)


class PimBot(TeamsActivityHandler):
    def __init__(
        self, service: PimService, records: Records, clock: Clock, allowed_tenants: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self._service = service
        self._records = records
        self._clock = clock
        self._allowed_tenants = frozenset(t.lower() for t in allowed_tenants)

    # ---- entry points ---------------------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = await self._actor(turn_context)
        if actor is None:
            return
        data = card_action_data(activity)
        if data is not None:
            await turn_context.send_activity(Activity(type=ActivityTypes.typing))
            card = await self._card_action(actor, data)
            await self._send_card(turn_context, card, kind="action-result")
            return
        command = parse(command_text(activity))
        if isinstance(command, Help):
            await self._send_card(turn_context, cards.help_card(command.reason), kind="help")
            return
        # The typing indicator goes out before any Graph call, so the user sees at once that the bot is on it.
        await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        if isinstance(command, Status):
            try:
                view = await self._service.status(actor)
            except DirectoryError as e:
                await turn_context.send_activity(MessageFactory.text(cards.explain(e, actor.time_zone)))
                return
            await self._send_card(turn_context, cards.status_card(view, actor.time_zone), kind="status")
        elif isinstance(command, Activate):
            outcomes = await self._service.activate(actor, command)
            await self._send_activation(turn_context, actor, outcomes)
        elif isinstance(command, Deactivate):
            outcomes = await self._service.deactivate(actor, command)
            await self._send_card(turn_context, cards.deactivation_card(outcomes, actor.time_zone), kind="deactivation")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        # Answered here with a plain-dict body: botbuilder 4.17.1 serialises invoke bodies twice (HTTP 500) when
        # they go through its own on_adaptive_card_invoke path; bot/routes.py passes dicts through unchanged.
        try:
            actor = await self._actor(turn_context, reply=False)
            if actor is None:
                return _invoke_message("This action is not available here.")
            data = card_action_data(turn_context.activity) or {}
            card = await self._card_action(actor, data)
            return InvokeResponse(status=200, body={"statusCode": 200, "type": CARD, "value": card})
        except Exception:  # an invoke must always be answered, or Teams shows a generic failure
            log.exception("card action failed (activity %s)", turn_context.activity.id)
            return _invoke_message(SORRY)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context, None)
        await self._send_card(turn_context, cards.help_card(None), kind="help")

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # Not TeamsActivityHandler's version: it looks up every added member in the roster (one call each) and fails
        # the turn for members it cannot find. The bot only needs to remember where it was added.
        activity = turn_context.activity
        added: list[ChannelAccount] = activity.members_added or []
        if any(m.id == activity.recipient.id for m in added):
            await self._remember(turn_context, None)

    # ---- card actions ---------------------------------------------------------------------------------------

    async def _card_action(self, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
        try:
            action: CardAction = parse_action_data(data)
        except InvalidCardAction as e:
            log.info("refused card data: %s", e)
            return cards.help_card(e.user_message)
        if action.verb is Verb.DEACTIVATE:
            outcome = await self._service.deactivate_group(actor, action.group_id, action.access)
            return cards.deactivation_card([outcome], actor.time_zone)
        outcome = await self._service.activate_group(
            actor, action.group_id, action.access, action.duration, action.justification, action.ticket
        )
        if isinstance(outcome, NeedsInput):
            return cards.needs_input_card(outcome, actor.time_zone)
        await self._after_activation(actor, [outcome], None)
        return cards.activation_card([outcome], actor.time_zone)

    # ---- replies --------------------------------------------------------------------------------------------

    async def _send_activation(self, turn_context: TurnContext, actor: Actor, outcomes: list[Outcome]) -> None:
        needs = [o for o in outcomes if isinstance(o, NeedsInput)]
        others = [o for o in outcomes if not isinstance(o, NeedsInput)]
        sent: tuple[str, str] | None = None
        if others or not needs:
            activity_id = await self._send_card(
                turn_context, cards.activation_card(outcomes, actor.time_zone), kind="activation", outcomes=others
            )
            if activity_id:
                sent = (turn_context.activity.conversation.id, activity_id)
        for n in needs:
            await self._send_card(turn_context, cards.needs_input_card(n, actor.time_zone), kind="needs-input")
        await self._after_activation(actor, others, sent)

    async def _after_activation(self, actor: Actor, outcomes: Sequence[Outcome], card: tuple[str, str] | None) -> None:
        for o in outcomes:
            if isinstance(o, AwaitingApproval):
                await self._records.remember_pending(actor, o, card, self._clock.now())

    async def _send_card(
        self, turn_context: TurnContext, card: dict[str, Any], *, kind: str, outcomes: Sequence[Outcome] = ()
    ) -> str | None:
        response = await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
        activity_id = getattr(response, "id", None)
        request_ids = [o.request.id for o in outcomes if hasattr(o, "request") and not isinstance(o, Refused)]
        if activity_id and request_ids:
            await self._records.remember_card(
                activity_id, turn_context.activity.conversation.id, kind, request_ids, self._clock.now()
            )
        return str(activity_id) if activity_id else None

    # ---- identity and memory --------------------------------------------------------------------------------

    async def _actor(self, turn_context: TurnContext, *, reply: bool = True) -> Actor | None:
        activity = turn_context.activity
        try:
            actor = actor_of(activity)
        except NotAUser:
            log.info("ignoring %s activity %s without a user object id", activity.type, activity.id)
            return None
        if self._allowed_tenants and actor.tenant_id not in self._allowed_tenants:
            # Refused before any logic; nothing is said to a tenant the bot does not serve.
            log.warning("refused activity %s from tenant %r", activity.id, actor.tenant_id)
            return None
        await self._remember(turn_context, actor)
        return actor

    async def _remember(self, turn_context: TurnContext, actor: Actor | None) -> None:
        activity = turn_context.activity
        try:
            await self._records.remember_conversation(actor, reference_of(activity), conversation_kind(activity))
        except Exception:  # losing a reference must not cost the user their answer
            log.exception("could not store the conversation reference of activity %s", activity.id)


def _invoke_message(text: str) -> InvokeResponse:
    return InvokeResponse(
        status=200, body={"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}
    )


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log with the activity id; tell the user kindly. Never the exception text (it may carry internals)."""
    log.error("turn failed (activity %s)", turn_context.activity.id, exc_info=error)
    if turn_context.activity.type == ActivityTypes.message:
        try:
            await turn_context.send_activity(MessageFactory.text(SORRY))
        except Exception:
            log.exception("could not tell the user about the failure")
