"""The admin feed's poster (issue 5): Graph changes become channel posts, exactly once, durably.

One cycle (`FeedDesk.cycle`), run by one process at a time:

1. take or renew the lease (`feed/lease`: owner `host:pid:random` + expiry, ETag compare-and-swap); without it, do
   nothing. An expired lease is free; so is one whose holder ran on this host and whose process is gone (a restart
   after kill -9 need not wait for the expiry);
2. read the last snapshot (`feed/snapshot`), let the reader poll Graph against it;
3. write the new snapshot AND the new events as outbox entries (`feed/outbox/{stamp}`) in ONE storage write (one
   SQLite transaction), conditional on the snapshot's ETag: a process that lost the lease meanwhile writes nothing;
4. post the outbox in order. Before each post the entry is marked "sending"; right after the Bot Connector accepts
   it, the entry is marked posted (with the activity id) together with the bounded posted-ids set (`feed/posted`),
   in one write; then the entry is deleted.

After a kill -9 anywhere, the next cycle (this process restarted, or another one once the lease expired) replays
the outbox: no event is lost. None is posted twice, with one exception no local bookkeeping can close: a post the
connector accepted whose "posted" mark was not written yet (the process died within that one HTTP response). Such
an entry still carries its "sending" mark, so its replay is labelled as possibly repeated instead of silently
doubled (a shutdown that cancels a post in flight, or a timeout without an answer, leaves the same mark; a refusal
the connector answered clears it: nothing was posted). Event ids are deterministic (core.feed), so an event
computed again after a restart, or by a second process, whose id is in the posted set or already queued is never
queued again.

The PIM audit log (graph.feed, AuditLog.Read.All) is read every cycle, incrementally from a watermark stored in
`feed/audit` with the snapshot and the outbox (one write), normally one request (two at the first read and every
30 minutes, graph.feed; the audit API allows 5 per 10 s per app); after a throttled read, again after its
Retry-After (never waited for inside the cycle); after another failed read, again in 5 minutes. It brings:
* approval outcomes (approved, denied, expired) of requests made anywhere, with the approver, for the monitored
  groups: APPROVAL_DECIDED events. The first read is a baseline (older outcomes are not news);
* discovery (FEED_DISCOVER): the monitored groups are FEED_GROUPS plus the PIM groups the log names, stored
  (`feed/discovered`), so a group is not forgotten when its activity leaves the log's 30 days. A group with no PIM
  activity in the last 30 days is not found until it has some. A group found later starts with a baseline (the
  reader's first read of a group has no events): its existing assignments are not announced.

The approval desk (bot.approvals) also reports outcomes, through `approval_settled`, as accounts stored under
`feed/outcome/desk/` that the next cycle (woken for them) settles with the log's (`core.witnesses.settle`, accounts
kept a day under `feed/outcome/`): each outcome is posted once, whichever witness tells it first, also when the log's
entry named its request by another id (paired by group, person, decision and time). A decision made in Teams names its
approver and is posted as the desk tells it. Others (decided in the portal, expired) wait for the log's account, which
names the approver, while the log is readable and has already shown that kind of outcome in a shape the reader knows
(`_log_tells`; the reference documents no entry format), and at most AUDIT_WAIT: an entry the reader cannot place
costs the approver's name, never the post. When the log refuses (403: no AuditLog.Read.All), `feed/audit` says so and
the desk's outcomes are all posted as they come (approver named only for decisions made in Teams; portal requests that
were denied or expired are not seen), and `feed status` says so.

More than `digest_threshold` events from one cycle go out as digest card(s) instead of one card each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from botbuilder.core import CardFactory, MessageFactory, Storage, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters

from bot.liveness import gone_here, new_owner, register_owner
from bot.storage import StorageConflict
from bot.transport.connector import ConnectorError
from bot.transport.wire import SentCard
from cards.feed import FeedStatusView, digest_cards, feed_event_card, feed_status_card
from cards.times import Tz
from cards.wording import (
    FEED_AUDIT_DENIED,
    FEED_AUDIT_FAILED,
    FEED_DISCOVERY_DENIED,
    FEED_DISCOVERY_FAILED,
    FEED_IS_OFF,
    FEED_MAY_REPEAT,
    FEED_POLL_FAILED,
    FEED_POST_FAILED,
    FEED_WAITING_FOR_SERVICE_URL,
    feed_groups_unknown,
)
from core.errors import PermissionDenied, Throttled
from core.feed import (
    AuditRead,
    EndReason,
    EventKind,
    FeedEvent,
    GroupState,
    LoggedDecision,
    ScheduleItem,
    ScheduleKind,
    UnknownFeedGroups,
    approval_event_id,
)
from core.models import Access, Group, Ticket, TimeStyle
from core.ports import Clock
from core.witnesses import Account, settle

__all__ = ["FeedChannel", "FeedDesk", "FeedSource", "PimAuditLog", "channel_of_reference"]

log = logging.getLogger(__name__)

LEASE = "feed/lease"
HEALTH = "feed/health"
SNAPSHOT = "feed/snapshot"
POSTED = "feed/posted"
CHANNEL = "feed/channel"
OUTBOX = "feed/outbox/"
POSTED_KEEP = 5000  # ids remembered after posting (far more than one cycle can produce twice)
GROUPS_TTL = 3600.0  # FEED_GROUPS names are resolved again after this many seconds
DISCOVERED = "feed/discovered"
AUDIT = "feed/audit"  # the PIM audit log's watermark, and whether the last read was allowed
AUDIT_RETRY_SECONDS = 300.0  # the PIM audit log is read every cycle, or again this many seconds after a failed read
AUDIT_THROTTLE_SECONDS = 10.0  # after a 429 without Retry-After (the audit API's window is 10 s)
OUTCOMES = "feed/outcome/"  # approval outcomes as each witness told them (core.witnesses): desk/{id}, log/{id}
AUDIT_WAIT = timedelta(minutes=15)  # how long an outcome the desk saw without its approver waits for the log's
OUTCOMES_KEPT = timedelta(days=1)  # an outcome said this long ago can no longer come back from either witness


class FeedSource(Protocol):
    """What the Graph feed reader offers (graph/, wired in app.py)."""

    async def poll(
        self, group_ids: Sequence[str], previous: Mapping[str, GroupState], now: datetime
    ) -> tuple[dict[str, GroupState], list[FeedEvent]]: ...

    async def resolve_groups(self, names_or_ids: Sequence[str]) -> list[Group]: ...


class PimAuditLog(Protocol):
    """PIM's audit log, read incrementally (graph.feed.FeedReader.read_pim_audit): groups and approval outcomes."""

    async def read_pim_audit(self, since: datetime | None) -> AuditRead: ...


