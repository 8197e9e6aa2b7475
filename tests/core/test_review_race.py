"""A click's two reads run at once (core.service.PimService.review): the approval as the approver and the request
app-only. When the requester cancels between them, Graph answers the request as still waiting and the approval as
closed. The approver must be told what PIM really did (cancelled), not "closed by PIM (PendingApproval)": found by
the two-instance races of tests/scaleout."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.errors import ApprovalClosed
from core.models import Access, Actor, Decision, Group, PimRequest, RequestStatus
from core.service import PimService
from tests.support.core_fakes import FakeDirectory, token_of

TENANT = "tenant-1"
ALICE = Actor("oid-alice", TENANT, "Alice Example")
BOB = Actor("oid-bob", TENANT, "Bob Example")
SECOPS = Group("grp-secops", "Security-Operators")


class ReadBeforeTheCancel(FakeDirectory):
    """Graph's app-only read of the request that left before the requester's cancel landed: it answers the request
    as it was then (waiting), once."""

    stale: PimRequest | None = None

    async def request(self, request_id: str) -> PimRequest:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            self._record("request", request_id=request_id)
            return stale
        return await super().request(request_id)


@pytest.fixture
def directory(clock: object) -> ReadBeforeTheCancel:
    return ReadBeforeTheCancel(clock)  # type: ignore[arg-type]


async def test_a_cancel_between_the_two_reads_is_told_as_a_cancel(
    directory: ReadBeforeTheCancel, service: PimService
) -> None:
    request = directory.pending_request(ALICE.object_id, SECOPS, Access.MEMBER)
    directory.awaiting_approval(request, [BOB.object_id])
    directory.stale = replace(request)  # the request read answers "PendingApproval" ...
    await directory.cancel(token_of(ALICE.object_id), request.id)  # ... but the cancel landed before the approval read

    refusal = await service.review(BOB, request.id, Decision.DENY, "no", False)

    assert isinstance(refusal, ApprovalClosed)
    assert refusal.status == RequestStatus.CANCELED.value and refusal.canceled
    assert len(directory.called("request")) == 2  # read again once, only because the two reads disagreed
