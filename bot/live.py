"""Activations followed until they work (issue 14 points 1 and 2): a scheduled one until it starts, and any one until
Graph's directory shows the membership (or ownership), with a 1:1 message to the user at each.

Why a watch and not a timer: the bot may restart between a scheduled activation's request and its start, and several
processes may share the store. Each activation followed is a record (`live/{request id}`, a `Watch`); every process
runs `LiveDesk.run`, and the one holding the `live` lease (bot.feed.lease's `PollerLease`, the feed poller's pattern
on its own lease name) checks the records whose start has come, every LIVE_POLL_SECONDS:

* a scheduled one: the request as PIM holds it now (app-only). Cancelled, denied or failed: the record goes (the user
  is told unless they cancelled it themselves). Else the directory is asked whether the access is there;
* in effect (checkMemberGroups, or the owners): the user is told ("started … in effect now" for a scheduled one, "in
  effect now" for one that was not visible at first), and the record goes;
* not yet: checked again next time, until LIVE_CHECK_SECONDS after its start; then the user is told it is still not
  visible, and the record goes.

A message is sent before its record is deleted: a process killed between the two repeats the message once, never
loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import cards
from bot.conversations import Conversations
from bot.feed.lease import PollerLease, lease_ttl
from bot.liveness import new_owner
from bot.store import Conflict, Store
from bot.store import keys as keyspace
from bot.transport import ProactiveAdapter
from cards.wording import now_in_effect, scheduled_did_not_start, still_not_in_effect
from core.errors import DirectoryError, RequestNotFound
from core.models import Access, Group, RequestStatus
from core.outcomes import Activated, AwaitingApproval
from core.ports import Clock
from core.service import PimService

__all__ = ["LiveDesk", "Watch"]

log = logging.getLogger(__name__)

LEASE_NAME = "live"
_ENDED = frozenset({RequestStatus.CANCELED, RequestStatus.DENIED, RequestStatus.FAILED, RequestStatus.REVOKED})


@dataclass(frozen=True, slots=True)
class Watch:
    """One activation followed (module doc). `scheduled`: the user was told it starts later and will be messaged when
    it does; else it started at once and the directory did not show it yet."""

    request_id: str
    user_id: str
    group: Group
    access: Access
    start: datetime
    end: datetime | None
    scheduled: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "userId": self.user_id,
            "groupId": self.group.id,
            "groupName": self.group.display_name,
            "access": self.access.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end is not None else None,
            "scheduled": self.scheduled,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Watch:
        end = value.get("end")
        return cls(
            request_id=str(value["requestId"]),
            user_id=str(value["userId"]),
            group=Group(str(value["groupId"]), str(value.get("groupName") or value["groupId"])),
            access=Access(str(value.get("access") or "member")),
            start=datetime.fromisoformat(str(value["start"])),
            end=datetime.fromisoformat(str(end)) if end else None,
            scheduled=bool(value.get("scheduled")),
        )


@dataclass(frozen=True, slots=True)
class LiveSettings:
    poll_seconds: float = 15.0
    check_seconds: float = 300.0  # 0: the directory is not checked at all
    notes: tuple[tuple[str, str], ...] = ()  # (group name or id, note)

    def note_for(self, group: Group) -> str:
        """The operator's note for a group (LIVE_NOTES), by id or name without case."""
        keys = {group.id.casefold(), group.display_name.casefold()}
        return next((note for name, note in self.notes if name.casefold() in keys), "")


