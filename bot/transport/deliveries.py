"""Each inbound activity acted on once, although Teams may deliver it more than once.

Teams waits roughly 10–15 s for the bot's HTTP answer and may then deliver the same activity again; Bot Service and
clients retry too (teams-platform.md §5 timing, §7: "Bot Service and clients may retry"). A delivery is known by its
conversation id and activity id. The first delivery claims a marker in the store every process shares (bot.store,
compare-and-swap on etags); a later delivery finds the marker and is not acted on (bot.transport.turns answers it with
what the first one answered).

Marker `keys.delivery(conversation id, activity id)` (a hash: a bounded key whatever the ids):
  owner       the process acting on it (a random id per process)
  state       "running", then "done"
  leaseUntil  while running, renewed by its owner (.turns); a running marker whose lease ran out was left by a
              process that died: the next delivery takes it over and acts, so a redelivery is not lost with it; when
              none comes, the sweep finds the marker (`orphans`) and the person is told (.turns)
  reference   while running, the conversation to tell that person in
  expires     when the sweep may delete it: redeliveries come within minutes, so a marker lives `ttl`
  response    an invoke's answer {"status", "body"}, once known
Times are seconds since the epoch on the bot's clock, the one every process reads (Graph's in production).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.store import ANY, Conflict, Json, Store
from bot.store import keys as keyspace
from core.ports import Clock

__all__ = ["DONE", "RUNNING", "Claim", "Deliveries"]

log = logging.getLogger(__name__)

RUNNING = "running"
DONE = "done"


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
        store: Store,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=30),
        ttl: timedelta = timedelta(minutes=10),
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lease = lease.total_seconds()
        self._ttl = ttl.total_seconds()
        self.owner = owner or uuid.uuid4().hex
        self._held: dict[str, tuple[float, float]] = {}  # key → (lease until, expires) of this process's claims

    async def claim(self, conversation_id: str, activity_id: str, reference: dict[str, Any] | None = None) -> Claim:
        """Claim the delivery of this activity, or learn that it was delivered before (and how that went).
        `reference`: the conversation to tell if the process dies before it finishes (None: nobody to tell)."""
        key = keyspace.delivery(conversation_id, activity_id)
        now = self._now()
        try:  # the usual case, a first delivery: one write, no read
            await self._store.put_if(key, self._marker(now, reference), None)
        except Conflict:
            pass
        else:
            return self._claimed(key, now)
        seen: list[tuple[Json, float]] = []  # the marker the last try found, and when

        def take(found: Json) -> Json | None:
            """This process's marker, unless the delivery found (none if swept meanwhile: {}) is still live."""
            now = self._now()
            seen[:] = [(found, now)]
            if now < _number(found, "expires") and not _abandoned(found, now):
                return None
            return self._marker(now, reference)

        written = await self._store.update(key, take, create={})
        found, now = seen[-1]
        if written is None:
            return Claim(key, acting=False, state=str(found.get("state")), response=found.get("response"))
        taken_over = found.get("state") == RUNNING and now < _number(found, "expires")
        if taken_over:
            log.warning(
                "activity %s was delivered again after the process handling it (%s) stopped; acting on it now",
                activity_id,
                found.get("owner"),
            )
        return self._claimed(key, now, taken_over=taken_over)

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease of a delivery this process acts on; False when it is no longer this process's."""

        def renewed(marker: Json) -> Json | None:
            if marker.get("owner") != self.owner or marker.get("state") != RUNNING:
                return None
            return marker | {"leaseUntil": self._now() + self._lease}

        if await self._store.update(claim.key, renewed) is None:
            self._held.pop(claim.key, None)
            return False
        self._held[claim.key] = (self._now() + self._lease, self._held.get(claim.key, (0.0, 0.0))[1])
        return True

    async def finish(self, claim: Claim, response: dict[str, Any] | None) -> None:
        """The delivery is done; `response` is what an invoke answered, for a later delivery of it."""
        lease_until, expires = self._held.pop(claim.key, (0.0, 0.0))
        if lease_until - self._now() > self._lease / 3:
            # Nobody takes a claim over before its lease runs out, and this one has a good while left: no read needed.
            done = {"owner": self.owner, "state": DONE, "expires": expires, "response": response}
            await self._store.put_if(claim.key, done, ANY)
            return

        def finished(marker: Json) -> Json | None:
            if marker.get("owner") != self.owner:
                return None  # taken over by another process (this one looked dead): its answer counts
            done = {k: v for k, v in marker.items() if k not in ("leaseUntil", "reference")}
            return done | {"state": DONE, "response": response}

        if await self._store.update(claim.key, finished) is None:
            log.warning("marker %s was taken over before this process finished; left to the other one", claim.key)

    async def look(self, claim: Claim) -> Claim:
        """A delivery made before, as it stands now (a marker swept meanwhile counts as done, with no answer)."""
        found = await self._store.get(claim.key)
        if found is None:
            return Claim(claim.key, acting=False, state=DONE)
        marker = found.value
        return Claim(claim.key, acting=False, state=str(marker.get("state")), response=marker.get("response"))

    async def orphans(self, grace: timedelta) -> list[tuple[str, dict[str, Any] | None]]:
        """Deliveries a process died acting on, whose lease ran out more than `grace` ago with no redelivery to take
        them over: each is closed here, and returned once (with the conversation to tell) to the one process whose
        compare-and-swap closed it."""
        before = self._now() - grace.total_seconds()
        closed: list[tuple[str, dict[str, Any] | None]] = []
        async for key, found in self._store.items(keyspace.DELIVERIES):
            marker = found.value
            if marker.get("state") != RUNNING or not _number(marker, "leaseUntil") < before:
                continue
            done = {k: v for k, v in marker.items() if k not in ("leaseUntil", "reference")}
            try:
                await self._store.put_if(key, done | {"state": DONE, "response": None, "abandoned": True}, found.etag)
            except Conflict:
                continue  # another process closed it, or a redelivery took it over, in between
            reference = marker.get("reference")
            closed.append((key, reference if isinstance(reference, dict) else None))
        return closed

    async def sweep(self) -> int:
        """Delete the markers past their TTL; how many."""
        now, deleted = self._now(), 0
        async for key, found in self._store.items(keyspace.DELIVERIES):
            if "expires" in found.value and _number(found.value, "expires") < now:
                with contextlib.suppress(Conflict):  # claimed again meanwhile: it lives on
                    deleted += await self._store.delete(key, found.etag)
        return deleted

    def _claimed(self, key: str, now: float, *, taken_over: bool = False) -> Claim:
        self._held[key] = (now + self._lease, now + self._ttl)
        return Claim(key, acting=True, state=RUNNING, taken_over=taken_over)

    def _marker(self, now: float, reference: dict[str, Any] | None) -> Json:
        """A marker claiming a delivery for this process."""
        return {
            "owner": self.owner,
            "state": RUNNING,
            "leaseUntil": now + self._lease,
            "expires": now + self._ttl,
            "reference": reference,
        }

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _number(marker: dict[str, Any], field: str) -> float:
    value = marker.get(field)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _abandoned(marker: dict[str, Any], now: float) -> bool:
    """Running, and its owner stopped renewing the lease: the process died (or hung) while acting on it."""
    return marker.get("state") == RUNNING and _number(marker, "leaseUntil") <= now
