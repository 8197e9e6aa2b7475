"""The admin feed's commands, `feed here|off|status`: only admins move or stop the feed; anyone may ask where it
goes. The router (bot.handler) hands each a `bot.turn.Turn`; the work is the desk's (bot.feed.desk)."""

from __future__ import annotations

import logging

import cards
from bot.feed.desk import FeedDesk
from bot.feed.store import FeedChannel, channel_of_reference
from bot.transport.activity import channel_name_of, teams_channel_of
from bot.turn import Turn, admin_or_told
from cards import wording
from core.admins import Admins
from core.commands import Feed, FeedAction
from core.errors import DirectoryError
from core.feed import UnknownFeedGroups

__all__ = ["FeedCommands"]

log = logging.getLogger(__name__)


class FeedCommands:
    """`feed` None: no feed is set up (FEED_GROUPS unset and no discovery), and every feed command says so."""

    def __init__(self, feed: FeedDesk | None, admins: Admins) -> None:
        self._feed = feed
        self._admins = admins

    async def run(self, turn: Turn, command: Feed) -> None:
        if self._feed is None:
            await turn.send_text(wording.FEED_NOT_SET_UP)
            return
        if command.action is FeedAction.STATUS:
            status = await self._feed.status_card(turn.actor.time_style)
            if isinstance(status, str):
                await turn.send_text(status)
            else:
                await turn.send_card(status)
            return
        channel_id, _ = teams_channel_of(turn.activity)
        if command.action is FeedAction.HERE and not (turn.where == "channel" and channel_id):
            await turn.send_text(wording.FEED_ONLY_IN_A_CHANNEL)
            return
        if not await admin_or_told(turn, self._admins, f"feed {command.action.value}"):
            return
        if command.action is FeedAction.OFF:
            old = await self._feed.switch_off()
            await turn.send_text(wording.feed_off_text(old.label) if old is not None else wording.FEED_WAS_OFF)
            return
        await self._here(turn, channel_id)

    async def _here(self, turn: Turn, channel_id: str) -> None:
        """`feed here`: this channel becomes the feed's; the answer names the groups it reports on."""
        assert self._feed is not None
        actor = turn.actor
        channel = FeedChannel(
            reference=channel_of_reference(turn.reference),
            channel_id=channel_id,
            name=channel_name_of(turn.activity),
            time_zone=actor.time_zone,
            locale=actor.locale,
            set_by=actor.object_id,
        )
        moved_from = await self._feed.set_channel(channel)
        groups: list[str] = []
        problem: str | None = None
        try:
            groups = [g.display_name for g in await self._feed.monitored()]
        except UnknownFeedGroups as e:
            problem = wording.feed_groups_unknown(e.missing, list(e.ambiguous))
        except DirectoryError as e:
            problem = cards.explain(e, actor.time_style)
        log.info("%s made channel %s the admin feed's channel", actor.object_id, channel.channel_id)
        moved = moved_from.label if moved_from else None
        text = wording.feed_here_text(channel.label, groups, moved, problem, discovering=self._feed.discovering)
        await turn.send_text(text)
