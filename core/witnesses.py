"""Approval outcomes told by two witnesses, posted once (issue 5 point 2, issue 9 point 7).

The approval desk (bot.approvals) knows the outcome of every request made through the bot, by its request id, but not
who decided one made elsewhere (the portal, e-mail) nor who let one expire. PIM's audit log knows the approver, but
Microsoft documents no shape for its entries: a reader may fail to place an entry (no group, principal or request it
can be sure of), and an entry that names its request only by correlationId may carry another id than the request's
(PIM gives one request's steps several correlation ids). `settle` decides what the feed posts, so that

* every outcome is posted exactly once, whichever witness tells it first, also when the log's id is not the desk's;
* the approver is named whenever the log placed the entry;
* an entry the log cannot place costs the approver's name, never the post: the desk waits for the log only while
  the log is readable and has shown that kind of outcome in a shape the reader knows, and only until `until`.

Two outcomes are the same when their ids are (both witnesses name an outcome by its request:
`core.feed.approval_event_id`), or when the log's entry did not name its request and the two say the same thing:
same group, principal and decision, within `MATCH_WINDOW` of each other, each paired at most once, closest first.
Pure: the caller (bot.feed) stores the outcomes and passes the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from core.feed import FeedEvent, LoggedDecision

__all__ = ["ECHO_WINDOW", "MATCH_WINDOW", "Account", "settle", "tell_the_same"]

# How far apart the two witnesses' times of one outcome may be: the desk's is when it noticed (its poller runs every
# minute or so; longer after a restart), the log's when PIM wrote the entry.
MATCH_WINDOW = timedelta(hours=2)
# Two log entries that did not name their request and tell the same this close together are one decision logged
# twice (e.g. under its long and its short activity name), not two decisions.
ECHO_WINDOW = timedelta(minutes=5)

Witness = Literal["desk", "log"]


@dataclass(slots=True)
class Account:
    """One witness's account of an approval outcome, kept until it is old news.

    `said`: posted or queued, or dropped because its twin was. `paired`: matched with a twin (each account is paired
    at most once, except by id). Desk accounts carry `until` (wait for the log's account, which names the approver,
    until then); log accounts carry `request_named` (False: `event.id` comes from a correlationId)."""

    event: FeedEvent
    source: Witness
    said: bool = False
    paired: bool = False
    until: datetime | None = None
    request_named: bool = True


def tell_the_same(a: FeedEvent, b: FeedEvent, window: timedelta = MATCH_WINDOW) -> bool:
    """The same decision on the same person's request for the same group, within `window` of each other."""
    if a.decision != b.decision or a.group_id.casefold() != b.group_id.casefold():
        return False
    if a.principal_id.casefold() != b.principal_id.casefold():
        return False
    if a.observed_at is None or b.observed_at is None:
        return False
    return abs(a.observed_at - b.observed_at) <= window


def _twin(account: Account, known: Sequence[Account], source: Witness, window: timedelta) -> Account | None:
    """`source`'s account of the same outcome: the same id, else — when one side's log entry did not name its
    request — the closest unpaired one telling the same within `window`."""
    same_id = [o for o in known if o is not account and o.source == source and o.event.id == account.event.id]
    if same_id:
        return same_id[0]
    at = account.event.observed_at
    candidates = [
        o
        for o in known
        if o is not account
        and o.source == source
        and not o.paired
        and not (o.request_named and account.request_named)
        and tell_the_same(o.event, account.event, window)
    ]
    if not candidates or at is None:
        return None
    return min(candidates, key=lambda o: abs((o.event.observed_at or at) - at))


def _pair(desk: Account, log: Account, out: list[FeedEvent]) -> None:
    """One outcome, two accounts: say it once, in the log's words (they name the approver) under the desk's id."""
    desk.paired = log.paired = True
    if not desk.said and not log.said:
        out.append(replace(log.event, id=desk.event.id))
    desk.said = log.said = True


def settle(
    known: list[Account],
    logged: Sequence[LoggedDecision],
    *,
    now: datetime,
    waits_for_log: Callable[[FeedEvent], bool],
    news: Callable[[FeedEvent], bool],
) -> list[FeedEvent]:
    """What to post now, oldest first; `known` (every account kept, both witnesses) is updated in place and gains
    the log's new ones.

    `logged`: what this read of the log found (entries read again are recognised by id). A log account with no desk
    twin is posted when `news` says so (a monitored group, not older than the feed). A desk account with no log twin
    is posted when it names its approver (decided in Teams), when `waits_for_log` says the log will not tell it, or
    once its `until` has passed."""
    out: list[FeedEvent] = []
    for decision in logged:
        if any(o.source == "log" and o.event.id == decision.event.id for o in known):
            continue
        log = Account(decision.event, "log", request_named=decision.request_named)
        known.append(log)
        desk = _twin(log, known, "desk", MATCH_WINDOW)
        if desk is not None:
            _pair(desk, log, out)
        elif _twin(log, known, "log", ECHO_WINDOW) is not None:
            log.said = log.paired = True  # logged twice: the first account speaks for both
        elif news(log.event):
            out.append(log.event)
            log.said = True
    for desk in [o for o in known if o.source == "desk" and not o.said]:
        twin = _twin(desk, known, "log", MATCH_WINDOW)
        if twin is not None:
            _pair(desk, twin, out)
        elif desk.event.by is not None or not waits_for_log(desk.event) or desk.until is None or now >= desk.until:
            out.append(desk.event)
            desk.said = True
    return out
