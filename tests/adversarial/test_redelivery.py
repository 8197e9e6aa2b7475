"""Redelivery (issue 10, points 7 and 9): Teams delivers an activity again when the bot's HTTP answer is late or lost,
possibly to another instance of the bot. Every kind of activity that writes to PIM is delivered several times, in
every order, to one bot process or to two sharing a state file, with and without the faults that hold a turn past
the deadline of its HTTP answer (Teams' 429 with Retry-After on a send, Graph's on the write), and each checks:
- no 5xx for any delivery;
- no duplicate write (one activation, or one approval decision, in the simulated tenant's request log);
- no untrue message: the person sees the first delivery's outcome once ("Active", "Waiting for approval",
  "Approved by Bob Builder"), never "already active / waiting / approved", and a click answered "Working on it…"
  ends showing that outcome;
- nothing orphaned: no delivery is left running, approvers get one card each, the waiting request is recorded.

Monotonic time is virtual (a ManualClock): a Retry-After is waited out by moving the clock, never by sleeping.
`pytest tests/adversarial --long` adds more ways of delivering. The figures are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from app import PARTS_KEY
from bot.store import keys
from bot.store.sqlite import SqliteStore
from bot.transport.deliveries import DONE
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.fakes.virtual_time import ManualClock
from tests.support.adversarial import write_figures
from tests.support.approvals import CAROL, approval_cards, approval_patches, conversation, hello
from tests.support.cards import card_text, element, maybe_element
from tests.support.chat import say
from tests.support.stack import START, Stack, bot_on, no_bot_yet

FIGURES: Counter[str] = Counter()
ACTIVATION = "POST assignmentScheduleRequests"
WORKING = "Working on it…"


@dataclass
class Rig:
    """Two bot processes (in-process apps) on one tenant, connector and state file, on one virtual clock."""

    one: Stack
    two: Stack
    clock: ManualClock
    retry_at: float | None = None  # when the injected fault's Retry-After runs out
    answers: list[tuple[int, Any]] = field(default_factory=list)

    @property
    def sim(self) -> Any:
        return self.one.sim

    async def deliver(self, bot: Stack, activity: dict[str, Any]) -> asyncio.Task[tuple[int, Any]]:
        return asyncio.ensure_future(bot.post(copy.deepcopy(activity)))

    async def answered(self, *tasks: asyncio.Task[tuple[int, Any]]) -> None:
        """Let the fault's Retry-After run out (on the virtual clock), then collect the HTTP answers."""
        if self.retry_at is not None:
            await self.clock.asleep_until(self.retry_at)  # the faulted call waits for it: the turn got that far
            self.clock.advance_to(self.retry_at)
            self.retry_at = None
        async with asyncio.timeout(20):  # real time: a hang fails the case, it is no timing
            while not all(t.done() for t in tasks):
                # A redelivered click waits for the first one's answer, looking again every 0.25 s: the clock moves
                # on a quarter second whenever the deliveries wait a moment (past 8 s the first answers "Working on
                # it…", which the checks allow: what the person ends up seeing is checked either way).
                await asyncio.wait(tasks, timeout=0.01)
                self.clock.advance_to(self.clock() + 0.25)
            self.answers += [t.result() for t in tasks]

    async def quiet(self) -> None:
        """Every turn, and every update a click left for after its answer, is finished in both processes."""
        async with asyncio.timeout(20):
            for bot in (self.one, self.two):
                parts = bot.server.app[PARTS_KEY]
                await parts.turns.idle()
                await parts.bot.drain(10)


@asynccontextmanager
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = ManualClock(START)
    async with AsyncExitStack() as stack:
        base = await stack.enter_async_context(no_bot_yet(tmp_path))
        base.connector.clock = clock
        one = await stack.enter_async_context(bot_on(base, clock))
        two = await stack.enter_async_context(bot_on(base, clock))
        try:
            yield Rig(one, two, clock)
        finally:
            clock.advance_to(clock() + 3600)  # a case that failed midway leaves nothing asleep for ever


# ---- what is delivered --------------------------------------------------------------------------------------------


class Kind(Protocol):
    faults: tuple[str, ...]  # the faults that hold this kind of turn

    async def setup(self, rig: Rig) -> dict[str, Any]:
        """Prepare, on process one; the activity to deliver."""
        ...

    def writes(self, rig: Rig) -> list[dict[str, Any]]:
        """The successful writes to PIM this activity may make (exactly one is expected)."""
        ...

    def check_said(self, rig: Rig) -> None:
        """The person saw the outcome once, and it is the truth."""
        ...


def _log(rig: Rig) -> list[dict[str, Any]]:
    return list(rig.sim.tenant.log.recent())


