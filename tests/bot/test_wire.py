"""bot.transport.wire.to_json gives exactly what msrest's Model.serialize() gives, on the activities the bot sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    Entity,
    Mention,
)

from bot.transport.wire import to_json
from cards import activation_card, help_card


def _addressed(activity: Activity) -> Activity:
    activity.from_property = ChannelAccount(id="28:bot", name="PIM Bot")
    activity.recipient = ChannelAccount(
        id="29:user", name="Alice", aad_object_id="aaaaaaaa-0000-4000-8000-000000000001"
    )
    activity.conversation = ConversationAccount(id="a:1;messageid=2", conversation_type="personal", tenant_id="t")
    activity.service_url, activity.channel_id, activity.reply_to_id = "https://smba.example/emea/", "msteams", "1"
    return activity


@pytest.mark.parametrize(
    "activity",
    [
        _addressed(MessageFactory.attachment(CardFactory.adaptive_card(help_card("I didn't understand “x”.")))),
        _addressed(MessageFactory.attachment(CardFactory.adaptive_card(activation_card([], None)))),
        _addressed(Activity(type=ActivityTypes.typing)),
        _addressed(MessageFactory.text("Sorry, something went wrong.")),
        _addressed(
            Activity(
                type="message",
                text="<at>Alice</at> hi",
                entities=[
                    Mention(
                        mentioned=ChannelAccount(id="29:user", name="Alice"), text="<at>Alice</at>", type="mention"
                    ),
                    Entity(type="clientInfo"),
                ],  # fmt: skip
                timestamp=datetime(2026, 11, 22, 21, 25, 31, 500000, tzinfo=UTC),
                local_timestamp=datetime(2026, 11, 22, 22, 25, 31, tzinfo=timezone(timedelta(hours=1))),
                channel_data={"tenant": {"id": "t"}, "notification": {"alert": True}},
            )
        ),
    ],
    ids=["help-card", "activation-card", "typing", "text", "mention-timestamps-channel-data"],
)
def test_same_json_as_msrest(activity: Activity) -> None:
    assert to_json(activity) == activity.serialize()


def test_conversation_parameters_as_msrest() -> None:
    params = ConversationParameters(
        is_group=False, bot=ChannelAccount(id="28:bot"), members=[ChannelAccount(id="29:user")],
        tenant_id="t", channel_data={"tenant": {"id": "t"}},
    )  # fmt: skip
    assert to_json(params) == params.serialize()


def test_conversation_reference_as_msrest() -> None:
    from botbuilder.core import TurnContext

    activity = _addressed(MessageFactory.text("hi"))
    activity.id = "1"
    reference = TurnContext.get_conversation_reference(activity)
    assert to_json(reference) == reference.serialize()


def test_a_sent_card_is_shared_not_copied_by_botbuilders_deep_copy() -> None:
    import copy

    from bot.transport.wire import SentCard

    card = SentCard(help_card(None))
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    clone = copy.deepcopy(activity)
    assert clone is not activity and clone.attachments[0].content is card
    # (msrest itself would turn a dict subclass into a string; the bot sends with to_json only,
    # bot/transport/connector.py.)
    assert to_json(clone) == MessageFactory.attachment(CardFactory.adaptive_card(help_card(None))).serialize()


def test_a_sent_card_goes_out_as_it_is_and_as_msrest_would_write_it() -> None:
    """to_json passes a SentCard on without walking it (bot.transport.wire): the JSON sent is msrest's."""
    import json

    from bot.transport.wire import SentCard

    card = SentCard(activation_card([], None))
    activity = _addressed(MessageFactory.attachment(CardFactory.adaptive_card(card)))
    out = to_json(activity)
    assert out["attachments"][0]["content"] is card
    plain = _addressed(MessageFactory.attachment(CardFactory.adaptive_card(activation_card([], None))))
    assert json.loads(json.dumps(out)) == plain.serialize()


async def test_an_activity_sent_once_reaches_the_adapter_as_the_plain_one_would() -> None:
    """bot.transport.wire.sent_once: TurnContext's copy of it is a plain Activity, addressed as before, with the same
    JSON as the copy of an ordinary activity; the copy's addressing leaves the caller's activity as it was."""
    from botbuilder.core import TurnContext
    from botbuilder.core.adapters import TestAdapter

    from bot.transport.wire import SentCard, sent_once

    adapter = TestAdapter()
    incoming = _addressed(MessageFactory.text("activate x"))
    incoming.id, incoming.from_property, incoming.recipient = "7", incoming.recipient, incoming.from_property
    context = TurnContext(adapter, incoming)

    def built() -> Activity:
        return MessageFactory.attachment(CardFactory.adaptive_card(SentCard(help_card(None))))

    once = sent_once(built())
    await context.send_activity(built())
    await context.send_activity(once)
    await context.send_activity(sent_once(MessageFactory.text("hi")))
    plain, copied, text = adapter.activity_buffer
    assert type(copied) is Activity and to_json(copied) == to_json(plain)
    assert copied.reply_to_id == "7" and copied.recipient.id == "29:user"
    assert once.reply_to_id is None and once.recipient is None and once.conversation is None
    assert type(text) is Activity and text.serialize()["text"] == "hi" and text.reply_to_id == "7"
