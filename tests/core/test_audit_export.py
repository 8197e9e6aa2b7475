"""core.audit: the export's rows correlated by request id, the CSV a spreadsheet reads safely, the period the audit
log still covers; and the commands `history` and `audit export` (core.commands)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from core.audit import (
    AuditKind,
    ExportData,
    PimAuditEntry,
    ScheduleRequestRow,
    export_rows,
    period_of,
    summarise,
    to_csv,
)
from core.commands import AuditExport, Help, History, parse
from core.models import Access, Group

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
G, OTHER, ALICE, BOB = "g-1", "g-2", "u-alice", "u-bob"


def entry(
    kind: AuditKind, at: datetime, request: str, *, group: str | None = G, by: str = ALICE, **kw: object
) -> PimAuditEntry:  # noqa: E501
    fields: dict[str, object] = dict(
        id=f"e-{kind.name}-{request}-{at.isoformat()}", at=at, activity=kind.value, kind=kind, phase="",
        group_id=group, principal_id=ALICE, request_id=request, request_named=True, initiator_id=by,
        initiator_name=None, by_pim=False, access=Access.MEMBER,
    )  # fmt: skip
    fields.update(kw)
    return PimAuditEntry(**fields)  # type: ignore[arg-type]


def request(
    rid: str, created: datetime, action: str = "selfActivate", group: str = G, **kw: object
) -> ScheduleRequestRow:  # noqa: E501
    fields: dict[str, object] = dict(
        id=rid, eligibility=False, action=action, status="Provisioned", group_id=group, principal_id=ALICE,
        access=Access.MEMBER, created=created, created_by=ALICE, justification="patching", ticket=None,
    )  # fmt: skip
    fields.update(kw)
    return ScheduleRequestRow(**fields)  # type: ignore[arg-type]


def test_rows_are_correlated_by_request_id_and_a_request_the_log_does_not_name_gets_its_own_row() -> None:
    period = period_of(date(2026, 11, 1), date(2026, 12, 7), NOW)
    t = NOW - timedelta(days=3)
    data = ExportData(
        entries=(
            entry(AuditKind.REQUESTED, t, "r-1", phase="requested"),
            entry(AuditKind.APPROVED, t + timedelta(minutes=5), "R-1", by=BOB, initiator_name="Bob Builder"),
            entry(AuditKind.ACTIVATED, t + timedelta(minutes=5), "r-1", phase="completed"),
            entry(AuditKind.ACTIVATED, t, "r-9", group=OTHER),  # a group not asked for
            entry(AuditKind.ACTIVATED, t, "r-8", group=None),  # not placed
        ),
        requests=(request("r-1", t), request("r-2", t - timedelta(days=20), action="adminAssign", eligibility=True)),
    )
    rows, unplaced = export_rows(data, [G], period)
    assert unplaced == 1
    assert [(r.event, r.request_id, r.source) for r in rows] == [
        ("eligible assigned", "r-2", "schedule request"),
        ("activation requested", "r-1", "audit log"),
        ("approved", "R-1", "audit log"),
        ("activated", "r-1", "audit log"),
    ]
    approved = rows[2]
    assert (approved.approver_id, approved.approver_name, approved.justification) == (BOB, "Bob Builder", "patching")
    assert approved.request_action == "selfActivate"  # the request found by id, whatever its case
    summary = summarise(rows, unplaced, data, period, [Group(G, "Exchange-Admins")])
    assert summary.counts["Activations"] == 1 and summary.counts["Approved"] == 1
    assert summary.counts["Admin assignments"] == 1  # from the request alone: the log did not tell it


def test_the_csv_quotes_commas_and_keeps_formulas_from_running() -> None:
    period = period_of(date(2026, 12, 1), date(2026, 12, 7), NOW)
    t = NOW - timedelta(days=1)
    data = ExportData((), (request("r-1", t, justification='=HYPERLINK("http://x","y"), "quoted"'),))
    rows, _ = export_rows(data, [G], period)
    text = to_csv(rows, {G: "Exchange-Admins", ALICE: "Alice, Admin"})
    assert text.endswith("\r\n")
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["justification"] == '\'=HYPERLINK("http://x","y"), "quoted"'
    assert row["principal"] == "Alice, Admin" and row["group"] == "Exchange-Admins"
    assert row["time_utc"] == "2026-12-06T12:00:00Z"


def test_the_period_says_from_when_the_audit_log_still_tells() -> None:
    long = period_of(date(2026, 10, 1), date(2026, 12, 7), NOW)
    assert long.audit_from == NOW - timedelta(days=30) and not long.audit_covers_all
    assert long.end == NOW  # today ends now
    short = period_of(date(2026, 12, 1), date(2026, 12, 3), NOW)
    assert short.audit_covers_all and short.end == datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("history", History()),
        ("History 3", History(3)),
        ("history page 2", History(2)),
        ("audit export 2026-11-01 2026-11-30", AuditExport(date(2026, 11, 1), date(2026, 11, 30))),
        (
            'audit export 2026-11-01 2026-11-30 Exchange-Admins, "Teams Admins" exchange-admins',
            AuditExport(date(2026, 11, 1), date(2026, 11, 30), ("Exchange-Admins", "Teams Admins")),
        ),
    ],
)
def test_history_and_audit_export_parse(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("history 0", "history 2"),
        ("history 9999", "history 2"),
        ("audit", "audit export 2026-11-01"),
        ("audit export", "From which day to which day?"),
        ("audit export 2026-11-01 yesterday", "“yesterday” is not a date"),
        ("audit export 2026-02-30 2026-03-01", "“2026-02-30” is not a date"),
        ("audit export 2026-12-02 2026-12-01", "is after the second"),
    ],
)
def test_bad_history_and_export_input_is_explained(text: str, says: str) -> None:
    command = parse(text)
    assert isinstance(command, Help) and command.reason and says in command.reason, command