class LiveDesk:
    def __init__(
        self,
        store: Store,
        proactive: ProactiveAdapter,
        conversations: Conversations,
        service: PimService,
        clock: Clock,
        settings: LiveSettings = LiveSettings(),
        *,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._proactive = proactive
        self._conversations = conversations
        self._service = service
        self._clock = clock
        self.settings = settings
        self._lease = PollerLease(store, owner or new_owner(), lease_ttl(settings.poll_seconds), name=LEASE_NAME)

    @property
    def checking(self) -> bool:
        """Whether activations are checked against the directory at all (LIVE_CHECK_SECONDS > 0)."""
        return self.settings.check_seconds > 0

    # ---- at the activation's answer --------------------------------------------------------------------------------

    async def checked(self, user_id: str, outcome: Activated) -> Activated:
        """An immediate activation with what Graph's directory shows right now (one app-only read), and the group's
        note; one not visible yet is followed (a watch). A directory that cannot be read leaves it unchecked."""
        if not self.checking or outcome.scheduled or outcome.start > self._clock.now():
            return outcome  # one that starts later (also a Keep it after the running one, bot.ending) is not checked
        try:
            live = await self._service.in_effect(user_id, outcome.group.id, outcome.access)
        except DirectoryError as e:
            log.info("could not check whether %s is in effect: %s", outcome.group.id, e)
            return outcome
        if not live:
            await self.follow(Watch(outcome.request.id, user_id, outcome.group, outcome.access, outcome.start,
                                    outcome.end, scheduled=False))  # fmt: skip
        return replace(outcome, in_effect=live, note=self.settings.note_for(outcome.group))

    async def follow(self, watch: Watch) -> None:
        """Follow an activation until it works (created once: a repeat of the same request keeps the first)."""
        with contextlib.suppress(Conflict):
            await self._store.put_if(keyspace.live_watch(watch.request_id), watch.to_json(), None)

    async def scheduled(self, user_id: str, outcome: Activated) -> None:
        """A scheduled activation: the user is messaged when it starts."""
        watch = Watch(outcome.request.id, user_id, outcome.group, outcome.access, outcome.start, outcome.end, True)
        await self.follow(watch)

    async def scheduled_after_approval(self, user_id: str, outcome: AwaitingApproval) -> None:
        """A scheduled activation that waits for approval: followed from its start (approved by then, it starts then;
        later, at approval); while it waits, nothing is said (bot.approvals tells the decision)."""
        if outcome.starts is None:
            return
        end = outcome.starts + outcome.duration
        await self.follow(Watch(outcome.request.id, user_id, outcome.group, outcome.access, outcome.starts, end, True))

    # ---- the loop ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Every LIVE_POLL_SECONDS, a cycle (app.py). Nothing is due at once: a watch is made for a later start, or
        for a directory that did not show the access yet."""
        try:
            while True:
                await asyncio.sleep(self.settings.poll_seconds)
                try:
                    await self.cycle()
                except Exception:  # retried next time; every record stays until its user is told
                    log.exception("the check of scheduled and not-yet-visible activations failed")
        finally:
            with contextlib.suppress(Exception):
                await self._lease.release()

    async def cycle(self) -> int:
        """Check every watch whose start has come (with the lease only); how many users were told something."""
        if not await self._lease.hold():
            return 0
        now = self._clock.now()
        told = 0
        async for key, found in self._store.items(keyspace.LIVE_WATCHES):
            try:
                watch = Watch.from_json(found.value)
            except (KeyError, ValueError):
                log.warning("dropping unreadable watch %s", key)
                await self._store.delete(key, found.etag)
                continue
            if watch.start > now:
                continue
            try:
                told += await self._check(key, watch, now)
            except DirectoryError as e:
                log.info("could not check activation %s yet: %s", watch.request_id, e)
        return told

    async def _check(self, key: str, watch: Watch, now: datetime) -> int:
        if watch.scheduled:
            try:
                request = await self._service.request(watch.request_id)
            except RequestNotFound:
                request = None
            if request is None or request.status in _ENDED:
                # Cancelled by the user, denied or expired (bot.approvals tells those): nothing more to say. Failed:
                # PIM could not start it, which nobody else tells.
                told = request is not None and request.status is RequestStatus.FAILED
                if told and request is not None:
                    await self._tell_text(watch.user_id, scheduled_did_not_start(watch.group.display_name, "Failed"))
                await self._store.delete(key)
                return 1 if told else 0
            if request.status.is_pending:
                return 0  # still waiting for approval: it starts when approved
        live = await self._service.in_effect(watch.user_id, watch.group.id, watch.access) if self.checking else None
        waited = now - watch.start
        if live is False and waited < timedelta(seconds=self.settings.check_seconds):
            return 0  # again next cycle
        if watch.scheduled:
            await self._tell_started(watch, live)
        elif live:
            await self._tell_text(watch.user_id, now_in_effect(watch.group.display_name, watch.access, waited))
        else:
            await self._tell_text(watch.user_id, still_not_in_effect(watch.group.display_name, watch.access, waited))
        await self._store.delete(key)
        return 1

    async def _tell_started(self, watch: Watch, live: bool | None) -> None:
        """The activation card of a scheduled activation that started: active until its end, with what the
        directory shows (and, when it still does not, that it was checked for LIVE_CHECK_SECONDS)."""
        request = await self._service.request(watch.request_id)
        start = request.start or watch.start
        end = request.ends or watch.end or start
        outcome = Activated(
            watch.group, watch.access, request, start, end, end - start, in_effect=live,
            note=self.settings.note_for(watch.group),
        )  # fmt: skip
        user = await self._conversations.user(watch.user_id)
        if user is None:
            log.info("no 1:1 chat with %s to say that %s started", watch.user_id, watch.group.id)
            return
        card = cards.activation_card([outcome], user.style, title="Your scheduled activation started")
        try:
            await self._proactive.send_card(dict(user.reference), card)
        except Exception:
            log.warning("could not tell %s that %s started", watch.user_id, watch.group.id, exc_info=True)
        if live is False:
            waited = self._clock.now() - watch.start
            await self._tell_text(watch.user_id, still_not_in_effect(watch.group.display_name, watch.access, waited))

    async def _tell_text(self, user_id: str, line: str) -> None:
        reference = await self._conversations.user_reference(user_id)
        if reference is None:
            log.info("no 1:1 chat with %s to tell: %s", user_id, line)
            return
        try:
            await self._proactive.send_text(reference, line)
        except Exception:
            log.warning("could not write to the 1:1 chat of %s", user_id, exc_info=True)
