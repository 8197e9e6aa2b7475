"""core.witnesses: an approval outcome told by the approval desk and by PIM's audit log is posted once, in the log's
words when it placed the entry (they name the approver), and never lost to an entry the log could not place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.feed import EventKind, FeedEvent, LoggedDecision, approval_event_id
from core.models import Access
from core.witnesses import Account, settle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WAIT = timedelta(minutes=15)  # how long the desk waits for the log (bot.feed.AUDIT_WAIT: the caller chooses)


def outcome(request: str, *, by: str | None = None, at: datetime = T0, decision: str = "denied") -> FeedEvent:
    return FeedEvent(
        id=approval_event_id(request),
        kind=EventKind.APPROVAL_DECIDED,
        group_id="g-1",
        principal_id="u-1",
        access=Access.MEMBER,
        by=by,
        decision=decision,
        observed_at=at,
    )


def desk(request: str, *, by: str | None = None, at: datetime = T0) -> Account:
    return Account(outcome(request, by=by, at=at), "desk", until=at + WAIT)


def logged(request: str, *, named: bool = True, at: datetime = T0, by: str = "bob") -> LoggedDecision:
    return LoggedDecision(outcome(request, by=by, at=at), request_named=named)


def run(known: list[Account], log: list[LoggedDecision], now: datetime = T0, *, waits: bool = True) -> list[FeedEvent]:
    return settle(known, log, now=now, waits_for_log=lambda e: waits, news=lambda e: True)


def test_the_desk_waits_for_the_log_which_names_the_approver() -> None:
    known = [desk("req-1")]
    assert run(known, []) == []  # the log has not told it yet
    [posted] = run(known, [logged("req-1")], T0 + timedelta(minutes=1))
    assert (posted.id, posted.by) == (approval_event_id("req-1"), "bob")
    assert run(known, [logged("req-1")], T0 + timedelta(hours=1)) == []  # read again: already said


def test_an_outcome_the_log_never_places_is_posted_by_the_desk_after_its_wait() -> None:
    known = [desk("req-1")]
    assert run(known, [], T0 + WAIT - timedelta(seconds=1)) == []
    [posted] = run(known, [], T0 + WAIT)
    assert (posted.id, posted.by) == (approval_event_id("req-1"), None)
    assert run(known, [logged("req-1")], T0 + WAIT + timedelta(minutes=1)) == []  # late: not again


def test_the_desk_does_not_wait_when_it_knows_the_approver_or_the_log_will_not_tell() -> None:
    known = [desk("req-1", by="bob")]
    assert [e.by for e in run(known, [])] == ["bob"]
    assert run(known, [logged("req-1")]) == []
    known = [desk("req-2")]
    assert [e.by for e in run(known, [], waits=False)] == [None]


def test_a_log_entry_without_the_request_id_is_paired_by_what_it_says() -> None:
    known = [desk("req-1", at=T0 + timedelta(minutes=2))]  # the desk noticed a little later
    [posted] = run(known, [logged("corr-9", named=False)], T0 + timedelta(minutes=3))
    assert (posted.id, posted.by) == (approval_event_id("req-1"), "bob")  # the desk's id, the log's words
    # Told first by the log (under its own id), then by the desk: said once.
    known = []
    [first] = run(known, [logged("corr-8", named=False)])
    known.append(desk("req-2", at=T0 + timedelta(minutes=1)))
    assert first.id == approval_event_id("corr-8") and run(known, [], T0 + timedelta(hours=1)) == []


def test_two_requests_that_name_themselves_are_never_merged() -> None:
    known = [desk("req-1")]
    posted = run(known, [logged("req-2")], T0 + WAIT)  # another request, same person, same minute
    assert sorted(e.id for e in posted) == sorted([approval_event_id("req-1"), approval_event_id("req-2")])


def test_each_account_is_paired_once_closest_first() -> None:
    known = [desk("req-1", at=T0), desk("req-2", at=T0 + timedelta(minutes=50))]
    log = [logged("corr-a", named=False, at=T0 + timedelta(minutes=48)), logged("corr-b", named=False, at=T0)]
    posted = run(known, log, T0 + timedelta(hours=1))
    assert sorted((e.id, e.observed_at) for e in posted) == sorted(
        [(approval_event_id("req-2"), T0 + timedelta(minutes=48)), (approval_event_id("req-1"), T0)]
    )


def test_one_decision_logged_twice_is_one_post_two_decisions_are_two() -> None:
    known: list[Account] = []
    twice = [logged("req-1"), logged("corr-1", named=False, at=T0 + timedelta(seconds=5))]
    assert [e.id for e in run(known, twice)] == [approval_event_id("req-1")]
    apart = [logged("corr-2", named=False, at=T0 + timedelta(hours=1))]  # asked again an hour later, denied again
    assert [e.id for e in run(known, apart, T0 + timedelta(hours=1))] == [approval_event_id("corr-2")]


def test_a_log_outcome_that_is_not_news_is_kept_for_its_desk_twin() -> None:
    known: list[Account] = []
    assert settle(known, [logged("req-1")], now=T0, waits_for_log=lambda e: True, news=lambda e: False) == []
    known.append(desk("req-1"))
    [posted] = run(known, [])
    assert (posted.id, posted.by) == (approval_event_id("req-1"), "bob")
