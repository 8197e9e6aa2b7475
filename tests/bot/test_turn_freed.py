"""A finished turn is freed by reference counting when it ends, not left for the garbage collector (issue 16).

Three reference cycles made every turn's context, its activities, its card and each Graph response wait for the
cyclic garbage collector: botbuilder's send-handler chain (bot.transport.emit), the typing indicator's cancelled timer
(bot.transport.typing) and httpx's response/stream pair (graph.transport.GraphHttpClient.send). Through POST
/api/messages, with the collector off and told to keep what it finds, so anything of a turn that only it could free
shows up.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from tests.support.cards import element
from tests.support.chat import say
from tests.support.stack import Stack


@pytest.fixture
def collector_off() -> Iterator[list[object]]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_an_activation_turn_leaves_nothing_for_the_garbage_collector(
    stack: Stack, collector_off: list[object]
) -> None:
    await say(stack, "status")  # the first turn of a process makes its long-lived objects (tokens, caches, clients)
    gc.collect()
    collector_off.clear()

    card = await say(stack, "activate Exchange-Admins 2h")  # a Graph write, the directory check, a card sent
    status = await say(stack, "status")
    gc.collect()

    assert element(card, "outcome-0-state")["text"] == "Active" and status
    kept = [type(o).__name__ for o in collector_off if isinstance(o, TurnContext | Activity | httpx.Response)]
    assert kept == []
