"""A user's own PIM-for-Groups requests (`history`, issue 14 point 5): what they asked for, when, how it ended and who
decided, newest first, a page at a time.

Graph is the source, not the bot's records: the user's assignment and eligibility schedule requests (both lists
filter by principalId, graph-pim-groups.md §3.2) and, for the approver, PIM's audit log (the approval API is
delegated-only and shows a request to its approvers, not to its requester). Pure: graph.history reads, cards.history
draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from core.models import Access, Group, Ticket

__all__ = [
    "HISTORY_DAYS",
    "HISTORY_PAGE_SIZE",
    "ApproverState",
    "HistoryItem",
    "HistoryPage",
    "HistoryRead",
    "HistorySource",
    "page_of",
]

HISTORY_DAYS = 30  # what `history` covers; PIM's audit log (the approvers) keeps 30 days too
HISTORY_PAGE_SIZE = 8  # requests a card shows: compact on a phone, and a month of a busy admin in a few pages
_EPOCH = datetime.min.replace(tzinfo=UTC)


class ApproverState(StrEnum):
    """What the history could learn of the approvers: the audit log was read, refused (no AuditLog.Read.All), or
    could not be read now (throttled, unreachable)."""

    READ = "read"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One request of the user's. `action` is Graph's (selfActivate, selfDeactivate, adminAssign, …, compared
    without case); `status` Graph's status text (Provisioned, Denied, …); `eligibility` True for an eligibility
    request (adminAssign of an eligibility, selfExtend, …). `decision` and `approver_*` come from the audit log:
    approved / denied / expired, and who decided (None: nobody, or not known)."""

    request_id: str
    action: str
    status: str
    group: Group
    access: Access
    created: datetime | None
    start: datetime | None = None
    end: datetime | None = None
    justification: str | None = None
    ticket: Ticket | None = None
    eligibility: bool = False
    decision: str | None = None
    approver_id: str | None = None
    approver_name: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """What Graph said: the requests of the period, newest first, and what became of the approvers' read."""

    items: tuple[HistoryItem, ...]
    since: datetime
    approvers: ApproverState = ApproverState.READ


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a history: its items, its number (1 = newest), how many pages there are."""

    items: tuple[HistoryItem, ...]
    number: int
    pages: int
    total: int
    since: datetime
    approvers: ApproverState


class HistorySource(Protocol):
    """graph.history.HistoryReader, as bot.handlers.history uses it (app-only reads)."""

    async def user_history(self, principal_id: str, since: datetime) -> HistoryRead: ...


def newest_first(items: Sequence[HistoryItem]) -> tuple[HistoryItem, ...]:
    return tuple(sorted(items, key=lambda i: (i.created or _EPOCH, i.request_id), reverse=True))


def page_of(read: HistoryRead, number: int, size: int = HISTORY_PAGE_SIZE) -> HistoryPage:
    """Page `number` (clamped to the last page) of `read`."""
    pages = max(1, -(-len(read.items) // size))
    number = min(max(1, number), pages)
    shown = read.items[(number - 1) * size : number * size]
    return HistoryPage(shown, number, pages, len(read.items), read.since, read.approvers)


def history_since(now: datetime) -> datetime:
    """The start of the period `history` covers."""
    return now - timedelta(days=HISTORY_DAYS)
