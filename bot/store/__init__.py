"""The bot's state store: our own small interface, with one compare-and-swap and one lease, over a backend.

Every record the bot keeps is one JSON object under one key (the keys are declared in bot.store.keys). A backend
offers five things, which Azure Blob Storage also offers one to one (one blob per key, `If-Match` /
`If-None-Match: *`, list by prefix, blob leases), so a second backend stays small:

* `get(key)` → the value and its etag, or None;
* `put_if(key, value, etag)` → the new etag: `etag` None writes only if the key does not exist, `ANY` ("*") writes
  whatever is there, any other etag writes only if the stored one is that. Otherwise `Conflict`, nothing written;
* `delete(key, etag=None)`, conditional like `put_if`;
* `keys(prefix)` / `items(prefix)`: the keys starting with `prefix`, in code point order (a backend may order keys
  with characters beyond U+FFFF, or the Blob backend's escaped `%` `.` `\\`, its own way: nothing relies on that), read
  page by page;
* a lease: `acquire(name, owner, ttl)`, `renew`, `release`. One holder at a time; a holder that stops renewing
  (killed) loses it once `ttl` has passed on the store's clock.

`update(key, fn)` is the one compare-and-swap loop, written once here for every backend: read, apply the pure
function `fn`, `put_if` under the etag read, and on a conflict read again and re-apply (a bounded number of times).
Callers never write their own retry loop.

Why a package of the bot and not a port in core/: the domain's use cases never read or write state (core.service
works through PimDirectory); everything kept here is the bot's bookkeeping of cards, claims, sign-ins and the feed.
bot.store imports no botbuilder (an import contract says so), so a later move to another Teams SDK leaves it as it is.

Errors:

* StoreError
  + Conflict — a conditional write or delete found another etag (or a key that exists / is missing)
    + Contended — `update` lost `attempts` races in a row
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

__all__ = [
    "ANY",
    "LEASE_TTL_MAX",
    "LEASE_TTL_MIN",
    "MAX_KEY_LENGTH",
    "Conflict",
    "Contended",
    "Json",
    "Lease",
    "Store",
    "StoreError",
    "Versioned",
    "all_storable",
    "check_key",
    "check_lease",
    "encode",
    "storable_char",
    "stored_length",
]

Json = dict[str, Any]
"""A stored value: a JSON object. `e_tag` is not a field of it (botbuilder's Storage convention): the etag is
`Versioned.etag`."""

ANY: Final = "*"
"""The etag of an unconditional `put_if` or `delete`."""

MAX_KEY_LENGTH: Final = 1024  # Azure Blob Storage's longest blob name
LEASE_TTL_MIN: Final = timedelta(seconds=15)  # the lease durations Azure blob leases offer; every backend keeps
LEASE_TTL_MAX: Final = timedelta(seconds=60)  # to them, so a lease that works on SQLite works there too


class StoreError(Exception):
    """Something the store refused."""


class Conflict(StoreError):
    """A conditional write or delete of `key` found the key changed (another etag, or created or deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key!r} was changed by someone else")
        self.key = key


class Contended(Conflict):
    """`update` of `key` lost the race `attempts` times in a row: too many writers on one record."""

    def __init__(self, key: str, attempts: int) -> None:
        super().__init__(key)
        self.args = (f"{key!r} kept changing; gave up after {attempts} attempts",)
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Versioned:
    """A stored value and the etag it was stored under (pass it to `put_if` to write only over this version)."""

    value: Json
    etag: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease held by `owner` until `expires` (on the store's clock) unless renewed by `ttl`; `token` proves the
    holding."""

    name: str
    owner: str
    expires: datetime
    ttl: timedelta
    token: str


class Store(Protocol):
    """The bot's state store (module doc). Backends subclass it explicitly, which gives them `update`."""

    async def get(self, key: str) -> Versioned | None:
        """The value under `key` with its etag, or None."""
        ...

    async def put_if(self, key: str, value: Json, etag: str | None) -> str:
        """Write `value` under `key` if `etag` allows it (None: the key must not exist; ANY: always; else: the stored
        etag must be this one); the new etag. Raises Conflict otherwise, having written nothing."""
        ...

    async def delete(self, key: str, etag: str | None = None) -> bool:
        """Delete `key` (only the version `etag`, when given: else Conflict); False if it was not there."""
        ...

    def keys(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[str]:
        """The keys starting with `prefix`, in code point order (module doc), at most `limit` of them. Read a page at a
        time: a key that exists during the whole iteration is seen once; one written or deleted meanwhile may or may
        not be."""
        ...

    def items(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[tuple[str, Versioned]]:
        """The keys starting with `prefix` with their values, as `keys` lists them."""
        ...

    async def acquire(self, name: str, owner: str, ttl: timedelta) -> Lease | None:
        """Take the lease `name` for `owner` for `ttl` (LEASE_TTL_MIN to LEASE_TTL_MAX) if it is free, lapsed or
        already `owner`'s; None if another owner holds it. Of several racing for it, one gets it."""
        ...

    async def renew(self, lease: Lease) -> Lease | None:
        """The lease extended by its ttl from now; None if it was lost (another owner took it after it lapsed)."""
        ...

    async def release(self, lease: Lease) -> bool:
        """Give the lease up at once (a clean shutdown: another owner need not wait for it to lapse); False if it was
        no longer held."""
        ...

    async def aclose(self) -> None:
        """Let go of the backend's connections."""
        ...

    async def update(
        self,
        key: str,
        fn: Callable[[Json], Json | None],
        *,
        create: Json | None = None,
        attempts: int = 10,
    ) -> Versioned | None:
        """Compare-and-swap: `fn(current)` written over the version it was computed from, read again and re-applied
        when someone wrote in between. `fn` gets a copy it may change and returns the new value, or None for "leave
        it as it is"; it may run several times, so it must not act on the world (noting what it saw, for the caller,
        is fine). A missing key starts from `create`, or is left missing (None returned) without it. The version
        written, or None when nothing was written. Contended after `attempts` lost races."""
        loop = asyncio.get_running_loop()
        for attempt in range(attempts):
            started = loop.time()
            found = await self.get(key)
            if found is None and create is None:
                return None
            current = json.loads(json.dumps(create)) if found is None else found.value
            new = fn(current)
            if new is None:
                return None
            try:
                etag = await self.put_if(key, new, found.etag if found is not None else None)
            except Conflict:
                # Someone else wrote it: back off (random, growing with each loss, in units of what one try took
                # here, so a backend over the network spreads its racing writers as far as a local one) and retry.
                took = max(loop.time() - started, 0.001)
                await asyncio.sleep(random.uniform(0, min(1.0, took * 2**attempt)))
                continue
            return Versioned(new, etag)
        raise Contended(key, attempts)


def stored_length(key: str) -> int:
    """The length `key` has in every backend: its characters, `%`, `.` and `\\` counting three each (the Blob backend
    writes them escaped, bot.store.azureblob)."""
    return len(key) + 2 * sum(key.count(c) for c in "%.\\")


def storable_char(c: str) -> bool:
    """False for what no backend can keep in a key: a control character or a noncharacter U+FFFE/U+FFFF (Blob
    Storage lists names in XML 1.0, which cannot carry them), a lone surrogate."""
    code = ord(c)
    return not (code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in (0xFFFE, 0xFFFF))


def all_storable(text: str) -> bool:
    """Every character of `text` is `storable_char`; printable ASCII (every key the bot makes of Graph's and Teams'
    ids) is, and is told at C speed."""
    return (text.isascii() and text.isprintable()) or all(storable_char(c) for c in text)


def check_key(key: str) -> str:
    """`key` if every backend can store it: 1 to MAX_KEY_LENGTH characters as `stored_length` counts them, each one
    `storable_char`. ValueError otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError("a store key is a non-empty string")
    if stored_length(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a store key has at most {MAX_KEY_LENGTH} characters (%, . and \\ count 3), not {len(key)}")
    if not all_storable(key):
        raise ValueError(f"store key {key!r} has a control character, a noncharacter or a lone surrogate")
    return key


def encode(key: str, value: Json) -> str:
    """`value` as stored: compact JSON. ValueError for what JSON cannot carry (NaN, infinities, a non-dict) or an
    `e_tag` field (the etag is not part of the value)."""
    if not isinstance(value, dict):
        raise ValueError(f"the value of {key!r} must be a JSON object, not {type(value).__name__}")
    if "e_tag" in value:
        raise ValueError(f"the value of {key!r} has an e_tag field: pass the etag to put_if instead")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the value of {key!r} is not JSON: {e}") from None


def check_lease(name: str, owner: str, ttl: timedelta) -> None:
    """ValueError unless `owner` is non-empty and `ttl` is one every backend supports."""
    check_key(name)
    if not owner:
        raise ValueError("a lease needs an owner")
    if not LEASE_TTL_MIN <= ttl <= LEASE_TTL_MAX:
        raise ValueError(f"a lease lasts {LEASE_TTL_MIN.seconds} to {LEASE_TTL_MAX.seconds} seconds, not {ttl}")
