"""Dates and times in the reader's locale and zone (issue 11, point 10): English words, the locale's order and clock,
the zone as people know it. Fixed instants and zones: deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cards.times import format_clock, format_time, zone_label
from core.models import Actor, TimeStyle

WINTER = datetime(2026, 11, 22, 19, 5, tzinfo=UTC)  # Sun 22 Nov 2026
SUMMER = datetime(2026, 7, 22, 19, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "locale", "written"),
    [
        ("America/New_York", "en-US", "Sun, Nov 22, 2:05 PM (EST)"),
        ("Europe/London", "en-GB", "Sun 22 Nov, 19:05 (GMT)"),
        ("Europe/Berlin", "de-DE", "Sun 22 Nov, 20:05 (CET)"),
        ("Australia/Sydney", "en-AU", "Mon 23 Nov, 6:05 AM (AEDT)"),  # 12-hour, day first
        ("America/Toronto", "en-CA", "Sun, Nov 22, 2:05 PM (EST)"),
        ("America/Toronto", "fr-CA", "Sun 22 Nov, 14:05 (EST)"),  # French in Canada: 24 hours
        ("Asia/Kolkata", "en-IN", "Mon 23 Nov, 12:35 AM (IST)"),
        ("Asia/Tokyo", "ja-JP", "Mon 23 Nov, 04:05 (JST)"),
        ("Asia/Taipei", "zh-Hant-TW", "Mon 23 Nov, 3:05 AM (CST)"),
        ("America/New_York", "en", "Sun, Nov 22, 2:05 PM (EST)"),  # a bare "en" reads as en-US
        ("America/New_York", "en_us", "Sun, Nov 22, 2:05 PM (EST)"),
        ("America/New_York", None, "Sun 22 Nov, 14:05 (EST)"),  # no locale: the default order and clock
        ("America/New_York", "xx-!!", "Sun 22 Nov, 14:05 (EST)"),  # garbage: the same
        (None, "en-US", "Sun, Nov 22, 7:05 PM (UTC)"),
    ],
)
def test_the_locale_orders_the_date_and_picks_the_clock(zone: str | None, locale: str | None, written: str) -> None:
    assert format_time(WINTER, TimeStyle(zone, locale)) == written


@pytest.mark.parametrize(
    ("zone", "winter", "summer"),
    [
        ("America/New_York", "EST", "EDT"),
        ("Europe/Berlin", "CET", "CEST"),
        ("Europe/London", "GMT", "BST"),
        ("Asia/Dubai", "Dubai time", "Dubai time"),  # tzdata has no abbreviation ("+04"): the city
        ("America/Sao_Paulo", "Sao Paulo time", "Sao Paulo time"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires time", "Buenos Aires time"),
        ("Etc/GMT+5", "UTC-5", "UTC-5"),  # no city either: the offset
        ("UTC", "UTC", "UTC"),
        ("Mars/Olympus_Mons", "UTC", "UTC"),  # unknown: the time is in UTC and says so
        (None, "UTC", "UTC"),
    ],
)
def test_the_zone_is_named_as_people_know_it_never_by_its_iana_id(zone: str | None, winter: str, summer: str) -> None:
    assert (zone_label(zone, WINTER), zone_label(zone, SUMMER)) == (winter, summer)
    assert format_time(WINTER, zone).endswith(f"({winter})")


def test_an_offset_with_minutes_is_written_with_them() -> None:
    assert zone_label("Asia/Kathmandu", WINTER) == "Kathmandu time"
    assert zone_label("Etc/GMT-14", WINTER) == "UTC+14"


def test_the_year_follows_the_locales_order_when_it_differs_from_the_reference() -> None:
    later = WINTER + timedelta(days=365)
    assert format_time(later, TimeStyle("America/New_York", "en-US"), reference=WINTER) == (
        "Mon, Nov 22, 2027, 2:05 PM (EST)"
    )
    assert format_time(later, TimeStyle("Europe/Berlin", "de-DE"), reference=WINTER) == "Mon 22 Nov 2027, 20:05 (CET)"


def test_a_time_minutes_away_is_the_clock_alone_in_the_readers_clock() -> None:
    soon = WINTER + timedelta(minutes=4)
    assert format_clock(soon, TimeStyle("America/New_York", "en-US"), reference=WINTER) == "2:09 PM"
    assert format_clock(soon, TimeStyle("Europe/Berlin", "de-DE"), reference=WINTER) == "20:09"
    assert format_clock(WINTER.replace(hour=4), TimeStyle("America/New_York", "en-US"), reference=WINTER) == (
        "Sat, Nov 21, 11:05 PM (EST)"  # the day before in New York: with its date
    )


def test_midnight_and_noon_on_a_twelve_hour_clock() -> None:
    style = TimeStyle("UTC", "en-US")
    assert format_time(WINTER.replace(hour=0, minute=0), style).endswith("12:00 AM (UTC)")
    assert format_time(WINTER.replace(hour=12, minute=0), style).endswith("12:00 PM (UTC)")


def test_every_minute_of_a_day_reads_as_strftime_writes_it() -> None:
    """The clock is written from the time's fields (cheaper than strftime): the same digits, zero-padded minutes and
    24-hour hours, for every minute on both clocks."""
    day = WINTER.replace(hour=0, minute=0)
    for minute in range(24 * 60):
        when = day + timedelta(minutes=minute)
        assert format_clock(when, TimeStyle("UTC", "de-DE"), reference=day) == when.strftime("%H:%M")
        twelve = f"{when.hour % 12 or 12}:{when.strftime('%M')} {when.strftime('%p')}"
        assert format_clock(when, TimeStyle("UTC", "en-US"), reference=day) == twelve


def test_a_bare_zone_name_still_works_and_an_actor_carries_its_style() -> None:
    actor = Actor("oid", "tid", time_zone="America/New_York", locale="en-US")
    assert format_time(WINTER, actor.time_style) == "Sun, Nov 22, 2:05 PM (EST)"
    assert format_time(WINTER, "America/New_York") == "Sun 22 Nov, 14:05 (EST)"
