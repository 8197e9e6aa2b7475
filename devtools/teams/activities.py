"""Teams-shaped activities, as Teams sends them (JSON), for tests that POST to /api/messages."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEMO_TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
BOT_ID = "28:00000000-0000-0000-0000-00000000b07"
BOT_NAME = "PIM Bot"

_ids = itertools.count(1)


@dataclass(frozen=True)
class TeamsUser:
    oid: str
    name: str

    @property
    def mri(self) -> str:
        return f"29:{self.oid}"  # Teams MRIs are opaque; any stable per-user id serves in tests


ALICE = TeamsUser("aaaaaaaa-0000-4000-8000-000000000001", "Alice Admin")
BOB = TeamsUser("aaaaaaaa-0000-4000-8000-000000000002", "Bob Builder")
FRANK = TeamsUser("aaaaaaaa-0000-4000-8000-000000000006", "Frank Fisher")


def _base(
    service_url: str, user: TeamsUser, conversation: dict[str, Any], channel_data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"f:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "localTimestamp": datetime.now(UTC).isoformat(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user.mri, "name": user.name, "aadObjectId": user.oid},
        "conversation": conversation,
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "channelData": channel_data,
        "locale": "en-US",
    }


def personal_conversation(user: TeamsUser, tenant: str = DEMO_TENANT) -> dict[str, Any]:
    return {"conversationType": "personal", "tenantId": tenant, "id": f"a:personal-{user.oid}"}


def message(
    service_url: str,
    text: str,
    user: TeamsUser = ALICE,
    *,
    tenant: str = DEMO_TENANT,
    time_zone: str | None = "Europe/Berlin",
    locale: str = "en-US",
) -> dict[str, Any]:
    activity = _base(service_url, user, personal_conversation(user, tenant), {"tenant": {"id": tenant}})
    activity.update({"type": "message", "text": text, "textFormat": "plain", "locale": locale})
    if time_zone:
        activity["entities"] = [
            {"type": "clientInfo", "locale": locale, "country": "DE", "platform": "Web", "timezone": time_zone}
        ]
    return activity


def _mentioning(activity: dict[str, Any], text: str) -> dict[str, Any]:
    """A message to the bot in a shared conversation: Teams puts the @mention in the text and in the entities."""
    activity.update(
        {
            "type": "message",
            "text": f"<at>{BOT_NAME}</at> {text}",
            "textFormat": "plain",
            "entities": [
                {"type": "mention", "text": f"<at>{BOT_NAME}</at>", "mentioned": {"id": BOT_ID, "name": BOT_NAME}},
                {"type": "clientInfo", "locale": "en-US", "timezone": "Europe/Berlin"},
            ],
        }
    )
    return activity


def channel_message(
    service_url: str, text: str, user: TeamsUser = ALICE, *, tenant: str = DEMO_TENANT, team: str = "19:team-ops"
) -> dict[str, Any]:
    """A channel post that @mentions the bot, as Teams sends it (the mention is part of the text)."""
    channel = "19:incidents@thread.tacv2"
    conversation = {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": tenant,
        "id": f"{channel};messageid={next(_ids)}",
    }
    data = {
        "teamsChannelId": channel,
        "teamsTeamId": team,
        "channel": {"id": channel},
        "team": {"id": team},
        "tenant": {"id": tenant},
    }
    activity = _base(service_url, user, conversation, data)
    return _mentioning(activity, text)


def group_chat_message(
    service_url: str,
    text: str,
    user: TeamsUser = ALICE,
    *,
    tenant: str = DEMO_TENANT,
    chat: str = "19:oncall@thread.v2",
) -> dict[str, Any]:
    """A group chat message that @mentions the bot, as Teams sends it (no team or channel in channelData)."""
    conversation = {"isGroup": True, "conversationType": "groupChat", "tenantId": tenant, "id": chat}
    activity = _base(service_url, user, conversation, {"tenant": {"id": tenant}})
    return _mentioning(activity, text)


def card_submit(service_url: str, data: dict[str, Any], reply_to: str, user: TeamsUser = ALICE) -> dict[str, Any]:
    """An Action.Submit click: a message with `value` and no text."""
    activity = _base(service_url, user, personal_conversation(user), {"tenant": {"id": DEMO_TENANT}})
    activity.update({"type": "message", "value": data, "replyToId": reply_to})
    return activity


def card_execute(
    service_url: str, verb: str, data: dict[str, Any], reply_to: str, user: TeamsUser = ALICE
) -> dict[str, Any]:
    """An Action.Execute click: an `adaptiveCard/action` invoke."""
    activity = _base(service_url, user, personal_conversation(user), {"tenant": {"id": DEMO_TENANT}})
    activity.update(
        {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "replyToId": reply_to,
            "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
        }
    )
    return activity


def installation(service_url: str, user: TeamsUser = ALICE) -> dict[str, Any]:
    activity = _base(service_url, user, personal_conversation(user), {"tenant": {"id": DEMO_TENANT}})
    activity.update({"type": "installationUpdate", "action": "add"})
    return activity


def bot_added(service_url: str, user: TeamsUser = ALICE) -> dict[str, Any]:
    """The conversationUpdate Teams sends with an installation in personal scope: the bot in membersAdded, `from` the
    user whose chat it is."""
    activity = _base(service_url, user, personal_conversation(user), {"tenant": {"id": DEMO_TENANT}})
    activity.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    return activity


def team_installation(service_url: str, user: TeamsUser = ALICE, *, action: str = "add") -> dict[str, Any]:
    """The installationUpdate Teams sends when a user adds the app to a team, shaped as Microsoft's example
    (learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events,
    "Installation update event"): the conversation is the channel picked at install (`settings.selectedChannel`)."""
    channel = "19:incidents@thread.tacv2"
    conversation = {"isGroup": True, "conversationType": "channel", "tenantId": DEMO_TENANT, "id": channel}
    data = {
        "settings": {"selectedChannel": {"id": channel}},
        "channel": {"id": channel},
        "team": {"id": "19:team-ops", "name": "Ops"},
        "tenant": {"id": DEMO_TENANT},
        "source": {"name": "message"},
    }
    activity = _base(service_url, user, conversation, data)
    activity.update({"type": "installationUpdate", "action": action})
    activity["entities"] = [{"type": "clientInfo", "locale": "en-US"}]
    return activity


def group_chat_installation(
    service_url: str, user: TeamsUser = ALICE, *, chat: str = "19:oncall@thread.v2"
) -> dict[str, Any]:
    """The installationUpdate of the app added to a group chat."""
    conversation = {"isGroup": True, "conversationType": "groupChat", "tenantId": DEMO_TENANT, "id": chat}
    activity = _base(service_url, user, conversation, {"tenant": {"id": DEMO_TENANT}})
    activity.update({"type": "installationUpdate", "action": "add"})
    return activity


def file_consent(
    service_url: str,
    action: str,
    context: dict[str, Any],
    reply_to: str,
    upload_info: dict[str, Any] | None = None,
    user: TeamsUser = ALICE,
) -> dict[str, Any]:
    """The user's answer to a file consent card: a `fileConsent/invoke` (Microsoft Learn, "Send and receive files
    using bot": value.type "fileUpload", value.action "accept" | "decline", value.context = the card's
    acceptContext / declineContext, and on accept value.uploadInfo)."""
    activity = _base(service_url, user, personal_conversation(user), {"tenant": {"id": DEMO_TENANT}})
    value: dict[str, Any] = {"type": "fileUpload", "action": action, "context": context}
    if upload_info is not None:
        value["uploadInfo"] = upload_info
    activity.update({"type": "invoke", "name": "fileConsent/invoke", "replyToId": reply_to, "value": value})
    return activity
