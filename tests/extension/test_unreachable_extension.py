"""A Teams activation of a group whose PIM custom extension cannot be reached (an operator's endpoint, not the bot's),
through POST /api/messages against the simulated tenant: PIM holds the bot's activation write while it tries the
endpoint (timeout × (retries + 1)), so the turn may outlast Teams' wait. The HTTP answer comes by the turn's deadline
(a card click: "Working on it…"), and the real outcome — refused, PIM failing closed — reaches the person after it.

Monotonic time is virtual (the turn's deadline is on a ManualClock the test moves); the endpoint's and Graph's
timeouts are real, and short."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

import pytest

from bot.transport.turns import ANSWER_WITHIN
from devtools.stack import free_port
from devtools.teams import activities as act
from simtenant.seed import HELPDESK_TIER1
from tests.fakes.virtual_time import ManualClock
from tests.support.cards import card_text, element
from tests.support.chat import say
from tests.support.pim_endpoint import link_in_tenant
from tests.support.stack import START, Stack, another_bot, follow_up, no_bot_yet, running_stack

DEADLINE = START + ANSWER_WITHIN
T = TypeVar("T")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: PIM waits for the extension's whole timeout."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(50)
        yield hole.getsockname()[1]


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[tuple[Stack, ManualClock]]:
    """A bot on virtual monotonic time, its activation timeout (5 s) above the extension's worst case below."""
    clock = ManualClock(START)
    async with no_bot_yet(tmp_path) as base:
        base.connector.clock = clock
        async with another_bot(
            base, timer=clock, GRAPH_TIMEOUT_SECONDS="2", GRAPH_ACTIVATION_TIMEOUT_SECONDS="5"
        ) as stack:
            try:
                yield stack, clock
            finally:
                clock.advance_to(clock() + 3600)


def running_stack_for(tmp_path: Path) -> AbstractAsyncContextManager[Stack]:
    """A bot whose activation timeout (2 s) is below the extension's worst case in the test."""
    return running_stack(tmp_path, GRAPH_TIMEOUT_SECONDS="1", GRAPH_ACTIVATION_TIMEOUT_SECONDS="2")


async def promptly(answer: Awaitable[T]) -> T:
    async with asyncio.timeout(10):
        return await answer


async def over_max_card(stack: Stack) -> tuple[dict[str, object], str]:
    """Ask for more than Helpdesk-Tier1's maximum: answered at once with a button for the maximum."""
    card = await say(stack, "activate Helpdesk-Tier1 10h because INC-1 outage")
    message = stack.connector.messages()[-1]
    return element(card, "outcome-0-activate-max"), message.activity_id


async def test_a_click_on_a_group_whose_extension_never_answers_says_working_on_it_then_the_refusal(
    slow: tuple[Stack, ManualClock], silent_port: int
) -> None:
    stack, clock = slow
    button, card_id = await over_max_card(stack)
    url = f"http://127.0.0.1:{silent_port}/api/pim/evaluate"
    link_in_tenant(stack.sim.tenant, HELPDESK_TIER1, url, timeout_ms=1000, retries=1)  # PIM waits 2 s

    click = act.card_execute(stack.service_url, str(button["verb"]), dict(button["data"]), card_id)  # type: ignore[call-overload]
    answer = asyncio.ensure_future(stack.post(click))
    await clock.asleep_until(DEADLINE)
    clock.advance_to(DEADLINE)
    status, body = await promptly(answer)
    assert status == 200 and element(body["value"], "heading")["text"] == "Working on it…"

    [update] = await stack.connector.wait_for(1, kind="message", method="PUT", seconds=15)
    assert update.activity_id == card_id
    text = card_text(update.card or {})
    assert "Not activated" in text and "denied" in text, text
    writes = [e for e in stack.sim.tenant.log.recent() if e["route"] == "POST assignmentScheduleRequests"]
    assert [e["status"] for e in writes] == [400]  # one write, refused by the extension rule; not sent again


async def test_an_activation_of_a_group_whose_extension_port_is_closed_is_refused_in_time_and_says_why(
    slow: tuple[Stack, ManualClock],
) -> None:
    stack, _ = slow
    url = f"http://127.0.0.1:{free_port()}/api/pim/evaluate"  # nothing listens: every attempt is refused at once
    link_in_tenant(stack.sim.tenant, HELPDESK_TIER1, url, timeout_ms=1000, retries=2)
    card = await promptly(say(stack, "activate Helpdesk-Tier1 1h because INC-2 outage"))
    text = card_text(card)
    assert "Not activated" in text and "denied" in text, text


async def test_an_activation_timeout_shorter_than_the_extensions_wait_is_not_told_as_already_waiting_for_approval(
    tmp_path: Path, silent_port: int
) -> None:
    """Misconfigured (admin/extension warns of it): the bot gives up on its write after 2 s while PIM still waits
    for the endpoint (3 s). Its one resend is refused as a duplicate of the request PIM is still deciding; no such
    request can be read, so the outcome is unknown — the person is told so and followed up, not told a request of
    theirs is waiting for approval (PIM refused it, failing closed)."""
    async with running_stack_for(tmp_path) as stack:
        url = f"http://127.0.0.1:{silent_port}/api/pim/evaluate"
        link_in_tenant(stack.sim.tenant, HELPDESK_TIER1, url, timeout_ms=1000, retries=2)  # PIM waits 3 s
        card = await promptly(say(stack, "activate Helpdesk-Tier1 1h because INC-3 outage"))
        text = card_text(card)
        assert "already waiting for approval" not in text.lower(), text
        assert "could not confirm yet" in text, text
        await asyncio.sleep(2)  # PIM gives up on the endpoint (3 s from the write) and refuses the request
        stack.sim.tenant.advance(120)  # past the follow-up's settling time (bot.reconcile.SETTLE)
        assert await follow_up(stack) == 1
        told = stack.connector.messages()[-1]
        assert element(told.card or {}, "outcome-0-state")["text"] == "Not activated"
        assert "nothing was changed" in card_text(told.card or {})
