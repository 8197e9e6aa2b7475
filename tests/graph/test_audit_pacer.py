"""graph.auditlog.AuditPacer: the audit API's 5 requests per 10 s per app (Microsoft Graph throttling limits,
identity and access reports) kept by the bot itself, on its clock: the sixth request waits for the first to leave the
window, and no window of 10 s ever holds more than five, however long each request takes (a request counts from
its answer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph.auditlog import AuditPacer


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
    seen = []  # when the server saw each request: somewhere while it was under way
    for n in range(17):
        async with pacer.slot():
            clock.at += timedelta(milliseconds=100 if n % 2 else 900)  # on its way (uneven: a slow network)
            seen.append(clock.at)
            clock.at += timedelta(milliseconds=900 if n % 2 else 100)  # the answer coming back
    assert all(seen[i + 5] - seen[i] >= timedelta(seconds=10) for i in range(len(seen) - 5)), seen
    sent = seen
    assert sent[4] - sent[0] < timedelta(seconds=6)  # the first five go one after the other, no waiting
    assert timedelta(seconds=30) < sent[-1] - sent[0] <= timedelta(seconds=36)  # 17 requests: about 3 windows
    assert pacer.waited > 15  # the rest of each window, after the requests themselves
