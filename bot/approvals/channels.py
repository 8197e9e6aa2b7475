"""Approvals channels (issue 4, point 2): where a group's approval cards are posted besides the approvers' 1:1 chats.

Two sources: an admin typing `approvals here <group>` in a Teams channel (stored durably: `ChannelEntry`,
with the service URL and tenant of that message, so the bot can post there later), and the `APPROVAL_CHANNELS`
setting (`<group id>=<channel id>`). A channel set in Teams wins over the setting. A channel from the setting has no
stored service URL: the bot posts there with the service URL of the turn that needs it (the requester's message,
which Teams sends from the tenant's region).

The admin check is `core.admins.Admins`, with the authenticated actor; the group named is resolved app-only and must
exist. Nothing changes on a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.approvals.records import ApprovalRecords, ChannelEntry
from bot.transport.activity import conversation_kind, teams_channel_of
from cards import explain
from cards.approval_channels import (
    ChannelLine,
    ambiguous_group,
    channel_off,
    channel_only,
    channel_set,
    channels_status,
    group_not_found,
    no_channel_to_turn_off,
    set_in_settings,
)
from cards.wording import not_an_admin
from core.admins import Admins
from core.commands import ApprovalChannel
from core.errors import DirectoryError
from core.models import Actor, Group
from core.ports import Clock
from core.service import PimService

if TYPE_CHECKING:
    from botbuilder.core import TurnContext

__all__ = ["ApprovalChannels", "ChannelTarget"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """Where a group's approval cards are posted: a Teams channel id (`19:…@thread.tacv2`), with the service URL and
    tenant to post with when known (set in Teams), else those of the turn that posts."""

    channel_id: str
    service_url: str = ""
    tenant_id: str = ""


class ApprovalChannels:
    def __init__(
        self, records: ApprovalRecords, clock: Clock, admins: Admins, configured: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._records = records
        self._clock = clock
        self._admins = admins
        self._configured = {group.lower(): channel for group, channel in configured}

    async def target(self, group_id: str) -> ChannelTarget | None:
        """The approvals channel of a group, if it has one."""
        stored = await self._records.channel(group_id)
        if stored is not None:
            return ChannelTarget(stored.channel_id, stored.service_url, stored.tenant_id)
        channel = self._configured.get(group_id.lower())
        return ChannelTarget(channel) if channel else None

    async def group_ids(self) -> list[str]:
        """The groups that have an approvals channel, set in Teams or in the settings."""
        stored = [e.group_id for e in await self._records.channels()]
        return list(dict.fromkeys([g for g in stored if g] + list(self._configured)))

    async def command(
        self, turn_context: TurnContext, service: PimService, actor: Actor, command: ApprovalChannel
    ) -> str:
        """The answer to `approvals here|off <group>` or `approvals status`; changes the mapping only for an admin
        in a channel, and only for a group that exists. The status is for anyone in the channel."""
        activity = turn_context.activity
        channel_id, team_id = teams_channel_of(activity)
        typed = f"approvals {command.action} {command.group}".strip()
        if conversation_kind(activity) != "channel" or not channel_id:
            return channel_only(typed if command.action != "status" else "approvals status")
        if command.action in ("status", ""):  # anyone in the team may see where approvals go
            return await self._status(service, actor, channel_id, team_id)
        try:
            if not await self._admins.is_admin(actor):
                log.info("refused %r by %s: not an admin", typed, actor.object_id)
                return not_an_admin(f"approvals {command.action}", configured=self._admins.configured)
            found = await service.find_groups(command.group)
        except DirectoryError as e:
            return explain(e, actor.time_style)
        if not found:
            return group_not_found(command.group)
        if len(found) > 1:
            return ambiguous_group(command.group, len(found))
        group = found[0]
        if command.action == "here":
            return await self._here(turn_context, actor, group, channel_id, team_id)
        return await self._off(actor, group)

    async def _here(self, turn_context: TurnContext, actor: Actor, group: Group, channel_id: str, team_id: str) -> str:
        activity = turn_context.activity
        earlier = await self._records.channel(group.id)
        replaced = earlier is not None and earlier.channel_id != channel_id
        entry = ChannelEntry(
            group_id=group.id,
            group_name=group.display_name,
            channel_id=channel_id,
            team_id=team_id,
            service_url=str(activity.service_url or ""),
            tenant_id=actor.tenant_id,
            set_by=actor.object_id,
            set_by_name=actor.name,
            set_at=self._clock.now(),
        )
        await self._records.set_channel(entry)
        log.info("%s made channel %s the approvals channel of %s", actor.object_id, channel_id, group.id)
        return channel_set(group.display_name, replaced=replaced)

    async def _off(self, actor: Actor, group: Group) -> str:
        if await self._records.channel(group.id) is None:
            if group.id.lower() in self._configured:
                return set_in_settings(group.display_name)
            return no_channel_to_turn_off(group.display_name)
        await self._records.forget_channel(group.id)
        log.info("%s turned off the approvals channel of %s", actor.object_id, group.id)
        return channel_off(group.display_name)

    async def _status(self, service: PimService, actor: Actor, channel_id: str, team_id: str) -> str:
        lines: list[ChannelLine] = []
        stored = await self._records.channels()
        for entry in stored:
            here = entry.channel_id == channel_id
            if not here and not (team_id and entry.team_id == team_id):
                continue
            lines.append(
                ChannelLine(entry.group_name or entry.group_id, here, set_by=entry.set_by_name, set_at=entry.set_at)
            )
        overridden = {e.group_id.lower() for e in stored}
        # A channel from the settings names no team: it is listed only in the channel itself.
        configured_here = [g for g, c in self._configured.items() if c == channel_id and g not in overridden]
        names = await service.display_names(configured_here) if configured_here else {}
        lines += [ChannelLine(names.get(g, g), True, from_settings=True) for g in configured_here]
        return channels_status(lines, actor.time_style)
