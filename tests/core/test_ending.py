"""core.ending: which activation gets the ending-soon card and which eligibility the ending / ended card (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.ending import (
    EligibilityNotice,
    NoticeKind,
    UserHoldings,
    days_left,
    eligibility_notices,
    ending_soon,
    warning_mark,
)
from core.models import Access, ActiveAssignment, Eligibility, Group

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
X = Group("g-x", "X")
Y = Group("g-y", "Y")
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
WARNING = 10 * MIN


def active(start: timedelta, end: timedelta | None, *, activated: bool = True, group: Group = X) -> ActiveAssignment:
    return ActiveAssignment(group, Access.MEMBER, NOW + start, NOW + end if end is not None else None, activated)


@pytest.mark.parametrize(
    ("assignment", "warned"),
    [
        (active(-50 * MIN, 9 * MIN), True),  # inside the warning
        (active(-50 * MIN, 10 * MIN), True),  # exactly at it
        (active(-50 * MIN, 11 * MIN), False),  # not yet
        (active(-5 * MIN, 5 * MIN), False),  # lasts 10 minutes: no longer than the warning
        (active(-6 * MIN, 5 * MIN), True),  # lasts 11 minutes
        (active(-50 * MIN, 0 * MIN), False),  # over
        (active(-50 * MIN, 5 * MIN, activated=False), False),  # an admin's assignment: nothing to keep or end
        (active(-50 * MIN, None), False),  # no end
    ],
)
def test_ending_soon(assignment: ActiveAssignment, warned: bool) -> None:
    assert (ending_soon([assignment], NOW, WARNING) == [assignment]) is warned


def test_the_warning_mark_names_one_activation_and_a_kept_one_anew() -> None:
    first = warning_mark(X, Access.MEMBER, NOW)
    assert first == warning_mark(Group("G-X", "x"), Access.MEMBER, NOW)
    assert first != warning_mark(X, Access.MEMBER, NOW + DAY) and first != warning_mark(X, Access.OWNER, NOW)


def eligible(
    start: timedelta | None, end: timedelta | None, *, group: Group = X, inherited: bool = False
) -> Eligibility:
    return Eligibility(
        group,
        Access.MEMBER,
        NOW + start if start is not None else None,
        NOW + end if end is not None else None,
        inherited,
    )


def test_an_eligibility_ending_within_the_window_is_noticed_once_by_its_mark() -> None:
    ending = eligible(-100 * DAY, 10 * DAY)
    [notice] = eligibility_notices(UserHoldings(eligibilities=(ending,)), NOW, 14 * DAY)
    assert notice == EligibilityNotice(NoticeKind.ENDING, ending)
    assert notice.mark == "g-x_member_ending_20261217T120000Z"


@pytest.mark.parametrize(
    "held",
    [
        UserHoldings(eligibilities=(eligible(-100 * DAY, 15 * DAY),)),  # not within 14 days
        UserHoldings(eligibilities=(eligible(-100 * DAY, None),)),  # permanent
        UserHoldings(eligibilities=(eligible(-100 * DAY, 10 * DAY, inherited=True),)),  # the group's, not the user's
        # extended already: the next window starts by the time this one ends
        UserHoldings(eligibilities=(eligible(-100 * DAY, 10 * DAY), eligible(10 * DAY, 200 * DAY))),
        UserHoldings(lapsed=(eligible(-100 * DAY, -31 * DAY),)),  # ended too long ago to renew
        # ended, but eligible again
        UserHoldings(eligibilities=(eligible(-DAY, None),), lapsed=(eligible(-100 * DAY, -2 * DAY),)),
    ],
)
def test_nothing_to_say(held: UserHoldings) -> None:
    assert eligibility_notices(held, NOW, 14 * DAY) == []


def test_an_eligibility_ended_within_30_days_is_offered_renewal() -> None:
    ended = eligible(-100 * DAY, -2 * DAY, group=Y)
    [notice] = eligibility_notices(UserHoldings(lapsed=(ended,)), NOW, 14 * DAY)
    assert notice.kind is NoticeKind.ENDED and notice.eligibility == ended


@pytest.mark.parametrize(
    ("left", "days"), [(10 * DAY - MIN, 10), (10 * DAY, 10), (3 * 60 * MIN, 0), (13 * 60 * MIN, 1), (-DAY, 0)]
)
def test_days_left_are_counted_as_people_say_them(left: timedelta, days: int) -> None:
    assert days_left(NOW + left, NOW) == days
