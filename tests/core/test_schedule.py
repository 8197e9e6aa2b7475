"""core.schedule: a scheduled activation's start as the user writes it, placed in their time zone (issue 14 point 1).
Pure: no clock is read, `now` is given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.commands import Activate, Help, parse
from core.errors import StartDoesNotExist, StartInPast
from core.schedule import StartAt, StartUnreadable, UserZone, find_start, place

BERLIN = UserZone("Europe/Berlin")
# Monday 7 December 2026, 12:00 in Berlin (CET, UTC+1)
NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def start_of(text: str) -> StartAt:
    command = parse(text)
    assert isinstance(command, Activate), command
    assert command.start is not None
    return command.start


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("activate Exchange-Admins 2h at 14:00", StartAt(14, 0, text="at 14:00")),
        ("activate Exchange-Admins 2h tomorrow 9:00", StartAt(9, 0, days_ahead=1, text="tomorrow 9:00")),
        ("activate Exchange-Admins 2h on Monday 08:30", StartAt(8, 30, weekday=0, text="on Monday 08:30")),
        (
            "activate Exchange-Admins 2h at 2026-12-24T08:00",
            StartAt(8, 0, day=date(2026, 12, 24), text="at 2026-12-24T08:00"),
        ),
        ("activate Exchange-Admins at 2pm for 2h", StartAt(14, 0, text="at 2pm")),
        ("activate Exchange-Admins friday 9am 1h", StartAt(9, 0, weekday=4, text="friday 9am")),
        ("activate Exchange-Admins 2h at 9:00 tomorrow", StartAt(9, 0, days_ahead=1, text="at 9:00 tomorrow")),
    ],
)
def test_the_four_forms_and_their_kin_parse_to_a_start(text: str, expected: StartAt) -> None:
    command = parse(text)
    assert isinstance(command, Activate)
    assert command.groups == ("Exchange-Admins",)
    assert command.start == expected
    assert command.duration in (timedelta(hours=2), timedelta(hours=1))


def test_a_start_after_for_and_a_duration_is_the_start_but_one_inside_a_reason_stays_there() -> None:
    command = parse("activate Exchange-Admins for 2h at 14:00 because patching")
    assert isinstance(command, Activate)
    assert (command.duration, command.start, command.justification) == (
        timedelta(hours=2),
        StartAt(14, 0, text="at 14:00"),
        "patching",
    )
    bare = parse("activate Exchange-Admins for 2 hours tomorrow 9:00")
    assert isinstance(bare, Activate) and bare.start == StartAt(9, 0, days_ahead=1, text="tomorrow 9:00")
    assert bare.justification is None
    kept = parse("activate Exchange-Admins 2h because the release at 14:00 needs it")
    assert isinstance(kept, Activate) and kept.start is None
    assert kept.justification == "the release at 14:00 needs it"


def test_the_start_leaves_the_justification_and_the_ticket_alone() -> None:
    command = parse("activate Exchange-Admins 2h at 14:00 because patching ticket CHG-1")
    assert isinstance(command, Activate)
    assert (command.justification, command.ticket and command.ticket.number) == ("patching", "CHG-1")
    assert command.start == StartAt(14, 0, text="at 14:00")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("activate Exchange-Admins 2h at 9", "morning or evening"),  # 09:00 or 21:00?
        ("activate Exchange-Admins 2h on 12/05 at 9:00", "two ways"),  # 12 May or December 5?
        ("activate Exchange-Admins 2h tomorrow", "At what time"),
        ("activate Exchange-Admins 2h at 25:00", "not a time of day"),
        ("activate Exchange-Admins 2h at 13pm", "not a time of day"),
        ("activate Exchange-Admins 2h at 2026-02-30T08:00", "not a date"),
        ("activate Exchange-Admins 2h at 2026-12-24", "At what time"),
    ],
)
def test_ambiguous_or_impossible_starts_are_explained_and_nothing_is_asked(text: str, words: str) -> None:
    command = parse(text)
    assert isinstance(command, Help) and command.reason is not None
    assert words in command.reason


@pytest.mark.parametrize(
    "text",
    ['activate "Sun Admins" 2h', "activate Sun Admins 2h", 'activate "Ops at 9" 1h', "activate X 1.5 hours"],
)
def test_group_names_and_durations_are_not_taken_for_a_start(text: str) -> None:
    command = parse(text)
    assert isinstance(command, Activate) and command.start is None


def test_an_iso_time_with_seconds_or_its_own_offset() -> None:
    assert place(start_of("activate X 2h at 2026-12-24T08:00:00"), NOW, BERLIN) == datetime(2026, 12, 24, 7, tzinfo=UTC)
    utc = start_of("activate X 2h at 2026-12-24T08:00Z")
    assert place(utc, NOW, BERLIN) == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)  # its own offset, not Berlin
    shifted = start_of("activate X 2h at 2026-12-24T08:00-05:00")
    assert place(shifted, NOW, BERLIN) == datetime(2026, 12, 24, 13, 0, tzinfo=UTC)
    refused = parse("activate X 2h at 2026-12-24T08:00+15:00")
    assert isinstance(refused, Help) and refused.reason and "offset" in refused.reason


def test_in_a_while_is_from_now_to_the_next_whole_minute_in_any_zone() -> None:
    start = start_of("activate Exchange-Admins 1h in 10 minutes")
    assert start == StartAt(0, 0, after=timedelta(minutes=10), text="in 10 minutes")
    assert parse("activate Exchange-Admins in 2 hours 1h") == Activate(
        ("Exchange-Admins",),
        duration=timedelta(hours=1),
        start=StartAt(0, 0, after=timedelta(hours=2), text="in 2 hours"),
    )
    now = datetime(2026, 12, 7, 11, 0, 30, tzinfo=UTC)
    assert place(start, now, BERLIN) == place(start, now, UserZone(None)) == datetime(2026, 12, 7, 11, 11, tzinfo=UTC)
    refused = parse("activate Exchange-Admins 1h in 0 minutes")
    assert isinstance(refused, Help) and refused.reason and "in 30 minutes" in refused.reason


def test_find_start_cuts_the_clause_out_of_the_text() -> None:
    assert find_start("Exchange-Admins 2h at 14:00") == ("Exchange-Admins 2h", StartAt(14, 0, text="at 14:00"))
    assert find_start("Exchange-Admins 2h") == ("Exchange-Admins 2h", None)
    with pytest.raises(StartUnreadable):
        find_start("X at 7")


def test_a_time_today_is_placed_in_the_users_zone() -> None:
    assert place(start_of("activate X 2h at 14:00"), NOW, BERLIN) == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    new_york = UserZone("America/New_York")  # 06:00 there now
    assert place(start_of("activate X 2h at 14:00"), NOW, new_york) == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)


def test_tomorrow_a_weekday_and_a_date() -> None:
    assert place(start_of("activate X tomorrow 9:00 2h"), NOW, BERLIN) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    # Said on a Monday at 12:00: "on Monday 08:30" is next Monday, "on Monday 13:00" today.
    assert place(start_of("activate X on Monday 08:30 2h"), NOW, BERLIN) == datetime(2026, 12, 14, 7, 30, tzinfo=UTC)
    assert place(start_of("activate X on Monday 13:00 2h"), NOW, BERLIN) == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert place(start_of("activate X on Friday 08:30 2h"), NOW, BERLIN) == datetime(2026, 12, 11, 7, 30, tzinfo=UTC)
    iso = start_of("activate X at 2026-12-24T08:00 2h")
    assert place(iso, NOW, BERLIN) == datetime(2026, 12, 24, 7, 0, tzinfo=UTC)


def test_a_time_already_past_today_is_explained_with_the_next_one_not_moved() -> None:
    with pytest.raises(StartInPast) as refused:
        place(start_of("activate X 2h at 09:00"), NOW, BERLIN)
    assert refused.value.start == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert refused.value.following == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    with pytest.raises(StartInPast) as dated:
        place(start_of("activate X 2h at 2026-12-01T08:00"), NOW, BERLIN)
    assert dated.value.following is None  # a date was named: no guess


def test_a_time_the_clocks_skip_is_refused_and_a_repeated_one_is_the_first() -> None:
    # Europe/Berlin: 2027-03-28 02:00 CET -> 03:00 CEST; 2027-10-31 03:00 CEST -> 02:00 CET.
    with pytest.raises(StartDoesNotExist) as skipped:
        place(start_of("activate X 1h at 2027-03-28T02:30"), NOW, BERLIN)
    assert skipped.value.local == datetime(2027, 3, 28, 2, 30)
    twice = place(start_of("activate X 1h at 2027-10-31T02:30"), NOW, BERLIN)
    assert twice == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first of the two
    # Across the change, "tomorrow 9:00" is 9:00 on the wall clock, not 24 h later.
    saturday = datetime(2027, 3, 27, 10, 0, tzinfo=UTC)
    assert place(start_of("activate X tomorrow 09:00 1h"), saturday, BERLIN) == datetime(2027, 3, 28, 7, tzinfo=UTC)


def test_without_a_zone_the_time_is_utc_and_the_zone_is_not_known() -> None:
    unknown = UserZone(None)
    assert not unknown.known and UserZone("Nowhere/Atlantis").known is False
    assert place(start_of("activate X 2h at 14:00"), NOW, unknown) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    fixed = UserZone(None, timedelta(hours=5, minutes=30))
    assert fixed.known
    assert place(start_of("activate X 2h at 18:00"), NOW, fixed) == datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    assert UserZone("Etc/UTC").known and BERLIN.known
