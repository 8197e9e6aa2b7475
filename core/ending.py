"""When access is about to end (issue 14 points 3 and 4): which activations get the "ending soon" card, which
eligibilities the "ending" or "ended" card, and the marks that say each was sent once. Pure: the clock is an argument.

PIM's own notices (Entra docs, "Extend or renew PIM for groups assignments", groups-renew-extend.md) go by e-mail 14
days and one day before an eligibility ends, and an eligibility "might be renewed and remain visible in an expired
state for up to 30 days": the bot's defaults follow those numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.errors import DirectoryError
from core.models import Access, ActiveAssignment, Eligibility, Group, PimRequest

__all__ = [
    "ELIGIBILITY_SOON",
    "RENEWABLE_FOR",
    "ChangeAsked",
    "EligibilityChange",
    "EligibilityNotice",
    "Holdings",
    "NoticeKind",
    "UserHoldings",
    "days_left",
    "ending_soon",
    "eligibility_notices",
    "warning_mark",
]

# How long before an eligibility ends the user hears of it (PIM mails its own notice then), and `status` says so.
ELIGIBILITY_SOON = timedelta(days=14)
# An eligibility that ended this long ago or less can still be renewed (PIM keeps it visible as expired for 30 days).
RENEWABLE_FOR = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class UserHoldings:
    """One user's activations and eligibilities as Graph holds them now, read app-only. `lapsed`: eligibilities that
    ended (from the request history), only when asked for."""

    active: tuple[ActiveAssignment, ...] = ()
    eligibilities: tuple[Eligibility, ...] = ()
    lapsed: tuple[Eligibility, ...] = ()


@dataclass(frozen=True, slots=True)
class Holdings:
    """Several users' holdings, read together; a user whose read failed is in `failed` (user id → why)."""

    users: Mapping[str, UserHoldings] = field(default_factory=dict)
    failed: Mapping[str, DirectoryError] = field(default_factory=dict)


class EligibilityChange(StrEnum):
    """What a user asks an admin for about their own eligibility: PIM's `selfExtend` (it ends soon) or `selfRenew`
    (it ended). The wire names live in graph.wire."""

    EXTEND = "extend"
    RENEW = "renew"


@dataclass(frozen=True, slots=True)
class ChangeAsked:
    """The user's ask to extend or renew an eligibility is with PIM (`request`), for an admin to decide there."""

    change: EligibilityChange
    eligibility: Eligibility
    request: PimRequest


class NoticeKind(StrEnum):
    ENDING = "ending"  # ends within the warning: Ask to extend
    ENDED = "ended"  # ended within RENEWABLE_FOR: Ask to renew


@dataclass(frozen=True, slots=True)
class EligibilityNotice:
    """An eligibility the user should hear about once: `mark` names it (group, access and end), so the notice of a
    later window of the same group is another one."""

    kind: NoticeKind
    eligibility: Eligibility

    @property
    def mark(self) -> str:
        e = self.eligibility
        end = e.end.strftime("%Y%m%dT%H%M%SZ") if e.end is not None else "none"
        return f"{e.group.id.lower()}_{e.access.value}_{self.kind.value}_{end}"


def days_left(end: datetime, now: datetime) -> int:
    """Whole days until `end`, rounded as people say it (9 days 23 hours: "in 10 days"; 3 hours: 0, "today")."""
    return max(0, round((end - now) / timedelta(days=1)))


def warning_mark(group: Group, access: Access, end: datetime) -> str:
    """The name of one activation's "ending soon" card: the same activation (group, access, end) is warned once; an
    activation kept on (a new end) is warned again."""
    return f"{group.id.lower()}_{access.value}_{end.strftime('%Y%m%dT%H%M%SZ')}"


def ending_soon(active: Iterable[ActiveAssignment], now: datetime, warning: timedelta) -> list[ActiveAssignment]:
    """The user's just-in-time activations that end within `warning` from now. Not an activation that lasts no
    longer than the warning itself (its "ends soon" would come as it starts), nor an admin's assignment (nothing to
    keep or end), nor one already over: those Graph no longer lists, which is also how an activation ended early (by
    the user, here or in the portal) gets no warning."""
    return sorted(
        (
            a
            for a in active
            if a.activated
            and a.end is not None
            and now < a.end <= now + warning
            and (a.start is None or a.end - a.start > warning)
        ),
        key=lambda a: (a.end, a.group.display_name.casefold()),
    )


def eligibility_notices(holdings: UserHoldings, now: datetime, within: timedelta) -> list[EligibilityNotice]:
    """The user's own eligibilities ending within `within` (Ask to extend) and those that ended in the last
    RENEWABLE_FOR and were not granted again (Ask to renew). An eligibility inherited through a group is the group's
    to extend, not the user's: left out."""
    notices: list[EligibilityNotice] = []
    current = {(e.group.id.lower(), e.access) for e in holdings.eligibilities if e.end is None or now < e.end}
    for e in holdings.eligibilities:
        if e.inherited or e.end is None:
            continue
        if now < e.end <= now + within and not _continued(e, holdings.eligibilities):
            notices.append(EligibilityNotice(NoticeKind.ENDING, e))
    for e in holdings.lapsed:
        if e.inherited or e.end is None or (e.group.id.lower(), e.access) in current:
            continue
        if now - RENEWABLE_FOR <= e.end <= now:
            notices.append(EligibilityNotice(NoticeKind.ENDED, e))
    return notices


def _continued(eligibility: Eligibility, others: Iterable[Eligibility]) -> bool:
    """Another window of the same group and access starts by the time this one ends (an extension already granted)."""
    assert eligibility.end is not None
    return any(
        o is not eligibility
        and o.group.id.lower() == eligibility.group.id.lower()
        and o.access is eligibility.access
        and (o.start is None or o.start <= eligibility.end)
        and (o.end is None or o.end > eligibility.end)
        for o in others
    )
