"""The Graph fault matrix (issue 10, point 9): every fault a network and Graph can produce, on every call that matters.

Calls: the activation POST (`activate`: a group without approval; `request`: one that waits for approval), the
user's reads (`read`: the view an activation starts from), the approver's PATCH (`approve`) and the deactivation POST
(`deactivate`). Faults, once each, from the simulated tenant: 429 with Retry-After, 503 before Graph did the work, 503
after it, slower than the bot's Graph timeout (the work done before the answer, or after the bot gave up), and the
connection dropped after the work. For the writes, each also with the read-back failing (every later read of the
outcome answers 503 until the fault is gone), which is when the bot must not guess.

Each scenario runs the command through POST /api/messages, then lets the bot follow up what it could not confirm
(faults cleared, time moved on) until it has nothing left to follow up, and checks:
- no 5xx for any activity;
- no duplicate write (the tenant holds at most one request, or one decision, from it);
- no untrue message: whatever the bot said last is what the tenant shows (done / not done), and "nothing was
  changed" is never said of something that happened; "I could not confirm yet" is always followed by the truth;
- nothing orphaned: every request the tenant holds is known to the bot (shown to the user with its id, or kept with
  its approval cards) and no follow-up is left behind.

Time is virtual where the code allows it (retry waits, Retry-After and follow-ups move the simulated clock); only the
"slow" faults cost real time: the bot's Graph timeout is half a second here. The figures are printed at the end of
the run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.reconcile import RETRY_AFTER
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from tests.support.adversarial import write_figures
from tests.support.approvals import CAROL, approval_cards, conversation, hello
from tests.support.cards import card_text, element, maybe_element, request_id_of
from tests.support.chat import EXCHANGE, SECURITY_OPS, assignment_requests
from tests.support.stack import GRAPH_TIMEOUT, Stack, follow_up, poll, running_stack
from tests.support.state import StateFile

SLOW = GRAPH_TIMEOUT * 2  # an answer (or the work) this late comes after the bot stopped waiting

FAULTS: dict[str, dict[str, Any]] = {
    "429 Retry-After": {"status": 429, "retry_after": 2},
    "503 before the work": {"status": 503},
    "503 after the work": {"status": 503, "after_processing": True},
    "slow, work done": {"delay_seconds": SLOW, "after_processing": True},
    "slow, work after the timeout": {"delay_seconds": SLOW},
    "dropped after the work": {"drop": True, "after_processing": True},
}
# With --long: more of the same kind (a longer Retry-After, a gateway timeout, the write and its one re-send both
# faulted, a connection dropped before the work).
LONG_FAULTS: dict[str, dict[str, Any]] = {
    "429 beyond the retry budget": {"status": 429, "retry_after": 120},
    "504 after the work": {"status": 504, "after_processing": True},
    "503 after the work, twice": {"status": 503, "after_processing": True, "times": 2},
    "dropped after the work, twice": {"drop": True, "after_processing": True, "times": 2},
    "dropped before the work": {"drop": True},
    "slow, work after the timeout, twice": {"delay_seconds": SLOW, "times": 2},
}
READ_BACK_WORKS, READ_BACK_FAILS = "read-back works", "read-back fails"

DONE, NOT_DONE = "done", "not done"
FIGURES: Counter[str] = Counter()


class Scenario(Protocol):
    """One call under faults: how to get there, what to break, what the bot said, what the tenant holds."""

    method: str
    path: str  # the faulted call
    read_back: str  # the reads of its outcome (failing in the READ_BACK_FAILS variant)
    read_back_skip: int  # reads of that path the command makes before its write (they must work)

    async def setup(self, stack: Stack) -> None: ...

    async def act(self, stack: Stack) -> int:
        """Run the command; its HTTP status."""
        ...

    def said(self, stack: Stack) -> list[str]:
        """What the bot told the person, in order, each as DONE, NOT_DONE or "unconfirmed"."""
        ...

    def truth(self, stack: Stack) -> str:
        """DONE or NOT_DONE, as the tenant shows it."""
        ...

    async def orphans(self, stack: Stack) -> list[str]:
        """Requests (or decisions) the tenant holds that the bot neither showed nor kept."""
        ...


def _alice_cards(stack: Stack) -> list[dict[str, Any]]:
    return [r.card for r in stack.connector.messages(conversation(ALICE)) if r.card is not None]


def _state_said(card: dict[str, Any], done: str, not_done: tuple[str, ...]) -> str:
    state = str(element(card, "outcome-0-state")["text"])
    message = str((maybe_element(card, "outcome-0-message") or {}).get("text") or "")
    if state == "Not confirmed yet":
        assert "nothing was changed" not in message.lower()
        return "unconfirmed"
    if state == done:
        return DONE
    assert state in not_done, f"unexpected answer {state!r}: {message}"
    if state == "Not confirmed":  # the follow-up gave up: true, and never "nothing was changed"
        assert "nothing was changed" not in message.lower()
        return "unknown"
    assert "nothing was changed" in message.lower(), message
    return NOT_DONE


def _requests(stack: Stack, group: str, action: str) -> list[dict[str, Any]]:
    return [
        r
        for r in assignment_requests(stack)
        if r["groupId"] == group and r["principalId"] == ALICE.oid and r["action"] == action
    ]


def _shown_request_ids(stack: Stack) -> set[str]:
    shown: set[str] = set()
    for card in _alice_cards(stack):
        if maybe_element(card, "outcome-0-request") is not None:
            shown.add(request_id_of(card, "outcome-0-request"))
    return shown


async def _records(stack: Stack, prefix: str) -> dict[str, dict[str, Any]]:
    storage = StateFile(stack.state_db)
    try:
        keys = await storage.keys_with_prefix(prefix)
        return await storage.read(keys)
    finally:
        storage.close()


@dataclass
class Activate:
    """Exchange-Admins, no approval: Alice's view is read first, so the write is the command's only Graph call."""

    group: str = EXCHANGE
    command: str = "activate Exchange-Admins 1h"
    method: str = "POST"
    path: str = r"assignmentScheduleRequests$"
    read_back: str = r"assignmentScheduleRequests"
    read_back_skip: int = 0
    done: str = "Active"

    async def setup(self, stack: Stack) -> None:
        await _say(stack, "status")

    async def act(self, stack: Stack) -> int:
        return await _say(stack, self.command)

    def said(self, stack: Stack) -> list[str]:
        cards = [c for c in _alice_cards(stack) if maybe_element(c, "outcome-0-state") is not None]
        return [_state_said(c, self.done, ("Not activated", "Not confirmed")) for c in cards]

    def truth(self, stack: Stack) -> str:
        return DONE if ALICE.oid in stack.sim.tenant.members(self.group) else NOT_DONE

    async def orphans(self, stack: Stack) -> list[str]:
        made = {r["id"] for r in _requests(stack, self.group, "selfActivate") if r["status"] == "Provisioned"}
        return sorted(made - _shown_request_ids(stack))


@dataclass
class Read(Activate):
    """The same activation from a cold start: the fault hits the read of Alice's view (a $batch of GETs)."""

    method: str = "GET"
    path: str = r"eligibilitySchedules"

    async def setup(self, stack: Stack) -> None:
        return None


