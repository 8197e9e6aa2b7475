"""The admin feed's desk: the cycle, and what the `feed here|off|status` commands do.

One cycle (`FeedDesk.cycle`), run by one process at a time:

1. take or renew the lease (bot.feed.lease, the store's lease primitive); without it, do nothing;
2. read PIM's audit log from its watermark (bot.feed.watermark), and the last snapshot (`feed/snapshot`), and let
   the reader poll Graph against it;
3. settle the approval outcomes the desk and the log told (bot.feed.outcomes), and queue what is new;
4. post the outbox in order (bot.feed.outbox).

Step 3 writes several keys, one conditional write each, in an order that makes a crash between any two of them safe
on a store without transactions (Azure Blob Storage has none; SQLite would offer one, which the cycle does not use):
the events are queued first, then the snapshot moves (conditional on the etag it was read under: a poller that lost
the lease meanwhile writes no snapshot), then the audit watermark, then the witnesses' accounts. A crash after the
queueing and before the rest polls against the old snapshot and watermark again: the same changes and outcomes come
out under the same ids (core.feed's ids are deterministic), and `Outbox.unseen` drops those already queued or posted.
The other order would lose events: a snapshot moved past changes that were never queued. A poller that lost the lease
and queued before its snapshot write failed at worst queues events twice; the outbox posts an event once
(bot.feed.outbox), so the one possible repeat stays the labelled one of step 4.

More than `digest_threshold` events from one cycle go out as digest card(s) instead of one card each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.conversations import ConversationRecord
from bot.feed.lease import PollerLease, lease_ttl
from bot.feed.outbox import Outbox
from bot.feed.outcomes import Outcomes, SettledApproval
from bot.feed.store import FeedChannel, FeedHealth, FeedSnapshot
from bot.feed.watermark import AuditWatermark, PimAuditLog
from bot.liveness import new_owner
from bot.observe import metrics
from bot.store import ANY, Conflict, Json, Store
from bot.store import keys as keyspace
from bot.transport import ProactiveAdapter
from cards.feed import FeedStatusView, feed_status_card
from cards.times import Tz
from cards.wording import (
    FEED_IS_OFF,
    FEED_POLL_FAILED,
    FEED_POST_FAILED,
    FEED_WAITING_FOR_SERVICE_URL,
    feed_groups_unknown,
)
from core.feed import FeedEvent, GroupState, UnknownFeedGroups
from core.models import Group
from core.ports import Clock

__all__ = ["FeedDesk", "FeedSettings", "FeedSource"]

log = logging.getLogger(__name__)

GROUPS_TTL = 3600.0  # FEED_GROUPS names are resolved again after this many seconds
CONFIGURED_LOOKUPS = 20  # stored conversations looked at for the service URL FEED_CHANNEL needs

Names = Callable[[Sequence[str]], Awaitable[dict[str, str]]]
Fault = Callable[[str], None]


class FeedSource(PimAuditLog, Protocol):
    """What the Graph feed reader offers (graph.feed.FeedReader, wired in app.py): the groups' schedules, FEED_GROUPS
    resolved, and PIM's audit log."""

    async def poll(
        self, group_ids: Sequence[str], previous: Mapping[str, GroupState], now: datetime
    ) -> tuple[dict[str, GroupState], list[FeedEvent]]: ...

    async def resolve_groups(self, names_or_ids: Sequence[str]) -> list[Group]: ...


@dataclass(frozen=True)
class FeedSettings:
    """The feed's settings (FEED_*). `channel`: FEED_CHANNEL, the channel id posted to until `feed here` says
    otherwise; `discover`: FEED_DISCOVER, groups are also found in PIM's audit log; `lease_seconds`: the poller's
    lease (bot.feed.lease.lease_ttl of the poll interval by default)."""

    groups: tuple[str, ...] = ()
    channel: str = ""
    discover: bool = False
    digest_threshold: int = 10
    poll_seconds: float = 60.0
    lease_seconds: float | None = None


