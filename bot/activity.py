"""The one place that reads Teams activities: activity → Actor, command text, card action data, time zone.

botbuilder 4.17.1 quirks handled here: the tenant is only in channel_data.tenant.id (conversation.tenant_id maps to
the wrong JSON key), invoke values arrive as plain dicts (`value.action` is not an AdaptiveCardAction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

from core.models import Actor

__all__ = [
    "actor_of",
    "card_action_data",
    "command_text",
    "conversation_kind",
    "reference_of",
    "tenant_of",
    "time_zone_of",
]

_AT_TAG = re.compile(r"<at[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


class NotAUser(ValueError):
    """The activity does not come from an Entra user (no aadObjectId): a bot, a connector, a malformed request."""


def tenant_of(activity: Activity) -> str:
    data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    tenant = data.get("tenant") if isinstance(data.get("tenant"), Mapping) else None
    tid = tenant.get("id") if tenant else None
    if not tid and activity.conversation is not None:
        props = getattr(activity.conversation, "additional_properties", None) or {}
        tid = props.get("tenantId")
    return str(tid or "").lower()


def time_zone_of(activity: Activity) -> str | None:
    """The IANA zone Teams sends in the clientInfo entity, if it is one we know."""
    for entity in activity.entities or []:
        props: Mapping[str, Any] = getattr(entity, "additional_properties", None) or {}
        if getattr(entity, "type", None) == "clientInfo" and isinstance(props.get("timezone"), str):
            name = props["timezone"]
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                return None
            return str(name)
    return None


def actor_of(activity: Activity) -> Actor:
    sender = activity.from_property
    oid = getattr(sender, "aad_object_id", None) if sender else None
    if not oid:
        raise NotAUser("activity has no from.aadObjectId")
    return Actor(
        object_id=str(oid).lower(),
        tenant_id=tenant_of(activity),
        name=str(getattr(sender, "name", "") or ""),
        time_zone=time_zone_of(activity),
    )


def conversation_kind(activity: Activity) -> str:
    conv = activity.conversation
    return str(getattr(conv, "conversation_type", None) or "personal")


def command_text(activity: Activity) -> str:
    """The message text without the bot's @mention (channels and group chats) and without HTML."""
    text = activity.text or ""
    if activity.recipient is not None and activity.entities:
        text = TurnContext.remove_mention_text(activity, activity.recipient.id) or text
    text = _AT_TAG.sub(" ", text)  # any mention left (Teams sometimes tags the bot under another id)
    text = _TAGS.sub(" ", text).replace("&nbsp;", " ").replace("&amp;", "&").replace("&quot;", '"')
    return " ".join(text.split())


def card_action_data(activity: Activity) -> Mapping[str, Any] | None:
    """The data of a clicked card action: an `adaptiveCard/action` invoke or an Action.Submit message value."""
    value = activity.value
    if not isinstance(value, Mapping):
        return None
    if activity.type == "invoke":
        action = value.get("action")
        if not isinstance(action, Mapping):
            return None
        data = dict(action.get("data") or {}) if isinstance(action.get("data") or {}, Mapping) else {}
        if action.get("verb") and "verb" not in data:
            data["verb"] = action.get("verb")
        return data
    return dict(value)


def reference_of(activity: Activity) -> dict[str, Any]:
    """A serialisable conversation reference (for proactive messages) plus the tenant botbuilder drops."""
    ref: ConversationReference = TurnContext.get_conversation_reference(activity)
    data: dict[str, Any] = ref.serialize()
    data["tenantId"] = tenant_of(activity)
    return data
