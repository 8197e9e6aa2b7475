"""What the bot says about approvals channels (`approvals here|off|status`, typed by an admin in a Teams channel), and
the line the requester reads about the channel copy of their request. Plain texts: the replies are one or two
sentences in the channel thread.

Commands are quoted with “…”: Teams renders no inline code in these replies either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cards.times import Tz
from cards.wording import format_time

__all__ = [
    "ChannelLine",
    "ambiguous_group",
    "channel_off",
    "channel_only",
    "channel_post_failed",
    "channel_posted",
    "channel_set",
    "channels_status",
    "group_not_found",
    "no_channel_to_turn_off",
    "set_in_settings",
]


@dataclass(frozen=True, slots=True)
class ChannelLine:
    """One group's approvals channel, as `approvals status` lists it."""

    group_name: str
    here: bool  # the channel the command was typed in
    from_settings: bool = False
    set_by: str = ""
    set_at: datetime | None = None


def channel_only(command: str) -> str:
    """`approvals here|off …` typed outside a channel (a 1:1 or group chat)."""
    return f"Type this in the Teams channel where approvals should go, with @PIM Bot: “{command}”. Nothing was changed."


def group_not_found(name: str) -> str:
    return (
        f"I could not find a group named “{name}” in the directory, so nothing was changed. Check the spelling (the "
        "group's full name, as Entra shows it), or use the group's object id."
    )


def ambiguous_group(name: str, count: int) -> str:
    return (
        f"{count} groups are named “{name}”, so nothing was changed. Use the object id of the one you mean, for "
        "example “approvals here 0f1e2d3c-…”."
    )


def channel_set(group: str, *, replaced: bool) -> str:
    moved = " It replaces the approvals channel set earlier." if replaced else ""
    return (
        f"Requests for {group} that need approval will now be posted in this channel: approvers get Approve and "
        f"Deny on the card, everyone else sees it read-only. Approvers still get their personal copy.{moved} "
        f"Type “approvals off {group}” to stop."
    )


def channel_off(group: str) -> str:
    return f"Requests for {group} are no longer posted in a channel; approvers still get them in their chat with me."


def no_channel_to_turn_off(group: str) -> str:
    return f"{group} has no approvals channel set in Teams, so nothing was changed."


def set_in_settings(group: str) -> str:
    return (
        f"The approvals channel of {group} is set in the bot's settings (APPROVAL_CHANNELS), so it cannot be turned "
        "off from Teams; nothing was changed. Ask whoever runs the bot to change the setting."
    )


def channels_status(lines: Sequence[ChannelLine], tz: Tz) -> str:
    """`approvals status`: the approvals channels of this team (set in Teams), and those set in settings here."""
    if not lines:
        return (
            "No group posts its approval requests in this team's channels. An admin can type “approvals here "
            "<group>” in the channel where they should go."
        )
    items = []
    for line in sorted(lines, key=lambda x: x.group_name.casefold()):
        where = "this channel" if line.here else "another channel of this team"
        if line.from_settings:
            how = " (set in the bot's settings)"
        else:
            by = f" by {line.set_by}" if line.set_by else ""
            when = f" on {format_time(line.set_at, tz)}" if line.set_at is not None else ""
            how = f" (set{by}{when})" if by or when else ""
        items.append(f"- {line.group_name} → {where}{how}")
    return "Approval requests posted in this team:\n\n" + "\n".join(items)


def channel_posted() -> str:
    """Added to the requester's "who was notified" message."""
    return "I also posted it in the group's approvals channel."


def channel_post_failed() -> str:
    return "I could not post it in the group's approvals channel."
