"""The store interface's contract (bot.store.Store), run against every backend in tests/support/store_backends.py.

What the bot relies on: conditional writes that refuse a stale etag, one generic compare-and-swap that survives
races of tasks and processes, prefix listing that never mixes kinds, leases that pass on when their holder dies, and
keys and values of every shape the bot produces.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.store import ANY, MAX_KEY_LENGTH, Conflict, Contended, Store, Versioned
from tests.support.racer import bump
from tests.support.store_backends import Backend

ROOT = Path(__file__).resolve().parents[2]
TTL = timedelta(seconds=15)  # the shortest lease every backend keeps: the Blob backend's lapse takes real time


async def listed(store: Store, prefix: str, limit: int | None = None) -> list[str]:
    return [key async for key in store.keys(prefix, limit=limit)]


# ---- get / put_if ----------------------------------------------------------------------------------------------------


async def test_a_missing_key_reads_as_none(store: Store) -> None:
    assert await store.get("nothing/here") is None


async def test_put_if_none_creates_once(store: Store) -> None:
    etag = await store.put_if("k", {"v": 1}, None)
    with pytest.raises(Conflict) as refused:
        await store.put_if("k", {"v": 2}, None)
    assert refused.value.key == "k"
    assert await store.get("k") == Versioned({"v": 1}, etag)


async def test_put_if_an_etag_writes_over_that_version_only(store: Store) -> None:
    first = await store.put_if("k", {"v": 1}, None)
    second = await store.put_if("k", {"v": 2}, first)
    assert second != first
    with pytest.raises(Conflict):
        await store.put_if("k", {"v": 3}, first)
    assert await store.get("k") == Versioned({"v": 2}, second)


async def test_put_if_an_etag_does_not_create_a_missing_key(store: Store) -> None:
    etag = await store.put_if("k", {"v": 1}, None)
    await store.delete("k")
    with pytest.raises(Conflict):
        await store.put_if("k", {"v": 2}, etag)
    assert await store.get("k") is None


async def test_put_if_any_creates_and_overwrites(store: Store) -> None:
    first = await store.put_if("k", {"v": 1}, ANY)
    second = await store.put_if("k", {"v": 2}, ANY)
    assert first != second
    assert await store.get("k") == Versioned({"v": 2}, second)


async def test_values_come_back_as_written_and_as_copies(store: Store) -> None:
    value = {
        "text": 'Zürich 🙂 "quoted" \\ % _ \n\t',
        "numbers": [0, -1, 2**53, 1.5, 1e-300],
        "flags": [True, False, None],
        "nested": {"a": {"b": {"c": []}}, "": "empty key"},
    }
    await store.put_if("k", value, None)
    found = await store.get("k")
    assert found is not None and found.value == value
    found.value["text"] = "changed by the reader"
    again = await store.get("k")
    assert again is not None and again.value == value


@pytest.mark.parametrize(
    "value",
    [["a", "list"], {"n": math.nan}, {"n": math.inf}, {"s": {1, 2}}, {"e_tag": "x"}, {"when": object()}],
    ids=["not-an-object", "nan", "infinity", "set", "e_tag-field", "object"],
)
async def test_values_json_cannot_carry_are_refused_and_nothing_is_written(store: Store, value: Any) -> None:
    with pytest.raises(ValueError):
        await store.put_if("k", value, ANY)
    assert await store.get("k") is None


async def test_a_large_value_round_trips(store: Store) -> None:
    big = {"blob": "x" * 1_000_000, "rows": [{"id": i, "name": f"row {i} ✓"} for i in range(5000)]}
    etag = await store.put_if("big", big, None)
    assert await store.get("big") == Versioned(big, etag)
    written = await store.update("big", lambda v: {**v, "blob": v["blob"] + "y"})
    assert written is not None and len(written.value["blob"]) == 1_000_001
    assert await store.get("big") == written


# ---- keys ----------------------------------------------------------------------------------------------------------

ODD_KEYS = {
    "slashes": "a/b//c/",
    "leading-slash": "/rooted/key",
    "dots": "../x/./y.",
    "unicode": "请求/ключ/🙂/e\u0301/עברית",
    "quotes": 'it\'s "quoted" `here`',
    "percent": "100%/%25/%2F%",
    "like-wildcards": "a_b%c[d]*e?",
    "backslash": "C:\\dir\\file",
    "url-reserved": "?#&=+;:@$,!()'",
    "spaces": " spaced out ",
    "teams-ids": "19:abc@thread.tacv2;messageid=1712345678901|1:1a2B3c",
    "longest": "k/" + "é" * (MAX_KEY_LENGTH - 2),
    "max-code-point": "x\U0010ffff",
}


@pytest.mark.parametrize("key", list(ODD_KEYS.values()), ids=list(ODD_KEYS))
async def test_odd_keys_are_written_read_listed_and_deleted(store: Store, key: str) -> None:
    await store.put_if("a neighbour", {"n": 0}, None)
    etag = await store.put_if(key, {"key": key}, None)
    assert await store.get(key) == Versioned({"key": key}, etag)
    assert await listed(store, key) == [key]
    assert key in await listed(store, key[:1])
    assert await store.update(key, lambda v: {**v, "n": 1}) is not None
    assert await store.delete(key)
    assert await store.get(key) is None
    assert await listed(store, "") == ["a neighbour"]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "k" * (MAX_KEY_LENGTH + 1),
        "." * (MAX_KEY_LENGTH // 3 + 1),
        "new\nline",
        "nul\x00",
        "tab\t",
        "del\x7f",
        "lone \ud800 surrogate",
        "non\uffffcharacter",
    ],
    ids=["empty", "too-long", "too-long-escaped", "newline", "nul", "tab", "delete", "surrogate", "noncharacter"],
)
async def test_keys_no_backend_can_store_are_refused(store: Store, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put_if(key, {}, ANY)
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.delete(key)


# ---- delete ----------------------------------------------------------------------------------------------------------


async def test_delete_without_an_etag(store: Store) -> None:
    await store.put_if("k", {}, None)
    assert await store.delete("k")
    assert not await store.delete("k")
    assert await store.get("k") is None


async def test_delete_with_an_etag_deletes_that_version_only(store: Store) -> None:
    stale = await store.put_if("k", {"v": 1}, None)
    fresh = await store.put_if("k", {"v": 2}, stale)
    with pytest.raises(Conflict):
        await store.delete("k", stale)
    assert await store.get("k") == Versioned({"v": 2}, fresh)
    assert await store.delete("k", fresh)
    assert not await store.delete("k", fresh)  # already gone: nothing of that version is left
    assert not await store.delete("never", ANY)


# ---- listing ---------------------------------------------------------------------------------------------------------


async def test_a_prefix_lists_its_keys_only_in_code_point_order(store: Store) -> None:
    # Code point order for the keys the bot writes; beyond U+FFFF the order is the backend's own (Azurite compares
    # UTF-16 code units), so 🙂 is only checked to be listed (below).
    keys = ["a/", "a/b", "a/b/c", "a/bc", "a0", "ab", "A/b", "b", "a/é", "a/z", "a/\ufffd", "request/1"]
    keys += ["request-card/1", "request/2"]
    for key in keys:
        await store.put_if(key, {"k": key}, None)
    assert await listed(store, "") == sorted(keys)
    assert await listed(store, "a/") == ["a/", "a/b", "a/b/c", "a/bc", "a/z", "a/é", "a/\ufffd"]
    assert await listed(store, "a/b") == ["a/b", "a/b/c", "a/bc"]
    assert await listed(store, "a/b/") == ["a/b/c"]
    assert await listed(store, "request/") == ["request/1", "request/2"]  # not request-card/
    assert await listed(store, "A/") == ["A/b"]  # prefixes are case-sensitive
    assert await listed(store, "a/bcd") == []
    assert await listed(store, "a_") == [] and await listed(store, "a%") == []  # no wildcards
    await store.put_if("a/🙂", {}, None)
    assert "a/🙂" in await listed(store, "a/") and await listed(store, "a/🙂") == ["a/🙂"]


async def test_items_list_values_with_the_etags_get_gives(store: Store) -> None:
    for i in range(3):
        await store.put_if(f"item/{i}", {"i": i}, None)
    await store.put_if("itemz", {"i": 9}, None)
    found = [(key, v) async for key, v in store.items("item/")]
    assert [key for key, _ in found] == ["item/0", "item/1", "item/2"]
    for key, version in found:
        assert await store.get(key) == version


async def test_listing_reads_many_pages_and_stops_at_the_limit(store: Store) -> None:
    keys = [f"many/{i:05d}" for i in range(1203)]
    for key in keys:
        await store.put_if(key, {}, None)
    await store.put_if("many0", {}, None)
    assert await listed(store, "many/") == keys
    assert await listed(store, "many/", limit=2) == keys[:2]
    assert await listed(store, "many/", limit=1000) == keys[:1000]
    assert await listed(store, "many/", limit=0) == []
    assert len([k async for k, _ in store.items("many/", limit=700)]) == 700


async def test_a_key_present_throughout_a_listing_is_listed_once(store: Store) -> None:
    keys = [f"busy/{i:05d}" for i in range(1100)]
    for key in keys:
        await store.put_if(key, {}, None)
    seen: list[str] = []
    async for key in store.keys("busy/"):
        seen.append(key)
        if len(seen) == 600:  # meanwhile others delete some keys and add others, before and after this point
            for gone in keys[700:720] + keys[10:20]:
                await store.delete(gone)
            for new in ("busy/00300x", "busy/00900x", "busy/99999"):
                await store.put_if(new, {}, None)
    untouched = [k for k in keys if k not in keys[700:720] + keys[10:20]]
    assert len(seen) == len(set(seen))
    assert set(untouched) <= set(seen)
    assert seen == sorted(seen)


# ---- update: the one compare-and-swap ------------------------------------------------------------------------------


async def test_update_of_a_missing_key_without_create_writes_nothing(store: Store) -> None:
    def fail(value: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("not called for a missing key")

    assert await store.update("k", fail) is None
    assert await store.get("k") is None


async def test_update_creates_from_create_which_it_does_not_change(store: Store) -> None:
    start: dict[str, Any] = {"ids": []}

    def add(value: dict[str, Any]) -> dict[str, Any]:
        value["ids"].append("one")
        return value

    written = await store.update("k", add, create=start)
    assert start == {"ids": []}
    assert written is not None and written.value == {"ids": ["one"]}
    assert await store.get("k") == written


async def test_update_returning_none_leaves_the_record_as_it_is(store: Store) -> None:
    etag = await store.put_if("k", {"v": 1}, None)
    assert await store.update("k", lambda v: None) is None
    assert await store.get("k") == Versioned({"v": 1}, etag)


async def test_an_error_in_the_function_writes_nothing(store: Store) -> None:
    etag = await store.put_if("k", {"v": 1}, None)

    def boom(value: dict[str, Any]) -> dict[str, Any]:
        value["v"] = 2
        raise KeyError("missing field")

    with pytest.raises(KeyError):
        await store.update("k", boom)
    assert await store.get("k") == Versioned({"v": 1}, etag)


def interfere(backend: Backend, key: str, value: dict[str, Any]) -> None:
    """Write `key` from another handle, on another thread with its own event loop: as another process would,
    between the update's read and its write."""

    async def write() -> None:
        other = backend.open()
        try:
            await other.put_if(key, value, ANY)
        finally:
            await other.aclose()  # on this thread's loop, which owns its connections

    thread = threading.Thread(target=asyncio.run, args=(write(),))
    thread.start()
    thread.join()


