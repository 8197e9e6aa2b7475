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
