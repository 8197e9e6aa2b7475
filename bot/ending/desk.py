"""The worker of access about to end (issue 14 points 3 and 4): one cycle every ENDING_POLL_SECONDS, run by one
process at a time (the store's lease, `lease/ending`, as the admin feed's poller holds `lease/feed`: bot.feed.lease).

A cycle:

1. take or renew the lease; without it, do nothing;
2. go through the users the bot can write to (their personal chats, `ref/user/`), USERS_PER_READ at a time, so what
   a cycle holds at once does not grow with everyone who ever wrote to the bot; for each part:
3. read their activations from Graph app-only now, ⌈U/20⌉ `$batch` round trips for U users (`PimService.holdings`);
   once an hour also their eligibilities and what ended, ⌈3U/20⌉. That read is the check that an activation still
   runs: one the user ended (here, in the portal, anywhere) is no longer listed and gets no card;
4. per user, each activation ending within the warning gets the ending-soon card, once (`ending/warned/…`, claimed by
   a create-if-absent before the send, released if the send fails); each eligibility ending soon or ended lately its
   card, once per eligibility (`ending/eligibility/…`). A part Graph would not give stops the cycle there (the next
   cycle starts again from the first user);
5. each Keep it the bot carries out (`ending/keep/…`) that is due is claimed (compare-and-swap) and carried out as
   the user in their chat (`keep`, the router's); one whose activation no longer runs before it is due (ended early)
   is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.conversations import Conversations, UserRecord
from bot.ending.records import KeepPlan, Marks, Plans
from bot.feed.lease import PollerLease, lease_ttl
from bot.liveness import new_owner
from bot.store import Store
from bot.store import keys as keyspace
from bot.transport import ProactiveAdapter
from bot.transport.connector import ConnectorError
from cards.ending import eligibility_card, ending_soon_card
from core.ending import UserHoldings, eligibility_notices, ending_soon, warning_mark
from core.errors import DirectoryError
from core.models import ActiveAssignment
from core.ports import Clock
from core.service import PimService

__all__ = ["EndingDesk", "EndingSettings", "LEASE_NAME"]

log = logging.getLogger(__name__)

LEASE_NAME = "ending"
ELIGIBILITY_EVERY = timedelta(hours=1)  # eligibilities change by the day: read them hourly, activations every cycle
KEEP_STALE = timedelta(minutes=2)  # a Keep it claimed this long ago by a process that did not finish is taken over
MARKS_KEPT = timedelta(days=1)  # an ending-soon mark is dropped this long after its activation's end
# Users read and acted on together: 20 `$batch`es of 20 reads. A cycle read all at once held every known user's
# record and holdings together, and a 30-minute soak with new users grew the process by 9.5 MB per 10 minutes.
USERS_PER_READ = 400


@dataclass(frozen=True)
class EndingSettings:
    """`warning`: how long before an activation ends its card comes (None: off, ENDING_WARNING_MINUTES);
    `eligibility_within`: how long before an eligibility ends (None: off, ELIGIBILITY_WARNING_DAYS); `poll_seconds`:
    ENDING_POLL_SECONDS."""

    warning: timedelta | None = timedelta(minutes=10)
    eligibility_within: timedelta | None = timedelta(days=14)
    poll_seconds: float = 60.0


Keep = Callable[[KeepPlan], Awaitable[None]]


class EndingDesk:
    def __init__(
        self,
        store: Store,
        proactive: ProactiveAdapter,
        conversations: Conversations,
        service: PimService,
        clock: Clock,
        settings: EndingSettings,
        keep: Keep,
        *,
        owner: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._proactive = proactive
        self._service = service
        self._clock = clock
        self.settings = settings
        self._keep = keep
        self._lease = PollerLease(
            store, owner or new_owner(), lease_ttl(settings.poll_seconds), wall=wall, name=LEASE_NAME
        )
        self._conversations = conversations  # the router's: forgetting a chat here is forgotten there too
        self.plans = Plans(store)
        self._marks = Marks(store)
        self._eligibility_read: datetime | None = None

    @property
    def owner(self) -> str:
        return self._lease.owner

    async def release_lease(self) -> None:
        """On a clean shutdown: another process may take over at once."""
        await self._lease.release()

    async def cycle(self) -> int:
        """One cycle (module doc): how many cards were sent and Keep its carried out."""
        if not await self._lease.hold():
            return 0
        now = self._clock.now()
        read_eligibilities = self.settings.eligibility_within is not None and (
            self._eligibility_read is None or now - self._eligibility_read >= ELIGIBILITY_EVERY
        )
        planned = {plan.user_id.lower() for plan in await self.plans.all()}
        held: dict[str, UserHoldings] = {}  # of the users with a Keep it to carry out: whether it still runs
        done = 0
        if self.settings.warning is not None or read_eligibilities or planned:
            read_all = True
            async with contextlib.aclosing(self._users()) as parts:
                async for users in parts:
                    try:
                        holdings = await self._service.holdings(list(users), eligibilities=read_eligibilities)
                    except DirectoryError as e:
                        # No more cards this cycle; a Keep it that is due is still carried out (its command reads
                        # Graph itself).
                        log.warning("could not read what the users hold (%s); trying again next cycle", e)
                        read_all = False
                        break
                    now = self._clock.now()  # after the read: the clock has learned Graph's time (GraphClock)
                    for user, error in holdings.failed.items():
                        log.warning("could not read what %s holds: %s", user, error)
                    for user, holding in holdings.users.items():
                        done += await self._warn(user, users[user], holding, now)
                        if read_eligibilities:
                            done += await self._notices(user, users[user], holding, now)
                        if user in planned:
                            held[user] = holding
                    if not await self._lease.keep():
                        return done  # another process has the lease now: it goes on
            if read_all and read_eligibilities:
                self._eligibility_read = now
                await self._marks.prune(keyspace.ENDING_WARNED, now, MARKS_KEPT)
        return done + await self._carry_out_plans(held, self._clock.now())

    async def _users(self) -> AsyncGenerator[dict[str, UserRecord], None]:
        """The users whose personal chat the bot knows (the only ones it can tell anything), USERS_PER_READ at a time,
        by lower-case object id."""
        users: dict[str, UserRecord] = {}
        async for key, found in self._store.items(keyspace.USER_REFS):
            users[key.removeprefix(keyspace.USER_REFS)] = UserRecord.from_json(found.value)
            if len(users) == USERS_PER_READ:
                yield users
                users = {}
        if users:
            yield users

    async def _warn(self, user: str, record: UserRecord, holding: UserHoldings, now: datetime) -> int:
        if self.settings.warning is None:
            return 0
        sent = 0
        for active in ending_soon(holding.active, now, self.settings.warning):
            assert active.end is not None
            key = keyspace.ending_warned(user, warning_mark(active.group, active.access, active.end))
            sent += await self._send_once(user, key, record, self._ending_soon(active, record, now), now, active.end)
        return sent

    async def _notices(self, user: str, record: UserRecord, holding: UserHoldings, now: datetime) -> int:
        within = self.settings.eligibility_within
        if within is None:
            return 0
        sent = 0
        for notice in eligibility_notices(holding, now, within):
            card = eligibility_card(notice, record.style, now)
            sent += await self._send_once(user, keyspace.ending_notice(user, notice.mark), record, _ready(card), now)
        return sent

    async def _send_once(
        self,
        user: str,
        key: str,
        record: UserRecord,
        card: Callable[[], Awaitable[dict[str, object]]],
        now: datetime,
        until: datetime | None = None,
    ) -> int:
        """Send the card once per `key`; `card` is made only after the claim, so a card already sent costs no read."""
        if not await self._lease.keep():
            return 0  # the lease went to another process: it sends
        if not await self._marks.claim(key, now, until):
            return 0
        try:
            await self._proactive.send_card(record.reference, await card())
        except Exception as e:
            await self._marks.release(key)
            if isinstance(e, ConnectorError) and e.status in (403, 404):
                # The app was removed or the chat is gone: forget the chat (the user's next message stores it
                # afresh), rather than trying it every cycle.
                log.info("Teams refused the 1:1 chat of %s (%s); forgetting it", user, e.status)
                await self._conversations.forget_user(user)
                return 0
            log.warning("could not send a card for %s; trying again next cycle", key, exc_info=True)
            return 0
        return 1

    def _ending_soon(
        self, active: ActiveAssignment, record: UserRecord, now: datetime
    ) -> Callable[[], Awaitable[dict[str, object]]]:
        async def make() -> dict[str, object]:
            ticket = await self._service.ticket_required(active.group.id, active.access)
            return ending_soon_card(active, record.style, now, ticket_required=ticket)

        return make

    async def _carry_out_plans(self, held: dict[str, UserHoldings], now: datetime) -> int:
        done = 0
        for plan in await self.plans.all():
            if now < plan.start:
                holding = held.get(plan.user_id.lower())
                if holding is not None and not _still_running(plan, holding, now):
                    log.info(
                        "dropping the Keep it of %s for %s: the activation ended early", plan.user_id, plan.group.id
                    )
                    await self.plans.drop(plan)
                continue
            if not await self._lease.keep():
                break
            taken = await self.plans.claim(plan, self._lease.owner, now, KEEP_STALE)
            if taken is None:
                continue
            try:
                await self._keep(taken)
            except Exception:
                log.exception("could not carry out the Keep it of %s for %s", plan.user_id, plan.group.id)
            await self.plans.drop(taken)
            done += 1
        return done


def _still_running(plan: KeepPlan, holding: UserHoldings, now: datetime) -> bool:
    """The activation the plan continues is still listed (same group and access, ending when the plan starts)."""
    return any(
        a.activated and a.group.id.lower() == plan.group.id.lower() and a.access is plan.access and a.end is not None
        for a in holding.active
    )


def _ready(card: dict[str, object]) -> Callable[[], Awaitable[dict[str, object]]]:
    async def made() -> dict[str, object]:
        return card

    return made
