"""graph.history.AuditPacer: the audit API's 5 requests per 10 s per app (Microsoft Graph throttling limits,
identity and access reports) kept by the bot itself, on its clock: the sixth request waits for the first to leave the
window, and no window of 10 s ever holds more than five."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph.history import AuditPacer


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


async def test_no_ten_seconds_hold_more_than_five_requests() -> None:
    clock = _Clock()

    async def sleep(seconds: float) -> None:
        clock.at += timedelta(seconds=seconds)

    pacer = AuditPacer(clock, sleep)
    sent = []
    for n in range(17):
        await pacer.turn()
        sent.append(clock.at)
        clock.at += timedelta(milliseconds=300 * (n % 3))  # the reads themselves take a little time
    assert all(sent[i + 5] - sent[i] >= timedelta(seconds=10) for i in range(len(sent) - 5))
    assert sent[4] - sent[0] < timedelta(seconds=2)  # the first five go at once
    assert timedelta(seconds=29) < sent[-1] - sent[0] <= timedelta(seconds=32)  # 17 requests: about 3 windows
    assert pacer.waited > 25
