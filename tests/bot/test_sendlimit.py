"""Teams' per-conversation send limits (bot.sendlimit), on virtual time: minutes of waiting in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.sendlimit import TEAMS_SEND_LIMITS, ConversationLimiter, conversation_key
from tests.fakes.virtual_time import VirtualClock


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


def test_busiest_counts_half_open_windows() -> None:
    assert busiest([0.0, 0.5, 1.0, 1.5], 1.0) == 2
    assert busiest([0.0, 0.1, 0.2], 1.0) == 3
    assert busiest([], 1.0) == 0


async def test_100_concurrent_sends_to_one_conversation_keep_every_window_in_order() -> None:
    clock = VirtualClock()
    limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
    woke: list[tuple[int, float]] = []

    async def send(i: int) -> None:
        await limiter.acquire("a:1")
        woke.append((i, clock()))

    await clock.run(send(i) for i in range(100))
    times = [t for _, t in woke]
    assert [i for i, _ in woke] == list(range(100))  # first come, first served
    assert times == sorted(times)
    assert_within_teams_limits(times)
    assert busiest(times, 1.0) == 7  # the limit is used, not just respected
    assert 30 < times[-1] - times[0] < 60  # 100 sends need a second 30 s window, not much more
    assert limiter.waited == 93


async def test_a_full_conversation_does_not_delay_another() -> None:
    clock = VirtualClock()
    limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(7):
        assert limiter.reserve("a:1") == 0
    assert limiter.reserve("a:1") == pytest.approx(1.05)  # the 8th waits for the 1 s window (+ the jitter margin)
    assert limiter.reserve("a:2") == 0
    assert limiter.reserve("19:chan@thread.tacv2") == 0


async def test_replies_in_a_channel_thread_count_against_the_channel() -> None:
    assert conversation_key("19:chan@thread.tacv2;messageid=1700000000000") == "19:chan@thread.tacv2"
    assert conversation_key("a:1") == "a:1"
    limiter = ConversationLimiter(clock=VirtualClock(), margin=0)
    for i in range(7):
        assert limiter.reserve(f"19:chan@thread.tacv2;messageid={i}") == 0
    assert limiter.reserve("19:chan@thread.tacv2") == 1.0


async def test_a_hold_after_429_delays_every_send_to_that_conversation_only() -> None:
    clock = VirtualClock()
    limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
    limiter.reserve("a:1")
    limiter.hold("a:1", 5.0)
    assert limiter.reserve("a:1") == 5.0
    assert limiter.reserve("a:2") == 0


def test_a_send_that_fits_never_sleeps() -> None:
    clock = VirtualClock()
    limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
    for i in range(7):
        clock.now += 0.2
        assert limiter.reserve("a:1") == 0, i
    assert clock.slept == [] and limiter.waited == 0


def test_idle_conversations_are_forgotten() -> None:
    clock = VirtualClock()
    limiter = ConversationLimiter(clock=clock, sleep=clock.sleep)
    for i in range(4095):  # one new conversation a second; the 4096th reservation sweeps
        clock.now += 1.0
        limiter.reserve(f"a:{i}")
    assert len(limiter) == 4095
    clock.now += 1.0
    limiter.reserve("a:last")
    assert len(limiter) == 3601  # those idle for over an hour (and the 0.05 s margin) are forgotten


@pytest.mark.parametrize("limits", [(), ((0.0, 7),), ((1.0, 0),)])
def test_nonsense_limits_are_refused(limits: tuple[tuple[float, int], ...]) -> None:
    with pytest.raises(ValueError, match="limits must be"):
        ConversationLimiter(limits)
