"""graph.wire.parse_pim_audit_entry, the one reader of PIM-for-Groups audit entries (the feed's outcomes, `history`,
`audit export`): every shape the simulated tenant writes (the shapes public samples show, simtenant.audit.SHAPES)
is placed with its group, principal and request, and every activity name gets its kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.audit import AuditKind
from core.models import Access
from graph import wire
from simtenant.audit import SHAPES, AuditLog, Party, user_initiator

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
GROUP = Party("g-1", "Exchange-Admins", "Group")
ALICE = Party("u-alice", "Alice Admin", "User", "alice@contoso.test")


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@pytest.mark.parametrize(
    ("activity", "kind", "phase"),
    [
        ("Add member to role requested (PIM activation)", AuditKind.REQUESTED, "requested"),
        ("Add member to role approval requested (PIM activation)", AuditKind.APPROVAL_REQUESTED, "requested"),
        ("Add member to role request approved (PIM activation)", AuditKind.APPROVED, ""),
        ("Add member to role request denied (PIM activation)", AuditKind.DENIED, ""),
        ("PIM activation request expired", AuditKind.EXPIRED, ""),
        ("Add member to role canceled (PIM activation)", AuditKind.CANCELED, ""),
        ("Add member to role completed (PIM activation)", AuditKind.ACTIVATED, "completed"),
        ("Remove member from role requested (PIM deactivate)", AuditKind.DEACTIVATION_REQUESTED, "requested"),
        ("Remove member from role completed (PIM deactivate)", AuditKind.DEACTIVATED, "completed"),
        ("Remove member from role (PIM activation expired)", AuditKind.ACTIVATION_ENDED, ""),
        ("Add eligible member to role in PIM completed (timebound)", AuditKind.ELIGIBLE_ASSIGNED, "completed"),
        ("Remove eligible member from role in PIM completed (permanent)", AuditKind.ELIGIBLE_REMOVED, "completed"),
        ("Add member to role in PIM completed (timebound)", AuditKind.ACTIVE_ASSIGNED, "completed"),
        ("Remove member from role in PIM completed (timebound)", AuditKind.ACTIVE_REMOVED, "completed"),
        ("Update eligible member in role in PIM completed (timebound)", AuditKind.UPDATED, "completed"),
        ("Request approved", AuditKind.APPROVED, ""),
    ],
)
def test_every_shape_and_activity_is_read(shape: object, activity: str, kind: AuditKind, phase: str) -> None:
    log = AuditLog(shapes=[shape])  # type: ignore[list-item]
    item = log.record_pim(
        WHEN, activity, group=GROUP, principal=ALICE, access="Owner", request_id="req-1",
        initiated_by=user_initiator("u-bob", "Bob Builder", "bob@contoso.test"),
        details={"Justification": "patching", "Role": "Owner"}, operation_type="Assign",
    )  # fmt: skip
    entry = wire.parse_pim_audit_entry(item)
    assert entry is not None
    assert (entry.kind, entry.phase) == (kind, phase)
    assert (entry.group_id, entry.group_name, entry.principal_id) == ("g-1", "Exchange-Admins", "u-alice")
    assert entry.request_id == "req-1" or not entry.request_named  # a fresh correlationId names no request
    assert (entry.initiator_id, entry.initiator_name, entry.by_pim) == (
        "u-bob",
        "Bob Builder",
        kind is AuditKind.EXPIRED,
    )
    assert (entry.access, entry.justification, entry.at) == (Access.OWNER, "patching", WHEN)


def test_an_entry_of_another_service_or_category_is_not_pims() -> None:
    log = AuditLog()
    item = log.record_pim(
        WHEN, "Add member to role completed (PIM activation)", group=GROUP, principal=ALICE, access="Member",
        request_id="req-1", initiated_by=None, details={}, operation_type="Assign",
    )  # fmt: skip
    assert wire.parse_pim_audit_entry({**item, "category": "UserManagement"}) is None
    assert wire.parse_pim_audit_entry({**item, "loggedByService": "Core Directory"}) is None
    by_pim = wire.parse_pim_audit_entry(item)
    assert by_pim is not None and by_pim.by_pim  # initiated by PIM itself (MS-PIM / "Azure AD PIM")
