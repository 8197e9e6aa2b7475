"""A click whose process died (issue 10, point 5): the claim it left on the request record names a process that is
gone, and is recognised as such at once. Another approver's click decides at once (not "try again" for two minutes);
when PIM already shows the dead process's decision, every copy says so with its approver, read from the approval's
stages; the poller does the same without anyone clicking.

The dead process's claim is arranged in the store as a killed process leaves it (the real kill -9 runs in
tests/adversarial/test_approval_crashes.py): an owner on another host whose heartbeat stopped, or one on this host
whose pid is gone.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from devtools.teams.activities import ALICE, BOB
from tests.support.approvals import (
    CAROL,
    answered_card,
    approval_patches,
    approval_writes,
    approver_updates,
    click,
    conversation,
    poll_once,
    request_approval,
    texts,
)
from tests.support.cards import element, maybe_element
from tests.support.stack import Stack
from tests.support.state import StateFile


async def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return proc.pid


async def leave_claim(db: Path, request_id: str, owner: str, at: datetime, beat: float | None = None) -> None:
    """Bob's claim on the request, as a process that died between its claim and the end of its decision left it;
    `beat`: that process's last heartbeat (wall time), if it wrote one."""
    store = StateFile(db)
    try:
        key = f"request/{request_id}"
        record: dict[str, Any] = dict((await store.read([key]))[key])
        claim = {"owner": owner, "token": uuid.uuid4().hex, "at": at.isoformat(), "by": BOB.oid, "byName": BOB.name}
        changes: dict[str, Any] = {key: {**record, "claim": {**claim, "decision": "approve"}}}
        if beat is not None:
            changes[f"process/{owner}"] = {"beat": beat}
        await store.write(changes)
    finally:
        store.close()


def decide_as_bob_in_pim(stack: Stack, request_id: str) -> None:
    """Bob's PATCH reached PIM before his bot process died."""
    from simtenant.entities import Caller

    tenant = stack.sim.tenant
    stage = tenant.approvals[request_id.lower()].stages[0]
    tenant.decide(Caller("user", "bot", BOB.oid), request_id, stage.id, "Approve", "ok from Bob")


async def test_a_claim_whose_process_died_on_this_host_does_not_hold_up_the_next_approver(stack: Stack) -> None:
    request_id, _, carol_card = await request_approval(stack)
    owner = f"{socket.gethostname()}:{await dead_pid()}:{uuid.uuid4().hex[:8]}"
    await leave_claim(stack.state_db, request_id, owner, stack.sim.tenant.now(), beat=1e12)  # a fresh heartbeat, even

    answer = answered_card(await click(stack, CAROL, carol_card, "approve", "ok from Carol"))

    assert element(answer, "state")["text"].startswith("Approved by Carol Chen at ")
    [patch] = approval_patches(stack)
    assert patch["oid"] == CAROL.oid


async def test_a_claim_whose_heartbeat_stopped_does_not_hold_up_the_next_approver(stack: Stack) -> None:
    request_id, _, carol_card = await request_approval(stack)
    await leave_claim(stack.state_db, request_id, "elsewhere:4242:0badc0de", stack.sim.tenant.now(), beat=0.0)

    answer = answered_card(await click(stack, CAROL, carol_card, "deny", "not now"))

    assert element(answer, "state")["text"].startswith("Denied by Carol Chen at ")
    assert len(approval_writes(stack)) == 1