@dataclass
class Request(Activate):
    """Security-Operators: the request waits for approval, so the bot must keep it and send it to the approvers."""

    group: str = SECURITY_OPS
    command: str = "activate Security-Operators 1h because incident INC-9"
    done: str = "Waiting for approval"

    async def setup(self, stack: Stack) -> None:
        await hello(stack, BOB, CAROL)
        await _say(stack, "status")

    def truth(self, stack: Stack) -> str:
        waiting = [r for r in _requests(stack, self.group, "selfActivate") if r["status"] == "PendingApproval"]
        return DONE if waiting else NOT_DONE

    async def orphans(self, stack: Stack) -> list[str]:
        kept = await _records(stack, "request/")
        carded = {str(card_text(r.card or {})) for r in approval_cards(stack, BOB)}
        lost = []
        for request in _requests(stack, self.group, "selfActivate"):
            rid = request["id"]
            if f"request/{rid}" not in kept or not any(rid in text for text in carded):
                lost.append(rid)
        return lost


@dataclass
class Deactivate(Activate):
    """Alice ends an activation of Exchange-Admins (past PIM's five-minute rule)."""

    command: str = "deactivate Exchange-Admins"
    read_back_skip: int = 1  # the deactivation reads Alice's view (her requests among it) first
    done: str = "Deactivated"

    async def setup(self, stack: Stack) -> None:
        await _say(stack, "activate Exchange-Admins 1h")
        stack.sim.tenant.advance(600)

    def said(self, stack: Stack) -> list[str]:
        cards = [c for c in _alice_cards(stack) if str(c["body"][0].get("text", "")).startswith("Deactivation")]
        return [_state_said(c, self.done, ("Not deactivated", "Not confirmed")) for c in cards]

    def truth(self, stack: Stack) -> str:
        return NOT_DONE if ALICE.oid in stack.sim.tenant.members(self.group) else DONE

    async def orphans(self, stack: Stack) -> list[str]:
        made = {r["id"] for r in _requests(stack, self.group, "selfDeactivate")}
        return sorted(made - _shown_request_ids(stack))


