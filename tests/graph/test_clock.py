from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph.clock import GraphClock

LOCAL = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def test_follows_graphs_date_header_when_it_differs_by_more_than_noise() -> None:
    clock = GraphClock(local=lambda: LOCAL)
    clock.observe("Sun, 22 Nov 2026 12:06:00 GMT")
    assert clock.now() == LOCAL + timedelta(minutes=6)
    clock.observe("Sun, 22 Nov 2026 11:59:59 GMT")  # within noise: back to the local clock
    assert clock.now() == LOCAL


def test_ignores_missing_and_malformed_headers() -> None:
    clock = GraphClock(local=lambda: LOCAL)
    clock.observe("Sun, 22 Nov 2026 12:10:00 GMT")
    for header in (None, "", "yesterday", "Sun, 99 Nov 2026 12:00:00 GMT"):
        clock.observe(header)
    assert clock.offset == timedelta(minutes=10)


async def test_only_graph_responses_move_it() -> None:
    import httpx

    clock = GraphClock("https://graph.example/v1.0", local=lambda: LOCAL)
    date = {"Date": "Sun, 22 Nov 2026 12:30:00 GMT"}
    other = httpx.Response(200, headers=date, request=httpx.Request("POST", "https://login.example/t/token"))
    await clock.on_response(other)
    assert clock.offset == timedelta(0)
    graph = httpx.Response(200, headers=date, request=httpx.Request("GET", "https://graph.example/v1.0/users/x"))
    await clock.on_response(graph)
    assert clock.offset == timedelta(minutes=30)


def test_the_same_header_again_is_read_against_the_local_clock_of_now() -> None:
    """The parsed header is kept for the next response carrying the same one (graph.clock): the offset is still
    worked out afresh against the local clock at each response."""
    local = [LOCAL]
    clock = GraphClock(local=lambda: local[0])
    header = "Sun, 22 Nov 2026 12:06:00 GMT"
    clock.observe(header)
    assert clock.offset == timedelta(minutes=6)
    local[0] = LOCAL + timedelta(minutes=3)
    clock.observe(header)
    assert clock.offset == timedelta(minutes=3)
    clock.observe("yesterday")  # a malformed header, then the same one again: neither moves it
    clock.observe("yesterday")
    assert clock.offset == timedelta(minutes=3)
    local[0] = LOCAL + timedelta(minutes=6)
    clock.observe(header)  # within noise of the local clock now
    assert clock.offset == timedelta(0)