def _alice_outcomes(rig: Rig) -> list[str]:
    cards = [r.card for r in rig.one.connector.messages(conversation(ALICE)) if r.card is not None]
    return [str(element(c, "outcome-0-state")["text"]) for c in cards if maybe_element(c, "outcome-0-state")]


def _no_already(rig: Rig, since: int) -> None:
    sent = rig.one.connector.sent[since:]
    everything = [card_text(r.card) if r.card else str(r.body.get("text") or "") for r in sent]
    everything += [card_text(body) if isinstance(body, dict) else str(body) for _, body in rig.answers]
    assert not [t for t in everything if "already" in t.lower()], "a redelivery was answered as a second attempt"


@dataclass
class Activate:
    """A typed activation that needs no approval."""

    faults: tuple[str, ...] = ("none", "teams 429", "graph 429")

    async def setup(self, rig: Rig) -> dict[str, Any]:
        return act.message(rig.one.service_url, "activate Exchange-Admins 1h")

    def writes(self, rig: Rig) -> list[dict[str, Any]]:
        return [e for e in _log(rig) if e["route"] == ACTIVATION and e["status"] < 300]

    def check_said(self, rig: Rig) -> None:
        assert _alice_outcomes(rig) == ["Active"]
        assert all(status == 201 for status, _ in rig.answers)


@dataclass
class Request(Activate):
    """A typed activation that waits for approval: it must reach the approvers once, and be recorded."""

    async def setup(self, rig: Rig) -> dict[str, Any]:
        await hello(rig.one, BOB, CAROL)
        return act.message(rig.one.service_url, "activate Security-Operators 1h because incident INC-9")

    def check_said(self, rig: Rig) -> None:
        assert _alice_outcomes(rig) == ["Waiting for approval"]
        assert (len(approval_cards(rig.one, BOB)), len(approval_cards(rig.one, CAROL))) == (1, 1)
        assert all(status == 201 for status, _ in rig.answers)


@dataclass
class Click:
    """Action.Execute on the "activate for the maximum" button of an over-the-maximum card."""

    faults: tuple[str, ...] = ("none", "graph 429")
    card_id: str = ""

    async def setup(self, rig: Rig) -> dict[str, Any]:
        card = await say(rig.one, "activate Helpdesk-Tier1 10h")
        [message] = rig.one.connector.messages()
        self.card_id = message.activity_id
        button = element(card, "outcome-0-activate-max")
        return act.card_execute(rig.one.service_url, button["verb"], button["data"], message.activity_id)

    def writes(self, rig: Rig) -> list[dict[str, Any]]:
        return [e for e in _log(rig) if e["route"] == ACTIVATION and e["status"] < 300]

    def shown(self, rig: Rig) -> list[str]:
        """What each answer showed, then what the clicked card shows in the end."""
        states = [_state(body) for _, body in rig.answers]
        updates = [r.card for r in rig.one.connector.sent if r.method == "PUT" and r.activity_id == self.card_id]
        return states + [_state({"type": "card", "value": u}) for u in updates if u is not None]

    def check_said(self, rig: Rig) -> None:
        shown = self.shown(rig)
        assert all(status == 200 for status, _ in rig.answers)
        assert set(shown) <= {"Active", WORKING} and shown[-1] == "Active", shown


@dataclass
class Approve:
    """Bob's Approve on his approval card (Action.Execute): one decision, his, told as his."""

    faults: tuple[str, ...] = ("none", "graph 429")

    async def setup(self, rig: Rig) -> dict[str, Any]:
        await hello(rig.one, BOB, CAROL)
        await rig.one.post(act.message(rig.one.service_url, "activate Security-Operators 1h because incident INC-9"))
        [card] = approval_cards(rig.one, BOB)
        data = {**element(card.card or {}, "approve")["data"], "reason": "ok for the patch window"}
        return act.card_execute(rig.one.service_url, "approve", data, card.activity_id, BOB)

    def writes(self, rig: Rig) -> list[dict[str, Any]]:
        return approval_patches(rig.one)

    def check_said(self, rig: Rig) -> None:
        states = [_state(body) for _, body in rig.answers]
        assert all(status == 200 for status, _ in rig.answers)
        assert all(s == WORKING or s.startswith("Approved by Bob Builder") for s in states), states
        told = [r.body.get("text") or "" for r in rig.one.connector.messages(conversation(ALICE))]
        assert len([t for t in told if "approved by Bob Builder" in t]) == 1


