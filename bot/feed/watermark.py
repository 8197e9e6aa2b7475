"""PIM's audit log, read incrementally from a stored watermark (graph.feed, AuditLog.Read.All), and the groups it
names (FEED_DISCOVER).

The log is read every cycle, normally one request (two at the first read and every 30 minutes, graph.feed; the
audit API allows 5 per 10 s per app); after a throttled read, again after its Retry-After (never waited for inside
the cycle); after another failed read, again in 5 minutes. A failed read never fails the cycle: a refusal (403: no
AuditLog.Read.All) is stored as `readable: false`, so the outcomes the approval desk reports are all posted as they
come (bot.feed.outcomes), and `feed status` says so.

The first read of an epoch (no watermark yet: a new feed, or `feed here` again) is a baseline: it sets the watermark
and the instant outcomes are news from (`floor`: now), as a group's first poll announces nothing; older outcomes are
not posted on their own, also when a later read re-reads them in its overlap.

`read` returns the new mark without storing it: the cycle stores it (`save`) once the outcomes it read are queued,
so a crash in between reads them again (their ids are deterministic: queued once).

Discovery: the monitored groups are FEED_GROUPS plus the PIM groups the log names, stored (`feed/discovered`), so a
group is not forgotten when its activity leaves the log's 30 days. A group with no PIM activity in the last 30 days is
not found until it has some.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.feed.store import AuditMark, Discovered
from bot.store import ANY, Json, Store
from bot.store import keys as keyspace
from cards.wording import FEED_AUDIT_DENIED, FEED_AUDIT_FAILED, FEED_DISCOVERY_DENIED, FEED_DISCOVERY_FAILED
from core.errors import PermissionDenied, Throttled
from core.feed import AuditRead, LoggedDecision
from core.ports import Clock

__all__ = ["AuditWatermark", "PimAuditLog", "Reading"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 300.0  # after a failed read, the log is read again this many seconds later
THROTTLE_SECONDS = 10.0  # after a 429 without Retry-After (the audit API's window is 10 s)

Names = Callable[[Sequence[str]], Awaitable[dict[str, str]]]


class PimAuditLog(Protocol):
    """PIM's audit log, read incrementally (graph.feed.FeedReader.read_pim_audit): groups and approval outcomes."""

    async def read_pim_audit(self, since: datetime | None) -> AuditRead: ...


@dataclass(frozen=True)
class Reading:
    """One cycle's read of the log: the outcomes it records, the mark to store once they are queued (None: not
    read this cycle), and what `feed status` should say of the read (None: nothing new; "": it succeeded)."""

    decisions: tuple[LoggedDecision, ...] = ()
    mark: AuditMark | None = None
    problem: str | None = None


