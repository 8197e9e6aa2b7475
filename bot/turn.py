"""`Turn`: one activity being answered, with who sent it, the service acting as them, and how to answer.

Modelled on teams.py's `ActivityContext`: the router (bot.handler.PimBot) builds one per activity it acts on and hands
it to the one handler the command or click routes to (bot.handlers, bot.approvals, bot.feed, bot.signin). Handlers
read the activity's facts (`where`, `reference`), call the use cases on `service` (a PimService whose user tokens are
this turn's: Teams SSO's token service, a kept step-up token, or the simulated tenant's) and answer through
`send_text` / `send_card` / `update_card`; they never touch botbuilder's MessageFactory or CardFactory, and nothing
threads `turn_context`, the service and the actor through their signatures by hand.

`UserInput` is what the user sent: a typed command's text, or the data of a clicked Action.Submit. It is what a
sign-in interrupts and resumes (bot.signin).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity

import cards
from bot.transport.activity import conversation_kind, reference_of
from bot.transport.typing import TypingIndicator
from bot.transport.wire import SentCard, sent_once
from cards import wording
from core.admins import Admins
from core.errors import DirectoryError
from core.models import Actor
from core.service import PimService

__all__ = [
    "Turn",
    "UserInput",
    "admin_or_told",
    "invoke_answer",
    "invoke_card",
    "invoke_done",
    "invoke_message",
    "send_card",
    "send_text",
]


@dataclass(frozen=True, slots=True)
class UserInput:
    """A typed command (`text`) or a clicked Action.Submit's data (`data`, then `text` is None)."""

    text: str | None = None
    data: Mapping[str, Any] | None = None

    @property
    def is_click(self) -> bool:
        return self.data is not None


@dataclass(frozen=True, slots=True)
class Turn:
    """The activity `context` carries, answered for `actor` with `service` (module doc)."""

    context: TurnContext
    actor: Actor
    service: PimService
    indicator: TypingIndicator = TypingIndicator(after=0)  # the router's sends it only when the answer is late

    @property
    def activity(self) -> Activity:
        return self.context.activity

    @property
    def where(self) -> str:
        """The conversation's kind: "personal", "channel" or "groupChat"."""
        return conversation_kind(self.context.activity)

    @property
    def reference(self) -> dict[str, Any]:
        """This conversation's reference (bot.activity.reference_of), to store and continue in later."""
        return reference_of(self.context.activity)

    @property
    def conversation_id(self) -> str:
        return str(self.context.activity.conversation.id)

    def with_actor(self, actor: Actor) -> Turn:
        return replace(self, actor=actor)

    async def typing(self) -> None:
        """The typing indicator, before any Graph call: the user sees that the bot is on it when the answer is not
        there within half a second (bot.transport.typing)."""
        await self.indicator.start(self.context)

    async def send_text(self, text: str) -> str | None:
        """`text` as a message into this conversation; the new activity's id, when the channel named one."""
        return await send_text(self.context, text)

    async def send_card(self, card: Mapping[str, Any]) -> str | None:
        """The Adaptive Card `card` as a message into this conversation; the new activity's id."""
        return await send_card(self.context, card)

    async def send_attachment(self, attachment: Any) -> str | None:
        """Another kind of card (Teams SSO's OAuthCard, built by bot.signin) as a message; the new activity's id."""
        return _id_of(await self.context.send_activity(MessageFactory.attachment(attachment)))

    async def update_card(self, activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the bot's message `activity_id` in this conversation with the Adaptive Card `card`."""
        activity = _adaptive(card)
        activity.id = activity_id
        await self.context.update_activity(activity)


log = logging.getLogger(__name__)


async def admin_or_told(turn: Turn, admins: Admins, typed: str) -> bool:
    """Whether the turn's user is one of the bot's admins, for the admin-only command `typed` (`feed here`, `audit
    export`); if not, or if the directory could not say, they were told why not, and the command does nothing."""
    try:
        admin = await admins.is_admin(turn.actor)
    except DirectoryError as e:
        await turn.send_text(cards.explain(e, turn.actor.time_style))
        return False
    if not admin:
        log.info("refused %r by %s (not an admin)", typed, turn.actor.object_id)
        await turn.send_text(wording.not_an_admin(typed, configured=admins.configured))
    return admin


async def send_text(context: TurnContext, text: str) -> str | None:
    """`text` as a message into the conversation of `context`, also when the activity names no user (a `Turn` is
    for one that does); the new activity's id."""
    return _id_of(await context.send_activity(sent_once(MessageFactory.text(text))))


async def send_card(context: TurnContext, card: Mapping[str, Any]) -> str | None:
    """The Adaptive Card `card` as a message into the conversation of `context` (see `send_text`)."""
    return _id_of(await context.send_activity(sent_once(_adaptive(card))))


def _adaptive(card: Mapping[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))


def _id_of(response: Any) -> str | None:
    activity_id = getattr(response, "id", None)
    return str(activity_id) if activity_id else None


# ---- answers to an invoke (an Adaptive Card's Action.Execute, Teams SSO's signin/*) ----------------------------------
# Plain-dict bodies: botbuilder 4.17.1 serialises invoke bodies twice (HTTP 500) when they go through its own
# on_adaptive_card_invoke path; bot/routes.py passes dicts through unchanged.

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


def invoke_answer(status_code: int, kind: str, value: Any = None) -> InvokeResponse:
    """An Adaptive Card invoke response: HTTP 200 carrying the Universal Actions status code, type and value."""
    body: dict[str, Any] = {"statusCode": status_code, "type": kind}
    if value is not None:
        body["value"] = value
    return InvokeResponse(status=200, body=body)


def invoke_card(card: Mapping[str, Any]) -> InvokeResponse:
    """The card that replaces the clicked one."""
    return invoke_answer(200, ADAPTIVE_CARD, card)


def invoke_message(text: str) -> InvokeResponse:
    """A text the client shows under the clicked card."""
    return invoke_answer(200, MESSAGE, text)


def invoke_done() -> InvokeResponse:
    """An invoke handled with nothing to say (HTTP 200, no body)."""
    return InvokeResponse(status=200)
