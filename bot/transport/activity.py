"""The one place that reads Teams activities: activity → Actor, command text, card action data, time zone.

botbuilder 4.17.1 quirks handled here: the tenant is only in channel_data.tenant.id (conversation.tenant_id maps to
the wrong JSON key), invoke values arrive as plain dicts (`value.action` is not an AdaptiveCardAction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.schema import Activity, ActivityTypes
from botframework.connector import Channels

from bot.transport.wire import to_json
from core.commands import MAX_TEXT
from core.models import Actor

__all__ = [
    "SignInValue",
    "actor_of",
    "bot_name_of",
    "is_upgrade",
    "locale_of",
    "card_action_data",
    "channel_of",
    "channel_name_of",
    "teams_channel_of",
    "command_text",
    "strip_markup",
    "conversation_id_of",
    "conversation_kind",
    "is_sign_out",
    "reference_of",
    "sign_in_value",
    "tenant_of",
    "time_zone_of",
    "offset_zone_of",
]

# A command is at most MAX_TEXT characters; Teams' markup around one (mentions, <p>, &nbsp; for spaces) stays well
# within ten times that. A longer text is not a command: it is not scanned, parse() refuses it as too long.
MAX_MARKUP = 10 * MAX_TEXT
# Control characters go before any text is echoed into a card (NUL, ESC, DEL, C1); \t \n \r are whitespace.
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])


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
    """The user's IANA zone: the activity's `localTimezone` (Bot Framework Activity: "the name of the timezone used
    to define local time for the message, expressed in IANA Time Zone database format", learn.microsoft.com/dotnet/
    api/microsoft.bot.schema.activity.localtimezone), else the zone Teams sends in the clientInfo entity; None when
    neither is usable (see `offset_zone_of`)."""
    names: list[Any] = [getattr(activity, "local_timezone", None)]
    for entity in activity.entities or []:
        props: Mapping[str, Any] = getattr(entity, "additional_properties", None) or {}
        if getattr(entity, "type", None) == "clientInfo":
            names.append(props.get("timezone"))
    for name in names:
        if isinstance(name, str) and name and len(name) < 64:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return None


def offset_zone_of(activity: Activity) -> str | None:
    """The fixed-offset zone of the activity's `localTimestamp` ("Contains the local date and time of the message,
    expressed in ISO-8601 format. For example, 2016-09-23T13:07:49.4714686-07:00", botframework-schema IActivity):
    `Etc/GMT-1` at UTC+01:00 (the Etc zones' signs are inverted, by POSIX convention); whole hours only (IANA has no
    other fixed zones); None without one."""
    return _fixed_zone(getattr(activity, "local_timestamp", None))


def _fixed_zone(stamp: Any) -> str | None:
    if isinstance(stamp, str):
        try:
            stamp = datetime.fromisoformat(stamp)
        except ValueError:
            return None
    offset = stamp.utcoffset() if isinstance(stamp, datetime) else None
    if offset is None:
        return None
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest or not -12 <= hours <= 14:
        return None
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}")


def locale_of(activity: Activity) -> str | None:
    """The Teams client's language tag (BCP 47, e.g. "en-US"): the activity's `locale`, else the clientInfo entity's;
    None when neither looks like a tag (client data: no free text reaches the cards)."""
    candidates: list[Any] = [activity.locale]
    for entity in activity.entities or []:
        if getattr(entity, "type", None) == "clientInfo":
            candidates.append((getattr(entity, "additional_properties", None) or {}).get("locale"))
    return next((str(c) for c in candidates if isinstance(c, str) and _LOCALE.fullmatch(c)), None)


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
        channel_user_id=str(sender.id or "") if sender else "",
        locale=locale_of(activity),
        fallback_zone=offset_zone_of(activity),
    )


def bot_name_of(activity: Activity) -> str:
    """The bot's name as Teams shows it in this conversation (what people @mention), or empty."""
    return str(getattr(activity.recipient, "name", None) or "")


def is_upgrade(activity: Activity) -> bool:
    """An installationUpdate for a new version of an app already installed (`add-upgrade`), not a new installation."""
    return str(activity.action or "").lower().endswith("-upgrade")


def channel_of(activity: Activity) -> str:
    """The channel id ("msteams"): the token service keys user tokens by channel and user."""
    return str(activity.channel_id or "")


