"""ISO 8601 instants and durations: read leniently, written the way Graph writes them.

Graph writes instants in UTC with a `Z` and, when there is a fraction, seven fractional digits (.NET ticks), e.g.
`2023-02-07T07:05:53.7895610Z`; whole seconds are written without a fraction. Durations are ISO 8601 day-time
durations (`PT8H`, `P365D`); PIM refuses calendar units (months, years).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["CalendarDurationError", "format_duration", "format_instant", "parse_duration", "parse_instant"]

_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_FRACTION = re.compile(r"(\.\d{6})\d+")


class CalendarDurationError(ValueError):
    """A duration with years or months: valid ISO 8601, refused by PIM (`P6M` -> InvalidRoleAssignmentRequest)."""


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; a missing offset means UTC. Raises ValueError."""
    cleaned = _FRACTION.sub(r"\1", text.strip())
    if cleaned.endswith(("z", "Z")):
        cleaned = cleaned[:-1] + "+00:00"
    value = datetime.fromisoformat(cleaned)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    value = value.astimezone(UTC)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        return f"{base}.{value.microsecond:06d}0Z"
    return base + "Z"


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 day-time duration. Raises CalendarDurationError for Y/M units, ValueError otherwise."""
    stripped = text.strip()
    match = _DURATION.match(stripped)
    if match is None or stripped.upper() in ("P", "PT") or stripped.upper().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    if years or months:
        raise CalendarDurationError(f"calendar duration not supported: {text!r}")
    return timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )


def format_duration(value: timedelta) -> str:
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds else "")
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"
