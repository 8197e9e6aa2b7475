"""Each inbound activity acted on once, although Teams may deliver it more than once.

Teams waits roughly 10–15 s for the bot's HTTP answer and may then deliver the same activity again; Bot Service and
clients retry too (teams-platform.md §5 timing, §7: "Bot Service and clients may retry"). A delivery is known by its
conversation id and activity id. The first delivery claims a marker in the store every process shares (bot.storage,
compare-and-swap on ETags); a later delivery finds the marker and is not acted on (bot.turns answers it with what the
first one answered).

Marker `delivery/{sha256 of conversation id and activity id}` (a bounded key whatever the ids):
  owner       the process acting on it (a random id per process)
  state       "running", then "done"
  leaseUntil  while running, renewed by its owner (bot.turns); a running marker whose lease ran out was left by a
              process that died: the next delivery takes it over and acts, so a redelivery is not lost with it; when
              none comes, the sweep finds the marker (`orphans`) and the person is told (bot.turns)
  reference   while running, the conversation to tell that person in
  expires     when the sweep may delete it: redeliveries come within minutes, so a marker lives `ttl`
  response    an invoke's answer {"status", "body"}, once known
Times are seconds since the epoch on the bot's clock, the one every process reads (Graph's in production).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botbuilder.core import Storage

from bot.storage import StorageConflict
from core.ports import Clock

__all__ = ["DONE", "RUNNING", "Claim", "Deliveries", "marker_key"]

log = logging.getLogger(__name__)

PREFIX = "delivery/"
RUNNING = "running"
DONE = "done"
# Written as the e_tag of a marker that must not exist yet: a stored e_tag is a uuid4 hex, never this, so the write
# creates the marker or fails with StorageConflict if another delivery created it first (bot.storage semantics).
_ABSENT = "absent"
_ATTEMPTS = 10


def marker_key(conversation_id: str, activity_id: str) -> str:
    digest = hashlib.sha256(f"{conversation_id}\n{activity_id}".encode()).hexdigest()
    return f"{PREFIX}{digest[:40]}"


@dataclass(frozen=True)
class Claim:
    """What a delivery found: `acting` — it is the first (or takes over from a dead process) and acts; otherwise a
    delivery made before, in `state`, with the answer it gave once `state` is DONE (invokes)."""

    key: str
    acting: bool
    state: str
    response: dict[str, Any] | None = None
    taken_over: bool = False


class Deliveries:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=30),
        ttl: timedelta = timedelta(minutes=10),
        owner: str | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._lease = lease.total_seconds()
        self._ttl = ttl.total_seconds()
        self.owner = owner or uuid.uuid4().hex
        self._held: dict[str, tuple[float, float]] = {}  # key → (lease until, expires) of this process's claims

    async def claim(self, conversation_id: str, activity_id: str, reference: dict[str, Any] | None = None) -> Claim:
        """Claim the delivery of this activity, or learn that it was delivered before (and how that went).
        `reference`: the conversation to tell if the process dies before it finishes (None: nobody to tell)."""
        key = marker_key(conversation_id, activity_id)
        now = self._now()
        try:  # the usual case, a first delivery: one write, no read
            await self._storage.write({key: self._marker(now, _ABSENT, reference)})
        except StorageConflict:
            pass
        else:
            return self._claimed(key, now)
        for _ in range(_ATTEMPTS):
            found = await self._read(key)
            now = self._now()
            if found is not None and now < _number(found, "expires") and not _abandoned(found, now):
                return Claim(key, acting=False, state=str(found.get("state")), response=found.get("response"))
            try:
                e_tag = found["e_tag"] if found is not None else _ABSENT
                await self._storage.write({key: self._marker(now, e_tag, reference)})
            except StorageConflict:
                continue  # another delivery claimed it in between: look again
            taken_over = found is not None and found.get("state") == RUNNING and now < _number(found, "expires")
            if taken_over:
                log.warning(
                    "activity %s was delivered again after the process handling it (%s) stopped; acting on it now",
                    activity_id,
                    found.get("owner") if found else "?",
                )
            return self._claimed(key, now, taken_over=taken_over)
        raise RuntimeError(f"{key} kept changing; gave up after {_ATTEMPTS} attempts")

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease of a delivery this process acts on; False when it is no longer this process's."""

        def renewed(marker: dict[str, Any]) -> dict[str, Any] | None:
            if marker.get("owner") != self.owner or marker.get("state") != RUNNING:
                return None
            return marker | {"leaseUntil": self._now() + self._lease}

        if not await self._update(claim.key, renewed):
            self._held.pop(claim.key, None)
            return False
        self._held[claim.key] = (self._now() + self._lease, self._held.get(claim.key, (0.0, 0.0))[1])
        return True

    async def finish(self, claim: Claim, response: dict[str, Any] | None) -> None:
        """The delivery is done; `response` is what an invoke answered, for a later delivery of it."""
        lease_until, expires = self._held.pop(claim.key, (0.0, 0.0))
        if lease_until - self._now() > self._lease / 3:
            # Nobody takes a claim over before its lease runs out, and this one has a good while left: no read needed.
            done = {"owner": self.owner, "state": DONE, "expires": expires, "response": response, "e_tag": "*"}
            await self._storage.write({claim.key: done})
            return

        def finished(marker: dict[str, Any]) -> dict[str, Any] | None:
            if marker.get("owner") != self.owner:
                return None  # taken over by another process (this one looked dead): its answer counts
            done = {k: v for k, v in marker.items() if k not in ("leaseUntil", "reference")}
            return done | {"state": DONE, "response": response}

        if not await self._update(claim.key, finished):
            log.warning("marker %s was taken over before this process finished; left to the other one", claim.key)

    async def look(self, claim: Claim) -> Claim:
        """A delivery made before, as it stands now (a marker swept meanwhile counts as done, with no answer)."""
        found = await self._read(claim.key)
        if found is None:
            return Claim(claim.key, acting=False, state=DONE)
        return Claim(claim.key, acting=False, state=str(found.get("state")), response=found.get("response"))

    async def orphans(self, grace: timedelta) -> list[tuple[str, dict[str, Any] | None]]:
        """Deliveries a process died acting on, whose lease ran out more than `grace` ago with no redelivery to take
        them over: each is closed here, and returned once (with the conversation to tell) to the one process whose
        compare-and-swap closed it."""
        read_expired = getattr(self._storage, "read_expired", None)
        if read_expired is None:
            return []
        found: dict[str, dict[str, Any]] = await read_expired(PREFIX, "leaseUntil", self._now() - grace.total_seconds())
        closed: list[tuple[str, dict[str, Any] | None]] = []
        for key, marker in found.items():
            if marker.get("state") != RUNNING:
                continue
            done = {k: v for k, v in marker.items() if k not in ("leaseUntil", "reference")}
            try:
                await self._storage.write({key: done | {"state": DONE, "response": None, "abandoned": True}})
            except StorageConflict:
                continue  # another process closed it, or a redelivery took it over, in between
            reference = marker.get("reference")
            closed.append((key, reference if isinstance(reference, dict) else None))
        return closed

    async def sweep(self) -> int:
        """Delete the markers past their TTL; how many (0 when the storage cannot sweep)."""
        delete_expired = getattr(self._storage, "delete_expired", None)
        if delete_expired is None:
            return 0
        deleted: int = await delete_expired(PREFIX, "expires", self._now())
        return deleted

    def _claimed(self, key: str, now: float, *, taken_over: bool = False) -> Claim:
        self._held[key] = (now + self._lease, now + self._ttl)
        return Claim(key, acting=True, state=RUNNING, taken_over=taken_over)

    def _marker(self, now: float, e_tag: str, reference: dict[str, Any] | None) -> dict[str, Any]:
        """A marker claiming a delivery for this process (`e_tag`: the one read, or _ABSENT for a new one)."""
        return {
            "owner": self.owner,
            "state": RUNNING,
            "leaseUntil": now + self._lease,
            "expires": now + self._ttl,
            "reference": reference,
            "e_tag": e_tag,
        }

    async def _update(self, key: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
        for _ in range(_ATTEMPTS):
            marker = await self._read(key)
            if marker is None:
                return False
            changed = change(dict(marker))
            if changed is None:
                return False
            try:
                await self._storage.write({key: changed})
            except StorageConflict:
                continue
            return True
        raise RuntimeError(f"{key} kept changing; gave up after {_ATTEMPTS} attempts")

    async def _read(self, key: str) -> dict[str, Any] | None:
        item = (await self._storage.read([key])).get(key)
        return dict(item) if item is not None else None

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _number(marker: dict[str, Any], field: str) -> float:
    value = marker.get(field)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _abandoned(marker: dict[str, Any], now: float) -> bool:
    """Running, and its owner stopped renewing the lease: the process died (or hung) while acting on it."""
    return marker.get("state") == RUNNING and _number(marker, "leaseUntil") <= now
