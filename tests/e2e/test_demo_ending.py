"""Issue 14 points 3 and 4 in `make demo` (python -m devtools.demo, started as a user would; access about to end is
checked every 15 s there), driven through the Playground's HTTP/WS API as Alice: her eligibility for Exchange-Admins
ownership ends in 10 days (Ask to extend) and SharePoint-Admins ended two days ago (Ask to renew); a 15-minute
activation gets its ending-soon card once the simulated tenant's clock is 6 minutes on, and Keep it answers in place.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from devtools.stack import Tenant
from tests.support.cards import element, maybe_element
from tests.support.demo_process import running_demo
from tests.support.e2e import SimControl
from tests.support.playground import BotMessage, PlaygroundClient

pytestmark = [pytest.mark.playground]


def heading(message: BotMessage) -> str:
    found = maybe_element(message.card, "heading") if message.card is not None else None
    return str(found["text"]) if found is not None else ""


async def collect(pg: PlaygroundClient, wanted: list[Callable[[str], bool]], within: float) -> dict[int, BotMessage]:
    """The first message whose card heading each predicate accepts, in whatever order they come."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    found: dict[int, BotMessage] = {}
    while len(found) < len(wanted):
        message = await pg.next_message(max(deadline - loop.time(), 0.1))
        for n, accepts in enumerate(wanted):
            if n not in found and accepts(heading(message)):
                found[n] = message
    return found


async def test_the_demo_warns_before_access_ends(tmp_path: Any) -> None:
    async with running_demo(tmp_path / "demo", ending_poll="15") as demo:
        info = json.loads((demo.run / "simtenant" / "simtenant.json").read_text())
        tenant = Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__})
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            pg = PlaygroundClient(demo.url, http, diagnostics=demo.bot_log_tail)
            await pg.connect()
            try:
                await pg.sync()
                sim = SimControl(tenant, http)
                await pg.say("activate Exchange-Admins 15m")
                eligibility = [
                    lambda h: h == "Your eligibility for Exchange-Admins ends soon",
                    lambda h: h == "Your eligibility for SharePoint-Admins has ended",
                ]
                found = await collect(pg, [lambda h: h == "Activation", *eligibility], within=45)
                extend = found[1]
                await sim.control("POST", "/clock", {"advance_seconds": 360})  # 9 minutes left
                ending = (await collect(pg, [lambda h: h == "Exchange-Admins ends soon"], within=45))[0]
                assert ending.card is not None and extend.card is not None
                keep = element(ending.card, "keep")
                data = {**keep["data"], "keepMinutes": "30", "justification": ""}
                answer = await pg.invoke(ending.message_id, keep["verb"], data)
                assert element(answer["value"], "heading")["text"] == "Exchange-Admins: I will keep it", answer
                ask = element(extend.card, "ask")
                answer = await pg.invoke(extend.message_id, ask["verb"], {**ask["data"], "changeReason": "on call"})
                assert element(answer["value"], "heading")["text"] == "Exchange-Admins: asked to extend", answer
            finally:
                await pg.close()
