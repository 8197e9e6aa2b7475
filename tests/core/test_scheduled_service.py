"""PimService and scheduled activations (issue 14 point 1): the start sent to PIM, refusals before anything is
written (past, beyond the eligibility), what `status` and `cancel` see, and the directory check of point 2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.commands import Activate, parse
from core.errors import StartAfterEligibility, StartInPast
from core.models import Access, Actor, Group, RequestStatus
from core.outcomes import Activated, Refused
from core.ports import ActivationInput
from core.service import PimService
from tests.support.core_fakes import NOW, FakeDirectory, FixedClock

ALICE = Actor("oid-alice", "tenant-contoso", "Alice Example", time_zone="Europe/Berlin")
EXCHANGE = Group("grp-exchange", "Exchange-Admins")


def command(text: str) -> Activate:
    parsed = parse(text)
    assert isinstance(parsed, Activate), parsed
    return parsed


async def test_a_scheduled_activation_sends_the_start_in_utc_and_comes_back_scheduled(
    service: PimService, directory: FakeDirectory
) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE)
    # NOW is Monday 23 Nov 2026, 10:00 in Berlin: "at 14:00" is 13:00 UTC today.
    [outcome] = await service.activate(ALICE, command("activate Exchange-Admins 2h at 14:00"))
    assert isinstance(outcome, Activated) and outcome.scheduled
    assert outcome.start == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert outcome.end == outcome.start + timedelta(hours=2)
    [call] = directory.called("self_activate")
    sent: ActivationInput = call.args["request"]
    assert (sent.start, sent.duration) == (datetime(2026, 11, 23, 13, 0, tzinfo=UTC), timedelta(hours=2))
    [(request, group)] = await directory.scheduled(ALICE.object_id)
    assert group == EXCHANGE and request.status is RequestStatus.SCHEDULE_CREATED


async def test_an_activation_now_is_not_scheduled(service: PimService, directory: FakeDirectory) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE)
    [outcome] = await service.activate(ALICE, command("activate Exchange-Admins 2h"))
    assert isinstance(outcome, Activated) and not outcome.scheduled
    assert directory.called("self_activate")[0].args["request"].start == NOW


async def test_a_start_already_past_is_refused_before_anything_is_read_or_written(
    service: PimService, directory: FakeDirectory
) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    [outcome] = await service.activate(ALICE, command("activate Exchange-Admins 2h at 09:00"))
    assert isinstance(outcome, Refused) and isinstance(outcome.error, StartInPast)
    assert outcome.error.following == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # tomorrow 09:00 Berlin
    assert directory.calls == []


async def test_a_start_or_an_end_beyond_the_eligibility_is_refused_with_its_end(
    service: PimService, directory: FakeDirectory
) -> None:
    ends = NOW + timedelta(hours=5)  # 15:00 Berlin
    directory.eligible(ALICE.object_id, EXCHANGE, end=ends)
    directory.policy_for(EXCHANGE)
    [late] = await service.activate(ALICE, command("activate Exchange-Admins 2h at 16:00"))
    assert isinstance(late, Refused) and isinstance(late.error, StartAfterEligibility)
    assert late.error.starts_too_late and late.error.end == ends
    [long] = await service.activate(ALICE, command("activate Exchange-Admins 4h at 12:00"))
    assert isinstance(long, Refused) and isinstance(long.error, StartAfterEligibility)
    assert not long.error.starts_too_late
    assert directory.called("self_activate") == []
    [fits] = await service.activate(ALICE, command("activate Exchange-Admins 2h at 12:00"))
    assert isinstance(fits, Activated) and fits.scheduled


async def test_status_shows_the_scheduled_one_and_cancel_finds_it(
    service: PimService, directory: FakeDirectory
) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE)
    [outcome] = await service.activate(ALICE, command("activate Exchange-Admins 2h tomorrow 9:00"))
    assert isinstance(outcome, Activated)
    view = await service.status(ALICE)
    assert [r.id for r in view.scheduled] == [outcome.request.id]
    assert not view.can_activate(view.eligible[0])  # PIM would refuse a second one
    found = await service.waiting_requests(ALICE, "exchange admins", scheduled=True)
    assert [(g.display_name, r.id) for g, r in found] == [("Exchange-Admins", outcome.request.id)]
    assert await service.waiting_requests(ALICE, "exchange admins") == []  # not waiting for approval


async def test_in_effect_asks_the_directory(service: PimService, directory: FakeDirectory, clock: FixedClock) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE)
    assert not await service.in_effect(ALICE.object_id, EXCHANGE.id, Access.MEMBER)
    await service.activate(ALICE, command("activate Exchange-Admins 1h"))
    assert await service.in_effect(ALICE.object_id, EXCHANGE.id, Access.MEMBER)
    assert directory.called("holds")[-1].args == {
        "group_id": EXCHANGE.id,
        "principal_id": ALICE.object_id,
        "access": Access.MEMBER,
    }
