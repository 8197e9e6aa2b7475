"""Approvals on two bot instances (issue 13, point 5): real processes on one Blob container (Azurite), activities
through a round-robin proxy, as App Service scaled out to two instances runs them.

- 100 races (RACE_SEED, so a failure replays): a fresh request each; two of its approvers click Approve or Deny at
  once, the proxy sending consecutive clicks to different instances, in about a third of the races with the
  requester's Cancel at the same moment, each action after a random few milliseconds. Exactly one outcome reaches
  the simulated tenant (its request log: one successful decision PATCH or cancel, and no second approver's PATCH
  sent at all: the claim holds across instances), every clicker is told what happened (tests.support.races, the
  judge of the in-process races too), every copy of the card and the requester's card show it, and the requester is
  told once.
- Both instances restarted (one stopped as App Service stops an instance, one killed): a card sent before is
  clicked after, on both instances at once, and decides once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.approvals.records import ApprovalRecords, ApprovalRequest
from devtools.azurite import Azurite
from devtools.teams import activities as act
from devtools.teams.activities import BOB, TeamsUser
from devtools.teams.connector import FakeConnector, Recorded
from simtenant import seed
from tests.support.approvals import conversation, waiting_cards
from tests.support.cards import maybe_element
from tests.support.cluster import Cluster, running_cluster
from tests.support.races import (
    Click,
    Pool,
    check_answer,
    check_copy,
    check_requester,
    invoke,
    judge,
    outcome_in_tenant,
    race_pools,
    race_requesters,
    state_line,
    told_requester,
    writes,
)

RACE_SEED = 20261208
RACES = 100
CAROL = TeamsUser(seed.CAROL, "Carol Chen")
DAVE = TeamsUser(seed.DAVE, "Dave Diaz")
SETTLE_SECONDS = 30.0  # a decision's card updates and the requester's message, sent after the click is answered


def seed_pools(cluster: Cluster) -> list[Pool]:
    """Security-Operators (Bob by name, Carol and Dave through PIM-Approvers) and three groups like it, three
    approvers each."""
    return race_pools(cluster.sim.tenant, (BOB, CAROL, DAVE), 3, lambda p: f"approver-{p.oid[-4:]}@{seed.DOMAIN}")


async def seed_requesters(cluster: Cluster, pools: list[Pool], count: int) -> list[TeamsUser]:
    """One requester per race; every approver says hello first (the cards go to their 1:1 chats, whose references
    either instance stored)."""
    requesters = race_requesters(cluster.sim.tenant, pools, count)
    for approver in (a for pool in pools for a in pool.approvers):
        answer = await cluster.post(act.message(cluster.service_url, "help", approver))
        assert answer.status == 201, answer.body
    return requesters


def approval_card(connector: FakeConnector, user: TeamsUser, request_id: str) -> Recorded:
    [card] = [
        r
        for r in connector.messages(conversation(user))
        if r.card is not None
        and (button := maybe_element(r.card, "approve")) is not None
        and button["data"]["requestId"] == request_id
    ]
    return card


def waiting_card(connector: FakeConnector, requester: TeamsUser, request_id: str) -> Recorded:
    """The requester's activation card with its Cancel button."""
    [card] = waiting_cards(connector, requester, request_id)
    return card


async def ask(cluster: Cluster, requester: TeamsUser, pool: Pool, why: str) -> str:
    """The requester activates the pool's group (an approval request); its id in PIM."""
    answer = await cluster.post(act.message(cluster.service_url, f"activate {pool.name} 1h because {why}", requester))
    assert answer.status == 201, answer.body
    [request] = [
        r
        for r in cluster.sim.tenant.requests_for("assignment")
        if r.principal_id == requester.oid and r.status == "PendingApproval"
    ]
    return str(request.id)


async def press(cluster: Cluster, click: Click, why: str) -> int:
    """Click the button after the click's delay; the instance that answered."""
    await asyncio.sleep(click.delay)
    answer = await cluster.post(invoke(cluster.service_url, click, why))
    assert answer.status == 200, answer.body
    click.answer = answer.body
    return answer.instance


async def settled(cluster: Cluster, request_id: str, requester: TeamsUser) -> ApprovalRequest:
    """The request's record once its outcome is recorded and nothing is owed (no claim, no spread to the copies, no
    fan-out) and the requester was told: what the clicks left running in the background is done."""
    records = ApprovalRecords(cluster.store)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        record = await records.get(request_id)
        assert record is not None
        done = record.decision is not None or record.closed is not None
        if done and record.claim is None and record.spread is None and record.fan_out is None:
            if told_requester(cluster.connector, requester):
                return record
        assert time.monotonic() < deadline, f"{request_id} did not settle: {record}"
        await asyncio.sleep(0.05)


