"""graph.cache.Cache: one load per key shared by concurrent callers, time-to-live on an injected clock, failures
kept only when asked, a bounded size."""

from __future__ import annotations

import asyncio

import pytest

from graph.cache import Cache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A load that counts its calls and, while `gate` is closed, waits (so that callers overlap)."""

    def __init__(self, *results: str | Exception) -> None:
        self.results = list(results)
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        result = self.results[min(self.calls, len(self.results)) - 1]
        if isinstance(result, Exception):
            raise result
        return result


async def test_concurrent_gets_share_one_load() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    source = Source("v1")
    source.gate.clear()

    waiting = [asyncio.ensure_future(cache.get("k", source)) for _ in range(10)]
    await asyncio.sleep(0)
    assert cache.loading("k")
    source.gate.set()

    assert await asyncio.gather(*waiting) == ["v1"] * 10
    assert source.calls == 1
    assert not cache.loading("k") and cache.peek("k") == "v1"


async def test_a_kept_value_answers_until_it_expires_on_the_clock() -> None:
    clock = Clock()
    cache: Cache[str, str] = Cache(60, clock=clock)
    source = Source("v1", "v2")

    assert await cache.get("k", source) == "v1"
    clock.now += 59.9
    assert await cache.get("k", source) == "v1"
    clock.now += 0.1
    assert cache.peek("k") is None
    assert await cache.get("k", source) == "v2"
    assert source.calls == 2


async def test_the_time_to_live_may_depend_on_the_value() -> None:
    clock = Clock()
    cache: Cache[str, tuple[str, float]] = Cache(lambda value: value[1], clock=clock)
    cache.put("short", ("a", 5))
    cache.put("long", ("b", 500))
    clock.now += 10
    assert (cache.peek("short"), cache.peek("long")) == (None, ("b", 500))


async def test_a_failed_load_is_not_kept_by_default() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    source = Source(RuntimeError("down"), "v2")

    with pytest.raises(RuntimeError):
        await cache.get("k", source)
    assert cache.peek("k") is None and len(cache) == 0
    assert await cache.get("k", source) == "v2"


async def test_a_failure_is_kept_for_as_long_as_asked_and_raised_again() -> None:
    clock = Clock()
    cache: Cache[str, str] = Cache(
        60, clock=clock, keep_failure=lambda e: 300.0 if isinstance(e, LookupError) else None
    )
    source = Source(LookupError("not there"), "found")

    for _ in range(3):
        with pytest.raises(LookupError):
            await cache.get("k", source)
    assert source.calls == 1 and cache.peek("k") is None
    clock.now += 300
    assert await cache.get("k", source) == "found"


async def test_fresh_passes_over_a_kept_value_but_shares_a_load_under_way() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    source = Source("v1", "v2")
    await cache.get("k", source)

    source.gate.clear()
    first = asyncio.ensure_future(cache.get("k", source, fresh=True))
    second = asyncio.ensure_future(cache.get("k", source, fresh=True))
    await asyncio.sleep(0)
    source.gate.set()

    assert list(await asyncio.gather(first, second)) == ["v2", "v2"]
    assert source.calls == 2


async def test_a_load_under_way_when_the_key_is_discarded_answers_its_callers_but_is_not_kept() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    source = Source("before", "after")
    source.gate.clear()
    early = asyncio.ensure_future(cache.get("k", source))
    await asyncio.sleep(0)

    cache.discard("k")
    assert not cache.loading("k")
    source.gate.set()

    assert await early == "before"
    assert cache.peek("k") is None
    assert await cache.get("k", source) == "after"


async def test_a_caller_who_gives_up_does_not_cancel_the_load_for_the_others() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    source = Source("v1")
    source.gate.clear()
    quitter = asyncio.ensure_future(cache.get("k", source))
    stayer = asyncio.ensure_future(cache.get("k", source))
    await asyncio.sleep(0)

    quitter.cancel()
    source.gate.set()

    assert await stayer == "v1"
    assert quitter.cancelled() and cache.peek("k") == "v1"


async def test_discard_where_forgets_the_matching_values() -> None:
    cache: Cache[str, str] = Cache(60, clock=Clock())
    for key in ("a1", "a2", "b1"):
        cache.put(key, key.upper())
    cache.discard_where(lambda key, value: key.startswith("a"))
    assert (cache.peek("a1"), cache.peek("a2"), cache.peek("b1")) == (None, None, "B1")


async def test_the_size_is_bounded_expired_entries_first_then_the_oldest() -> None:
    clock = Clock()
    cache: Cache[int, int] = Cache(lambda value: 5 if value == 0 else 60, clock=clock, max_size=3)
    cache.put(0, 0)  # expires first
    cache.put(1, 1)
    cache.put(2, 2)
    clock.now += 10
    cache.put(3, 3)
    assert (len(cache), cache.peek(1), cache.peek(3)) == (3, 1, 3)
    cache.put(4, 4)
    assert (len(cache), cache.peek(1), cache.peek(2), cache.peek(4)) == (3, None, 2, 4)
    assert cache.values() == [2, 3, 4]


async def test_expired_entries_do_not_pile_up_below_the_size_bound() -> None:
    """A user's snapshot lives 60 s, but an expired one went only when the cache was full (10,000 entries): a process
    that had seen 10,000 users held all their snapshots, however long ago they were read."""
    clock = Clock()
    cache: Cache[int, int] = Cache(60, clock=clock)
    for n in range(5000):  # a new key a second: at any moment 60 are live
        cache.put(n, n)
        clock.now += 1
    assert len(cache) <= 2 * 64, len(cache)
    assert cache.values() == list(range(4941, 5000))  # every live one is still there
