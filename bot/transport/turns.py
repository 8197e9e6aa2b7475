"""Every inbound activity answered while Teams still waits, its work finished in the background when it takes longer.

Teams waits roughly 10–15 s for the bot's HTTP answer: an invoke unanswered by then fails in the client (Bot Service
answers it 504), and any activity may be delivered again (teams-platform.md §5 timing). A turn can take longer: the
send limiter holds a conversation for a 429's Retry-After (bot.transport.sendlimit), Graph calls wait for theirs
(graph.client). So each turn runs as a task of its own, and the HTTP answer waits for it at most `answer_within` seconds
from the request's arrival:
- finished by then: answered as before (an invoke's own answer; 201 for everything else);
- not yet: answered now, while the turn goes on in the background and replies through its conversation (a TurnContext
  sends to the Bot Connector, never into the HTTP answer). An `adaptiveCard/action` invoke is answered with a "working
  on it" card, since Teams shows the card an invoke answers with; the turn's own answer replaces it (update_activity)
  when it is ready;
- an activity delivered before (bot.transport.deliveries) is not acted on twice: an invoke gets the first delivery's
  answer (waited for within the same deadline), anything else an empty 201 (the first delivery's replies reach the
  user).
Background turns are tracked: their errors are logged (through the redacting log handlers), and on shutdown they get a
grace period to finish before they are cancelled and awaited. A turn cut off by a crash leaves its delivery marker
running; its lease runs out, and a redelivery of the activity is then acted on (bot.transport.deliveries); when none
comes, the periodic sweep tells the person their request was interrupted (what it wrote, if anything, is followed up by
bot.reconcile and the approval poller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, DeliveryModes
from msrest.serialization import Model

from bot.observe import tracing
from bot.observe.context import TURN
from bot.observe.metrics import turn_kind
from bot.transport import ProactiveAdapter
from bot.transport.activity import reference_of
from bot.transport.deliveries import DONE, Claim, Deliveries
from bot.transport.sendlimit import Clock, Sleep
from cards import note_card, working_card
from cards.wording import INTERRUPTED, LATE_SIGN_IN, SORRY

__all__ = ["ANSWER_WITHIN", "Turns"]

log = logging.getLogger(__name__)

# Seconds from a request's arrival to its HTTP answer at the latest: under Teams' 10–15 s, with room for the network.
ANSWER_WITHIN = 8.0
# How long after its lease ran out an unfinished delivery waits for Teams' redelivery before its person is told.
ORPHANED_AFTER = timedelta(minutes=2)
CARD_ACTION = "adaptiveCard/action"
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"

Work = Callable[[], Awaitable[InvokeResponse | None]]


@dataclass
class _Turn:
    activity: Activity
    claim: Claim | None
    late: bool = False  # the HTTP answer was given before the turn finished


class Turns:
    """`clock` and `sleep` are monotonic seconds (tests pass virtual time; the send limiter takes the same pair)."""

    def __init__(
        self,
        deliveries: Deliveries,
        proactive: ProactiveAdapter,
        *,
        answer_within: float = ANSWER_WITHIN,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        renew_every: float = 10.0,
        poll_every: float = 0.25,
    ) -> None:
        self._deliveries = deliveries
        self._proactive = proactive
        self._answer_within = answer_within
        self.clock = clock
        self._sleep = sleep
        self._renew_every = renew_every
        self._poll_every = poll_every
        self._tasks: set[asyncio.Task[Any]] = set()

    async def answer(self, activity: Activity, work: Work, *, arrived: float) -> InvokeResponse | None:
        """Run `work` (the turn) for an authenticated activity; its answer, or what stands for it at the deadline."""
        scope = TURN.get()
        if scope is not None:  # the route's (app.py): the log lines and the turn metrics name the activity
            scope.activity_id = activity.id or ""
            scope.conversation_id = activity.conversation.id if activity.conversation is not None else ""
            scope.kind = turn_kind(activity.type, activity.name)
            tracing.name_turn(scope.kind)
        if activity.delivery_mode == DeliveryModes.expect_replies:
            return await work()  # the replies travel in the HTTP answer: nothing can continue without it
        deadline = arrived + self._answer_within
        claim = await self._claim(activity)
        if claim is not None and not claim.acting:
            if scope is not None:
                scope.outcome = "duplicate"
            return await self._again(activity, claim, deadline)
        turn = _Turn(activity, claim)
        task = self.spawn(self._run(turn, work), f"turn of activity {activity.id}")
        try:
            await self._until(task, deadline)
        except asyncio.CancelledError:  # the caller went away: the turn goes on, and answers late where it can
            turn.late = True
            raise
        if task.done():
            response, error = task.result()
            if error is not None:
                raise error
            return response
        turn.late = True  # decided with no await since task.done(): the turn sees it when it finishes
        if scope is not None:
            scope.outcome = "late"
        log.warning(
            "activity %s (%s) is not finished after %.0f s: answered now, the turn goes on in the background",
            activity.id,
            activity.type,
            self._answer_within,
        )
        return _provisional(activity)

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task that is tracked until it ends, its failure logged, and awaited or cancelled at close."""
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    async def close(self, grace: float = 5.0) -> None:
        """Shutdown: give running turns `grace` seconds (real time) to finish, then cancel and await the rest."""
        running = set(self._tasks)
        if running:
            _, running = await asyncio.wait(running, timeout=grace)
        for task in running:
            log.warning("shutting down: cancelled %s, still running after %.0f s", task.get_name(), grace)
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def sweep(self) -> int:
        """Housekeeping (every few minutes): the person whose activity a dead process was acting on, with no
        redelivery to take it over, is told it was not finished; expired markers are deleted. How many were told."""
        orphans = await self._deliveries.orphans(ORPHANED_AFTER)
        for key, reference in orphans:
            log.warning("delivery %s was left unfinished by a process that stopped; telling its conversation", key)
            if reference is not None:
                try:
                    await self._proactive.continue_as(reference, _tell_interrupted)
                except Exception:
                    log.exception("could not tell conversation %s about its interrupted request", key)
        swept = await self._deliveries.sweep()
        if swept:
            log.info("swept %d expired delivery markers", swept)
        return len(orphans)

    async def idle(self) -> None:
        """Wait until no background task is left (those they start included)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def __len__(self) -> int:
        """Background tasks still running."""
        return len(self._tasks)

    # ---- the first delivery ----------------------------------------------------------------------------------

    async def _run(self, turn: _Turn, work: Work) -> tuple[InvokeResponse | None, Exception | None]:
        """The turn, its delivery marker kept and finished; the answer shown late when the HTTP answer went before.
        Returns (answer, error) rather than raising, so an error is reported once: by the caller in time, else here."""
        activity = turn.activity
        keeper = self.spawn(self._keep_lease(turn.claim), f"lease of activity {activity.id}") if turn.claim else None
        response: InvokeResponse | None = None
        error: Exception | None = None
        try:
            response = await work()
        except Exception as e:
            error = e
        finally:
            if keeper is not None:
                keeper.cancel()
        if turn.claim is not None:
            try:
                await self._deliveries.finish(turn.claim, _stored(response))
            except Exception:
                log.exception("could not mark activity %s as answered", activity.id)
        if turn.late:
            if error is not None:
                log.error("activity %s failed after it was answered", activity.id, exc_info=error)
                response, error = None, None
            await self._answer_late(activity, response)
        return response, error

    async def _keep_lease(self, claim: Claim | None) -> None:
        while claim is not None:
            await self._sleep(self._renew_every)
            if not await self._deliveries.renew(claim):
                log.warning("the delivery marker %s is no longer this process's", claim.key)
                return

    async def _answer_late(self, activity: Activity, response: InvokeResponse | None) -> None:
        """A card action answered "working on it": its own answer replaces that card now."""
        if activity.type != ActivityTypes.invoke or activity.name != CARD_ACTION or not activity.reply_to_id:
            return
        try:
            await self._proactive.update_card(reference_of(activity), activity.reply_to_id, _shown_card(response))
        except Exception:
            log.exception("could not show the late answer to card action %s", activity.id)

    # ---- a delivery made before --------------------------------------------------------------------------------

    async def _claim(self, activity: Activity) -> Claim | None:
        if not activity.id:
            return None  # nothing to recognise a redelivery by
        # Only a person's message or click has someone waiting for its outcome, to tell if it is cut off.
        person = activity.type in (ActivityTypes.message, ActivityTypes.invoke)
        try:
            return await self._deliveries.claim(
                activity.conversation.id, activity.id, reference_of(activity) if person else None
            )
        except Exception:  # acting twice on a redelivery is less harm than not acting at all
            log.exception("could not check whether activity %s was delivered before; acting on it", activity.id)
            return None

    async def _again(self, activity: Activity, claim: Claim, deadline: float) -> InvokeResponse | None:
        log.info("activity %s (%s) was delivered before (%s): not acted on", activity.id, activity.type, claim.state)
        if activity.type != ActivityTypes.invoke:
            return None
        while claim.state != DONE and (left := deadline - self.clock()) > 0:
            await self._sleep(min(self._poll_every, left))
            claim = await self._deliveries.look(claim)
        if claim.state == DONE and claim.response is not None:
            return InvokeResponse(status=int(claim.response["status"]), body=claim.response.get("body"))
        return _provisional(activity)

    # ---- housekeeping ----------------------------------------------------------------------------------------

    async def _until(self, task: asyncio.Task[Any], deadline: float) -> None:
        """Wait for `task`, at most until `deadline` on this clock."""
        left = deadline - self.clock()
        if left <= 0:
            return
        timer = asyncio.ensure_future(self._sleep(left))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task %r failed", task.get_name(), exc_info=error)


async def _tell_interrupted(turn_context: TurnContext) -> None:
    await turn_context.send_activity(MessageFactory.text(INTERRUPTED))


def _provisional(activity: Activity) -> InvokeResponse | None:
    """What answers an activity whose turn is not finished: a card action a "working on it" card, another invoke a
    neutral 200, anything else nothing (201)."""
    if activity.type != ActivityTypes.invoke:
        return None
    if activity.name == CARD_ACTION:
        return InvokeResponse(status=200, body={"statusCode": 200, "type": CARD, "value": working_card()})
    return InvokeResponse(status=200)


def _stored(response: InvokeResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    body = response.body.serialize() if isinstance(response.body, Model) else response.body
    return {"status": response.status, "body": body}


def _shown_card(response: InvokeResponse | None) -> dict[str, Any]:
    """The card a card action's answer shows: its card, or its sentence on a card; a sign-in it asked for (which only
    the HTTP answer can carry) becomes a note to click again, no answer at all (the turn failed) a note saying so."""
    if response is None:
        return note_card(SORRY)
    body = response.body if isinstance(response.body, dict) else {}
    if body.get("type") == CARD and isinstance(body.get("value"), dict):
        return dict(body["value"])
    if body.get("type") == MESSAGE and isinstance(body.get("value"), str):
        return note_card(body["value"])
    return note_card(LATE_SIGN_IN)