Names = Callable[[Sequence[str]], Awaitable[dict[str, str]]]
Fault = Callable[[str], None]


@dataclass(frozen=True)
class FeedChannel:
    """THE feed channel: where posts go, set by `feed here` or FEED_CHANNEL."""

    reference: dict[str, Any]
    channel_id: str
    name: str = ""
    time_zone: str | None = None
    locale: str | None = None  # with the zone: of the admin who set the channel (the feed is written their way)
    set_by: str = ""
    on: bool = True

    @property
    def label(self) -> str:
        return self.name or self.channel_id


def channel_of_reference(reference: Mapping[str, Any]) -> dict[str, Any]:
    """The channel's own reference from a reference to a message thread in it: posting to `19:…@thread.tacv2`
    starts a new post; `…;messageid=…` would reply in the thread the command was typed in."""
    ref = {k: v for k, v in reference.items() if k != "activityId"}
    conversation = dict(ref.get("conversation") or {})
    conversation["id"] = str(conversation.get("id") or "").split(";", 1)[0]
    ref["conversation"] = conversation
    return ref


class FeedDesk:
    def __init__(
        self,
        storage: Storage,
        reader: FeedSource | None,
        clock: Clock,
        names: Names,
        *,
        app_id: str = "",
        groups: Sequence[str] = (),
        digest_threshold: int = 10,
        poll_seconds: float = 60.0,
        lease_seconds: float | None = None,
        owner: str | None = None,
        fault: Fault | None = None,
        wall: Callable[[], float] = time.time,
        configured_channel: str = "",
        discovery: PimAuditLog | None = None,
        audit: PimAuditLog | None = None,
    ) -> None:
        self._storage = storage
        self._reader = reader
        self._clock = clock
        self._names = names
        self._app_id = app_id
        self._group_names = tuple(groups)
        self._threshold = digest_threshold
        self.poll_seconds = poll_seconds
        # The lease outlives a few missed cycles, so a slow Graph does not hand polling back and forth.
        self._lease_seconds = lease_seconds if lease_seconds is not None else max(3 * poll_seconds, 15.0)
        # host:pid:random, so an operator (and the two-process test) can tell which process polls
        self.owner = owner or new_owner()
        register_owner(self.owner)
        self._fault = fault or (lambda point: None)
        self._wall = wall
        self._lease_until = 0.0
        self._configured_channel = configured_channel
        self._resolved: list[Group] | None = None
        self._resolved_at = 0.0
        self._discovery = discovery
        self._audit = audit or discovery
        self._audit_due: float | None = None  # after a failed read: wall time of the next one (None: every cycle)
        self._monitored: list[Group] = []  # what the last cycle polled
        self._posted_total = 0  # ids in the posted set after the last mark (the status shows it)
        self._posts = 0  # posts accepted by the connector in this process (the fault hook counts them)
        self._lock = asyncio.Lock()
        self.wake = asyncio.Event()  # set when something was queued: the loop posts it without waiting

    # ---- the channel -----------------------------------------------------------------------------------------

    async def channel(self) -> FeedChannel | None:
        """THE feed channel: the one set in Teams (`feed here`, or switched off with `feed off`), else FEED_CHANNEL."""
        item = (await self._storage.read([CHANNEL])).get(CHANNEL)
        if not item or not item.get("reference"):
            return await self._configured() if self._configured_channel else None
        return FeedChannel(
            reference=dict(item["reference"]),
            channel_id=str(item.get("channelId") or ""),
            name=str(item.get("name") or ""),
            time_zone=item.get("timeZone"),
            locale=item.get("locale"),
            set_by=str(item.get("setBy") or ""),
            on=bool(item.get("on", True)),
        )

    async def _configured(self) -> FeedChannel | None:
        """FEED_CHANNEL as a channel to post in. A proactive post needs the Bot Connector's service URL for the
        tenant, which only Teams tells the bot: it is taken from any conversation the bot has stored (the bot's
        installation in the team, or anyone's first message). Until then, None (and the status says so)."""
        keys: list[str] = await self._storage.keys_with_prefix("ref/conversation/")
        for key in keys[:20]:
            reference = ((await self._storage.read([key])).get(key) or {}).get("reference") or {}
            if reference.get("serviceUrl"):
                channel_id = self._configured_channel
                return FeedChannel(
                    reference={
                        "serviceUrl": reference["serviceUrl"],
                        "channelId": reference.get("channelId") or "msteams",
                        "bot": reference.get("bot"),
                        "tenantId": reference.get("tenantId"),
                        "conversation": {
                            "id": channel_id,
                            "isGroup": True,
                            "conversationType": "channel",
                            "tenantId": reference.get("tenantId"),
                        },
                    },
                    channel_id=channel_id,
                )
        log.info("FEED_CHANNEL is set, but no conversation has told the bot its service URL yet; waiting")
        return None

    async def set_channel(self, channel: FeedChannel) -> FeedChannel | None:
        """Make `channel` THE feed channel; the one it replaces (if it was on and is another channel)."""
        old = await self.channel()
        changes: dict[str, Any] = {
            CHANNEL: {
                "reference": channel.reference,
                "channelId": channel.channel_id,
                "name": channel.name,
                "timeZone": channel.time_zone,
                "locale": channel.locale,
                "setBy": channel.set_by,
                "setAt": self._clock.now().isoformat(),
                "on": True,
            }
        }
        if old is None or not old.on or old.channel_id == self._configured_channel:
            # Starting (again): the first cycle takes a fresh baseline instead of announcing what changed while off.
            changes[SNAPSHOT] = {"groups": {}, "baseline": True}
            changes[AUDIT] = {}  # and reads the audit log from now on: its older outcomes are not news either
        await self._storage.write(changes)
        self.wake.set()
        if old is not None and old.on and old.channel_id != channel.channel_id:
            return old
        return None

    async def switch_off(self) -> FeedChannel | None:
        """Stop posting; the channel that was on, or None if the feed was off already."""
        old = await self.channel()
        if old is None or not old.on:
            return None
        item = (await self._storage.read([CHANNEL])).get(CHANNEL) or {
            "reference": old.reference,
            "channelId": old.channel_id,
            "name": old.name,
        }  # FEED_CHANNEL: the stored "off" wins over the setting from now on
        item["on"] = False
        await self._storage.write({CHANNEL: item})
        return old

    @property
    def discovering(self) -> bool:
        """FEED_DISCOVER: groups are also found in the PIM audit log."""
        return self._discovery is not None

    async def monitored(self) -> list[Group]:
        """The monitored groups: FEED_GROUPS resolved (again after an hour), then the groups discovery has found
        (as stored: this does not read the audit log, `_discover` does, from the cycle)."""
        if self._reader is None:
            return []
        if self._resolved is None or self._wall() - self._resolved_at >= GROUPS_TTL:
            self._resolved = list(await self._reader.resolve_groups(list(self._group_names)))
            self._resolved_at = self._wall()
        groups = list(self._resolved)
        if self._discovery is not None:
            known = {g.id.casefold() for g in groups}
            groups += [g for g in await self._discovered() if g.id.casefold() not in known]
        return groups

    async def _discovered(self) -> list[Group]:
        item = (await self._storage.read([DISCOVERED])).get(DISCOVERED) or {}
        return [Group(str(i), str(n)) for i, n in (item.get("groups") or {}).items()]

    async def _read_audit(self) -> tuple[list[LoggedDecision], dict[str, Any]]:
        """Read PIM's audit log from the stored watermark (every cycle; after a throttled read, again after its
        Retry-After, never waited for inside the cycle; after another failure, again in 5 minutes):
        with FEED_DISCOVER, add the groups it names to `feed/discovered`; return the approval outcomes it records
        and the new `feed/audit` item, which the caller stores with the snapshot and the outbox, in one write.

        The first read (no watermark yet: a new feed, or `feed here` again) is a baseline: it sets the watermark
        and the instant outcomes are news from (`from`: now), as a group's first poll announces nothing; older
        outcomes are not posted on their own, also when a later read re-reads them in its overlap. A failed read
        never fails the cycle: a refusal (403: no AuditLog.Read.All) is stored as `readable: false`, so the
        outcomes the approval desk reports are all posted as they come (`_settle`), and `feed status` says so."""
        if self._audit is None or (self._audit_due is not None and self._wall() < self._audit_due):
            return [], {}
        item = (await self._storage.read([AUDIT])).get(AUDIT) or {}
        item.pop("e_tag", None)
        found = (await self._storage.read([DISCOVERED])).get(DISCOVERED) or {}
        stored = {str(i): str(n) for i, n in (found.get("groups") or {}).items()}
        baseline = not item.get("watermark")
        if not baseline:
            since = _parse(item["watermark"])
        elif self._discovery is not None:
            since = _parse(found.get("watermark"))  # None: all 30 days, to find every group
        else:
            since = self._clock.now()  # the reader re-reads AUDIT_OVERLAP before it
        try:
            read = await self._audit.read_pim_audit(since)
        except Exception as e:  # DirectoryError kinds (no AuditLog.Read.All, throttled, Graph down): logged, retried
            if isinstance(e, Throttled):  # the audit API's 5 requests / 10 s: read again after its Retry-After
                wait = e.retry_after if e.retry_after is not None and e.retry_after > 0 else AUDIT_THROTTLE_SECONDS
                log.info("feed: the PIM audit log is throttled; reading it again in %.0fs", wait)
                self._audit_due = self._wall() + min(wait, AUDIT_RETRY_SECONDS)
                return [], {}
            log.warning("feed: could not read the PIM audit log; trying again in 5 minutes", exc_info=True)
            self._audit_due = self._wall() + AUDIT_RETRY_SECONDS
            denied = isinstance(e, PermissionDenied)
            if denied and item.get("readable", True):
                await self._storage.write({AUDIT: {**item, "readable": False}})
            if self._discovery is not None:
                problem = FEED_DISCOVERY_DENIED if denied else FEED_DISCOVERY_FAILED
            else:
                problem = FEED_AUDIT_DENIED if denied else FEED_AUDIT_FAILED
            await self._health(discoveryError=problem)
            return [], {}
        self._audit_due = None
        floor = self._clock.now() if baseline else _parse(item.get("from"))
        if self._discovery is not None:
            known = {i.casefold() for i in stored}
            new = [i for i in read.groups if i.casefold() not in known]
            names = await self._names(new) if new else {}
            stored.update({i: names.get(i) or i for i in new})
            await self._storage.write({DISCOVERED: {"groups": stored, "watermark": _time(read.watermark)}})
            if new:
                log.info("feed: %d PIM group(s) discovered in the audit log (%d in all)", len(new), len(stored))
        await self._health(discoveryError="")
        watermark = read.watermark or since or self._clock.now()
        # The outcome kinds this tenant's log has shown in a shape we read (see _log_tells).
        shown = {str(d.event.decision) for d in read.decisions}
        confirmed = sorted({str(k) for k in item.get("confirmed") or ()} | shown)
        return list(read.decisions), {
            "watermark": _time(watermark),
            "from": _time(floor),
            "readable": True,
            "confirmed": confirmed,
        }

    def _log_tells(self, audit: Mapping[str, Any], decision: str | None) -> bool:
        """PIM's audit log will tell outcomes of this kind, with the approver: the last read succeeded AND the log
        has already shown an outcome of this kind in a shape the reader understands. Until then the desk's outcomes
        of that kind are posted as they come: an entry format the reader does not know (the reference documents
        none) must cost the approver's name, never the post."""
        if decision is None or self._audit is None:
            return False
        readable = bool(audit.get("watermark")) and bool(audit.get("readable"))  # the last read succeeded
        return readable and decision in {str(k) for k in audit.get("confirmed") or ()}

    async def status_card(self, tz: Tz) -> dict[str, Any] | str:
        """The `feed status` answer: the status card, or a text when the feed is not on."""
        channel = await self.channel()
        if channel is None:
            return FEED_WAITING_FOR_SERVICE_URL if self._configured_channel else FEED_IS_OFF
        if not channel.on:
            return FEED_IS_OFF
        # Written by whichever process polls (the lease holder), so every process answers the same.
        h = (await self._storage.read([HEALTH])).get(HEALTH) or {}
        discovered = len(await self._discovered()) if self._discovery is not None else 0
        problem = h.get("discoveryError") or None if self._audit is not None else None
        view = FeedStatusView(
            channel_name=channel.label,
            group_names=tuple(h.get("groups") or ()),
            poll_interval=timedelta(seconds=self.poll_seconds),
            now=self._clock.now(),
            last_success=_parse(h.get("lastSuccess")),
            last_error=h.get("lastError") or None,
            last_error_at=_parse(h.get("lastErrorAt")),
            events_posted=int(h.get("posted") or 0),
            discovering=self._discovery is not None,
            discovered=discovered,
            discovery_problem=problem,
        )
        return feed_status_card(view, tz)

    async def queued(self) -> int:
        return len(await self._outbox_keys())

    async def lease_holder(self) -> tuple[str, float] | None:
        item = (await self._storage.read([LEASE])).get(LEASE)
        if not item:
            return None
        return str(item.get("owner") or ""), float(item.get("expires") or 0)

    # ---- the lease -------------------------------------------------------------------------------------------

    async def take_lease(self) -> bool:
        """Take the lease if it is free, expired or ours; renew it if ours. Compare-and-swap: of two processes
        racing for a free lease exactly one wins."""
        now = self._wall()
        item = (await self._storage.read([LEASE])).get(LEASE)
        holder = str(item.get("owner") or "") if item else ""
        if item and holder != self.owner and float(item.get("expires") or 0) > now and not gone_here(holder):
            return False
        record = {"owner": self.owner, "expires": now + self._lease_seconds, "e_tag": item["e_tag"] if item else "new"}
        try:
            await self._storage.write({LEASE: record})
        except StorageConflict:
            return False
        if not item or item.get("owner") != self.owner:
            log.info("feed lease taken by %s", self.owner)
        self._lease_until = now + self._lease_seconds
        return True

    async def release_lease(self) -> None:
        """On a clean shutdown: another process may take over at once instead of after the expiry."""
        item = (await self._storage.read([LEASE])).get(LEASE)
        if item and item.get("owner") == self.owner:
            item["expires"] = 0.0
            try:
                await self._storage.write({LEASE: item})
            except StorageConflict:
                pass

    async def _keep_lease(self) -> bool:
        """Renew the lease when half of it is used up (long posting runs); False if it was lost."""
        if self._wall() < self._lease_until - self._lease_seconds / 2:
            return True
        return await self.take_lease()

    # ---- one cycle -------------------------------------------------------------------------------------------

    async def cycle(self, adapter: Any) -> int:
        """Poll once and post what is queued. How many posts were made (0 without the lease or a channel)."""
        async with self._lock:
            if not await self.take_lease():
                return 0
            channel = await self.channel()
            if channel is None or not channel.on:
                return 0
            try:
                await self._poll(channel)
            except UnknownFeedGroups as e:
                await self._failed(feed_groups_unknown(e.missing, list(e.ambiguous)))
                raise
            except Exception:
                await self._failed(FEED_POLL_FAILED)
                raise
            try:
                posted = await self._post_outbox(adapter, channel)
            except Exception:
                await self._failed(FEED_POST_FAILED)
                raise
            await self._health(lastSuccess=self._clock.now().isoformat(), lastError="", lastErrorAt=None)
            return posted

    async def _failed(self, why: str) -> None:
        await self._health(lastError=why, lastErrorAt=self._clock.now().isoformat())

    async def _health(self, **values: Any) -> None:
        """What `feed status` shows, kept in the store (any process answers it)."""
        item = (await self._storage.read([HEALTH])).get(HEALTH) or {}
        item.pop("e_tag", None)
        item.update(values, posted=self._posted_total, groups=[g.display_name for g in self._monitored])
        try:
            await self._storage.write({HEALTH: item})
        except Exception:  # the status is a courtesy: never fail a cycle for it
            log.warning("could not store the feed's health", exc_info=True)

    async def _poll(self, channel: FeedChannel) -> None:
        logged, audit = await self._read_audit()
        if not await self._keep_lease():  # a long first read of a busy audit log can outlast the lease
            log.warning("feed lease lost while reading the PIM audit log; the new holder polls")
            return
        now = self._clock.now()
        events: list[FeedEvent] = []
        changes: dict[str, Any] = {}
        if self._reader is not None:
            groups = self._monitored = await self.monitored()
            item = (await self._storage.read([SNAPSHOT])).get(SNAPSHOT) or {}
            previous = {gid: _state_from_json(s) for gid, s in (item.get("groups") or {}).items()}
            # A group read for the first time is the reader's baseline (no events): what exists already is not news.
            current, events = await self._reader.poll([g.id for g in groups], previous, now)
            changes[SNAPSHOT] = {
                "groups": {gid: _state_to_json(s) for gid, s in current.items()},
                "e_tag": item.get("e_tag") or "new",
            }
        outcomes, accounts, stale = await self._settle(logged, audit, now)
        fresh = await self._unseen(events + outcomes)
        changes.update(accounts)
        if audit:
            changes[AUDIT] = audit  # the watermark moves only with the outcomes it read queued
        stamp = _stamp(now)
        if len(fresh) > self._threshold:
            changes[f"{OUTBOX}{stamp}-00000"] = {"events": [_event_to_json(e) for e in fresh], "digest": True}
        else:
            for i, event in enumerate(fresh):
                changes[f"{OUTBOX}{stamp}-{i:05d}"] = {"events": [_event_to_json(event)], "digest": False}
        try:
            await self._storage.write(changes)  # snapshot, outcomes and outbox together, or none of them
        except StorageConflict:
            log.warning("the feed snapshot changed under this cycle (another poller?); nothing queued")
            return
        if stale:
            await self._storage.delete(stale)
        if fresh:
            log.info("feed: %d event(s) queued", len(fresh))
            self._fault("queued")

    async def _settle(
        self, logged: Sequence[LoggedDecision], audit: Mapping[str, Any], now: datetime
    ) -> tuple[list[FeedEvent], dict[str, Any], list[str]]:
        """The approval outcomes to post now (`core.witnesses.settle`: the desk's and the log's accounts, each
        outcome once), the accounts to store with them (those that changed, with their ETags), and the keys of
        accounts old enough to forget."""
        keys: list[str] = await self._storage.keys_with_prefix(OUTCOMES)
        stored = await self._storage.read(keys) if keys else {}
        known = [_account_from_json(value) for value in stored.values()]
        before = {_account_key(a): _account_to_json(a) for a in known}
        state = audit or (await self._storage.read([AUDIT])).get(AUDIT) or {}
        floor = _parse(state.get("from"))
        watched = {g.id.casefold() for g in self._monitored}

        def news(event: FeedEvent) -> bool:
            late = floor is None or event.observed_at is None or event.observed_at >= floor
            return event.group_id.casefold() in watched and late

        outcomes = settle(known, logged, now=now, waits_for_log=lambda e: self._log_tells(state, e.decision), news=news)
        changes: dict[str, Any] = {}
        stale: list[str] = []
        for account in known:
            key, value = _account_key(account), _account_to_json(account)
            old = (account.event.observed_at or now) < now - OUTCOMES_KEPT
            if old and (account.said or account.source == "log"):  # a desk account is said within AUDIT_WAIT
                stale.append(key)
            elif value != before.get(key):
                changes[key] = {**value, "e_tag": (stored.get(key) or {}).get("e_tag") or "new"}
        return outcomes, changes, [k for k in stale if k in stored]

    async def _unseen(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        """Drop events already posted or already queued (deterministic ids), and repeats within the list."""
        seen = set(await self._posted_ids())
        for entry in (await self._storage.read(await self._outbox_keys())).values():
            seen.update(str(e.get("id")) for e in entry.get("events") or [])
        out: list[FeedEvent] = []
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                out.append(event)
        return out

    async def approval_settled(self, record: Mapping[str, Any]) -> None:
        """bot.approvals calls this when a request record is decided or closed: the desk's account of the outcome,
        an APPROVAL_DECIDED event named by its request (`core.feed.approval_event_id`), for the next cycle, which is
        woken for it.

        The cycle posts it (`_settle`) as the desk tells it when it names the approver (decided in Teams) or when
        PIM's audit log will not tell it; otherwise it waits up to AUDIT_WAIT for the log's account, which names the
        approver, and posts that one instead. Either way once."""
        event = approval_event(record)
        if event is None:
            return
        channel = await self.channel()
        if channel is None or not channel.on:
            return
        account = Account(event, "desk", until=self._clock.now() + AUDIT_WAIT)
        key = _account_key(account)
        try:
            await self._storage.write({key: {**_account_to_json(account), "e_tag": "new"}})  # only if not there yet
        except StorageConflict:
            return  # told already
        self.wake.set()

    # ---- posting ---------------------------------------------------------------------------------------------

    async def _outbox_keys(self) -> list[str]:
        keys: list[str] = await self._storage.keys_with_prefix(OUTBOX)
        return keys

    async def _posted_ids(self) -> list[str]:
        item = (await self._storage.read([POSTED])).get(POSTED) or {}
        return [str(i) for i in item.get("ids") or []]

    async def _post_outbox(self, adapter: Any, channel: FeedChannel) -> int:
        posted = 0
        for key in await self._outbox_keys():
            if not await self._keep_lease():
                log.warning("feed lease lost while posting; the new holder continues")
                break
            entry = (await self._storage.read([key])).get(key)
            if entry is None:
                continue
            events = [_event_from_json(e) for e in entry.get("events") or []]
            done = set(await self._posted_ids())
            if not events or all(e.id in done for e in events) or entry.get("posted"):
                await self._storage.delete([key])
                continue
            posted += await self._post_entry(adapter, channel, key, entry, events)
        return posted

    async def _post_entry(
        self, adapter: Any, channel: FeedChannel, key: str, entry: dict[str, Any], events: list[FeedEvent]
    ) -> int:
        names = await self._names_for(events)
        if entry.get("digest"):
            cards = digest_cards(events, names, TimeStyle(channel.time_zone, channel.locale))
        else:
            cards = [feed_event_card(events[0], names, TimeStyle(channel.time_zone, channel.locale))]
        sent = list(entry.get("activityIds") or [])
        count = 0
        if entry.get("sending"):
            # This entry was being posted when the process stopped: the connector may have accepted that post.
            # Say so rather than double it silently (the one window no local bookkeeping closes).
            log.warning("feed: re-posting %s, which may have been posted before a restart", key)
            await self._send_text(adapter, channel, FEED_MAY_REPEAT)
        for card in cards[len(sent) :]:
            entry["sending"] = {"at": self._clock.now().isoformat(), "card": len(sent)}
            entry = await self._save(key, entry)
            try:
                activity_id = await self._send(adapter, channel, card)
            except ConnectorError:
                # The connector answered with a refusal: nothing was posted, so a retry is no repeat. (A timeout or
                # a dropped connection leaves the mark: that post may have been accepted.)
                entry.pop("sending", None)
                await self._save(key, entry)
                raise
            self._posts += 1
            count += 1
            self._fault(f"posted:{self._posts}")
            sent.append(activity_id)
            entry["activityIds"] = sent
            entry.pop("sending", None)
            if len(sent) < len(cards):
                entry = await self._save(key, entry)
        entry["posted"] = True
        await self._mark_posted(key, entry, [e.id for e in events])
        self._fault(f"marked:{self._posts}")
        await self._storage.delete([key])
        return count

    async def _save(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        await self._storage.write({key: entry})
        return dict((await self._storage.read([key]))[key])

    async def _mark_posted(self, key: str, entry: dict[str, Any], ids: Sequence[str]) -> None:
        """The entry posted and its ids remembered, in one write (compare-and-swap on the posted set)."""
        for _ in range(10):
            item = (await self._storage.read([POSTED])).get(POSTED) or {}
            kept = [str(i) for i in item.get("ids") or []]
            total = int(item.get("total") or 0) + len([i for i in ids if i not in kept])
            kept = (kept + [i for i in ids if i not in kept])[-POSTED_KEEP:]
            try:
                await self._storage.write(
                    {POSTED: {"ids": kept, "total": total, "e_tag": item.get("e_tag") or "new"}, key: entry}
                )
                self._posted_total = total
                return
            except StorageConflict:
                continue
        raise RuntimeError("feed/posted kept changing; gave up marking")

    async def _names_for(self, events: Sequence[FeedEvent]) -> dict[str, str]:
        ids = sorted({i for e in events for i in (e.principal_id, e.group_id, e.by) if i})
        names = {g.id: g.display_name for g in self._monitored}
        missing = [i for i in ids if i not in names]
        if missing:
            names.update(await self._names(missing))
        return names

    async def _send_text(self, adapter: Any, channel: FeedChannel, text: str) -> None:
        await self._post(adapter, channel, MessageFactory.text(text))

    async def _send(self, adapter: Any, channel: FeedChannel, card: dict[str, Any]) -> str:
        return await self._post(adapter, channel, MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card))))

    async def _post(self, adapter: Any, channel: FeedChannel, activity: Activity) -> str:
        """A new post (thread) in the channel; its activity id. The connector call is made before botbuilder's turn
        pipeline runs, so a refusal raises here (ConnectorError) instead of vanishing into on_turn_error."""
        reference = channel.reference
        tenant_id = str(reference.get("tenantId") or (reference.get("conversation") or {}).get("tenantId") or "")
        bot = reference.get("bot") or {}
        parameters = ConversationParameters(
            is_group=True,
            bot=ChannelAccount(id=bot.get("id"), name=bot.get("name")) if bot else None,
            tenant_id=tenant_id,
            # ConversationParameters.tenant_id serialises as `tenantID`: Teams reads the tenant from channelData.
            channel_data={"channel": {"id": channel.channel_id}, "tenant": {"id": tenant_id}},
            activity=activity,
        )
        out: dict[str, str] = {}

        async def created(tc: TurnContext) -> None:
            out["id"] = str(tc.activity.id or "")

        service_url = str(reference.get("serviceUrl") or "")
        await adapter.create_conversation(self._app_id, created, parameters, "msteams", service_url, None)
        return out.get("id", "")


