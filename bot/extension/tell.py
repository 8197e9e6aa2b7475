"""What a decision tells the admin feed, once (by the call that stored it, bot.extension.endpoint): an
EXTENSION_EVALUATED event (requester, group, outcome, rule, reasons), its id the request's, so it is posted once.
The event is made before the decision is stored, and stored with it (as JSON), so that a process that dies before
queueing it leaves it for the next feed cycle to queue (bot.extension.upkeep)."""

from __future__ import annotations

from typing import Protocol

from bot.feed.store import event_from_json, event_to_json
from bot.store import Json
from core.extension import Evaluation
from core.feed import EventKind, FeedEvent, extension_event_id
from core.models import PimRequest
from core.ports import Clock

__all__ = ["AdminFeed", "Teller", "feed_event"]


class AdminFeed(Protocol):
    """The admin feed's side (bot.feed.FeedDesk.tell_evaluation): queue an event for its channel, once."""

    async def tell_evaluation(self, event: FeedEvent) -> bool: ...


def feed_event(evaluation: Evaluation, request: PimRequest, at: Clock) -> FeedEvent:
    now = at.now()
    return FeedEvent(
        id=extension_event_id(evaluation.request_id),
        kind=EventKind.EXTENSION_EVALUATED,
        group_id=evaluation.group_id,
        principal_id=evaluation.principal_id,
        access=evaluation.access,
        start=request.start,
        end=request.ends,
        justification=request.justification,
        ticket=request.ticket,
        decision=evaluation.outcome.value,
        observed_at=now,
        rule=evaluation.rule,
        reasons=evaluation.reasons,
    )


class Teller:
    def __init__(self, feed: AdminFeed, clock: Clock) -> None:
        self._feed = feed
        self._clock = clock

    def event(self, evaluation: Evaluation, request: PimRequest) -> Json:
        """The feed event of `evaluation`, as stored beside it until it is queued."""
        return event_to_json(feed_event(evaluation, request, self._clock))

    async def __call__(self, event: Json) -> None:
        """Queue the stored event for the feed (a feed that is off, or had it already, drops it)."""
        await self._feed.tell_evaluation(event_from_json(event))
