"""Writes whose answer was lost (issue 10, point 3): followed up in the background until PIM shows what became of them.

When Graph's answer to an activation, a deactivation or an approver's decision is lost (a dropped connection, a
timeout, a 502/503/504) and reading it back fails too, the user is told "I could not confirm yet; I will tell you in a
moment" and a check is stored here (`reconcile/{id}`, durable: a restarted bot carries on). Every sweep runs the checks
that are due, each in a proactive turn of the person's conversation (so a delegated read has that person's token
source): the follow-up reads PIM and tells the truth once it is known, or asks to be tried again later. Retries are
bounded (`RETRY_AFTER`); the last one tells the person that it is still unknown and how to see for themselves.

"No request was made" is believed only from a read made `SETTLE` after the write was sent: until then the write may
still be on its way through Graph. A check is claimed with a compare-and-swap that also moves its next try, so of
several bot processes sharing the store one runs it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store import Json, Store
from bot.store import keys as keyspace
from core.models import Access, Actor, Decision, Group, SentWrite, Ticket, WriteKind
from core.outcomes import Unconfirmed
from core.ports import Clock

__all__ = ["RETRY_AFTER", "SETTLE", "Check", "DecisionCheck", "Reconciler"]

log = logging.getLogger(__name__)

# Waits before each try (the first try is one sweep after the answer was lost): about 15 minutes in all.
RETRY_AFTER = tuple(timedelta(seconds=s) for s in (5, 10, 20, 30, 60, 60, 120, 120, 240, 240))
# How long after sending a write its absence from PIM means it was not carried out.
SETTLE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class DecisionCheck:
    """An approver's decision on `request_id` whose answer was lost."""

    request_id: str
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class Check:
    """One follow-up: the person to tell, where, and what to look for (a self-service write or a decision)."""

    key: str
    actor: Actor
    reference: dict[str, Any]
    since: datetime
    write: Unconfirmed | None = None
    decision: DecisionCheck | None = None


# The bot's side of a check: (check, settled, final) → done. `settled`: an absence now means "not done";
# `final`: the last try, which must end with the person told.
FollowUp = Callable[[Check, bool, bool], Awaitable[bool]]


class Reconciler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def remember_write(self, actor: Actor, reference: dict[str, Any], outcome: Unconfirmed) -> None:
        write = outcome.write
        await self._keep(
            actor,
            reference,
            write.sent_at,
            {
                "write": {
                    "kind": write.kind.value,
                    "groupId": outcome.group.id,
                    "groupName": outcome.group.display_name,
                    "access": outcome.access.value,
                    "principalId": write.principal_id,
                    "justification": write.justification,
                    "durationSeconds": int(outcome.duration.total_seconds()) if outcome.duration else None,
                    "policyMaximum": outcome.duration_was_policy_maximum,
                    "ticket": [outcome.ticket.number, outcome.ticket.system] if outcome.ticket else None,
                }
            },
        )
        log.info("%s of %s by %s unconfirmed: following it up", write.kind.value, outcome.group.id, actor.object_id)

    async def remember_decision(
        self, actor: Actor, reference: dict[str, Any], request_id: str, decision: Decision, reason: str
    ) -> None:
        payload = {"decision": {"requestId": request_id, "decision": decision.value, "reason": reason}}
        await self._keep(actor, reference, self._clock.now(), payload)
        log.info("decision of %s on %s unconfirmed: following it up", actor.object_id, request_id)

    async def _keep(self, actor: Actor, reference: dict[str, Any], since: datetime, payload: dict[str, Any]) -> None:
        item = {
            "actor": {
                "objectId": actor.object_id,
                "tenantId": actor.tenant_id,
                "name": actor.name,
                "timeZone": actor.time_zone,
                "locale": actor.locale,
                "channelUserId": actor.channel_user_id,
            },
            "reference": reference,
            "since": since.isoformat(),
            "attempts": 0,
            "nextAt": self._clock.now().isoformat(),
            **payload,
        }
        await self._store.put_if(keyspace.reconcile_check(str(uuid.uuid4())), item, None)

    async def sweep(self, follow_up: FollowUp) -> int:
        """Run every check that is due; how many ended (the person was told)."""
        ended = 0
        for key in [key async for key in self._store.keys(keyspace.RECONCILE)]:
            try:
                ended += await self._run(key, follow_up)
            except Exception:  # one bad check must not stop the others; it is tried again at its next time
                log.warning("could not follow up %s", key, exc_info=True)
        return ended

    async def _run(self, key: str, follow_up: FollowUp) -> bool:
        now = self._clock.now()

        def claim(item: Json) -> Json | None:
            """This try, if it is due: the next one moved on (of several processes, one claims it)."""
            if datetime.fromisoformat(item["nextAt"]) > now:
                return None
            attempts = int(item.get("attempts") or 0) + 1
            wait = RETRY_AFTER[min(attempts, len(RETRY_AFTER)) - 1]
            return {**item, "attempts": attempts, "nextAt": (now + wait).isoformat()}

        claimed = await self._store.update(key, claim)
        if claimed is None:
            return False
        item = claimed.value
        final = item["attempts"] >= len(RETRY_AFTER)
        check = _check(key, item)
        settled = final or now - check.since >= SETTLE
        done = False
        try:
            done = await follow_up(check, settled, final)
        finally:
            if done or final:  # the last try ends the check even if telling the person failed
                await self._store.delete(key)
        return done


def _check(key: str, item: dict[str, Any]) -> Check:
    who = item["actor"]
    actor = Actor(
        object_id=who["objectId"],
        tenant_id=who["tenantId"],
        name=who.get("name") or "",
        time_zone=who.get("timeZone"),
        channel_user_id=who.get("channelUserId") or "",
        locale=who.get("locale"),
    )
    since, reference = datetime.fromisoformat(item["since"]), dict(item["reference"])
    if item.get("decision"):
        d = item["decision"]
        decision = DecisionCheck(d["requestId"], Decision(d["decision"]), d.get("reason") or "")
        return Check(key, actor, reference, since, decision=decision)
    w = item["write"]
    access = Access(w["access"])
    write = SentWrite(WriteKind(w["kind"]), w["groupId"], access, w["principalId"], since, w.get("justification"))
    seconds, ticket = w.get("durationSeconds"), w.get("ticket")
    unconfirmed = Unconfirmed(
        Group(w["groupId"], w.get("groupName") or w["groupId"]),
        access,
        write,
        timedelta(seconds=seconds) if seconds else None,
        bool(w.get("policyMaximum")),
        Ticket(ticket[0], ticket[1]) if ticket else None,
    )
    return Check(key, actor, reference, since, write=unconfirmed)
