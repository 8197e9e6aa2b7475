"""Approval races (issue 10, point 9): 100 per run (`--long`: 500, with ten approvers a group instead of five).

Each race is a fresh request by its own requester (seeded users, each eligible) for one of four groups that need
approval, in turn: Security-Operators (Bob, and PIM-Approvers: Carol, Dave, Erin, Frank) and three more seeded like it
(one approver by name and an approver group). Four groups, so that no approver's chat gets more than Teams allows a
bot in one conversation (60 sends in 30 s; the bot keeps to it by waiting, bot.transport.sendlimit). The approvers get
their cards; then, at once, through POST /api/messages: two to all of them click Approve or Deny (each with the reason
the policy requires), one of them sometimes twice (the same button or the other one), and in about a third of the races
the requester clicks Cancel on their own card at the same moment. Every action starts after a random few
milliseconds, so the interleavings differ; the seed is fixed (RACE_SEED) so a failure can be replayed.

After each race, once the card updates have run:
- exactly one outcome reached the simulated tenant, by its request log: one successful stage PATCH or one successful
  cancel, never two; and at most one approver's PATCH was sent at all (the claim), refused only when the requester's
  cancel won (refused attempts are counted);
- every clicker was told the truth: the one whose decision landed that it was his (the decided card, or "You
  approved …" for his double click), everyone else who decided ("already approved by <the winner>"), or that the
  requester cancelled; nobody is asked to try again, nobody is told of a decision that did not happen;
- every copy of the approval card (each update the bot made to it, and each click's answer that replaced it) and the
  requester's own card show the tenant's final state; the requester's Cancel is answered with what really happened
  ("I cancelled …", or "already approved by …, so it was not cancelled"), and the requester is told the outcome once;
- the bot's record holds that outcome and nothing is left owed (no claim, no spread, no fan-out).
The figures are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from app import PARTS_KEY
from devtools.teams import activities as act
from devtools.teams.activities import BOB, FRANK, TeamsUser
from devtools.teams.connector import Recorded
from simtenant import seed
from tests.support.adversarial import Budget
from tests.support.approvals import CAROL, DAVE, approval_cards, hello, stack_copies, waiting_card
from tests.support.cards import element
from tests.support.races import (
    APPROVED,
    CANCELLED,
    Click,
    Pool,
    check_copy,
    check_requester,
    invoke,
    judge,
    race_pools,
    race_requesters,
    race_user,
    state_line,
)
from tests.support.stack import Stack, running_stack
from tests.support.state import StateFile

RACE_SEED = 20261207
ERIN = TeamsUser(seed.ERIN, "Erin Evans")


def seed_pools(stack: Stack, per_group: int) -> list[Pool]:
    """Security-Operators with its demo approvers (Erin and Frank added to PIM-Approvers, and more approvers there when
    `per_group` asks for more than five) and three groups like it; `per_group` approvers each."""
    tenant = stack.sim.tenant
    demo = [BOB, CAROL, DAVE, ERIN, FRANK]
    extra = [race_user(1, n, f"Approver {n:02d}") for n in range(per_group - len(demo))]
    for person in extra:
        tenant.add_user(person.oid, person.name, _upn(person))
    pools = race_pools(tenant, tuple(demo + extra), per_group, _upn)
    for person in (ERIN, FRANK, *extra):
        tenant.add_member(seed.PIM_APPROVERS, person.oid)
    return pools


def _upn(person: TeamsUser) -> str:
    return f"{person.oid[:8]}-{person.oid[-4:]}@{seed.DOMAIN}"


async def seed_requesters(stack: Stack, pools: list[Pool], races: int) -> list[TeamsUser]:
    """One requester per race; every approver says hello first (the cards go to their 1:1 chats)."""
    requesters = race_requesters(stack.sim.tenant, pools, races)
    await hello(stack, *(a for pool in pools for a in pool.approvers))
    return requesters


def plan(rng: random.Random, approvers: tuple[TeamsUser, ...]) -> tuple[list[tuple[TeamsUser, str]], bool]:
    """Who clicks what (in the order drawn), and whether the requester's Cancel races them."""
    clickers = rng.sample(approvers, rng.randint(2, len(approvers)))
    clicks = [(who, rng.choice(["approve", "deny"])) for who in clickers]
    if rng.random() < 0.3:
        who = rng.choice(clickers)
        clicks.append((who, rng.choice(["approve", "deny"])))  # a double click, the same button or the other
    return clicks, rng.random() < 0.35


