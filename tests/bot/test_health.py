"""bot.health on virtual time: retries back off (doubling, jittered, capped) until the dependency answers, and
Graph's reachability follows its requests through ObservedTransport."""

from __future__ import annotations

import httpx
import pytest

from bot.health import Dependency, Health, ObservedTransport, Unreachable
from tests.fakes.virtual_time import SteppingClock


class Flaky:
    """Fails `failures` times (as a refused connection would), then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("refused")
        return "client"


async def test_a_failed_start_is_retried_in_the_background_with_bounded_backoff() -> None:
    clock = SteppingClock()
    attempt = Flaky(failures=9)
    entra = Dependency(
        "Microsoft Entra", "https://login.example/tenant", attempt, first_retry=1.0, max_retry=60.0,
        sleep=clock.sleep, wall=clock,
    )  # fmt: skip
    await entra.connect()
    assert entra.status.reachable is False and entra.status.error == "ConnectionRefusedError"
    with pytest.raises(Unreachable, match=r"Microsoft Entra \(login.example\)"):
        entra.get()
    assert entra._task is not None
    await entra._task
    assert entra.get() == "client" and attempt.calls == 10 and entra.status.reachable is True
    ceilings = [min(2.0**n, 60.0) for n in range(9)]  # 1, 2, 4, … 60, 60
    assert len(clock.slept) == 9
    assert all(c / 2 <= s <= c for s, c in zip(clock.slept, ceilings, strict=True)), clock.slept
    assert max(clock.slept) <= 60.0


async def test_healthz_report_names_what_is_down_and_nothing_else() -> None:
    health = Health()
    clock = SteppingClock()
    url = "https://user:secret@login.example:8443/t?x=secret"
    down = health.add("entra_graph", Dependency("Microsoft Entra", url, Flaky(99), sleep=clock.sleep, wall=clock))
    health.add("graph", Dependency("Microsoft Graph", "https://graph.example/v1.0", Flaky(0)))
    await down.connect()
    report = health.report()
    assert report["status"] == "degraded"
    assert report["unreachable"] == ["Microsoft Entra at login.example:8443"]
    assert report["checks"]["graph"]["reachable"] is None  # not used yet: not counted against the bot
    assert "secret" not in str(report)
    await health.close()


async def test_graph_is_marked_by_its_requests_and_probed_again_after_a_failed_connection() -> None:
    clock = SteppingClock()
    probes = Flaky(failures=1)
    graph = Dependency("Microsoft Graph", "https://graph.example/v1.0", probes, sleep=clock.sleep, wall=clock)
    down = True

    def answer(request: httpx.Request) -> httpx.Response:
        if down and request.url.host == "graph.example":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(401)

    transport = ObservedTransport(httpx.MockTransport(answer), {"https://graph.example/v1.0": graph})
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("https://graph.example/v1.0/users")
        assert graph.status.reachable is False and graph.status.error == "ConnectError"
        await http.get("https://other.example/")  # other hosts say nothing about Graph
        assert graph.status.reachable is False
        assert graph._task is not None
        await graph._task  # the background probe: fails once, then answers
        assert graph.status.reachable is True and probes.calls == 2
        down = False
        await http.get("https://graph.example/v1.0/users")
        assert graph.status.reachable is True
