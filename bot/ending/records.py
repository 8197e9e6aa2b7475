"""What the worker of access about to end keeps (bot.store.keys `ending/…`): the marks of cards sent once, and the
Keep its the bot carries out itself. Frozen dataclasses, one codec each; every change a conditional write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store import Conflict, Json, Store
from bot.store import keys as keyspace
from core.models import Access, Group, Ticket

__all__ = ["KeepPlan", "Marks", "Plans"]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class KeepPlan:
    """Keep it, carried out by the bot: activate `group` again as `user_id` at `start` (when the activation running at
    the click ends) for `duration` (None: the policy's maximum). `runner`/`claimed` name the process carrying it out,
    so of several only one does."""

    user_id: str
    group: Group
    access: Access
    start: datetime
    duration: timedelta | None
    justification: str | None = None
    ticket: Ticket | None = None  # the number typed into the card; a command carries no ticket system
    runner: str = ""
    claimed: datetime | None = None

    @property
    def key(self) -> str:
        return keyspace.ending_keep(self.user_id, self.group.id, self.access.value)

    def to_json(self) -> Json:
        return {
            "userId": self.user_id,
            "groupId": self.group.id,
            "groupName": self.group.display_name,
            "access": self.access.value,
            "start": self.start.isoformat(),
            "durationMinutes": None if self.duration is None else self.duration // timedelta(minutes=1),
            "justification": self.justification,
            "ticket": self.ticket.number if self.ticket is not None else None,
            "runner": self.runner,
            "claimed": self.claimed.isoformat() if self.claimed else None,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> KeepPlan | None:
        """None for a record that does not read (written by a newer version, or damaged): it is dropped."""
        start = _time(value.get("start"))
        access = value.get("access")
        minutes = value.get("durationMinutes")
        if start is None or access not in {a.value for a in Access} or not value.get("groupId"):
            return None
        return cls(
            user_id=str(value.get("userId") or ""),
            group=Group(str(value["groupId"]), str(value.get("groupName") or value["groupId"])),
            access=Access(str(access)),
            start=start,
            duration=timedelta(minutes=minutes) if isinstance(minutes, int) and minutes > 0 else None,
            justification=str(value["justification"]) if value.get("justification") else None,
            ticket=Ticket(str(value["ticket"])) if value.get("ticket") else None,
            runner=str(value.get("runner") or ""),
            claimed=_time(value.get("claimed")),
        )


class Plans:
    """The Keep its the bot carries out (`ending/keep/`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def remember(self, plan: KeepPlan) -> None:
        """A new Keep it replaces an older one of the same group (the user chose again)."""
        await self._store.put_if(plan.key, plan.to_json(), "*")

    async def all(self) -> list[KeepPlan]:
        plans = []
        async for _, found in self._store.items(keyspace.ENDING_KEEPS):
            plan = KeepPlan.from_json(found.value)
            if plan is not None:
                plans.append(plan)
        return plans

    async def claim(self, plan: KeepPlan, owner: str, now: datetime, stale: timedelta) -> KeepPlan | None:
        """Take the plan to carry it out: unless another process took it less than `stale` ago. The plan as taken,
        or None."""
        taken: list[KeepPlan] = []

        def take(value: Json) -> Json | None:
            current = KeepPlan.from_json(value)
            if current is None or current.start != plan.start:
                return None
            if current.runner and current.claimed is not None and now - current.claimed < stale:
                return None
            claimed = replace(current, runner=owner, claimed=now)
            taken[:] = [claimed]
            return claimed.to_json()

        await self._store.update(plan.key, take)
        return taken[0] if taken else None

    async def drop(self, plan: KeepPlan) -> None:
        found = await self._store.get(plan.key)
        if found is not None:
            current = KeepPlan.from_json(found.value)
            if current is None or current.start == plan.start:
                await self._store.delete(plan.key, found.etag)


class Marks:
    """Cards sent once: `ending/warned/` and `ending/eligibility/`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def claim(self, key: str, now: datetime, until: datetime | None = None) -> bool:
        """Mark `key` as sent (before sending: of several processes, or a cycle repeated after a crash, one sends);
        False if it was already."""
        value: Json = {"sent": now.isoformat(), "until": until.isoformat() if until else None}
        try:
            await self._store.put_if(key, value, None)
        except Conflict:
            return False
        return True

    async def release(self, key: str) -> None:
        """The card could not be sent: the next cycle tries again."""
        await self._store.delete(key)

    async def prune(self, prefix: str, now: datetime, after: timedelta) -> int:
        """Drop the marks whose `until` passed more than `after` ago (the activation is long over)."""
        old = []
        async for key, found in self._store.items(prefix):
            until = _time(found.value.get("until"))
            if until is not None and now - until > after:
                old.append(key)
        for key in old:
            await self._store.delete(key)
        return len(old)