def teams_channel_of(activity: Activity) -> tuple[str, str]:
    """(channel id, team id) of a Teams channel message: `19:…@thread.tacv2` as in the channel's link, without the
    `;messageid=` of the thread; empty strings outside a channel."""
    data: Mapping[str, Any] = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    channel: Mapping[str, Any] = data["channel"] if isinstance(data.get("channel"), Mapping) else {}
    team: Mapping[str, Any] = data["team"] if isinstance(data.get("team"), Mapping) else {}
    channel_id = str(channel.get("id") or data.get("teamsChannelId") or "")
    if not channel_id and conversation_kind(activity) == "channel":
        channel_id = conversation_id_of(activity).split(";", 1)[0]
    return channel_id, str(team.get("id") or data.get("teamsTeamId") or "")


def conversation_id_of(activity: Activity) -> str:
    return str(getattr(activity.conversation, "id", None) or "")


def channel_name_of(activity: Activity) -> str:
    """The channel's name, when Teams sends it (not always, and never for the General channel); else empty."""
    data: Mapping[str, Any] = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    channel: Mapping[str, Any] = data["channel"] if isinstance(data.get("channel"), Mapping) else {}
    return str(channel.get("name") or "")


def conversation_kind(activity: Activity) -> str:
    conv = activity.conversation
    return str(getattr(conv, "conversation_type", None) or "personal")


def command_text(activity: Activity) -> str:
    """The message text without @mentions (channels and group chats), HTML and control characters.

    Every `<at>…</at>` block goes, whoever it names: Teams sometimes tags the bot under another id, and the mention
    entities are not needed (nor trusted: botbuilder's remove_mention_text compiles their text as a regex and fails
    on a malformed one). Bounded and linear whatever the text holds (issue 10, point 1)."""
    text = activity.text if isinstance(activity.text, str) else ""
    if len(text) <= MAX_MARKUP:
        text = strip_markup(text).replace("&nbsp;", " ").replace("&amp;", "&").replace("&quot;", '"')
    return " ".join(text.translate(_CONTROL).split())


def strip_markup(chars: Iterable[str]) -> str:
    """Teams' message HTML without its tags, and without `<at>…</at>` mentions, in one pass: each character is read
    once and never looked at again. A tag is `<`, at least one character other than `<` and `>`, then `>`; a `<` that
    opens no tag stays as text, and so does a mention left open at the end (its inner tags stripped). Every stripped
    tag or mention leaves a space."""
    out: list[str] = []
    mention: list[str] | None = None  # inside `<at …>`: what the mention holds, kept in case it is never closed
    tag: list[str] | None = None  # inside `<`: the tag's characters so far
    for ch in chars:
        text = out if mention is None else mention  # where text goes now
        if tag is None:
            if ch == "<":
                tag = []
            else:
                text.append(ch)
        elif ch == "<":  # "a < b <i>c</i>": the first "<" was text, a tag starts here
            text.append("<" + "".join(tag))
            tag = []
        elif ch != ">":
            tag.append(ch)
        elif not tag:  # "<>" is not a tag
            text.append("<>")
            tag = None
        else:
            name = _tag_name("".join(tag[:3]))
            if mention is None and name == "at":
                mention = [" "]
            elif mention is not None and name == "/at":
                mention = None
                out.append(" ")
            else:
                text.append(" ")
            tag = None
    if tag is not None:
        (out if mention is None else mention).append("<" + "".join(tag))
    if mention is not None:
        out.extend(mention)
    return "".join(out)


def _tag_name(head: str) -> str:
    """From a tag's first three characters: `at` for `<at>` or `<at id="0">`, `/at` for `</at>`, else empty (no other
    name matters)."""
    closing = head.startswith("/")
    word = head[1:] if closing else head
    if word[:2].lower() != "at" or (len(word) > 2 and not word[2].isspace() and word[2] != "/"):
        return ""
    return "/at" if closing else "at"


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
    """A serialisable conversation reference (for proactive messages) plus the tenant botbuilder drops.

    The JSON of `TurnContext.get_conversation_reference(activity)` (same members, same order, the activity id left
    out as botbuilder leaves it out), written straight from the activity: botbuilder's copies of the three accounts
    and its msrest model were half of this function's cost, twice a turn (tests/bot/test_wire_inbound.py holds the
    two equal)."""
    data: dict[str, Any] = {}
    channel = activity.channel_id
    if (
        activity.type != ActivityTypes.conversation_update
        and channel != Channels.direct_line
        and channel != Channels.webchat
    ):
        _put(data, "activityId", activity.id)
    _put(data, "user", activity.from_property)
    _put(data, "bot", activity.recipient)
    _put(data, "conversation", activity.conversation)
    _put(data, "channelId", activity.channel_id)
    _put(data, "locale", activity.locale)
    _put(data, "serviceUrl", activity.service_url)
    data["tenantId"] = tenant_of(activity)
    return data


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:  # as msrest (and to_json) leave out a member that is None
        data[key] = to_json(value)


