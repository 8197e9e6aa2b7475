"""Issue 9, point 5: Graph decides who may approve, through POST /api/messages.

The approver list the bot takes when the request goes out (direct members of the approver groups) only says who gets a
card; a click decides if PIM lets the clicker decide. Microsoft's docs do not say whether members of nested approver
groups count, nor whether group membership is taken at the request or at the decision, so the simulated tenant has a
setting for each (simtenant.model.Settings) and the bot is tested under every reading.

Security-Operators (seed "demo"): approvers Bob (singleUser) and PIM-Approvers (Carol, Dave). Erin and Frank are not
approvers; Helpdesk-Staff holds Alice (the requester) and Frank.
"""

from __future__ import annotations

from typing import Any

from devtools.teams.activities import ALICE, BOB, FRANK, TeamsUser
from simtenant.seed import HELPDESK_STAFF, PIM_APPROVERS
from tests.support.approvals import CAROL, answered_card, approval_patches, approval_writes, click, request_approval
from tests.support.cards import element, maybe_element
from tests.support.stack import Stack

ERIN = TeamsUser("aaaaaaaa-0000-4000-8000-000000000005", "Erin Evans")
NOT_AN_APPROVER = "You are not an approver for Security-Operators, so I did not record a decision."


def approval_reads(stack: Stack, user: TeamsUser) -> list[dict[str, Any]]:
    """The clicker's delegated reads of the approval (Graph's answer to "may I decide?")."""
    return [
        e
        for e in stack.sim.tenant.log.recent()
        if e["method"] == "GET" and "assignmentApprovals" in e["path"] and e["oid"] == user.oid
    ]


def status_of(stack: Stack, request_id: str) -> str:
    status: str = stack.sim.tenant.requests["assignment"][request_id.lower()].status
    return status


async def test_an_approver_added_to_the_approver_group_after_the_request_decides(stack: Stack) -> None:
    request_id, bob_card, _ = await request_approval(stack)
    stack.sim.tenant.add_member(PIM_APPROVERS, ERIN.oid)  # after the cards went out: Erin got none

    final = answered_card(await click(stack, ERIN, bob_card, "approve", "covering for Carol"))

    [patch] = approval_patches(stack)
    assert patch["oid"] == ERIN.oid and patch["caller"] != "app"  # decided by Graph as Erin, delegated
    assert status_of(stack, request_id) == "Provisioned"
    assert element(final, "state")["text"].startswith("Approved by Erin Evans at ")


async def test_a_tenant_that_fixes_approvers_at_the_request_refuses_the_late_approver_clearly(stack: Stack) -> None:
    stack.sim.tenant.settings.update({"approvers_at_request": True})
    request_id, bob_card, _ = await request_approval(stack)
    stack.sim.tenant.add_member(PIM_APPROVERS, ERIN.oid)

    answer = answered_card(await click(stack, ERIN, bob_card, "approve", "covering for Carol"))

    assert element(answer, "notice")["text"] == NOT_AN_APPROVER
    assert maybe_element(answer, "approve") is None
    assert approval_reads(stack, ERIN) and approval_writes(stack) == []  # Graph's read said no: nothing written
    assert status_of(stack, request_id) == "PendingApproval"


async def test_a_member_of_a_nested_approver_group_decides_when_pim_counts_nested_members(stack: Stack) -> None:
    stack.sim.tenant.settings.update({"nested_group_approvers": True})
    stack.sim.tenant.add_member(PIM_APPROVERS, HELPDESK_STAFF)  # Frank is in PIM-Approvers through Helpdesk-Staff
    request_id, bob_card, _ = await request_approval(stack)

    final = answered_card(await click(stack, FRANK, bob_card, "deny", "no change ticket"))

    [patch] = approval_patches(stack)
    assert patch["oid"] == FRANK.oid
    assert status_of(stack, request_id) == "Denied"
    assert element(final, "state")["text"].startswith("Denied by Frank Fisher at ")


async def test_a_member_of_a_nested_approver_group_is_refused_clearly_when_pim_does_not_count_them(
    stack: Stack,
) -> None:
    stack.sim.tenant.add_member(PIM_APPROVERS, HELPDESK_STAFF)  # nested members are not approvers (the default)
    request_id, bob_card, _ = await request_approval(stack)

    answer = answered_card(await click(stack, FRANK, bob_card, "approve", "sure"))

    assert element(answer, "notice")["text"] == NOT_AN_APPROVER
    assert approval_reads(stack, FRANK) and approval_writes(stack) == []
    assert status_of(stack, request_id) == "PendingApproval"


async def test_a_refusal_by_the_approval_read_itself_is_explained_without_a_write(stack: Stack) -> None:
    # Microsoft documents 403 on the approval GET for a caller without rights: a tenant may refuse the read itself.
    request_id, bob_card, _ = await request_approval(stack)
    stack.sim.tenant.add_fault(
        path=r"/assignmentApprovals/", method="GET", status=403, code="Authorization_RequestDenied", times=1
    )

    answer = answered_card(await click(stack, FRANK, bob_card, "approve", "sure"))

    assert element(answer, "notice")["text"] == NOT_AN_APPROVER
    assert approval_writes(stack) == []
    assert status_of(stack, request_id) == "PendingApproval"


async def test_the_patch_refusal_is_explained_and_leaves_the_request_to_the_approvers(stack: Stack) -> None:
    # The read said the stage is Bob's, but PIM refuses the write (e.g. he left the approvers in between): the 403 is
    # told as plainly, and the claim on the request is released for the others.
    request_id, bob_card, carol_card = await request_approval(stack)
    stack.sim.tenant.add_fault(
        path=r"/assignmentApprovals/.*/stages/", method="PATCH", status=403, code="Authorization_RequestDenied"
    )

    answer = answered_card(await click(stack, BOB, bob_card, "approve", "ok"))

    assert element(answer, "notice")["text"] == NOT_AN_APPROVER
    assert maybe_element(answer, "approve") is None
    assert [w["status"] for w in approval_writes(stack)] == [403]
    assert status_of(stack, request_id) == "PendingApproval"
    final = answered_card(await click(stack, CAROL, carol_card, "approve", "go"))
    assert element(final, "state")["text"].startswith("Approved by Carol Chen at ")


async def test_the_requester_clicking_their_own_card_is_refused_before_any_graph_call(stack: Stack) -> None:
    # Alice is also a member of an approver group here: PIM would still refuse her, and the bot never asks.
    stack.sim.tenant.add_member(PIM_APPROVERS, ALICE.oid)
    request_id, bob_card, _ = await request_approval(stack)
    before = len(stack.sim.tenant.log.recent())

    for verb in ("approve", "deny"):
        answer = answered_card(await click(stack, ALICE, bob_card, verb, "approving myself"))
        assert "You cannot approve or deny your own request" in element(answer, "notice")["text"]
        assert maybe_element(answer, "approve") is None

    approval_calls = [e for e in stack.sim.tenant.log.recent()[before:] if "assignmentApprovals" in e["path"]]
    assert approval_calls == [] and approval_writes(stack) == []
    assert status_of(stack, request_id) == "PendingApproval"
