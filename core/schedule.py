"""When a scheduled activation starts: `at 14:00`, `tomorrow 9:00`, `on Monday 08:30`, `at 2026-12-24T08:00`,
`in 30 minutes`.

Two steps, both pure. `parse_start(text)` reads what the user wrote into a `StartAt` (a wall-clock time and which
day), or says why it cannot (`StartUnreadable`, with a kind message: "at 9" could be 09:00 or 21:00, "12/05" could be
May or December). `place(start, now, zone)` puts it on the timeline in the user's time zone: the instant PIM is sent
as `scheduleInfo.startDateTime`, or the refusal that explains why not (a time already past, a wall-clock time that
does not exist on that day because the clocks go forward). A wall-clock time that happens twice (the clocks go
back) is the first of the two, and the reply says the time back with its zone, so the user sees which.

The zone is the user's as Teams sends it (the activity's `localTimezone` or the clientInfo entity's `timezone`, IANA),
else the UTC offset of the activity's `localTimestamp`, else UTC; `UserZone.known` False makes the reply say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import StartDoesNotExist, StartInPast

__all__ = [
    "StartAt",
    "StartUnreadable",
    "UserZone",
    "find_start",
    "leading_start",
    "place",
]

_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_CLOCK = r"\d{1,2}(?:[:.]\d{2})?(?:\s*[ap]\.?m\.?)?"
# The clause as a whole, outside quotes, anywhere in the command's head: a day word and/or `at` and a time, or an ISO
# date-time. re.ASCII: \d must be the digits int() reads.
_CLAUSE = re.compile(
    rf"""(?<![\w-])(?:
        (?:at\s+|on\s+|from\s+|starting\s+)?
        (?P<iso>\d{{4}}-\d{{2}}-\d{{2}}(?:[T\s]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?)
      | (?:on\s+)?(?P<slashed>\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|\d{{1,2}}\.\d{{1,2}}\.\d{{2,4}})
        (?:\s+(?:at\s+)?{_CLOCK})?
      | (?P<day>today|tomorrow|tmrw|on\s+(?:next\s+)?(?:{_WEEKDAY}))(?:\s+(?:at\s+)?(?P<dtime>{_CLOCK}))?
      | (?P<wday>(?:next\s+)?(?:{_WEEKDAY}))\s+(?:at\s+)?(?P<wtime>{_CLOCK})
      | at\s+(?P<time>{_CLOCK})(?:\s+(?P<after>today|tomorrow|on\s+(?:{_WEEKDAY})))?
      | in\s+(?P<rel>\d{{1,4}}(?:[.,]\d+)?\s*(?:minutes?|mins?|m|hours?|hrs?|h|days?|d))
    )(?![\w:-])""",
    re.IGNORECASE | re.ASCII | re.VERBOSE,
)
_TIME = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?(?:\s*([ap])\.?m\.?)?", re.IGNORECASE | re.ASCII)


class StartUnreadable(ValueError):
    """The start was written in a way that has two readings, or none; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class StartAt:
    """A start as the user wrote it: a wall-clock time and which day, not yet placed in a time zone.

    At most one of `day`, `weekday`, `days_ahead` is set. None of them: today, and a time already past is explained
    rather than moved to tomorrow (the user may have mistyped)."""

    hour: int
    minute: int
    day: date | None = None  # an explicit date
    after: timedelta | None = None  # `in 30 minutes`: from now, whatever the wall clock (hour and minute unused)
    offset: timedelta | None = (
        None  # an ISO time written with its own offset (`Z`, `+01:00`): that, not the user's zone
    )
    weekday: int | None = None  # 0 = Monday: the next such day, today if the time is still ahead
    days_ahead: int | None = None  # 0 today, 1 tomorrow
    text: str = ""  # as written, to quote back

    @property
    def clock(self) -> time:
        return time(self.hour, self.minute)


@dataclass(frozen=True, slots=True)
class UserZone:
    """The user's time zone: an IANA name, or only a UTC offset (from the activity's localTimestamp), or nothing.

    `tz` is UTC when nothing is known; `known` says whether the user's own zone is used."""

    name: str | None = None
    offset: timedelta | None = None

    @property
    def tz(self) -> tzinfo:
        if self.name:
            try:
                return ZoneInfo(self.name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        if self.offset is not None and abs(self.offset) < timedelta(hours=24):
            return timezone(self.offset)
        return UTC

    @property
    def known(self) -> bool:
        if self.name:
            try:
                ZoneInfo(self.name)
                return True
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return self.offset is not None and abs(self.offset) < timedelta(hours=24)


def find_start(text: str) -> tuple[str, StartAt | None]:
    """The command text without its start clause, and the start; (text, None) when it names none. Raises
    StartUnreadable for a start with two readings or an impossible date or time. Quoted text (a group name) is not
    looked into."""
    for m in _CLAUSE.finditer(text):
        if text.count('"', 0, m.start()) % 2:
            continue
        rest = (text[: m.start()].rstrip() + " " + text[m.end() :].lstrip()).strip()
        return rest, _start_of(m)
    return text, None


def leading_start(text: str) -> tuple[str, StartAt | None]:
    """A start clause at the very beginning of `text` ("at 14:00 because x" after "for 2h"), and the text after it;
    (text, None) when it does not begin with one. Raises StartUnreadable as `find_start` does."""
    m = _CLAUSE.match(text.strip())
    if m is None:
        return text, None
    return text.strip()[m.end() :].strip(), _start_of(m)


def _start_of(m: re.Match[str]) -> StartAt:
    written = " ".join(m.group(0).split())
    if m.group("rel"):
        after = _relative(m.group("rel"))
        if after is None or not timedelta(minutes=1) <= after <= timedelta(days=365):
            raise StartUnreadable(f"“{written}” is not a start I can use. Try “in 30 minutes” or “in 2 hours”.")
        return StartAt(0, 0, after=after, text=written)
    if m.group("iso"):
        return _iso(m.group("iso"), written)
    if m.group("slashed"):
        raise StartUnreadable(
            f"“{written}” can be read two ways (day/month or month/day). Please write the date as year-month-day, "
            "e.g. “at 2026-12-24T08:00”."
        )
    hour, minute = _clock(m.group("time") or m.group("dtime") or m.group("wtime") or "", written)
    day_word = (m.group("day") or m.group("wday") or m.group("after") or "").lower()
    day_word = re.sub(r"^(on\s+)?(next\s+)?", "", " ".join(day_word.split()))
    if day_word in ("today",):
        return StartAt(hour, minute, days_ahead=0, text=written)
    if day_word in ("tomorrow", "tmrw"):
        return StartAt(hour, minute, days_ahead=1, text=written)
    if day_word:
        return StartAt(hour, minute, weekday=_WEEKDAYS[day_word], text=written)
    return StartAt(hour, minute, text=written)


_REL = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)", re.IGNORECASE | re.ASCII)
_REL_UNITS = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hr": 60, "hrs": 60, "hour": 60,
              "hours": 60, "d": 1440, "day": 1440, "days": 1440}  # fmt: skip