# ---- approval outcomes as feed events ------------------------------------------------------------------------

_DECIDED = {"approve": "approved", "deny": "denied"}
_CLOSED = {"expired": "expired", "cancelled": "canceled"}


def approval_event(record: Mapping[str, Any]) -> FeedEvent | None:
    """The APPROVAL_DECIDED event of a settled request record (bot.approvals), or None if it is not settled."""
    decision = record.get("decision") or {}
    closed = record.get("closed") or {}
    outcome = _DECIDED.get(str(decision.get("decision"))) if decision else _CLOSED.get(str(closed.get("kind")))
    if outcome is None:
        return None
    request_id = str(record.get("requestId") or "")
    ticket = record.get("ticket")
    at = decision.get("at") or closed.get("at")
    return FeedEvent(
        id=approval_event_id(request_id),
        kind=EventKind.APPROVAL_DECIDED,
        group_id=str(record.get("groupId") or ""),
        principal_id=str(record.get("requesterId") or ""),
        access=Access(record.get("access") or "member"),
        by=str(decision.get("by") or "") or None,
        justification=str(decision.get("reason") or "") or None,
        ticket=Ticket(str(ticket)) if ticket else None,
        decision=outcome,
        observed_at=datetime.fromisoformat(at) if at else None,
    )


# ---- storage shapes ------------------------------------------------------------------------------------------


