"""Teams waits about 15 s for the bot's HTTP answer, then may deliver the same activity again (issue 10, point 7).

Through POST /api/messages, with the Bot Connector stand-in answering 429 + Retry-After or the simulated tenant's
Graph doing so: the HTTP answer comes by the deadline (bot.transport.turns.ANSWER_WITHIN after arrival) and the result
still reaches the user; the same activity delivered twice, to one bot or to two sharing a state file, makes one write
and the user sees the first delivery's outcome. Monotonic time is virtual (a ManualClock the test moves): every
assertion on time is on that clock or on the order of events, none on wall time.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botbuilder.core import InvokeResponse
from botbuilder.schema import Activity

from app import PARTS_KEY
from bot.transport.deliveries import Deliveries
from bot.transport.turns import ANSWER_WITHIN, Turns
from cards.wording import INTERRUPTED, SORRY
from devtools.teams import activities as act
from tests.fakes.virtual_time import ManualClock
from tests.support.cards import card_text, element
from tests.support.chat import say, self_activations
from tests.support.stack import START, Stack, bot_on, no_bot_yet

DEADLINE = START + ANSWER_WITHIN
ACTIVATE = "activate Exchange-Admins 1h"
T = TypeVar("T")


@dataclass
class Slow:
    """A bot whose monotonic time (send limiter, Graph retries, the answer's deadline) is `clock`."""

    stack: Stack
    clock: ManualClock

    async def post(self, activity: dict[str, Any]) -> asyncio.Task[tuple[int, Any]]:
        """POST in the background: the answer may wait for the clock to move."""
        return asyncio.ensure_future(self.stack.post(activity))


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[Slow]:
    clock = ManualClock(START)
    async with no_bot_yet(tmp_path) as base:
        base.connector.clock = clock
        async with bot_on(base, clock) as stack:
            try:
                yield Slow(stack, clock)
            finally:
                clock.advance_to(clock() + 3600)  # a test that failed midway leaves nothing asleep for ever


async def promptly(answer: Awaitable[T]) -> T:
    """An answer expected now, with the clock where it is (10 s of real time at most: a hang fails; it is no timing)."""
    async with asyncio.timeout(10):
        return await answer


async def answered(stack: Stack, activity: dict[str, Any]) -> tuple[int, Any]:
    return await promptly(stack.post(activity))


def activation_writes(stack: Stack) -> list[dict[str, Any]]:
    """Every selfActivate POST Graph received, refused ones included."""
    return [e for e in stack.sim.tenant.log.recent() if e["route"] == "POST assignmentScheduleRequests"]


async def graph_throttles_the_activation(stack: Stack, seconds: int) -> None:
    """Graph answers the next activation POST 429 with Retry-After (not processed, so the client may send it again)."""
    fault = {"method": "POST", "path": "assignmentScheduleRequests$", "status": 429, "retry_after": seconds}
    await stack.sim_control("POST", "/faults", fault)


# ---- the HTTP answer comes by the deadline; the result follows ----------------------------------------------------


async def test_a_reply_held_by_teams_429_does_not_hold_the_http_answer(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    stack.connector.fail_next(429, retry_after="20")  # the first send (the answer: it is ready at once) is throttled

    answer = await slow.post(act.message(stack.service_url, ACTIVATE))
    await clock.asleep_until(START + 20)  # the retry waits for Teams' Retry-After ...
    await clock.asleep_until(DEADLINE)  # ... and the HTTP answer for the deadline, not for it
    clock.advance_to(DEADLINE)
    status, _ = await promptly(answer)

    assert status == 201
    assert stack.connector.messages() == [] and len(self_activations(stack)) == 1  # the card waits for Teams
    clock.advance_to(START + 20)
    [reply] = await stack.connector.wait_for(1)
    assert reply.at == START + 20 > DEADLINE  # the result came after the HTTP answer, when Teams allowed it
    assert element(reply.card, "outcome-0-state")["text"] == "Active"
    # The answer was ready at once: no typing indicator (bot.transport.typing), though its send waited for Teams.
    assert [r.type for r in stack.connector.sent] == ["message"]
    assert len(self_activations(stack)) == 1


async def test_an_activation_held_by_graph_retry_after_does_not_hold_the_http_answer(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    await graph_throttles_the_activation(stack, 9)

    answer = await slow.post(act.message(stack.service_url, ACTIVATE))
    await clock.asleep_until(START + 9)  # the activation waits for Graph's Retry-After
    clock.advance_to(DEADLINE)
    status, _ = await promptly(answer)

    assert status == 201 and stack.connector.messages() == []
    clock.advance_to(START + 9)
    [reply] = await stack.connector.wait_for(1)
    assert element(reply.card, "outcome-0-state")["text"] == "Active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]
    # The answer was late: the typing indicator went out while it waited, before it (bot.transport.typing).
    assert [r.type for r in stack.connector.sent] == ["typing", "message"]


async def test_a_card_click_held_by_graph_answers_working_on_it_then_shows_the_result(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    over_max = await say(stack, "activate Helpdesk-Tier1 10h")  # answered in time: no fault yet
    [card_message] = stack.connector.messages()
    button = element(over_max, "outcome-0-activate-max")
    await graph_throttles_the_activation(stack, 9)

    click = act.card_execute(stack.service_url, button["verb"], button["data"], card_message.activity_id)
    answer = await slow.post(click)
    await clock.asleep_until(START + 9)
    clock.advance_to(DEADLINE)
    status, body = await promptly(answer)

    assert status == 200  # Teams shows the card an adaptiveCard/action invoke answers with
    assert (body["statusCode"], body["type"]) == (200, "application/vnd.microsoft.card.adaptive")
    assert element(body["value"], "heading")["text"] == "Working on it…"
    clock.advance_to(START + 9)
    [update] = await stack.connector.wait_for(1, kind="message", method="PUT")
    assert update.activity_id == card_message.activity_id  # the clicked card, now showing the result
    assert element(update.card, "outcome-0-state")["text"] == "Active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]


async def test_a_click_whose_turn_fails_after_working_on_it_ends_saying_so(
    slow: Slow, caplog: pytest.LogCaptureFixture
) -> None:
    stack, clock = slow.stack, slow.clock
    parts = stack.server.app[PARTS_KEY]
    deliveries = Deliveries(parts.store, stack.sim.tenant.clock)
    turns = Turns(deliveries, parts.proactive, clock=clock, sleep=clock.sleep)
    click = Activity().deserialize(act.card_execute(stack.service_url, "activate", {}, "activity-7"))

    async def failing_turn() -> InvokeResponse | None:  # what process_activity does when it fails outside the turn
        await clock.sleep(20)
        raise RuntimeError("the turn broke after its answer")

    answer = asyncio.ensure_future(turns.answer(click, failing_turn, arrived=START))
    await clock.asleep_until(START + 20)
    clock.advance_to(DEADLINE)
    working = await promptly(answer)
    assert working is not None and element(working.body["value"], "heading")["text"] == "Working on it…"

    clock.advance_to(START + 20)
    [update] = await stack.connector.wait_for(1, kind="message", method="PUT")
    assert update.activity_id == "activity-7"  # the clicked card no longer says "Working on it…"
    assert element(update.card, "note")["text"] == SORRY
    assert "failed after it was answered" in caplog.text


async def test_a_quick_turn_is_answered_as_before(slow: Slow) -> None:
    card = await say(slow.stack, ACTIVATE)  # `say` reads the replies as soon as the HTTP answer is in

    assert element(card, "outcome-0-state")["text"] == "Active"


# ---- a redelivered activity is not acted on twice ----------------------------------------------------------------


async def test_a_redelivery_while_the_first_is_held_is_not_acted_on_and_the_user_sees_the_first_outcome(
    slow: Slow,
) -> None:
    stack, clock = slow.stack, slow.clock
    await graph_throttles_the_activation(stack, 9)
    activity = act.message(stack.service_url, ACTIVATE)

    first = await slow.post(activity)
    await clock.asleep_until(START + 9)
    status, _ = await answered(stack, copy.deepcopy(activity))  # Teams' retry: same id, same conversation
    assert status == 201 and clock() == START  # answered at once, without waiting for the first
    clock.advance_to(DEADLINE)
    assert (await promptly(first))[0] == 201
    clock.advance_to(START + 9)

    [reply] = await stack.connector.wait_for(1)
    assert element(reply.card, "outcome-0-state")["text"] == "Active"  # not "Not activated: already active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]
    assert len(stack.connector.typing()) == 1  # the redelivery did nothing at all


async def test_a_redelivery_after_the_first_finished_is_not_acted_on(slow: Slow) -> None:
    stack = slow.stack
    activity = act.message(stack.service_url, ACTIVATE)
    status, _ = await answered(stack, activity)
    assert status == 201
    sent = len(stack.connector.sent)

    status, _ = await answered(stack, copy.deepcopy(activity))

    assert status == 201
    assert len(stack.connector.sent) == sent  # no second card ("Not activated: already active"), no typing
    assert len(activation_writes(stack)) == 1


async def test_a_redelivered_click_gets_the_first_clicks_card(slow: Slow) -> None:
    stack = slow.stack
    over_max = await say(stack, "activate Helpdesk-Tier1 10h")
    [card_message] = stack.connector.messages()
    button = element(over_max, "outcome-0-activate-max")
    click = act.card_execute(stack.service_url, button["verb"], button["data"], card_message.activity_id)
    _, first = await answered(stack, click)

    status, again = await answered(stack, copy.deepcopy(click))

    assert status == 200 and again == first
    assert element(again["value"], "outcome-0-state")["text"] == "Active"
    assert len(activation_writes(stack)) == 1


async def test_a_redelivered_click_while_the_first_is_held_gets_working_on_it_and_one_write(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    over_max = await say(stack, "activate Helpdesk-Tier1 10h")
    [card_message] = stack.connector.messages()
    button = element(over_max, "outcome-0-activate-max")
    click = act.card_execute(stack.service_url, button["verb"], button["data"], card_message.activity_id)
    await graph_throttles_the_activation(stack, 9)

    first = await slow.post(click)
    await clock.asleep_until(START + 9)
    again = await slow.post(copy.deepcopy(click))
    await clock.asleep_until(START + 0.25)  # the redelivery looks again for the first one's answer, a while
    clock.advance_to(DEADLINE)
    (_, first_body), (status, again_body) = await promptly(asyncio.gather(first, again))

    assert status == 200
    assert again_body == first_body  # "working on it": the first one's answer was not ready by the deadline either
    assert element(again_body["value"], "heading")["text"] == "Working on it…"
    clock.advance_to(START + 9)
    [update] = await stack.connector.wait_for(1, kind="message", method="PUT")
    assert element(update.card, "outcome-0-state")["text"] == "Active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]


async def test_two_bots_on_one_state_file_act_once_on_a_redelivery(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    await graph_throttles_the_activation(stack, 9)
    activity = act.message(stack.service_url, ACTIVATE)

    first = await slow.post(activity)
    await clock.asleep_until(START + 9)
    async with bot_on(stack, clock) as other:  # the load balancer sends Teams' retry to another instance
        status, _ = await answered(other, copy.deepcopy(activity))
        assert status == 201
        clock.advance_to(DEADLINE)
        assert (await promptly(first))[0] == 201
        clock.advance_to(START + 9)
        [reply] = await stack.connector.wait_for(1)

    assert element(reply.card, "outcome-0-state")["text"] == "Active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]
    assert len(stack.connector.typing()) == 1


async def test_a_redelivery_is_acted_on_when_the_process_handling_it_stopped(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    await graph_throttles_the_activation(stack, 9)  # the first process is stuck behind Graph's Retry-After ...
    activity = act.message(stack.service_url, ACTIVATE)
    first = await slow.post(activity)
    await clock.asleep_until(START + 9)
    clock.advance_to(DEADLINE)
    assert (await promptly(first))[0] == 201
    await stack.server.app[PARTS_KEY].turns.close(grace=0)  # ... when it stops, before it did anything
    stack.sim.tenant.clock.advance(timedelta(seconds=31))  # its lease runs out

    async with bot_on(stack, clock) as other:
        status, _ = await answered(other, copy.deepcopy(activity))

    assert status == 201
    card = stack.connector.messages()[-1].card
    assert card is not None and element(card, "outcome-0-state")["text"] == "Active"
    assert [e["status"] for e in activation_writes(stack)] == [429, 201]  # the first process's write never landed
    assert "Exchange-Admins" in card_text(card)


async def test_a_request_cut_off_by_a_dead_process_with_no_redelivery_is_not_lost_silently(slow: Slow) -> None:
    stack, clock = slow.stack, slow.clock
    await graph_throttles_the_activation(stack, 9)
    first = await slow.post(act.message(stack.service_url, ACTIVATE))
    await clock.asleep_until(START + 9)
    clock.advance_to(DEADLINE)
    assert (await promptly(first))[0] == 201  # answered; Teams will not deliver it again
    await stack.server.app[PARTS_KEY].turns.close(grace=0)  # the process stops before the turn did anything

    async with bot_on(stack, clock) as other:
        sweep = other.server.app[PARTS_KEY].turns.sweep
        stack.sim.tenant.clock.advance(timedelta(seconds=31))
        assert await sweep() == 0  # its lease ran out, but a redelivery may still come
        stack.sim.tenant.clock.advance(timedelta(minutes=2))
        assert await sweep() == 1
        assert await sweep() == 0

    [told] = stack.connector.messages()
    assert told.body["text"] == INTERRUPTED  # and nothing was activated behind the person's back
    assert [e["status"] for e in activation_writes(stack)] == [429]