async def test_update_reads_again_and_reapplies_after_losing_a_race(backend: Backend, store: Store) -> None:
    await store.put_if("k", {"n": 1, "by": []}, None)
    calls: list[dict[str, Any]] = []

    def bump(value: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(value))
        if len(calls) == 1:
            interfere(backend, "k", {"n": 10, "by": ["other"]})
        return {"n": value["n"] + 1, "by": [*value["by"], "me"]}

    written = await store.update("k", bump)
    assert calls == [{"n": 1, "by": []}, {"n": 10, "by": ["other"]}]
    assert written is not None and written.value == {"n": 11, "by": ["other", "me"]}
    assert await store.get("k") == written


async def test_update_gives_up_after_its_attempts_writing_nothing(backend: Backend, store: Store) -> None:
    await store.put_if("k", {"n": 0}, None)
    tries = 0

    def always_overtaken(value: dict[str, Any]) -> dict[str, Any]:
        nonlocal tries
        tries += 1
        interfere(backend, "k", {"n": 100 + tries})
        return {"n": -1}

    with pytest.raises(Contended) as gave_up:
        await store.update("k", always_overtaken, attempts=3)
    assert tries == 3 and gave_up.value.key == "k"
    found = await store.get("k")
    assert found is not None and found.value == {"n": 103}


