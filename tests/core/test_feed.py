"""The admin feed's diff and enrichment (core/feed.py): tables of the changes PIM can make between two polls, and
properties over arbitrary pairs of states (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.feed import (
    EXPIRY_NOTICE,
    DetailQuery,
    EndReason,
    EventKind,
    FeedEvent,
    GroupState,
    RequestRecord,
    ScheduleItem,
    ScheduleKind,
    UnknownFeedGroups,
    detail_queries,
    diff,
    enrich,
    event_id,
)
from core.models import Access, Ticket

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

G = "bbbbbbbb-0000-4000-8000-000000000001"
ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = "aaaaaaaa-0000-4000-8000-000000000002"
ERIN = "aaaaaaaa-0000-4000-8000-000000000005"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ELIGIBLE, ACTIVE = ScheduleKind.ELIGIBLE, ScheduleKind.ACTIVE


def item(
    kind: ScheduleKind = ELIGIBLE,
    principal: str = ALICE,
    *,
    access: Access = Access.MEMBER,
    start: datetime | None = T0 - 30 * DAY,
    end: datetime | None = None,
    activated: bool = False,
    instance: str | None = None,
    schedule: str | None = None,
) -> ScheduleItem:
    schedule = schedule or f"{G}_{access.value}_{principal[-4:]}{kind.value[0]}"
    return ScheduleItem(
        kind=kind,
        id=instance or schedule,
        group_id=G,
        principal_id=principal,
        access=access,
        start=start,
        end=end,
        activated=activated,
        schedule_id=schedule,
    )


def state(*items: ScheduleItem, at: datetime = T0) -> GroupState:
    return GroupState(G, at, tuple(items))


def changes(before: list[ScheduleItem], after: list[ScheduleItem], now: datetime = LATER) -> list[tuple[object, ...]]:
    events = diff(state(*before), state(*after, at=now), now)
    return [(e.kind, e.principal_id, e.access, e.reason) for e in events]


# ---- the diff, change by change --------------------------------------------------------------------------------------


def test_first_poll_is_a_baseline_without_events() -> None:
    assert diff(None, state(item(), item(ACTIVE, activated=True, end=T0 + HOUR)), T0) == []


def test_nothing_changed_means_no_events() -> None:
    items = [item(), item(principal=BOB, end=T0 + 90 * DAY), item(ACTIVE, end=None)]
    assert changes(items, items) == []


def test_new_eligibility_is_created() -> None:
    assert changes([], [item(end=T0 + 90 * DAY)]) == [(EventKind.ELIGIBLE_CREATED, ALICE, Access.MEMBER, None)]


def test_eligibility_end_moved_later_is_extended() -> None:
    before = item(end=T0 + 60 * DAY)
    after = item(end=T0 + 180 * DAY, instance="a new instance id")  # Graph may renumber the instance
    events = diff(state(before), state(after, at=LATER), LATER)
    assert [(e.kind, e.previous_end, e.end) for e in events] == [
        (EventKind.ELIGIBLE_EXTENDED, T0 + 60 * DAY, T0 + 180 * DAY)
    ]


def test_eligibility_made_permanent_is_extended() -> None:
    assert [c[0] for c in changes([item(end=T0 + 60 * DAY)], [item(end=None)])] == [EventKind.ELIGIBLE_EXTENDED]


def test_eligibility_shortened_is_not_an_event() -> None:
    assert changes([item(end=T0 + 60 * DAY)], [item(end=T0 + 30 * DAY)]) == []


def test_a_new_window_after_a_lapse_is_renewed() -> None:
    old = item(start=T0 - 90 * DAY, end=T0 + HOUR)
    new = item(start=T0 + 2 * HOUR, end=T0 + 200 * DAY, schedule="renewed")
    now = T0 + 3 * HOUR
    events = diff(state(old), state(new, at=now), now)
    assert [(e.kind, e.previous_end) for e in events] == [(EventKind.ELIGIBLE_RENEWED, T0 + HOUR)]


def test_eligibility_gone_before_its_end_is_removed() -> None:
    assert changes([item(end=T0 + 60 * DAY)], []) == [
        (EventKind.ELIGIBLE_REMOVED, ALICE, Access.MEMBER, EndReason.REMOVED)
    ]


def test_eligibility_gone_at_its_end_is_expired() -> None:
    end = T0 + HOUR
    assert changes([item(end=end)], [], now=end) == [
        (EventKind.ELIGIBLE_REMOVED, ALICE, Access.MEMBER, EndReason.EXPIRED)
    ]


def test_an_ended_item_still_listed_counts_as_gone() -> None:
    end = T0 + HOUR
    assert changes([item(end=end)], [item(end=end)], now=end + timedelta(seconds=1)) == [
        (EventKind.ELIGIBLE_REMOVED, ALICE, Access.MEMBER, EndReason.EXPIRED)
    ]


def test_expiring_is_announced_once_when_the_end_comes_within_the_notice() -> None:
    end = T0 + EXPIRY_NOTICE + 2 * HOUR
    far, near = T0, T0 + 3 * HOUR
    first = diff(state(item(end=end), at=far), state(item(end=end), at=near), near)
    assert [(e.kind, e.end) for e in first] == [(EventKind.ELIGIBLE_EXPIRING, end)]
    later = near + DAY
    assert diff(state(item(end=end), at=near), state(item(end=end), at=later), later) == []
    replay = diff(state(item(end=end), at=far), state(item(end=end), at=near + HOUR), near + HOUR)
    assert [e.id for e in replay] == [e.id for e in first]  # a replay is the same event, posted once


def test_expiring_not_announced_for_a_window_already_close_at_the_previous_poll() -> None:
    end = T0 + 3 * DAY
    assert changes([item(end=end)], [item(end=end)], now=T0 + DAY) == []


def test_extended_but_still_close_is_extended_and_expiring() -> None:
    before, after = item(end=T0 + 2 * DAY), item(end=T0 + 10 * DAY)
    assert [c[0] for c in changes([before], [after])] == [EventKind.ELIGIBLE_EXTENDED, EventKind.ELIGIBLE_EXPIRING]


def test_activation_and_admin_assignment() -> None:
    activation = item(ACTIVE, start=T0, end=T0 + 2 * HOUR, activated=True)
    assigned = item(ACTIVE, principal=BOB, start=T0, end=None)
    events = diff(state(), state(activation, assigned, at=LATER), LATER)
    assert {(e.kind, e.principal_id, e.warning, e.permanent) for e in events} == {
        (EventKind.ACTIVE_ACTIVATED, ALICE, False, False),
        (EventKind.ACTIVE_ASSIGNED, BOB, True, True),
    }


def test_active_gone_is_expired_at_its_end_else_unknown_until_enriched() -> None:
    activation = item(ACTIVE, start=T0, end=T0 + 2 * HOUR, activated=True)
    assert changes([activation], [], now=T0 + 2 * HOUR) == [
        (EventKind.ACTIVE_ENDED, ALICE, Access.MEMBER, EndReason.EXPIRED)
    ]
    assert changes([activation], [], now=T0 + HOUR) == [
        (EventKind.ACTIVE_ENDED, ALICE, Access.MEMBER, EndReason.UNKNOWN)
    ]


def test_reactivated_between_two_polls_is_an_end_and_a_start() -> None:
    first = item(ACTIVE, start=T0, end=T0 + HOUR, activated=True)
    second = item(ACTIVE, start=T0 + HOUR + 10 * timedelta(minutes=1), end=T0 + 3 * HOUR, activated=True)
    assert changes([first], [second], now=T0 + 2 * HOUR) == [
        (EventKind.ACTIVE_ENDED, ALICE, Access.MEMBER, EndReason.EXPIRED),
        (EventKind.ACTIVE_ACTIVATED, ALICE, Access.MEMBER, None),
    ]


def test_owner_and_member_are_separate_keys() -> None:
    member, owner = item(), item(access=Access.OWNER, end=T0 + 90 * DAY)
    assert changes([member], [member, owner]) == [(EventKind.ELIGIBLE_CREATED, ALICE, Access.OWNER, None)]


def test_ids_match_case_insensitively_across_polls() -> None:
    upper = ScheduleItem(ELIGIBLE, "x", G.upper(), ALICE.upper(), Access.MEMBER, T0, None)
    lower = ScheduleItem(ELIGIBLE, "y", G, ALICE, Access.MEMBER, T0, None)
    assert diff(state(upper), state(lower, at=LATER), LATER) == []


def test_event_ids_depend_on_the_change_only() -> None:
    a = event_id(EventKind.ELIGIBLE_CREATED, G, ALICE, Access.MEMBER, T0, None)
    assert a == event_id(EventKind.ELIGIBLE_CREATED, G.upper(), ALICE.upper(), Access.MEMBER, T0, None)
    assert a != event_id(EventKind.ELIGIBLE_CREATED, G, ALICE, Access.OWNER, T0, None)
    assert a != event_id(EventKind.ELIGIBLE_CREATED, G, ALICE, Access.MEMBER, T0, T0 + DAY)
    assert a != event_id(EventKind.ELIGIBLE_REMOVED, G, ALICE, Access.MEMBER, T0, None)
    same_instant = T0.astimezone(timezone(timedelta(hours=2)))
    assert a == event_id(EventKind.ELIGIBLE_CREATED, G, ALICE, Access.MEMBER, same_instant, None)


# ---- enrichment ------------------------------------------------------------------------------------------------------


def record(
    action: str,
    *,
    kind: ScheduleKind = ELIGIBLE,
    principal: str = ALICE,
    created: datetime = T0,
    by: str = ERIN,
    status: str = "Provisioned",
    target: str | None = None,
    justification: str | None = "why",
    ticket: Ticket | None = None,
    approval: str | None = None,
    access: Access = Access.MEMBER,
) -> RequestRecord:
    return RequestRecord(
        kind=kind,
        id=f"req-{action}-{created.isoformat()}",
        action=action,
        status=status,
        group_id=G,
        principal_id=principal,
        access=access,
        created=created,
        created_by=by,
        justification=justification,
        ticket=ticket,
        approval_id=approval,
        target_schedule_id=target,
    )


def one(before: list[ScheduleItem], after: list[ScheduleItem], now: datetime = LATER) -> FeedEvent:
    events = diff(state(*before), state(*after, at=now), now)
    assert len(events) == 1, events
    return events[0]


def test_created_eligibility_names_who_and_why() -> None:
    new = item(end=T0 + 90 * DAY, schedule="s1")
    event = one([], [new])
    history = [
        record("adminAssign", created=T0 - 100 * DAY, target="older", justification="old"),
        record("adminAssign", created=T0 + timedelta(minutes=1), target="s1", ticket=Ticket("CHG-7", "SNOW")),
    ]
    [enriched] = enrich([event], history)
    assert (enriched.by, enriched.justification, enriched.ticket) == (ERIN, "why", Ticket("CHG-7", "SNOW"))
    assert enriched.id == event.id and enriched.kind is EventKind.ELIGIBLE_CREATED


def test_adminrenew_turns_created_into_renewed_with_the_same_id() -> None:
    event = one([], [item(end=T0 + 90 * DAY, schedule="s2")])
    [enriched] = enrich([event], [record("adminRenew", target="s2")])
    assert enriched.kind is EventKind.ELIGIBLE_RENEWED and enriched.id == event.id


def test_extension_is_attributed_to_the_extend_request() -> None:
    event = one([item(end=T0 + 60 * DAY, schedule="s")], [item(end=T0 + 180 * DAY, schedule="s")])
    history = [
        record("adminAssign", created=T0 - 30 * DAY, target="s", by=APP, justification="Seeded"),
        record("adminExtend", created=T0 + timedelta(minutes=2), target="s", justification="project runs longer"),
    ]
    [enriched] = enrich([event], history)
    assert (enriched.kind, enriched.by, enriched.justification) == (
        EventKind.ELIGIBLE_EXTENDED,
        ERIN,
        "project runs longer",
    )


def test_refused_or_pending_requests_are_not_the_cause() -> None:
    event = one([], [item(end=T0 + 90 * DAY, schedule="s")])
    [enriched] = enrich([event], [record("adminAssign", status="Denied", target="s")])
    assert enriched == event


def test_removed_eligibility_names_the_remover() -> None:
    event = one([item(end=T0 + 60 * DAY, schedule="s")], [])
    [enriched] = enrich([event], [record("adminRemove", created=T0 + timedelta(minutes=3), justification="left")])
    assert (enriched.reason, enriched.by, enriched.justification) == (EndReason.REMOVED, ERIN, "left")


def test_activation_after_approval_says_approved() -> None:
    activation = item(ACTIVE, start=T0 + timedelta(minutes=1), end=T0 + 2 * HOUR, activated=True, schedule="act")
    event = one([], [activation])
    history = [
        record("selfActivate", kind=ACTIVE, by=ALICE, target="act", approval="req-1", justification="INC-1"),
    ]
    [enriched] = enrich([event], history)
    assert (enriched.by, enriched.justification, enriched.decision) == (ALICE, "INC-1", "approved")


def test_activation_without_approval_has_no_decision() -> None:
    activation = item(ACTIVE, start=T0, end=T0 + 2 * HOUR, activated=True, schedule="act")
    [enriched] = enrich([one([], [activation])], [record("selfActivate", kind=ACTIVE, by=ALICE, target="act")])
    assert enriched.decision is None and enriched.by == ALICE


@pytest.mark.parametrize(
    ("action", "reason"), [("selfDeactivate", EndReason.DEACTIVATED), ("adminRemove", EndReason.REMOVED)]
)
def test_active_ended_early_gets_its_reason_from_the_history(action: str, reason: EndReason) -> None:
    activation = item(ACTIVE, start=T0 - HOUR, end=T0 + HOUR, activated=True, schedule="act")
    event = one([activation], [])
    stale = record(action, kind=ACTIVE, created=T0 - 3 * HOUR, status="Revoked")  # before this activation began
    current = record(action, kind=ACTIVE, created=T0 + timedelta(minutes=2), status="Revoked", target="act")
    [enriched] = enrich([event], [stale, current])
    assert (enriched.reason, enriched.by) == (reason, ERIN)
    [unexplained] = enrich([event], [stale])
    assert unexplained.reason is EndReason.UNKNOWN


def test_detail_queries_only_for_changes_someone_made() -> None:
    now = T0 + 2 * HOUR
    before = [
        item(principal=BOB, end=T0 + HOUR),  # expires → no details
        item(ACTIVE, start=T0 - HOUR, end=T0 + HOUR, activated=True),  # expired → no details
        item(principal=ERIN, end=now + 3 * DAY + EXPIRY_NOTICE),
    ]
    after = [
        item(principal=ERIN, end=now + 3 * DAY + EXPIRY_NOTICE),
        item(ACTIVE, principal=BOB, start=now, end=None),
        item(access=Access.OWNER, end=now + 90 * DAY),
        item(end=now + 90 * DAY),  # Alice twice (member, owner): one query
    ]
    events = diff(state(*before), state(*after, at=now), now)
    assert detail_queries(events) == [
        DetailQuery(ACTIVE, G, BOB),
        DetailQuery(ELIGIBLE, G, ALICE),
    ]


def test_unknown_feed_groups_says_what_is_wrong() -> None:
    error = UnknownFeedGroups(["Nope"], {"Admins": ["1", "2"]})
    assert "Nope" in str(error) and "2 groups" in str(error)


# ---- windows that start later (eligibility schedules list them as soon as they are made) -----------------------------


def test_a_window_starting_next_week_is_created_at_once_with_its_start_and_its_start_is_no_news() -> None:
    start, end = T0 + 7 * DAY, T0 + 97 * DAY
    future = item(start=start, end=end)
    [created] = diff(state(), state(future, at=LATER), LATER)
    assert (created.kind, created.start, created.end) == (EventKind.ELIGIBLE_CREATED, start, end)
    starts = start + HOUR
    assert diff(state(future, at=LATER), state(future, at=starts), starts) == []


def test_a_window_removed_before_it_started_is_removed() -> None:
    future = item(start=T0 + 7 * DAY, end=T0 + 97 * DAY)
    [removed] = diff(state(future), state(at=LATER), LATER)
    assert (removed.kind, removed.reason, removed.start) == (
        EventKind.ELIGIBLE_REMOVED,
        EndReason.REMOVED,
        T0 + 7 * DAY,
    )


def test_a_renewal_scheduled_after_the_current_window_is_renewed_with_its_own_start() -> None:
    current = item(start=T0 - 80 * DAY, end=T0 + 10 * DAY)
    renewal = item(start=T0 + 10 * DAY, end=T0 + 100 * DAY, schedule="renewal")
    events = diff(state(current), state(current, renewal, at=LATER), LATER)
    assert [(e.kind, e.start, e.end, e.previous_end, e.schedule_id) for e in events] == [
        (EventKind.ELIGIBLE_RENEWED, T0 + 10 * DAY, T0 + 100 * DAY, T0 + 10 * DAY, "renewal")
    ]


def test_the_current_window_lapsing_into_its_scheduled_renewal_is_silent() -> None:
    current = item(start=T0 - 80 * DAY, end=T0 + 10 * DAY)
    renewal = item(start=T0 + 10 * DAY, end=T0 + 100 * DAY, schedule="renewal")
    both = [current, renewal]
    assert changes(both, both, now=T0 + 5 * DAY) == []  # the current window is close to its end: renewed, no notice
    after = T0 + 10 * DAY + HOUR
    assert changes(both, both, now=after) == []  # Graph still lists the lapsed one: gone, but renewed
    assert changes(both, [renewal], now=after) == []


def test_removing_one_of_two_windows_removes_that_one() -> None:
    current = item(start=T0 - 80 * DAY, end=T0 + 10 * DAY)
    renewal = item(start=T0 + 10 * DAY, end=T0 + 100 * DAY, schedule="renewal")
    events = diff(state(current, renewal), state(current, at=LATER), LATER)
    assert sorted((e.kind, e.reason, e.schedule_id) for e in events) == [
        # No renewal follows the current window any more, and it ends within the notice: said now (not before).
        (EventKind.ELIGIBLE_EXPIRING, None, current.schedule_id),
        (EventKind.ELIGIBLE_REMOVED, EndReason.REMOVED, "renewal"),
    ]


def test_a_removal_before_the_start_is_attributed_to_its_request() -> None:
    future = item(start=T0 + 7 * DAY, end=T0 + 97 * DAY, schedule="s-future")
    [removed] = diff(state(future), state(at=LATER), LATER)
    remove = record("adminRemove", created=T0 + timedelta(minutes=2), status="Revoked", target="s-future")
    [named] = enrich([removed], [remove])
    assert (named.reason, named.by, named.justification) == (EndReason.REMOVED, ERIN, "why")


# ---- properties -----------------------------------------------------------------------------------------------------

principals = st.sampled_from([ALICE, BOB, ERIN])
offsets = st.integers(min_value=-40, max_value=400).map(lambda d: T0 + timedelta(days=d / 2))


@st.composite
def items(draw: st.DrawFn) -> ScheduleItem:
    kind = draw(st.sampled_from([ELIGIBLE, ACTIVE]))
    start = draw(offsets)
    end = draw(st.one_of(st.none(), offsets.filter(lambda e: e > start)))
    return ScheduleItem(
        kind=kind,
        id=draw(st.sampled_from(["i1", "i2", "i3"])),
        group_id=G,
        principal_id=draw(principals),
        access=draw(st.sampled_from(list(Access))),
        start=start,
        end=end,
        activated=kind is ACTIVE and draw(st.booleans()),
        schedule_id=draw(st.sampled_from(["s1", "s2"])),
    )


states = st.tuples(st.lists(items(), max_size=8), offsets).map(lambda t: state(*t[0], at=t[1]))
steps = st.integers(min_value=0, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))


@settings(max_examples=100, deadline=None, database=None)
@given(states)
def test_diff_of_a_state_with_itself_is_empty(s: GroupState) -> None:
    assert diff(s, s, s.read_at) == []


@settings(max_examples=100, deadline=None, database=None)
@given(states, st.lists(items(), max_size=8), steps, steps)
def test_the_same_change_computed_twice_has_the_same_ids(
    before: GroupState, after_items: list[ScheduleItem], gap: timedelta, delay: timedelta
) -> None:
    now = before.read_at + gap
    after = state(*after_items, at=now)
    first = diff(before, after, now)
    again = diff(before, state(*reversed(after_items), at=now), now)
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first)  # one event per change
    assert all(e.group_id == G and e.observed_at == now for e in first)


@settings(max_examples=100, deadline=None, database=None)
@given(states, st.lists(items(), max_size=8), steps)
def test_after_a_diff_the_new_state_is_quiet(
    before: GroupState, after_items: list[ScheduleItem], gap: timedelta
) -> None:
    now = before.read_at + gap
    after = state(*after_items, at=now)
    diff(before, after, now)
    assert diff(after, after, now) == []


@settings(max_examples=100, deadline=None, database=None)
@given(states, st.lists(items(), max_size=8), steps)
def test_enrichment_keeps_ids_and_order(before: GroupState, after_items: list[ScheduleItem], gap: timedelta) -> None:
    now = before.read_at + gap
    events = diff(before, state(*after_items, at=now), now)
    history = [
        record(action, kind=kind, principal=p, created=before.read_at + gap / 2, status="Revoked", target=t)
        for action, kind in (("adminAssign", ELIGIBLE), ("selfActivate", ACTIVE), ("selfDeactivate", ACTIVE))
        for p in (ALICE, BOB)
        for t in ("s1", None)
    ]
    enriched = enrich(events, history)
    assert [e.id for e in enriched] == [e.id for e in events]
    assert enrich(events, history) == enriched