def card_of(stack: Stack, user: TeamsUser, request_id: str) -> Recorded:
    [card] = [
        c for c in approval_cards(stack, user) if element(c.card or {}, "approve")["data"]["requestId"] == request_id
    ]
    return card


async def press(stack: Stack, click: Click, n: int) -> None:
    await asyncio.sleep(click.delay)
    status, body = await stack.post(invoke(stack.service_url, click, f"race {n}"))
    assert status == 200, body
    click.answer = body


async def record_of(stack: Stack, request_id: str) -> dict[str, Any]:
    store = StateFile(stack.state_db)
    try:
        key = f"request/{request_id}"
        return dict((await store.read([key]))[key])
    finally:
        store.close()


async def check_copies(
    stack: Stack, request_id: str, clicks: list[Click], outcome: str, winner: TeamsUser | None, since: int
) -> None:
    """Every copy shows the final state: each update the bot made to it after the race, and each click's answer
    that replaced it."""
    record = await record_of(stack, request_id)
    for key in ("claim", "spread", "fanOut"):
        assert key not in record, (key, record.get(key))
    decided = record.get("decision") or {}
    if outcome == CANCELLED:
        assert not decided and (record.get("closed") or {}).get("kind") == "cancelled", record
    else:
        assert winner is not None
        assert (decided.get("decision"), decided.get("by")) == (
            "approve" if outcome == APPROVED else "deny",
            winner.oid,
        ), decided
    expected = state_line(outcome, winner)
    for copy in await stack_copies(stack, request_id):
        check_copy(stack.connector.sent[since:], clicks, copy["activityId"], copy["userId"], expected)


async def one_race(
    stack: Stack, n: int, requester: TeamsUser, pool: Pool, rng: random.Random, figures: Counter[str]
) -> None:
    approvers = pool.approvers
    status, _ = await stack.post(act.message(stack.service_url, f"activate {pool.name} 1h because race {n}", requester))
    assert status == 201
    [request] = [
        r
        for r in stack.sim.tenant.requests_for("assignment")
        if r.principal_id == requester.oid and r.status == "PendingApproval"
    ]
    request_id = request.id
    cards = {who: card_of(stack, who, request_id) for who in approvers}
    waiting = waiting_card(stack, request_id, requester)

    drawn, cancel = plan(rng, approvers)
    clicks = [Click(who, verb, cards[who], rng.uniform(0, 0.02)) for who, verb in drawn]
    if cancel:
        clicks.append(Click(requester, "cancel", waiting, rng.uniform(0, 0.02)))
    since = len(stack.connector.sent)
    stack.sim.tenant.log.clear()

    await asyncio.gather(*(press(stack, c, n) for c in clicks))
    await stack.server.app[PARTS_KEY].bot.drain(30)

    outcome, winner = judge(stack.sim.tenant, request_id, clicks, approvers, figures)
    figures["clicks"] += sum(c.verb != "cancel" for c in clicks)
    figures["cancels raced"] += cancel
    await check_copies(stack, request_id, clicks, outcome, winner, since)
    check_requester(stack.connector, requester, waiting, outcome, winner)


async def test_approval_races(tmp_path: Path, budget: Budget, figures: Counter[str]) -> None:
    races = 500 if budget.long else 100
    rng = random.Random(RACE_SEED)
    async with running_stack(tmp_path) as stack:
        pools = seed_pools(stack, 10 if budget.long else 5)
        requesters = await seed_requesters(stack, pools, races)
        started = time.perf_counter()
        for n, requester in enumerate(requesters):
            await one_race(stack, n, requester, pools[n % len(pools)], rng, figures)
    figures["cases"] = races
    figures["ms per race"] = round((time.perf_counter() - started) * 1000 / races)