async def test_racing_tasks_on_several_handles_lose_no_update(backend: Backend) -> None:
    """8 writers on 3 handles, 20 updates each, all on one key: none is lost and none lands twice. A writer that loses
    every one of its attempts gets `Contended` (the documented answer to sustained contention; it wrote nothing: the
    test above) and tries that update again, as a caller may; a clean-clone CI on Azurite saw that once."""
    handles = [backend.open() for _ in range(3)]

    async def writer(w: int) -> None:
        for i in range(20):
            for _ in range(5):
                try:
                    await handles[w % 3].update("counter", bump(f"{w}-{i}"), create={"n": 0, "seen": []})
                    break
                except Contended:
                    continue
            else:
                raise AssertionError(f"update {w}-{i} lost every race five times over")

    await asyncio.gather(*(writer(w) for w in range(8)))
    found = await handles[0].get("counter")
    assert found is not None and found.value["n"] == 160
    assert sorted(found.value["seen"]) == sorted(f"{w}-{i}" for w in range(8) for i in range(20))


@pytest.fixture
def racers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()
        for pipe in (p.stdin, p.stdout):
            if pipe is not None:
                pipe.close()


def racer(racers: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    """A child process on the same store (tests/support/racer.py), once it says it is ready."""
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.support.racer", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    racers.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def go(p: subprocess.Popen[str]) -> None:
    assert p.stdin is not None
    p.stdin.write("go\n")
    p.stdin.flush()


async def test_two_processes_and_this_one_racing_lose_no_update(
    backend: Backend, store: Store, racers: list[subprocess.Popen[str]]
) -> None:
    children = [racer(racers, backend.spec(), "update", "counter", "60", f"p{c}") for c in range(2)]

    async def here(t: int) -> None:
        for i in range(30):
            await store.update("counter", bump(f"t{t}-{i}"), create={"n": 0, "seen": []})

    for p in children:
        go(p)
    await asyncio.gather(here(0), here(1))
    for p in children:
        out, _ = await asyncio.to_thread(p.communicate, timeout=120)
        assert p.returncode == 0 and out.strip() == "done"
    found = await store.get("counter")
    assert found is not None and found.value["n"] == 180
    expected = [f"p{c}-{i}" for c in range(2) for i in range(60)] + [f"t{t}-{i}" for t in range(2) for i in range(30)]
    assert sorted(found.value["seen"]) == sorted(expected)


# ---- leases ------------------------------------------------------------------------------------------------------


async def test_a_lease_has_one_holder_until_it_lapses(backend: Backend, store: Store) -> None:
    other = backend.open()
    mine = await store.acquire("poller", "me", TTL)
    assert mine is not None and mine.owner == "me" and mine.expires == backend.clock.now() + TTL
    assert await other.acquire("poller", "them", TTL) is None
    await backend.advance(TTL - timedelta(seconds=4))  # (margins of seconds: Azurite's leases lapse in real time)
    assert await other.acquire("poller", "them", TTL) is None
    await backend.advance(timedelta(seconds=6))  # the holder died: it stopped renewing
    theirs = await other.acquire("poller", "them", TTL)
    assert theirs is not None and theirs.owner == "them"
    assert await store.renew(mine) is None  # the dead holder's lease is gone for good
    assert not await store.release(mine)
    assert await store.acquire("poller", "me", TTL) is None
    assert await other.renew(theirs) is not None


async def test_renewing_keeps_a_lease_past_its_first_ttl(backend: Backend, store: Store) -> None:
    other = backend.open()
    lease = await store.acquire("poller", "me", TTL)
    for _ in range(3):
        await backend.advance(TTL / 2)
        assert lease is not None
        lease = await store.renew(lease)
        assert lease is not None and lease.expires == backend.clock.now() + TTL
        assert await other.acquire("poller", "them", TTL) is None


async def test_the_holder_acquiring_again_keeps_it_and_a_lapsed_lease_nobody_took_can_be_renewed(
    backend: Backend, store: Store
) -> None:
    first = await store.acquire("poller", "me", TTL)
    again = await store.acquire("poller", "me", TTL)
    assert first is not None and again is not None
    await backend.advance(TTL + timedelta(seconds=2))
    assert await store.renew(again) is not None  # lapsed, but nobody took it since


async def test_a_released_lease_is_free_at_once(backend: Backend, store: Store) -> None:
    other = backend.open()
    lease = await store.acquire("poller", "me", TTL)
    assert lease is not None and await store.release(lease)
    assert await other.acquire("poller", "them", TTL) is not None
    assert not await store.release(lease)


async def test_leases_are_independent_by_name(store: Store) -> None:
    assert await store.acquire("feed", "me", TTL) is not None
    assert await store.acquire("approvals", "them", TTL) is not None


async def test_of_several_racing_for_a_free_lease_one_wins(backend: Backend) -> None:
    handles = [backend.open() for _ in range(5)]
    won = await asyncio.gather(*(h.acquire("poller", f"owner-{i}", TTL) for i, h in enumerate(handles)))
    assert len([lease for lease in won if lease is not None]) == 1


async def test_a_lease_held_by_a_killed_process_passes_on_once_it_lapses(
    backend: Backend, store: Store, racers: list[subprocess.Popen[str]]
) -> None:
    holder = racer(racers, backend.spec(), "lease", "poller", "dead-process", backend.clock.now().isoformat())
    go(holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert await store.acquire("poller", "me", TTL) is None
    await backend.advance(TTL + timedelta(seconds=2))
    lease = await store.acquire("poller", "me", TTL)
    assert lease is not None and lease.owner == "me"


@pytest.mark.parametrize(
    ("owner", "ttl"),
    [("", TTL), ("me", timedelta(seconds=14)), ("me", timedelta(seconds=61))],
    ids=["no-owner", "too-short", "too-long"],
)
async def test_leases_every_backend_cannot_keep_are_refused(store: Store, owner: str, ttl: timedelta) -> None:
    with pytest.raises(ValueError):
        await store.acquire("poller", owner, ttl)