async def test_when_pim_shows_the_dead_clicks_decision_the_next_approver_is_told_who_made_it(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    await leave_claim(stack.state_db, request_id, "elsewhere:4242:0badc0de", stack.sim.tenant.now())
    decide_as_bob_in_pim(stack, request_id)
    alice_before = len(stack.connector.messages(conversation(ALICE)))

    late = answered_card(await click(stack, CAROL, carol_card, "approve", "me too"))

    assert "already approved by Bob Builder" in element(late, "notice")["text"]
    assert maybe_element(late, "approve") is None
    assert approval_writes(stack) == []  # Bob's PATCH was the decision; Carol's click wrote nothing
    # Bob's own copy (his click never got its answer) and every other copy say who decided.
    [put] = approver_updates(stack)
    assert put.activity_id == bob_card.activity_id
    assert element(put.card or {}, "state")["text"].startswith("Approved by Bob Builder at ")
    [told] = texts(stack, ALICE, alice_before)
    assert "approved by Bob Builder" in told


async def test_the_poller_settles_a_dead_clicks_decision_with_its_approver_read_from_the_stages(stack: Stack) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    await leave_claim(stack.state_db, request_id, "elsewhere:4242:0badc0de", stack.sim.tenant.now())
    decide_as_bob_in_pim(stack, request_id)

    assert await poll_once(stack) == 1

    updated = {r.activity_id: element(r.card or {}, "state")["text"] for r in approver_updates(stack)}
    assert set(updated) == {bob_card.activity_id, carol_card.activity_id}
    assert all(state.startswith("Approved by Bob Builder at ") for state in updated.values())
    assert all(state.endswith(" — ok from Bob") for state in updated.values())
    assert approval_writes(stack) == []


async def test_a_dead_claim_on_a_request_pim_still_has_waiting_is_dropped_and_the_cards_keep_their_buttons(
    stack: Stack,
) -> None:
    request_id, bob_card, _ = await request_approval(stack)
    await leave_claim(stack.state_db, request_id, "elsewhere:4242:0badc0de", stack.sim.tenant.now())

    assert await poll_once(stack) == 0

    store = StateFile(stack.state_db)
    try:
        record = (await store.read([f"request/{request_id}"]))[f"request/{request_id}"]
    finally:
        store.close()
    assert "claim" not in record and "decision" not in record
    assert approver_updates(stack) == []  # nothing was decided: every card still has its buttons
    answer = answered_card(await click(stack, BOB, bob_card, "approve", "again, now"))
    assert element(answer, "state")["text"].startswith("Approved by Bob Builder at ")


async def owe_spread(db: Path, request_id: str, owner: str, at: datetime, beat: float | None) -> None:
    """The record says its copies are still owed the outcome, by the process `owner` (heartbeat `beat`)."""
    store = StateFile(db)
    try:
        key = f"request/{request_id}"
        record: dict[str, Any] = dict((await store.read([key]))[key])
        spread = {"owner": owner, "token": uuid.uuid4().hex, "at": at.isoformat(), "skip": ""}
        changes: dict[str, Any] = {key: {**record, "spread": spread}}
        if beat is not None:
            changes[f"process/{owner}"] = {"beat": beat}
        await store.write(changes)
    finally:
        store.close()


async def test_card_updates_owed_by_a_live_process_are_left_to_it_and_a_dead_ones_are_finished_at_once(
    stack: Stack,
) -> None:
    request_id, bob_card, carol_card = await request_approval(stack)
    decide_as_bob_in_pim(stack, request_id)
    assert await poll_once(stack) == 1  # recorded and spread by this process
    puts = len(approver_updates(stack))

    # Another process that still beats owes the updates: left to it within the grace period, taken over after it.
    await owe_spread(stack.state_db, request_id, "elsewhere:4242:a1a1a1a1", stack.sim.tenant.now(), time.time())
    assert await poll_once(stack) == 0
    stack.sim.tenant.advance(3 * 60)
    assert await poll_once(stack) == 1
    assert len(approver_updates(stack)) == puts + 2  # both copies: a click of the dead process may be unanswered

    # A process that stopped beating owes them: finished at once.
    await owe_spread(stack.state_db, request_id, "elsewhere:4243:b2b2b2b2", stack.sim.tenant.now(), 0.0)
    assert await poll_once(stack) == 1
    updated = {r.activity_id for r in approver_updates(stack)[puts + 2 :]}
    assert updated == {bob_card.activity_id, carol_card.activity_id}
    assert len([t for t in texts(stack, ALICE) if "was approved" in t]) == 1  # told once, not thrice