@dataclass
class Approve:
    """Bob approves Alice's Security-Operators request on his card."""

    method: str = "PATCH"
    path: str = r"assignmentApprovals/.+/stages/"
    read_back: str = r"assignmentApprovals/"
    read_back_skip: int = 1  # the rules read the approval once before the decision
    request_id: str = ""
    answer: dict[str, Any] | None = None

    async def setup(self, stack: Stack) -> None:
        await hello(stack, BOB, CAROL)
        await _say(stack, "activate Security-Operators 1h because incident INC-9")
        [request] = _requests(stack, SECURITY_OPS, "selfActivate")
        self.request_id = request["id"]

    async def act(self, stack: Stack) -> int:
        [card] = approval_cards(stack, BOB)
        data = {**element(card.card or {}, "approve")["data"], "reason": "ok for the window"}
        status, body = await stack.post(act.card_execute(stack.service_url, "approve", data, card.activity_id, BOB))
        self.answer = body
        return status

    def said(self, stack: Stack) -> list[str]:
        assert self.answer is not None and self.answer["statusCode"] == 200, self.answer
        card = self.answer["value"]
        assert isinstance(card, dict), card
        notice = str((maybe_element(card, "notice") or {}).get("text") or "")
        state = str((maybe_element(card, "state") or {}).get("text") or "")  # none while it waits
        if state.startswith("Approved by Bob Builder"):
            assert "nothing was changed" not in notice.lower() and "already" not in notice
            first = DONE
        elif "I could not confirm yet" in notice:
            first = "unconfirmed"
        else:
            assert "nothing was changed" in notice.lower(), notice
            first = NOT_DONE
        later = [_decision_text(t) for t in _texts(stack, BOB)]
        return [first, *later]

    def truth(self, stack: Stack) -> str:
        stage = stack.sim.tenant.approvals[self.request_id.lower()].stages[0]
        if stage.review_result == "NotReviewed":
            return NOT_DONE
        assert stage.review_result == "Approved" and stage.reviewed_by is not None
        assert stage.reviewed_by.id == BOB.oid
        return DONE

    async def orphans(self, stack: Stack) -> list[str]:
        record = (await _records(stack, f"request/{self.request_id}"))[f"request/{self.request_id}"]
        decided = (record.get("decision") or {}).get("by")
        if self.truth(stack) == DONE and decided != BOB.oid:
            return [f"{self.request_id}: approved in PIM, the bot's record says {decided!r}"]
        if self.truth(stack) == NOT_DONE and decided:
            return [f"{self.request_id}: waiting in PIM, the bot's record says decided by {decided!r}"]
        return []