class AuditWatermark:
    """The audit log's reads and their watermark (`feed/audit`), and discovery's groups (`feed/discovered`)."""

    def __init__(
        self,
        store: Store,
        audit_log: PimAuditLog | None,
        clock: Clock,
        names: Names,
        *,
        discover: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._log = audit_log
        self._clock = clock
        self._names = names
        self.discovering = discover and audit_log is not None
        self._wall = wall
        self._due: float | None = None  # after a failed read: wall time of the next one (None: every cycle)

    @property
    def reads(self) -> bool:
        """Whether the log is read at all (a reader was given)."""
        return self._log is not None

    async def discovered(self) -> Discovered:
        found = await self._store.get(keyspace.FEED_DISCOVERED)
        return Discovered.from_json(found.value) if found is not None else Discovered()

    async def mark(self, epoch: str) -> AuditMark:
        """The stored mark of this epoch of the feed; a fresh one (a baseline read next) if it is of another."""
        found = await self._store.get(keyspace.FEED_AUDIT)
        mark = AuditMark.from_json(found.value) if found is not None else None
        return mark if mark is not None and mark.epoch == epoch else AuditMark(epoch)

    async def save(self, mark: AuditMark) -> None:
        """Store the mark `read` returned. Only the lease holder writes it (a poller that lost the lease at worst
        sets it back: the entries are read again and recognised by their ids)."""
        await self._store.put_if(keyspace.FEED_AUDIT, mark.to_json(), ANY)

    def tells(self, mark: AuditMark, decision: str | None) -> bool:
        """PIM's audit log will tell outcomes of this kind, with the approver: the last read succeeded AND the log
        has already shown an outcome of this kind in a shape the reader understands. Until then the desk's outcomes
        of that kind are posted as they come: an entry format the reader does not know (the reference documents
        none) must cost the approver's name, never the post."""
        if decision is None or self._log is None:
            return False
        return mark.watermark is not None and mark.readable and decision in mark.confirmed

    async def read(self, epoch: str) -> Reading:
        """Read the log from the stored watermark (module doc); with FEED_DISCOVER, add the groups it names to
        `feed/discovered`."""
        if self._log is None or (self._due is not None and self._wall() < self._due):
            return Reading()
        mark = await self.mark(epoch)
        found = await self.discovered()
        baseline = mark.watermark is None
        if not baseline:
            since = mark.watermark
        elif self.discovering:
            since = found.watermark  # None: all 30 days, to find every group
        else:
            since = self._clock.now()  # the reader re-reads AUDIT_OVERLAP before it
        try:
            read = await self._log.read_pim_audit(since)
        except Throttled as e:  # the audit API's 5 requests / 10 s: read again after its Retry-After
            wait = e.retry_after if e.retry_after is not None and e.retry_after > 0 else THROTTLE_SECONDS
            log.info("feed: the PIM audit log is throttled; reading it again in %.0fs", wait)
            self._due = self._wall() + min(wait, RETRY_SECONDS)
            return Reading()
        except Exception as e:  # DirectoryError kinds (no AuditLog.Read.All, Graph down): logged, retried
            log.warning("feed: could not read the PIM audit log; trying again in 5 minutes", exc_info=True)
            self._due = self._wall() + RETRY_SECONDS
            return Reading(problem=await self._failed(epoch, denied=isinstance(e, PermissionDenied)))
        self._due = None
        if self.discovering:
            await self._discover(read, found)
        # The outcome kinds this tenant's log has shown in a shape we read (see `tells`).
        shown = {str(d.event.decision) for d in read.decisions}
        new = AuditMark(
            epoch=epoch,
            watermark=read.watermark or since or self._clock.now(),
            floor=self._clock.now() if baseline else mark.floor,
            readable=True,
            confirmed=mark.confirmed | shown,
        )
        return Reading(tuple(read.decisions), new, problem="")

    async def _failed(self, epoch: str, *, denied: bool) -> str:
        """Note a refusal in the mark (the desk's outcomes are then posted as they come); the status's words."""
        if denied:

            def unreadable(value: Json) -> Json | None:
                mark = AuditMark.from_json(value) if value else AuditMark(epoch)
                if mark.epoch != epoch:
                    mark = AuditMark(epoch)
                return replace(mark, readable=False).to_json() if mark.readable else None

            await self._store.update(keyspace.FEED_AUDIT, unreadable, create={})
        if self.discovering:
            return FEED_DISCOVERY_DENIED if denied else FEED_DISCOVERY_FAILED
        return FEED_AUDIT_DENIED if denied else FEED_AUDIT_FAILED

    async def _discover(self, read: AuditRead, found: Discovered) -> None:
        known = {i.casefold() for i in found.groups}
        new = [i for i in read.groups if i.casefold() not in known]
        names = await self._names(new) if new else {}

        def merged(value: Json) -> Json:
            current = Discovered.from_json(value) if value else Discovered()
            groups = {**current.groups, **{i: names.get(i) or i for i in new if i not in current.groups}}
            return Discovered(groups, read.watermark).to_json()

        written = await self._store.update(keyspace.FEED_DISCOVERED, merged, create={})
        if new and written is not None:
            log.info(
                "feed: %d PIM group(s) discovered in the audit log (%d in all)", len(new), len(written.value["groups"])
            )
