"""Approval outcomes as the feed posts them: told by two witnesses, posted once (core.witnesses.settle).

The approval desk (bot.approvals) reports every request it saw decided or closed (`SettledApproval`): an account
stored under `feed/outcome/desk/`, created once, for the next cycle (woken for it). PIM's audit log
(bot.feed.watermark) reports outcomes with their approver: accounts under `feed/outcome/log/`. Each cycle settles the
two, so each outcome is posted once, whichever witness tells it first, also when the log's entry named its request
by another id (paired by group, person, decision and time). A decision made in Teams names its approver and is
posted as the desk tells it. Others (decided in the portal, expired) wait for the log's account, which names the
approver, while the log is readable and has already shown that kind of outcome in a shape the reader knows
(`AuditWatermark.tells`), and at most AUDIT_WAIT: an entry the reader cannot place costs the approver's name, never
the post. Accounts are kept a day.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.feed.store import account_from_json, account_to_json
from bot.store import Conflict, Store
from bot.store import keys as keyspace
from core.feed import EventKind, FeedEvent, LoggedDecision, approval_event_id
from core.models import Access, Ticket
from core.ports import Clock
from core.witnesses import Account, settle

__all__ = ["AUDIT_WAIT", "OUTCOMES_KEPT", "Outcomes", "Settled", "SettledApproval"]

log = logging.getLogger(__name__)

AUDIT_WAIT = timedelta(minutes=15)  # how long an outcome the desk saw without its approver waits for the log's
OUTCOMES_KEPT = timedelta(days=1)  # an outcome said this long ago can no longer come back from either witness


@dataclass(frozen=True)
class SettledApproval:
    """What the feed needs of a request the approval desk saw decided or closed. `outcome`: "approved", "denied",
    "expired" or "canceled"; `by` and `reason`: the approver and their words, for a decision made in Teams."""

    request_id: str
    group_id: str
    requester_id: str
    access: Access
    outcome: str
    at: datetime | None = None
    by: str | None = None
    reason: str | None = None
    ticket: Ticket | None = None

    @property
    def event(self) -> FeedEvent:
        """Its APPROVAL_DECIDED event, named by its request (`core.feed.approval_event_id`), as the log's is."""
        return FeedEvent(
            id=approval_event_id(self.request_id),
            kind=EventKind.APPROVAL_DECIDED,
            group_id=self.group_id,
            principal_id=self.requester_id,
            access=self.access,
            by=self.by,
            justification=self.reason,
            ticket=self.ticket,
            decision=self.outcome,
            observed_at=self.at,
        )


@dataclass(frozen=True)
class Settled:
    """One cycle's settling: the outcomes to post now, the accounts to store once they are queued (key, account,
    the etag it was read under: None for a new one), and the accounts old enough to forget (key, etag)."""

    events: tuple[FeedEvent, ...] = ()
    writes: tuple[tuple[str, Account, str | None], ...] = ()
    stale: tuple[tuple[str, str], ...] = ()


class Outcomes:
    """The witnesses' accounts (`feed/outcome/{source}/{event id}`)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def told(self, settled: SettledApproval) -> bool:
        """The desk's account of an outcome, stored once (one conditional write: only if not there yet); False if
        it was told already."""
        account = Account(settled.event, "desk", until=self._clock.now() + AUDIT_WAIT)
        try:
            await self._store.put_if(_key(account), account_to_json(account), None)
        except Conflict:
            return False
        return True

    async def settle(
        self,
        logged: Sequence[LoggedDecision],
        *,
        now: datetime,
        floor: datetime | None,
        watched: set[str],
        log_tells: Callable[[str | None], bool],
    ) -> Settled:
        """The approval outcomes to post now (each once), and the account writes that go with them. `floor`: log
        outcomes older than this are not news; `watched`: the monitored groups (casefolded)."""
        stored = {key: found async for key, found in self._store.items(keyspace.FEED_OUTCOMES)}
        known = [account_from_json(found.value) for found in stored.values()]
        before = {_key(a): account_to_json(a) for a in known}

        def news(event: FeedEvent) -> bool:
            late = floor is None or event.observed_at is None or event.observed_at >= floor
            return event.group_id.casefold() in watched and late

        events = settle(known, logged, now=now, waits_for_log=lambda e: log_tells(e.decision), news=news)
        writes: list[tuple[str, Account, str | None]] = []
        stale: list[tuple[str, str]] = []
        for account in known:
            key = _key(account)
            found = stored.get(key)
            old = (account.event.observed_at or now) < now - OUTCOMES_KEPT
            if old and (account.said or account.source == "log"):  # a desk account is said within AUDIT_WAIT
                if found is not None:
                    stale.append((key, found.etag))
            elif account_to_json(account) != before.get(key):
                writes.append((key, account, found.etag if found is not None else None))
        # The log's accounts first: a crash after them and before the desk's settles the same outcome again under
        # the same id (the desk's), which the outbox recognises; the other way round, a desk account marked paired
        # with no log account stored would let the log's entry be posted again under its own id.
        writes.sort(key=lambda w: w[1].source != "log")
        return Settled(tuple(events), tuple(writes), tuple(stale))

    async def save(self, settled: Settled) -> None:
        """Store the accounts (each one conditional write), then forget the stale ones. Only the lease holder
        writes them after creation: a conflict means a poller that lost the lease, whose account stands."""
        for key, account, etag in settled.writes:
            try:
                await self._store.put_if(key, account_to_json(account), etag)
            except Conflict:
                log.warning("feed: the outcome %s changed under this cycle (another poller?)", key)
        for key, etag in settled.stale:
            with contextlib.suppress(Conflict):
                await self._store.delete(key, etag)


def _key(account: Account) -> str:
    return keyspace.feed_outcome(account.source, account.event.id)