def _decision_text(text: str) -> str:
    if text.startswith("You approved"):
        return DONE
    if "did not reach PIM" in text:
        return NOT_DONE
    assert "has not confirmed" in text, text
    return "unknown"


def _texts(stack: Stack, user: act.TeamsUser) -> list[str]:
    return [
        str(r.body["text"])
        for r in stack.connector.messages(conversation(user))
        if r.body.get("text") and "sent your request" not in str(r.body["text"])
    ]


async def _say(stack: Stack, text: str) -> int:
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status < 500, f"{text!r} answered {status}"
    return status


SCENARIOS: dict[str, type[Scenario]] = {
    "activate": Activate,
    "request": Request,
    "approve": Approve,
    "deactivate": Deactivate,
    "read": Read,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ != "test_graph_fault":
        return
    faults = {**FAULTS, **LONG_FAULTS} if metafunc.config.getoption("--long", default=False) else FAULTS
    cases = []
    for op in SCENARIOS:
        for fault in faults:
            variants = (READ_BACK_WORKS,) if op == "read" else (READ_BACK_WORKS, READ_BACK_FAILS)
            for read_back in variants:
                cases.append(pytest.param(op, fault, read_back, id=f"{op}-{fault}-{read_back}".replace(" ", "_")))
    metafunc.parametrize(("op", "fault", "read_back"), cases)


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    yield FIGURES
    write_figures(request, f"Graph fault matrix: {FIGURES['scenarios']} scenarios", FIGURES)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, quick=True) as running:
        yield running


async def test_graph_fault(stack: Stack, op: str, fault: str, read_back: str) -> None:
    scenario = SCENARIOS[op]()
    await scenario.setup(stack)
    tenant = stack.sim.tenant
    spec = {"times": 1, **FAULTS.get(fault, LONG_FAULTS.get(fault, {}))}
    tenant.add_fault(method=scenario.method, path=scenario.path, **spec)
    if read_back == READ_BACK_FAILS:
        tenant.add_fault(method="GET", path=scenario.read_back, status=503, skip=scenario.read_back_skip, times=None)

    assert await scenario.act(stack) < 500
    if spec.get("delay_seconds") and not spec.get("after_processing"):
        await asyncio.sleep(SLOW + 0.3)  # the held requests reach the tenant after the bot gave up on them
    tenant.faults.clear()
    follow_ups = await _follow_up_all(stack)
    assert await poll(stack) == 0  # nothing left for the poller to find out

    said, truth = scenario.said(stack), scenario.truth(stack)
    assert said, "the bot said nothing"
    assert all(s == "unconfirmed" for s in said[:-1]), said  # only "not confirmed yet" may come before the answer
    assert said[-1] == truth, f"the bot said {said}, the tenant shows {truth}"
    assert await scenario.orphans(stack) == []
    assert await _records(stack, "reconcile/") == {}
    _no_duplicate_write(stack, op)

    FIGURES["scenarios"] += 1
    how = "after a follow-up" if said[0] == "unconfirmed" else "at once"
    FIGURES[f"{op}: {truth} (told {how})"] += 1
    FIGURES["follow-ups settled"] += follow_ups


async def _follow_up_all(stack: Stack) -> int:
    """What the bot's background sweep does, until nothing is left: each round one retry interval later."""
    settled = 0
    for _ in range(len(RETRY_AFTER) + 1):
        if not await _records(stack, "reconcile/"):
            break
        stack.sim.tenant.advance(max(RETRY_AFTER) + timedelta(seconds=1))
        settled += await follow_up(stack)
    return settled


def _no_duplicate_write(stack: Stack, op: str) -> None:
    if op == "approve":
        patches = [e for e in stack.sim.tenant.log.recent() if e["method"] == "PATCH" and e["status"] < 300]
        assert len(patches) <= 1, patches
        return
    group = SECURITY_OPS if op == "request" else EXCHANGE
    action = "selfDeactivate" if op == "deactivate" else "selfActivate"
    made = _requests(stack, group, action)
    assert len(made) <= 1, made