async def check_cards(
    cluster: Cluster, request_id: str, clicks: list[Click], outcome: str, winner: TeamsUser | None, since: int
) -> None:
    """Every copy of the approval card shows the outcome (each update made to it since the race, each click's answer
    that replaced it)."""
    expected = state_line(outcome, winner)
    copies = await ApprovalRecords(cluster.store).copies(request_id)
    assert copies, request_id
    sent = cluster.connector.sent[since:]
    for copy in copies:
        check_copy(sent, clicks, copy.activity_id, copy.user_id, expected)


def plan(rng: random.Random, pool: Pool, requester: TeamsUser, cards: dict[TeamsUser, Recorded],
         waiting: Recorded) -> list[Click]:  # fmt: skip
    """Two of the approvers, each Approve or Deny; in about a third of the races the requester's Cancel too; each
    after a random few milliseconds."""
    clicks = [Click(who, rng.choice(["approve", "deny"]), cards[who], rng.uniform(0, 0.02))
              for who in rng.sample(pool.approvers, 2)]  # fmt: skip
    if rng.random() < 0.3:
        clicks.append(Click(requester, "cancel", waiting, rng.uniform(0, 0.02)))
    return clicks


async def one_race(
    cluster: Cluster, n: int, requester: TeamsUser, pool: Pool, rng: random.Random, figures: Counter[str]
) -> None:
    request_id = await ask(cluster, requester, pool, f"race {n}")
    cards = {who: approval_card(cluster.connector, who, request_id) for who in pool.approvers}
    waiting = waiting_card(cluster.connector, requester, request_id)
    clicks = plan(rng, pool, requester, cards, waiting)
    since = len(cluster.connector.sent)
    cluster.sim.tenant.log.clear()

    served = await asyncio.gather(*(press(cluster, c, f"race {n}") for c in clicks))
    assert set(served) == {0, 1}, served  # the race ran across both instances

    await settled(cluster, request_id, requester)
    outcome, winner = judge(cluster.sim.tenant, request_id, clicks, pool.approvers, figures)
    figures["decided once"] += 1
    figures["cancels raced"] += any(c.verb == "cancel" for c in clicks)
    await check_cards(cluster, request_id, clicks, outcome, winner, since)
    check_requester(cluster.connector, requester, waiting, outcome, winner)


async def test_an_approval_clicked_on_both_instances_at_once_is_decided_once(
    tmp_path: Path, azurite: Azurite, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(RACE_SEED)
    figures: Counter[str] = Counter()
    async with running_cluster(tmp_path, azurite) as cluster:
        pools = seed_pools(cluster)
        requesters = await seed_requesters(cluster, pools, RACES)
        started = time.perf_counter()
        for n, requester in enumerate(requesters):
            await one_race(cluster, n, requester, pools[n % len(pools)], rng, figures)
        took = time.perf_counter() - started
    assert figures["decided once"] == RACES
    with capsys.disabled():
        print(f"\ntwo instances, {RACES} approval races in {took:.0f} s: {dict(sorted(figures.items()))}")


async def test_a_card_sent_before_both_instances_restarted_is_clicked_after_and_decides_once(
    tmp_path: Path, azurite: Azurite
) -> None:
    async with running_cluster(tmp_path, azurite) as cluster:
        [pool, *_] = seed_pools(cluster)
        [requester] = await seed_requesters(cluster, [pool], 1)
        request_id = await ask(cluster, requester, pool, "restart drill")
        cards = {who: approval_card(cluster.connector, who, request_id) for who in pool.approvers}
        waiting = waiting_card(cluster.connector, requester, request_id)

        # A rolling restart: the first instance is stopped as App Service stops one (SIGTERM) and started again,
        # then the second dies (kill -9) and is started again.
        await cluster.stop(0)
        await cluster.start(0)
        await cluster.kill(1)
        await cluster.start(1)

        clicks = [Click(BOB, "approve", cards[BOB], 0.0), Click(CAROL, "deny", cards[CAROL], 0.005)]
        since = len(cluster.connector.sent)
        cluster.sim.tenant.log.clear()
        served = await asyncio.gather(*(press(cluster, c, "after the restart") for c in clicks))
        assert set(served) == {0, 1}
        await settled(cluster, request_id, requester)

        outcome, by = outcome_in_tenant(cluster.sim.tenant, request_id)
        winner = next(a for a in pool.approvers if a.oid == by)
        assert writes(cluster.sim.tenant, request_id) == Counter(landed=1)
        figures: Counter[str] = Counter()
        for click in clicks:
            check_answer(click, outcome, winner, figures)
        assert figures["told: decided it"] == 1 and figures["told: who decided"] == 1, figures
        await check_cards(cluster, request_id, clicks, outcome, winner, since)
        check_requester(cluster.connector, requester, waiting, outcome, winner)