_SIGN_OUT = frozenset({"logout", "log out", "signout", "sign out", "sign-out", "log-out"})


def is_sign_out(text: str) -> bool:
    """The whole message asks to sign out (`logout`). A session matter of the token service, not a PIM command."""
    return text.strip().lower().rstrip(".!") in _SIGN_OUT


@dataclass(frozen=True, slots=True)
class SignInValue:
    """What a sign-in round trip carries, from whichever activity carries it.

    * `signin/tokenExchange` invoke, or `value.authentication` of a re-sent `adaptiveCard/action`: the Teams client's
      SSO token (`exchange_id`, `token`, `connection_name`);
    * `signin/verifyState` invoke, or `value.state` of a re-sent `adaptiveCard/action`: the magic code (`state`);
    * `signin/failure` invoke: the client's `failure_code` and `failure_message`.
    """

    exchange_id: str = ""
    token: str = ""
    connection_name: str = ""
    state: str = ""
    failure_code: str = ""
    failure_message: str = ""


def sign_in_value(activity: Activity) -> SignInValue | None:
    """The sign-in part of an invoke, or None when it carries none (an ordinary card click)."""
    value = activity.value if isinstance(activity.value, Mapping) else None
    if activity.type != "invoke" or value is None:
        return None
    name = activity.name or ""
    if name == "signin/failure":
        return SignInValue(failure_code=str(value.get("code") or ""), failure_message=str(value.get("message") or ""))
    if name == "signin/tokenExchange":
        return SignInValue(
            exchange_id=str(value.get("id") or ""),
            token=str(value.get("token") or ""),
            connection_name=str(value.get("connectionName") or ""),
        )
    if name == "signin/verifyState":
        return SignInValue(state=str(value.get("state") or ""))
    if name == "adaptiveCard/action":
        auth = value.get("authentication")
        if isinstance(auth, Mapping) and auth.get("token"):
            return SignInValue(
                exchange_id=str(auth.get("id") or ""),
                token=str(auth.get("token") or ""),
                connection_name=str(auth.get("connectionName") or ""),
            )
        if value.get("state"):
            return SignInValue(state=str(value.get("state")))
    return None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """Where the accepted file goes (the invoke's `value.uploadInfo`): `upload_url` takes the bytes (PUT),
    `content_url`, `unique_id` and `file_type` make the file info card afterwards."""

    upload_url: str
    content_url: str
    name: str
    unique_id: str
    file_type: str


@dataclass(frozen=True, slots=True)
class FileConsent:
    """The user's answer to a file consent card: `accepted`, the card's context, and (accepted) where to upload."""

    accepted: bool
    context: Mapping[str, Any]
    upload: UploadInfo | None


def file_consent_of(activity: Activity) -> FileConsent | None:
    """A `fileConsent/invoke`'s value ("Send and receive files using bot", Microsoft Learn: `value.type`
    "fileUpload", `value.action` "accept" or "decline", `value.context` = the card's acceptContext / declineContext,
    and on accept `value.uploadInfo` {contentUrl, name, uploadUrl, uniqueId, fileType, etag}); None for anything
    else, or an accept without an http(s) upload URL (which URLs are acceptable is bot.exports' choice)."""
    value = activity.value if isinstance(activity.value, Mapping) else None
    if activity.type != "invoke" or (activity.name or "") != "fileConsent/invoke" or value is None:
        return None
    action = str(value.get("action") or "").casefold()
    context = value.get("context")
    context = context if isinstance(context, Mapping) else {}
    if action == "decline":
        return FileConsent(False, context, None)
    info = value.get("uploadInfo")
    if action != "accept" or not isinstance(info, Mapping):
        return None
    upload_url = str(info.get("uploadUrl") or "")
    if not upload_url.startswith(("https://", "http://")):
        return None
    upload = UploadInfo(
        upload_url=upload_url,
        content_url=str(info.get("contentUrl") or ""),
        name=str(info.get("name") or ""),
        unique_id=str(info.get("uniqueId") or ""),
        file_type=str(info.get("fileType") or ""),
    )
    return FileConsent(True, context, upload)
