"""Issue 10, point 3 with Teams SSO tokens: a decision whose answer was lost is followed up in the background with the
approver's own token (a proactive turn of his chat gets his token from the token service), and he is told it was
his."""

from __future__ import annotations

from app import PARTS_KEY
from devtools.teams.activities import BOB
from tests.support.approvals import conversation
from tests.support.cards import element
from tests.support.sso import alice_asks, approve, signed_in
from tests.support.stack import Stack


async def test_a_lost_decision_is_read_back_as_the_approver_and_told_as_his(sso: Stack) -> None:
    request_id, cards = await alice_asks(sso)
    await signed_in(sso, BOB)
    sso.sim.tenant.add_fault(method="PATCH", path=r"assignmentApprovals/.+/stages/", drop=True, after_processing=True)
    sso.sim.tenant.add_fault(method="GET", path=r"assignmentApprovals/", status=503, retry_after=0, skip=1, times=None)

    status, body = await sso.post(approve(sso, BOB, cards[BOB.oid], "ok"))

    assert status == 200 and "I could not confirm yet" in element(body["value"], "notice")["text"]
    assert sso.sim.tenant.requests["assignment"][request_id.lower()].status == "Provisioned"
    sso.sim.tenant.faults.clear()
    before = len(sso.connector.messages(conversation(BOB)))
    await sso.servers[0].app[PARTS_KEY].reconcile()  # the bot's sweep (it also runs by itself every few seconds)

    said = [str(r.body.get("text")) for r in sso.connector.messages(conversation(BOB))[before:] if r.body.get("text")]
    assert said == ["You approved Alice Admin's request for Security-Operators."]
    approval_reads = [e for e in sso.sim.tenant.log.recent() if e["method"] == "GET" and "Approvals/" in e["path"]]
    assert approval_reads[-1]["oid"] == BOB.oid and approval_reads[-1]["caller"] != "app"  # read as Bob, delegated