def _relative(value: str) -> timedelta | None:
    m = _REL.fullmatch(value.strip())
    if m is None or m.group(2).lower() not in _REL_UNITS:
        return None
    return timedelta(minutes=float(m.group(1).replace(",", ".")) * _REL_UNITS[m.group(2).lower()])


def _iso(value: str, written: str) -> StartAt:
    offset: timedelta | None = None
    if m := re.search(r"(Z|[+-]\d{2}:?\d{2})$", value, re.IGNORECASE):
        mark = m.group(1).upper()
        value = value[: m.start()]
        if mark != "Z":
            sign = -1 if mark[0] == "-" else 1
            hours, minutes = int(mark[1:3]), int(mark[-2:])
            if hours > 14 or minutes > 59:
                raise StartUnreadable(f"“{written}” has an offset I cannot use. Leave it out to use your time zone.")
            offset = sign * timedelta(hours=hours, minutes=minutes)
        else:
            offset = timedelta(0)
    day_text, _, clock = value.replace("T", " ").replace("t", " ").partition(" ")
    try:
        day = date.fromisoformat(day_text)
    except ValueError as e:
        raise StartUnreadable(f"“{written}” is not a date I know. Write it as year-month-day, e.g. 2026-12-24.") from e
    if not clock:
        raise StartUnreadable(f"At what time on {day.isoformat()}? For example “at {day.isoformat()}T08:00”.")
    if clock.count(":") == 2:  # seconds: a start is to the minute, as PIM shows it
        clock, _, seconds = clock.rpartition(":")
        if int(seconds) > 59:
            raise StartUnreadable(f"“{written}” is not a time of day. Try “at {day.isoformat()}T08:00”.")
    hour, minute = _clock(clock, written)
    return StartAt(hour, minute, day=day, text=written, offset=offset)


