"""The approvals' records (bot.approvals.records): each codec gives back what it was given, reads what an older or
smaller record left, and a request's copies live in keys of their own, so settling a request never rewrites them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.approvals.records import (
    CLOSED_CANCELLED,
    ApprovalCopy,
    ApprovalRecords,
    ApprovalRequest,
    CardRef,
    ChannelEntry,
    Claim,
    Closing,
    Decided,
    KeptCard,
    Mark,
    Spread,
    Unconfirmed,
)
from bot.store import keys
from bot.store.sqlite import SqliteStore
from core.models import Access, Decision, TimeStyle

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
MARK = Mark("host:1:abcd", "token-1", AT)


def full_request() -> ApprovalRequest:
    return ApprovalRequest(
        request_id="req-1",
        status="Approved",
        group_id="g-1",
        group_name="Security-Operators",
        access=Access.OWNER,
        requester_id="alice",
        requester_name="Alice",
        requester_style=TimeStyle("Europe/Paris", "fr-FR"),
        tenant_id="t-1",
        duration=timedelta(hours=2),
        justification="incident",
        ticket="INC-9",
        approvers=("bob", "carol"),
        expires=AT + timedelta(hours=24),
        created_at=AT,
        requested_at=AT - timedelta(seconds=3),
        cards=(CardRef("a:1", "act-1"),),
        found=True,
        approver_ids=("bob", "carol"),
        approver_names={"bob": "Bob", "carol": "Carol"},
        reason_required=True,
        refresh_ids=("29:bob",),
        unreachable=("dave",),
        fan_out=MARK,
        claim=Claim(MARK, "bob", "Bob", Decision.APPROVE),
        decision=Decided(Decision.APPROVE, "bob", "Bob", AT, "ok"),
        closed=Closing(CLOSED_CANCELLED, AT, "Canceled"),
        spread=Spread(MARK, skip="act-2", plain_answer=True),
        unconfirmed=Unconfirmed("bob", AT),
        active_until=AT + timedelta(hours=2),
        told_at=AT,
        reminded_at=AT,
        expiry_warned_at=AT,
    )


def test_every_field_of_a_request_survives_its_codec() -> None:
    request = full_request()
    assert ApprovalRequest.from_json(request.to_json()) == request


def test_a_request_record_carries_no_copy_of_its_cards() -> None:
    assert "approverCards" not in full_request().to_json()


def test_a_bare_record_reads_with_defaults_and_waits_for_its_fan_out() -> None:
    bare = ApprovalRequest.from_json({"requestId": "req-1", "status": "PendingApproval"})
    assert bare.is_open and bare.approver_ids is None and bare.claim is None and bare.access is Access.MEMBER


def test_a_mark_written_before_marks_named_their_process_is_read_by_its_age() -> None:
    assert Mark.from_json({"since": AT.isoformat()}) == Mark("", "", AT)


@pytest.mark.parametrize(
    "record",
    [
        ApprovalCopy("act-1", {"conversation": {"id": "a:1"}}, "a:1", "bob", TimeStyle("Asia/Tokyo", "ja-JP")),
        ApprovalCopy("act-2", {"conversation": {"id": "19:x"}}, "19:x", channel_id="19:x@thread.tacv2"),
        KeptCard("activation", "a:1", ("req-1",), AT, {"type": "AdaptiveCard"}),
        KeptCard("help", "a:1", (), None),
        ChannelEntry("g-1", "Ops", "19:x", "team", "https://smba", "t-1", "admin", "Admin", AT),
    ],
)
def test_every_other_record_survives_its_codec(record: ApprovalCopy | KeptCard | ChannelEntry) -> None:
    assert type(record).from_json(record.to_json()) == record


async def test_copies_are_kept_one_key_each_and_settling_leaves_them_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        records = ApprovalRecords(store)
        waiting = ApprovalRequest("req-1", "PendingApproval", created_at=AT, approver_ids=("bob",))
        assert await records.create(waiting) and not await records.create(waiting)
        copy = ApprovalCopy("act-1", {"conversation": {"id": "a:1"}}, "a:1", "bob")
        await records.add_copy("req-1", copy)
        before = await store.get(keys.request_copy("req-1", "act-1"))

        decided = Decided(Decision.APPROVE, "bob", "Bob", AT)
        version = await store.get(keys.request("req-1"))
        assert await records.update("req-1", lambda r: r) == waiting
        assert await store.get(keys.request("req-1")) == version  # nothing changed: nothing written
        settled = await records.update("req-1", lambda r: replace(r, decision=decided, status="Approved"))

        assert settled is not None and settled.decision == decided and not settled.is_open
        assert await records.copies("req-1") == [copy]
        assert await store.get(keys.request_copy("req-1", "act-1")) == before  # same etag: never rewritten
        assert await records.open_requests() == []
    finally:
        store.close()


async def test_every_request_id_is_read_a_page_at_a_time_and_a_record_settled_meanwhile_is_no_matter(
    tmp_path: Path,
) -> None:
    """The poll goes through the ids as the store lists them, a page at a time (issue 16: not 10,000 ids held at once
    every poll); records closed while it goes do not make it skip or repeat any other."""
    store = SqliteStore(tmp_path / "state.db")
    try:
        records = ApprovalRecords(store)
        ids = [f"req-{n:05d}" for n in range(1, 1201)]  # more than two of the store's pages (500 keys)
        for request_id in ids:
            assert await records.create(ApprovalRequest(request_id, "PendingApproval", created_at=AT))
        seen = []
        async for request_id in records.ids():
            seen.append(request_id)
            if request_id == "req-00600":  # the poll closes records as it goes: the others are each seen once
                await store.delete(keys.request("req-01100"))  # in a page not read yet: not listed
                await store.delete(keys.request("req-00300"))  # already seen
        assert seen == [i for i in ids if i != "req-01100"]
    finally:
        store.close()
