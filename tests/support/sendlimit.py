"""Teams' and the bot's own send limits, as checks over the times sends were made."""

from __future__ import annotations

from collections.abc import Sequence

from bot.transport.sendlimit import TEAMS_APP_LIMITS, TEAMS_SEND_LIMITS


def busiest(times: Sequence[float], span: float) -> int:
    """The most instants in any half-open window [t, t + span)."""
    ordered = sorted(times)
    most, left = 0, 0
    for right, t in enumerate(ordered):
        while ordered[left] <= t - span:
            left += 1
        most = max(most, right - left + 1)
    return most


def assert_within_teams_limits(times: Sequence[float]) -> None:
    for span, count in TEAMS_SEND_LIMITS:
        assert busiest(times, span) <= count, f"more than {count} sends in {span} s"


def assert_within_app_limits(times: Sequence[float]) -> None:
    for span, count in TEAMS_APP_LIMITS:
        assert busiest(times, span) <= count, f"more than {count} sends in {span} s over all conversations"