def _stamp(now: datetime) -> str:
    """Sortable outbox key part: posting order is key order."""
    return now.strftime("%Y%m%dT%H%M%S%f")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _event_to_json(e: FeedEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind.value,
        "groupId": e.group_id,
        "principalId": e.principal_id,
        "access": e.access.value,
        "start": _time(e.start),
        "end": _time(e.end),
        "previousEnd": _time(e.previous_end),
        "by": e.by,
        "justification": e.justification,
        "ticket": [e.ticket.number, e.ticket.system] if e.ticket else None,
        "reason": e.reason.value if e.reason else None,
        "decision": e.decision,
        "memberType": e.member_type,
        "observedAt": _time(e.observed_at),
    }


def _event_from_json(d: Mapping[str, Any]) -> FeedEvent:
    ticket = d.get("ticket")
    return FeedEvent(
        id=str(d["id"]),
        kind=EventKind(d["kind"]),
        group_id=str(d["groupId"]),
        principal_id=str(d["principalId"]),
        access=Access(d["access"]),
        start=_parse(d.get("start")),
        end=_parse(d.get("end")),
        previous_end=_parse(d.get("previousEnd")),
        by=d.get("by"),
        justification=d.get("justification"),
        ticket=Ticket(ticket[0], ticket[1]) if ticket else None,
        reason=EndReason(d["reason"]) if d.get("reason") else None,
        decision=d.get("decision"),
        member_type=str(d.get("memberType") or "direct"),
        observed_at=_parse(d.get("observedAt")),
    )