def _clock(value: str, written: str) -> tuple[int, int]:
    m = _TIME.fullmatch(value.strip())
    if not m:
        raise StartUnreadable(f"At what time? For example “{written} at 09:00”.")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12 or minute > 59:
            raise StartUnreadable(f"“{written}” is not a time of day. Try “at 9am”, “at 2:30pm” or “at 14:30”.")
        return (hour % 12) + (12 if half == "p" else 0), minute
    if m.group(2) is None:
        # "at 9": 09:00 or 21:00? A bare hour from 13 up has one reading.
        if 13 <= hour <= 23:
            return hour, 0
        raise StartUnreadable(
            f"“{written}” could be morning or evening. Please write “at {hour:02d}:00” (24-hour) or "
            f"“at {hour}am” / “at {hour}pm”."
        )
    if hour > 23 or minute > 59:
        raise StartUnreadable(f"“{written}” is not a time of day. Try “at 09:00” or “at 14:30”.")
    return hour, minute


def place(start: StartAt, now: datetime, zone: UserZone) -> datetime:
    """The UTC instant `start` means for someone in `zone` at `now`. Raises StartInPast for a time already past
    (naming the next time that wall-clock time comes, when the user named no day), StartDoesNotExist for a time the
    clocks skip on that day."""
    if start.after is not None:  # "in 30 minutes": the zone does not matter; to the next whole minute, as PIM shows it
        when = now + start.after
        return (when + timedelta(seconds=59)).replace(second=0, microsecond=0).astimezone(UTC)
    tz = timezone(start.offset) if start.offset is not None else zone.tz
    local_now = now.astimezone(tz)
    day = _day(start, local_now)
    when = _wall_clock(day, start.clock, tz, start.text)
    if when <= now:
        following = None
        if start.day is None and start.weekday is None and start.days_ahead is None:
            following = _wall_clock_or_none(day + timedelta(days=1), start.clock, tz)
        raise StartInPast(when, now, following)
    return when.astimezone(UTC)


def _day(start: StartAt, local_now: datetime) -> date:
    today = local_now.date()
    if start.day is not None:
        return start.day
    if start.days_ahead is not None:
        return today + timedelta(days=start.days_ahead)
    if start.weekday is not None:
        ahead = (start.weekday - today.weekday()) % 7
        if ahead == 0 and start.clock <= local_now.time().replace(tzinfo=None):
            ahead = 7  # "on Monday 08:30", said on a Monday at 10:00: next Monday
        return today + timedelta(days=ahead)
    return today


def _wall_clock(day: date, clock: time, tz: tzinfo, text: str) -> datetime:
    found = _wall_clock_or_none(day, clock, tz)
    if found is None:
        raise StartDoesNotExist(text, datetime.combine(day, clock))
    return found


def _wall_clock_or_none(day: date, clock: time, tz: tzinfo) -> datetime | None:
    """The instant of a wall-clock time on a day in `tz`: the first when it happens twice (fold 0), None when the
    clocks skip it (a round trip through UTC does not give it back)."""
    local = datetime.combine(day, clock, tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz)
    if (back.date(), back.time()) != (day, clock):
        return None
    return local
