"""The outbox: events queued as entries (`feed/outbox/{stamp}-{n}`, key order is posting order), posted in order,
each marked posted once (`feed/posted`).

Posting an entry is three conditional writes and the post itself, each safe to be cut short by a kill -9:

1. the entry is marked "sending" (with the cards already accepted, for a digest of several);
2. the card is posted (bot.transport's `post_to_channel`);
3. its event ids are added to the posted marks (`Store.update`: the one compare-and-swap);
4. the entry is deleted.

A replay after a death between 3 and 4 finds every id of the entry marked and drops it unposted; between 1 and 3 it
finds the "sending" mark and posts again after a note saying it may repeat: the one window no bookkeeping closes (the
connector accepted a post whose answer the process did not live to record). A refusal the connector answered clears
the mark (nothing was posted, so a retry is no repeat); a timeout or a cancelled post leaves it.

An entry is also dropped unposted when another entry with the same events was posted first: event ids are
deterministic (core.feed), so an event queued twice (computed again after a crash before the snapshot moved, or by a
poller that lost its lease) is posted once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.feed.store import FeedChannel, OutboxEntry, PostedMarks
from bot.store import Conflict, Json, Store, Versioned
from bot.store import keys as keyspace
from bot.transport import ProactiveAdapter
from bot.transport.connector import ConnectorError
from cards.feed import digest_cards, feed_event_card
from cards.wording import FEED_MAY_REPEAT
from core.feed import FeedEvent
from core.models import TimeStyle
from core.ports import Clock

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

Names = Callable[[Sequence[FeedEvent]], Awaitable[dict[str, str]]]
Fault = Callable[[str], None]
MAX_SLOTS = 1000  # outbox slots tried for one entry when its stamp is taken (a clock standing still)


_STAMP = "%Y%m%dT%H%M%S%f"


def _stamp(now: datetime) -> str:
    """Sortable outbox key part: posting order is key order (the bot's clock, which is UTC)."""
    return now.strftime(_STAMP)


class Outbox:
    def __init__(self, store: Store, proactive: ProactiveAdapter, clock: Clock, fault: Fault) -> None:
        self._store = store
        self._proactive = proactive
        self._clock = clock
        self._fault = fault
        self._posts = 0  # posts accepted by the connector in this process (the fault hook counts them)

    async def posted(self) -> PostedMarks:
        found = await self._store.get(keyspace.FEED_POSTED)
        return PostedMarks.from_json(found.value) if found is not None else PostedMarks()

    async def oldest(self) -> datetime | None:
        """When the oldest entry still queued was queued (its key's stamp: key order is queue order); None when the
        outbox is empty. The feed's lag metric."""
        async for key in self._store.keys(keyspace.FEED_OUTBOX, limit=1):
            stamp = key.removeprefix(keyspace.FEED_OUTBOX).rsplit("-", 1)[0]
            return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
        return None

    async def unseen(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        """Drop events already posted or already queued (deterministic ids), and repeats within the list."""
        seen = set((await self.posted()).ids)
        async for _, found in self._store.items(keyspace.FEED_OUTBOX):
            seen.update(OutboxEntry.from_json(found.value).ids)
        out: list[FeedEvent] = []
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                out.append(event)
        return out

    async def queue(self, events: Sequence[FeedEvent], now: datetime, *, digest: bool) -> None:
        """Queue `events`: one entry each, or one digest entry. Each entry is created with one write (only where no
        key is); a crash half-way leaves some queued, and the next cycle queues the rest (`unseen`), after them."""
        entries = [OutboxEntry(tuple(events), digest=True)] if digest else [OutboxEntry((e,)) for e in events]
        stamp, slot = _stamp(now), 0
        for entry in entries:
            slot = await self._create(stamp, slot, entry) + 1

    async def _create(self, stamp: str, slot: int, entry: OutboxEntry) -> int:
        """Create `entry` in the first free slot of `stamp` from `slot` on; the slot. A slot is taken when the clock
        stood still since an earlier cycle queued under the same stamp: the new entry goes after it."""
        for n in range(slot, slot + MAX_SLOTS):
            try:
                await self._store.put_if(keyspace.feed_outbox(stamp, n), entry.to_json(), None)
            except Conflict:
                continue
            return n
        raise Conflict(keyspace.feed_outbox(stamp, slot))

    async def post(self, channel: FeedChannel, names: Names, keep_lease: Callable[[], Awaitable[bool]]) -> int:
        """Post every queued entry in order, while the lease is held; how many posts were made."""
        posted = 0
        async for key in self._store.keys(keyspace.FEED_OUTBOX):
            if not await keep_lease():
                log.warning("feed lease lost while posting; the new holder continues")
                break
            found = await self._store.get(key)
            if found is None:
                continue
            entry = OutboxEntry.from_json(found.value)
            done = set((await self.posted()).ids)
            if not entry.events or all(i in done for i in entry.ids):
                await self._store.delete(key)
                continue
            try:
                posted += await self._post_entry(channel, key, found, entry, names)
            except Conflict:
                log.warning("feed: outbox entry %s changed under this poster (another poller?); stopping", key)
                break
        return posted

    async def _post_entry(
        self, channel: FeedChannel, key: str, found: Versioned, entry: OutboxEntry, names: Names
    ) -> int:
        style = TimeStyle(channel.time_zone, channel.locale)
        named = await names(entry.events)
        if entry.digest:
            cards = digest_cards(list(entry.events), named, style)
        else:
            cards = [feed_event_card(entry.events[0], named, style)]
        etag = found.etag
        count = 0
        if entry.sending is not None:
            # This entry was being posted when the process stopped: the connector may have accepted that post.
            # Say so rather than double it silently (the one window no local bookkeeping closes).
            log.warning("feed: re-posting %s, which may have been posted before a restart", key)
            await self._send(channel, text=FEED_MAY_REPEAT)
        for card in cards[len(entry.sent) :]:
            entry = replace(entry, sending=self._clock.now())
            etag = await self._store.put_if(key, entry.to_json(), etag)
            try:
                activity_id = await self._send(channel, card=card)
            except ConnectorError:
                # The connector answered with a refusal: nothing was posted, so a retry is no repeat. (A timeout or
                # a dropped connection leaves the mark: that post may have been accepted.)
                await self._store.put_if(key, replace(entry, sending=None).to_json(), etag)
                raise
            self._posts += 1
            count += 1
            self._fault(f"posted:{self._posts}")
            entry = replace(entry, sent=(*entry.sent, activity_id), sending=None)
            if len(entry.sent) < len(cards):
                etag = await self._store.put_if(key, entry.to_json(), etag)
        await self._mark_posted(entry.ids)
        self._fault(f"marked:{self._posts}")
        await self._store.delete(key)
        return count

    async def _mark_posted(self, ids: Sequence[str]) -> None:
        def add(value: Json) -> Json:
            return PostedMarks.from_json(value).with_posted(ids).to_json()

        await self._store.update(keyspace.FEED_POSTED, add, create=PostedMarks().to_json())

    async def _send(
        self, channel: FeedChannel, *, card: Mapping[str, Any] | None = None, text: str | None = None
    ) -> str:
        """A new post (thread) in the channel; its activity id. A refusal raises ConnectorError."""
        post = await self._proactive.post_to_channel(
            channel.channel_id, channel.tenant_id, channel.service_url, channel.bot, card=card, text=text
        )
        return post.activity_id