def _account_key(a: Account) -> str:
    return f"{OUTCOMES}{a.source}/{a.event.id}"


def _account_to_json(a: Account) -> dict[str, Any]:
    return {
        "event": _event_to_json(a.event),
        "source": a.source,
        "said": a.said,
        "paired": a.paired,
        "until": _time(a.until),
        "requestNamed": a.request_named,
    }


def _account_from_json(d: Mapping[str, Any]) -> Account:
    return Account(
        event=_event_from_json(d["event"]),
        source="log" if d.get("source") == "log" else "desk",
        said=bool(d.get("said")),
        paired=bool(d.get("paired")),
        until=_parse(d.get("until")),
        request_named=bool(d.get("requestNamed", True)),
    )


def _state_to_json(s: GroupState) -> dict[str, Any]:
    return {
        "groupId": s.group_id,
        "readAt": s.read_at.isoformat(),
        "items": [
            [
                i.kind.value,
                i.id,
                i.group_id,
                i.principal_id,
                i.access.value,
                _time(i.start),
                _time(i.end),
                i.member_type,
                i.activated,
                i.schedule_id,
            ]
            for i in s.items
        ],
    }


def _state_from_json(d: Mapping[str, Any]) -> GroupState:
    return GroupState(
        group_id=str(d["groupId"]),
        read_at=datetime.fromisoformat(d["readAt"]),
        items=tuple(
            ScheduleItem(
                kind=ScheduleKind(k),
                id=str(iid),
                group_id=str(gid),
                principal_id=str(pid),
                access=Access(access),
                start=_parse(start),
                end=_parse(end),
                member_type=str(member_type),
                activated=bool(activated),
                schedule_id=schedule_id,
            )
            for k, iid, gid, pid, access, start, end, member_type, activated, schedule_id in d.get("items") or []
        ),
    )