class FeedDesk:
    def __init__(
        self,
        store: Store,
        proactive: ProactiveAdapter,
        reader: FeedSource | None,
        clock: Clock,
        names: Names,
        settings: FeedSettings = FeedSettings(),
        *,
        owner: str | None = None,
        fault: Fault | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._reader = reader
        self._clock = clock
        self._names = names
        self.settings = settings
        self._wall = wall
        ttl = timedelta(seconds=settings.lease_seconds) if settings.lease_seconds else lease_ttl(settings.poll_seconds)
        # host:pid:random, so an operator (and the two-process test) can tell which process polls
        self._lease = PollerLease(store, owner or new_owner(), ttl, wall=wall)
        self._audit = AuditWatermark(store, reader, clock, names, discover=settings.discover, wall=wall)
        self._outcomes = Outcomes(store, clock)
        self._fault = fault or (lambda point: None)
        self._outbox = Outbox(store, proactive, clock, self._fault)
        self._resolved: list[Group] | None = None
        self._resolved_at = 0.0
        self._monitored: list[Group] = []  # what the last cycle polled
        self._lock = asyncio.Lock()
        self.wake = asyncio.Event()  # set when something was queued: the loop posts it without waiting
        self._chores: list[Callable[[], Awaitable[None]]] = []

    @property
    def owner(self) -> str:
        return self._lease.owner

    @property
    def poll_seconds(self) -> float:
        return self.settings.poll_seconds

    # ---- the channel (`feed here`, `feed off`) -------------------------------------------------------------------

    async def channel(self) -> FeedChannel | None:
        """THE feed channel: the one set in Teams (`feed here`, or switched off with `feed off`), else FEED_CHANNEL."""
        found = await self._store.get(keyspace.FEED_CHANNEL)
        if found is None:
            return await self._configured() if self.settings.channel else None
        return FeedChannel.from_json(found.value)

    async def _configured(self) -> FeedChannel | None:
        """FEED_CHANNEL as a channel to post in. A proactive post needs the Bot Connector's service URL for the
        tenant, which only Teams tells the bot: it is taken from any conversation the bot has stored (the bot's
        installation in the team, or anyone's first message). Until then, None (and the status says so)."""
        async for _, found in self._store.items(keyspace.CONVERSATION_REFS, limit=CONFIGURED_LOOKUPS):
            reference = ConversationRecord.from_json(found.value).reference
            if reference.get("serviceUrl"):
                tenant_id = reference.get("tenantId")
                channel_id = self.settings.channel
                conversation = {"id": channel_id, "isGroup": True, "conversationType": "channel", "tenantId": tenant_id}
                return FeedChannel(
                    reference={
                        "serviceUrl": reference["serviceUrl"],
                        "channelId": reference.get("channelId") or "msteams",
                        "bot": reference.get("bot"),
                        "tenantId": tenant_id,
                        "conversation": conversation,
                    },
                    channel_id=channel_id,
                )
        log.info("FEED_CHANNEL is set, but no conversation has told the bot its service URL yet; waiting")
        return None

    async def set_channel(self, channel: FeedChannel) -> FeedChannel | None:
        """Make `channel` THE feed channel; the one it replaces (if it was on and is another channel). Starting the
        feed (it was off, or on FEED_CHANNEL) begins a new epoch: the first cycle takes a fresh baseline instead of
        announcing what changed while off, and reads the audit log from now on (bot.feed.store). One write."""
        old = await self.channel()
        starting = old is None or not old.on or old.channel_id == self.settings.channel
        epoch = uuid.uuid4().hex if starting or old is None else old.epoch
        new = replace(channel, on=True, set_at=self._clock.now(), epoch=epoch)
        await self._store.put_if(keyspace.FEED_CHANNEL, new.to_json(), ANY)
        self.wake.set()
        if old is not None and old.on and old.channel_id != channel.channel_id:
            return old
        return None

    async def switch_off(self) -> FeedChannel | None:
        """Stop posting; the channel that was on, or None if the feed was off already. (Off FEED_CHANNEL is stored
        too: the stored "off" wins over the setting from now on.)"""
        old = await self.channel()
        if old is None or not old.on:
            return None

        def off(value: Json) -> Json:
            return replace(FeedChannel.from_json(value) if value else old, on=False).to_json()

        await self._store.update(keyspace.FEED_CHANNEL, off, create={})
        return old

    # ---- the monitored groups --------------------------------------------------------------------------------------

    @property
    def discovering(self) -> bool:
        """FEED_DISCOVER: groups are also found in the PIM audit log."""
        return self._audit.discovering

    async def monitored(self) -> list[Group]:
        """The monitored groups: FEED_GROUPS resolved (again after an hour), then the groups discovery has found
        (as stored: this does not read the audit log, the cycle does)."""
        if self._reader is None:
            return []
        if self._resolved is None or self._wall() - self._resolved_at >= GROUPS_TTL:
            self._resolved = list(await self._reader.resolve_groups(list(self.settings.groups)))
            self._resolved_at = self._wall()
        groups = list(self._resolved)
        if self.discovering:
            known = {g.id.casefold() for g in groups}
            found = (await self._audit.discovered()).groups
            groups += [Group(i, n) for i, n in found.items() if i.casefold() not in known]
        return groups

    # ---- `feed status` ---------------------------------------------------------------------------------------------

    async def status_card(self, tz: Tz) -> Json | str:
        """The `feed status` answer: the status card, or a text when the feed is not on."""
        channel = await self.channel()
        if channel is None:
            return FEED_WAITING_FOR_SERVICE_URL if self.settings.channel else FEED_IS_OFF
        if not channel.on:
            return FEED_IS_OFF
        health = await self._health_now()
        view = FeedStatusView(
            channel_name=channel.label,
            group_names=health.groups,
            poll_interval=timedelta(seconds=self.poll_seconds),
            now=self._clock.now(),
            last_success=health.last_success,
            last_error=health.last_error or None,
            last_error_at=health.last_error_at,
            events_posted=(await self._outbox.posted()).total,
            discovering=self.discovering,
            discovered=len((await self._audit.discovered()).groups) if self.discovering else 0,
            discovery_problem=(health.audit_problem or None) if self._audit.reads else None,
        )
        return feed_status_card(view, tz)

    # ---- approval outcomes (bot.approvals) --------------------------------------------------------------------------

    async def tell(self, settled: SettledApproval) -> None:
        """bot.approvals.settle calls this when it records a request decided or closed: the desk's account of the
        outcome, for the next cycle, which is woken for it (bot.feed.outcomes says when it is posted: once, as the
        desk or as the audit log tells it)."""
        channel = await self.channel()
        if channel is None or not channel.on:
            return
        if await self._outcomes.told(settled):
            self.wake.set()

    async def tell_evaluation(self, event: FeedEvent) -> bool:
        """bot.extension calls this once per PIM request it decided (the call that stored the decision): queued for
        the next post, which is woken for it. Its id is the request's (core.feed.extension_event_id), so it is
        posted once however often it is told. False when the feed is off or had it already."""
        channel = await self.channel()
        if channel is None or not channel.on:
            return False
        fresh = await self._outbox.unseen([event])
        if not fresh:
            return False
        await self._outbox.queue(fresh, self._clock.now(), digest=False)
        self.wake.set()
        return True

    # ---- the lease and the loop --------------------------------------------------------------------------------------

    @property
    def lease_held(self) -> bool:
        """Whether this process holds the feed's lease (polls and posts) now; the others stand by."""
        return self._lease.held

    async def release_lease(self) -> None:
        """On a clean shutdown: another process may take over at once instead of after the lease's TTL."""
        await self._lease.release()

    async def run(self) -> None:
        """The feed's loop (app.py): one cycle at start (a restart replays what a killed process left queued), then
        every FEED_POLL_SECONDS, or sooner when something was queued (an approval decided). The lease is renewed
        beside it, also while a long cycle runs."""
        renewing = asyncio.create_task(self._renew_lease())
        try:
            while True:
                self.wake.clear()
                try:
                    await self.cycle()
                except Exception:  # a failed cycle is retried at the next interval; what it stored stays consistent
                    log.exception("the admin feed cycle failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_seconds)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew_lease(self) -> None:
        """Every third of the lease's TTL, renew it if held (bot.feed.lease: when half of it is used up)."""
        while True:
            await asyncio.sleep(self._lease.ttl.total_seconds() / 3)
            if self._lease.held:
                try:
                    await self._lease.keep()
                except Exception:  # the next try, or the next cycle, renews it
                    log.warning("could not renew the feed lease", exc_info=True)

    # ---- one cycle ---------------------------------------------------------------------------------------------------

    def also_under_lease(self, chore: Callable[[], Awaitable[None]]) -> None:
        """Run `chore` at the start of every cycle that holds the lease, feed on or off: upkeep of other parts that
        must run in one process at a time (bot.extension.upkeep: feed events a killed process left untold, pruning).
        Given after the desk is built, since those parts tell the desk."""
        self._chores.append(chore)

    async def cycle(self) -> int:
        """Poll once and post what is queued. How many posts were made (0 without the lease or a channel)."""
        async with self._lock:
            held = await self._lease.hold()
            metrics.FEED_LEASE_HELD.set(1 if held else 0)
            if not held:
                metrics.feed_lag_from(None)  # the holder reports the lag; a standby must not repeat an old one
                return 0
            for chore in self._chores:
                try:
                    await chore()
                except Exception:  # another part's upkeep: retried next cycle, never the feed's failure
                    log.exception("upkeep under the feed's lease failed")
            channel = await self.channel()
            if channel is None or not channel.on:
                metrics.feed_lag_from(None)
                return 0
            started = time.perf_counter()
            outcome = "failed"
            try:
                posted = await self._poll_and_post(channel)
                outcome = "ok"
                metrics.FEED_LAST_SUCCESS.set(time.time())
                return posted
            finally:
                metrics.FEED_CYCLE_SECONDS.labels(outcome).observe(time.perf_counter() - started)
                with contextlib.suppress(Exception):  # the lag is a courtesy: never fail a cycle for it
                    metrics.feed_lag_from(await self._outbox.oldest(), self._clock.now())

    async def _poll_and_post(self, channel: FeedChannel) -> int:
        """The cycle's work once the lease is held and the feed is on."""
        try:
            await self._poll(channel)
        except UnknownFeedGroups as e:
            await self._failed(feed_groups_unknown(e.missing, list(e.ambiguous)))
            raise
        except Exception:
            await self._failed(FEED_POLL_FAILED)
            raise
        try:
            posted = await self._outbox.post(channel, self._names_for, self._lease.keep)
        except Exception:
            await self._failed(FEED_POST_FAILED)
            raise
        await self._health(last_success=self._clock.now(), last_error="", last_error_at=None)
        return posted

    async def _poll(self, channel: FeedChannel) -> None:
        """Steps 2 and 3 of the cycle (module doc: the order of the writes is what makes a crash safe)."""
        reading = await self._audit.read(channel.epoch)
        if reading.problem is not None:
            await self._health(audit_problem=reading.problem)
        if not await self._lease.keep():  # a long first read of a busy audit log can outlast the lease
            log.warning("feed lease lost while reading the PIM audit log; the new holder polls")
            return
        now = self._clock.now()
        events: list[FeedEvent] = []
        snapshot: FeedSnapshot | None = None
        found = await self._store.get(keyspace.FEED_SNAPSHOT)
        if self._reader is not None:
            groups = self._monitored = await self.monitored()
            previous = FeedSnapshot.from_json(found.value) if found is not None else FeedSnapshot()
            if previous.epoch != channel.epoch:  # `feed here` started the feed again: a fresh baseline
                previous = FeedSnapshot(epoch=channel.epoch)
            # A group read for the first time is the reader's baseline (no events): what exists already is not news.
            current, events = await self._reader.poll([g.id for g in groups], previous.groups, now)
            snapshot = FeedSnapshot(current, channel.epoch)
        mark = reading.mark or await self._audit.mark(channel.epoch)
        settled = await self._outcomes.settle(
            reading.decisions,
            now=now,
            floor=mark.floor,
            watched={g.id.casefold() for g in self._monitored},
            log_tells=lambda decision: self._audit.tells(mark, decision),
        )
        fresh = await self._outbox.unseen([*events, *settled.events])
        # The writes of step 3, one at a time, in this order (module doc); the fault hook may stop the cycle after
        # each (the crash tests).
        step = self._fault if fresh else (lambda point: None)
        await self._outbox.queue(fresh, now, digest=len(fresh) > self.settings.digest_threshold)
        step("queued:outbox")
        if snapshot is not None:
            try:
                etag = found.etag if found is not None else None
                await self._store.put_if(keyspace.FEED_SNAPSHOT, snapshot.to_json(), etag)
            except Conflict:
                log.warning("the feed snapshot changed under this cycle (another poller?); it stops here")
                return
        step("queued:snapshot")
        if reading.mark is not None:
            await self._audit.save(reading.mark)  # the watermark moves only once the outcomes it read are queued
        step("queued:watermark")
        await self._outcomes.save(settled)
        if fresh:
            log.info("feed: %d event(s) queued", len(fresh))
        step("queued")

    async def _names_for(self, events: Sequence[FeedEvent]) -> dict[str, str]:
        ids = sorted({i for e in events for i in (e.principal_id, e.group_id, e.by) if i})
        names = {g.id: g.display_name for g in self._monitored}
        missing = [i for i in ids if i not in names]
        if missing:
            names.update(await self._names(missing))
        return names

    # ---- health (`feed status`) --------------------------------------------------------------------------------------

    async def _health_now(self) -> FeedHealth:
        found = await self._store.get(keyspace.FEED_HEALTH)
        return FeedHealth.from_json(found.value) if found is not None else FeedHealth()

    async def _failed(self, why: str) -> None:
        await self._health(last_error=why, last_error_at=self._clock.now())

    async def _health(self, **changes: Any) -> None:
        """What `feed status` shows, kept in the store (any process answers it); `changes`: FeedHealth fields."""
        groups = tuple(g.display_name for g in self._monitored)

        def changed(value: Json) -> Json:
            health = FeedHealth.from_json(value) if value else FeedHealth()
            return replace(health, groups=groups, **changes).to_json()

        try:
            await self._store.update(keyspace.FEED_HEALTH, changed, create={})
        except Exception:  # the status is a courtesy: never fail a cycle for it
            log.warning("could not store the feed's health", exc_info=True)