def _state(body: Any) -> str:
    card = body.get("value") if isinstance(body, dict) else None
    if not isinstance(card, dict):
        return f"no card: {body!r}"
    for element_id in ("outcome-0-state", "state", "heading"):
        found = maybe_element(card, element_id)
        if found is not None:
            return str(found["text"])
    return card_text(card)


KINDS: dict[str, Callable[[], Kind]] = {"activate": Activate, "request": Request, "click": Click, "approve": Approve}


async def inject(rig: Rig, kind: str, fault: str) -> None:
    """The fault that holds the turn past its HTTP answer's deadline, once."""
    if fault == "teams 429":  # the turn's first send (the typing indicator) waits 20 s
        rig.one.connector.fail_next(429, retry_after="20")
        rig.retry_at = START + 20
    elif fault == "graph 429":  # the write waits 9 s, then is sent again (Graph did not act on it)
        path = r"assignmentApprovals/" if kind == "approve" else r"assignmentScheduleRequests$"
        method = "PATCH" if kind == "approve" else "POST"
        rig.sim.tenant.add_fault(method=method, path=path, status=429, retry_after=9, times=1)
        rig.retry_at = START + 9


# ---- how it is delivered ------------------------------------------------------------------------------------------

Delivery = Callable[[Rig, dict[str, Any]], Awaitable[None]]


async def again_after_the_first(rig: Rig, activity: dict[str, Any]) -> None:
    await rig.answered(await rig.deliver(rig.one, activity))
    await rig.quiet()
    await rig.answered(await rig.deliver(rig.one, activity))


async def twice_at_once(rig: Rig, activity: dict[str, Any]) -> None:
    await rig.answered(await rig.deliver(rig.one, activity), await rig.deliver(rig.one, activity))


async def to_two_processes_at_once(rig: Rig, activity: dict[str, Any]) -> None:
    await rig.answered(await rig.deliver(rig.one, activity), await rig.deliver(rig.two, activity))


async def again_to_the_other_process_after_the_first(rig: Rig, activity: dict[str, Any]) -> None:
    await rig.answered(await rig.deliver(rig.one, activity))
    await rig.quiet()
    await rig.answered(await rig.deliver(rig.two, activity))


async def five_times_over_two_processes(rig: Rig, activity: dict[str, Any]) -> None:
    first = [await rig.deliver(bot, activity) for bot in (rig.one, rig.two, rig.one)]
    await rig.answered(*first)
    await rig.answered(*[await rig.deliver(bot, activity) for bot in (rig.two, rig.one)])


DELIVERIES: dict[str, Delivery] = {
    "again after the first": again_after_the_first,
    "to two processes at once": to_two_processes_at_once,
    "again to the other process": again_to_the_other_process_after_the_first,
}
LONG_DELIVERIES: dict[str, Delivery] = {
    "twice at once": twice_at_once,
    "five times over two processes": five_times_over_two_processes,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ != "test_redelivery":
        return
    long = metafunc.config.getoption("--long", default=False)
    deliveries = {**DELIVERIES, **LONG_DELIVERIES} if long else DELIVERIES
    cases = [
        pytest.param(kind, fault, how, id=f"{kind}-{fault}-{how}".replace(" ", "_"))
        for kind, make in KINDS.items()
        for fault in make().faults
        for how in deliveries
    ]
    metafunc.parametrize(("kind", "fault", "how"), cases)


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    yield FIGURES
    heading = f"Redelivery matrix: {FIGURES['scenarios']} scenarios, {FIGURES['deliveries']} deliveries"
    write_figures(request, heading, FIGURES, ("scenarios", "deliveries"))


async def test_redelivery(tmp_path: Path, kind: str, fault: str, how: str) -> None:
    async with rig(tmp_path) as r:
        scenario = KINDS[kind]()
        activity = await scenario.setup(r)
        since = len(r.one.connector.sent)
        await inject(r, kind, fault)

        await {**DELIVERIES, **LONG_DELIVERIES}[how](r, activity)
        await r.quiet()

        assert all(status < 500 for status, _ in r.answers)
        assert len(scenario.writes(r)) == 1, scenario.writes(r)
        scenario.check_said(r)
        _no_already(r, since)
        assert await _running_deliveries(r) == []

        FIGURES["scenarios"] += 1
        FIGURES["deliveries"] += len(r.answers)
        late = sum(1 for _, body in r.answers if _state(body) == WORKING)
        FIGURES[f"{kind}: answered 'Working on it…' first"] += late


async def _running_deliveries(rig: Rig) -> list[str]:
    store = SqliteStore(rig.one.state_db)
    try:
        return [key async for key, marker in store.items(keys.DELIVERIES) if marker.value.get("state") != DONE]
    finally:
        await store.aclose()
