"""How the bot writes a date and time for one reader: in their time zone, ordered and with the clock their locale
uses, and the zone named as people know it ("EST", "CEST", "Dubai time"), never as an IANA id.

The bot's sentences are English, so month and day names are English too; only the order (day or month first) and the
clock (24 or 12 hours) follow the locale. For that the standard library is enough; babel would bring localized names
the English sentences around them do not want. The tables come from the Unicode CLDR (46) data that babel 2.19 ships:
a region's short time pattern (`h:mm a` or `HH:mm`) and, for English, the medium date pattern (`MMM d, y` or
`d MMM y`).

Without a locale (or with one the tables do not know) a time reads "Sun 22 Nov, 14:05 (CET)"; for en-US
"Sun, Nov 22, 2:05 PM (EST)". Without a zone, or an unknown one (clientInfo is client data), the time is in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.models import TimeStyle

__all__ = ["Tz", "format_clock", "format_time", "zone_label"]

# Whom a time is written for: their TimeStyle, or a bare IANA zone name (records kept before the locale was), or None.
Tz = TimeStyle | str | None

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Regions whose CLDR short time pattern has a 12-hour clock (English locales there, or the region's main language).
_TWELVE_HOUR_REGIONS = frozenset(
    "AE AG AL AS AU BB BD BH BM BN BO BS BT CA CO CR CU CY DJ DM DO DZ EC EG EH ER ET FJ FM GD GH GM GR GT GU GY HK "
    "HN IN IQ JM JO KH KI KN KP KR KW KY LB LC LR LS LY MH MO MP MR MW MX MY NA NI NZ OM PA PE PG PH PK PR PS PW QA "
    "SA SB SD SG SL SO SS SV SY SZ TC TD TN TO TT TW UM US VC VE VG VI VU WS YE".split()
)
_TWENTY_FOUR_HOUR = frozenset({("fr", "CA")})  # a 24-hour language in a 12-hour region
# English as written where the medium date puts the month first ("Nov 22, 2026").
_MONTH_FIRST_REGIONS = frozenset("AS CA GU MH MP PH PR UM US VI".split())
# A bare language tag reads as its most likely region (CLDR likely subtags), for the few whose clock differs.
_LIKELY_REGION = {"en": "US", "ko": "KR", "ar": "EG", "hi": "IN", "bn": "BD", "ur": "PK"}


@dataclass(frozen=True, slots=True)
class _Style:
    zone: tzinfo
    zone_id: str | None  # the IANA id when the zone is known, for a name when tzdata has no abbreviation
    month_first: bool
    twelve_hour: bool


def _parts(tz: Tz) -> tuple[str | None, str | None]:
    if isinstance(tz, TimeStyle):
        return tz.zone, tz.locale
    return tz, None


@lru_cache(maxsize=256)
def _style(zone_id: str | None, locale: str | None) -> _Style:
    zone: tzinfo = UTC
    if zone_id:
        try:
            zone = ZoneInfo(zone_id)
        except (ZoneInfoNotFoundError, ValueError):  # Teams' clientInfo is client data: tolerate garbage
            zone_id = None
    else:
        zone_id = None
    language, region = _language_region(locale or "")
    twelve = region in _TWELVE_HOUR_REGIONS and (language, region) not in _TWENTY_FOUR_HOUR
    month_first = language == "en" and region in _MONTH_FIRST_REGIONS
    return _Style(zone, zone_id, month_first, twelve)


def _language_region(tag: str) -> tuple[str, str]:
    """("en", "US") from "en-US", "en_us" or "en"; ("zh", "TW") from "zh-Hant-TW"; ("", "") from garbage."""
    subtags = tag.replace("_", "-").split("-")
    language = subtags[0].lower() if subtags[0].isalpha() and 2 <= len(subtags[0]) <= 3 else ""
    region = next((s.upper() for s in subtags[1:] if len(s) == 2 and s.isalpha()), "")
    return language, region or _LIKELY_REGION.get(language, "")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # the domain promises aware UTC


def _zone_name(local: datetime, zone_id: str | None) -> str:
    """The zone as people know it: tzdata's abbreviation ("EST", "CEST", "GMT"), else the zone's city ("Dubai time":
    tzdata writes "+04" where no abbreviation is in common use), else the offset ("UTC-5")."""
    if zone_id is None:
        return "UTC"
    abbreviation = local.tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    area, _, city = zone_id.rpartition("/")
    if area and not area.startswith("Etc"):
        return f"{city.replace('_', ' ')} time"
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def _clock(local: datetime, style: _Style) -> str:
    # the fields, not strftime's "%H:%M": the same digits for a fifth of the cost (a card writes several times)
    if not style.twelve_hour:
        return f"{local.hour:02d}:{local.minute:02d}"
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def zone_label(tz: Tz, at: datetime) -> str:
    """The name of the reader's zone at `at` ("CET" in winter, "CEST" in summer), or "UTC"."""
    zone_id, locale = _parts(tz)
    style = _style(zone_id, locale)
    return _zone_name(_aware(at).astimezone(style.zone), style.zone_id)


def format_time(when: datetime, tz: Tz, *, reference: datetime | None = None) -> str:
    """Like "Sun 22 Nov, 14:05 (CET)", or "Sun, Nov 22, 2:05 PM (EST)" for en-US. The year is added when it differs
    from `reference`'s year."""
    style = _style(*_parts(tz))
    local = _aware(when).astimezone(style.zone)
    year = ""
    if reference is not None and _aware(reference).astimezone(style.zone).year != local.year:
        year = f" {local.year}"
    day, month = _DAYS[local.weekday()], _MONTHS[local.month - 1]
    if style.month_first:
        date = f"{day}, {month} {local.day}" + (f",{year}" if year else "")
    else:
        date = f"{day} {local.day} {month}{year}"
    return f"{date}, {_clock(local, style)} ({_zone_name(local, style.zone_id)})"


def format_clock(when: datetime, tz: Tz, *, reference: datetime) -> str:
    """The time of day alone, like "14:21" or "2:21 PM", when it falls on `reference`'s day in the reader's zone (a
    time minutes away, whose date goes without saying); else the whole `format_time`."""
    style = _style(*_parts(tz))
    local, ref = _aware(when).astimezone(style.zone), _aware(reference).astimezone(style.zone)
    if local.date() != ref.date():
        return format_time(when, tz, reference=reference)
    return _clock(local, style)
