"""The custom extension's share of a periodic worker under a lease (the admin feed's cycle, bot.feed.FeedDesk, runs
it while it holds the feed's lease: one process at a time): queue the feed events of decisions whose process died
before queueing them (bot.extension.endpoint), and prune decisions and latest notes past their RETENTION
(bot.extension.records), so the `pim-extension/` keys hold about a day of activations, not every one ever made."""

from __future__ import annotations

import logging

from bot.extension.endpoint import Teller
from bot.extension.records import RETENTION, ExtensionRecords
from core.ports import Clock

__all__ = ["ExtensionUpkeep"]

log = logging.getLogger(__name__)


class ExtensionUpkeep:
    def __init__(self, records: ExtensionRecords, tell: Teller | None, clock: Clock) -> None:
        self._records = records
        self._tell = tell
        self._clock = clock

    async def __call__(self) -> None:
        """One round: the untold events first (a record past its retention is still told before it goes)."""
        if self._tell is not None:
            async for request_id, event in self._records.untold():
                log.warning(
                    "PIM extension: telling the feed of request %s, which a stopped process had not", request_id
                )
                await self._tell(event)
                await self._records.told(request_id)
        pruned = await self._records.prune(self._clock.now() - RETENTION)
        if pruned:
            log.info("PIM extension: pruned %d records older than %s", pruned, RETENTION)
