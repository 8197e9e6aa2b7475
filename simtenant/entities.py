"""The objects the simulated tenant keeps: directory objects, PIM policies, schedules, requests, approvals.

Plain mutable dataclasses, no behaviour beyond small predicates; `model.Tenant` owns and changes them and
`wire` renders them. Datetimes are timezone-aware UTC. Enum-like fields hold Graph's output casing
(`member`, `selfActivate`, `afterDuration`, `direct`, `activated`; statuses PascalCase).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from simtenant.extensions import ExtensionRule
from simtenant.isotime import parse_duration

__all__ = [
    "ACCESS_IDS",
    "ACTIONS",
    "EXPIRATION_TYPES",
    "App",
    "Approval",
    "ApprovalStage",
    "Caller",
    "Group",
    "Identity",
    "Kind",
    "RolePolicy",
    "Schedule",
    "ScheduleInfo",
    "ScheduleRequest",
    "SubjectSet",
    "Ticket",
    "User",
]

Kind = Literal["assignment", "eligibility"]

ACCESS_IDS = ("member", "owner")
ACTIONS = (
    "adminAssign",
    "adminUpdate",
    "adminRemove",
    "selfActivate",
    "selfDeactivate",
    "adminExtend",
    "adminRenew",
    "selfExtend",
    "selfRenew",
)
EXPIRATION_TYPES = ("notSpecified", "noExpiration", "afterDateTime", "afterDuration")


@dataclass(slots=True)
class User:
    id: str
    display_name: str
    user_principal_name: str
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    # Holds a directory role that may manage PIM for every group (Privileged Role Administrator, say).
    is_admin: bool = False


@dataclass(slots=True)
class Group:
    id: str
    display_name: str
    description: str | None = None
    mail_nickname: str = ""
    is_assignable_to_role: bool = True
    created: datetime | None = None
    # Permanent members/owners (outside PIM), in insertion order (dict used as an ordered set).
    base_members: dict[str, None] = field(default_factory=dict)
    base_owners: dict[str, None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthenticationContext:
    """A Conditional Access authentication context (Graph authenticationContextClassReference): id `c1`…`c25`."""

    id: str
    display_name: str
    description: str = ""
    is_available: bool = True


@dataclass(slots=True)
class App:
    client_id: str
    client_secret: str
    display_name: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, from a verified access token."""

    kind: Literal["app", "user"]
    app_id: str
    oid: str | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    amr: tuple[str, ...] = ()
    acrs: tuple[str, ...] = ()
    expires: datetime | None = None
    not_before: datetime | None = None

    @property
    def is_app(self) -> bool:
        return self.kind == "app"

    def has_any(self, permissions: frozenset[str]) -> bool:
        granted = self.roles if self.kind == "app" else self.scopes
        return not granted.isdisjoint(permissions)


@dataclass(frozen=True, slots=True)
class Identity:
    """An identitySet with one of user / application set."""

    kind: Literal["user", "application"]
    id: str
    display_name: str | None = None

    @staticmethod
    def of(caller: Caller, app_name: str | None = None) -> Identity:
        if caller.kind == "user" and caller.oid:
            return Identity("user", caller.oid)
        return Identity("application", caller.app_id, app_name)


@dataclass(frozen=True, slots=True)
class SubjectSet:
    """A primary approver: `singleUser` (id = user id) or `groupMembers` (id = group id)."""

    kind: Literal["singleUser", "groupMembers"]
    id: str
    description: str | None = None


@dataclass(slots=True)
class RolePolicy:
    """The role settings of one (group, member|owner): the values behind the 17 rules of reference §6.3."""

    group_id: str
    access: str
    policy_id: str
    # EndUser / Assignment (activation)
    activation_max: str = "PT8H"
    activation_expiration_required: bool = True
    enduser_enabled_rules: list[str] = field(default_factory=list)
    approval_required: bool = False
    approval_required_for_extension: bool = False
    requestor_justification_required: bool = True  # counted only when approval is required (see model docstring)
    approval_mode: str = "SingleStage"
    approval_stage_timeout_days: int = 1
    approver_justification_required: bool = True
    escalation_enabled: bool = False
    escalation_minutes: int = 0
    primary_approvers: list[SubjectSet] = field(default_factory=list)
    auth_context_enabled: bool = False
    auth_context_claim: str | None = None
    # Admin / Eligibility
    eligibility_expiration_required: bool = True
    eligibility_max: str = "P365D"
    admin_eligibility_enabled_rules: list[str] = field(default_factory=list)
    # Admin / Assignment
    admin_assignment_expiration_required: bool = True
    admin_assignment_max: str = "P180D"
    admin_assignment_enabled_rules: list[str] = field(default_factory=lambda: ["Justification"])
    # Notification rules are served with defaults; PATCHed ones are kept verbatim by rule id.
    notification_overrides: dict[str, dict[str, object]] = field(default_factory=dict)
    # unifiedRoleManagementPolicyCustomExtensionRule by rule id, only once one was PATCHed in (simtenant.extensions)
    extension_rules: dict[str, ExtensionRule] = field(default_factory=dict)
    last_modified: datetime | None = None

    @property
    def activation_max_delta(self) -> timedelta:
        return parse_duration(self.activation_max)

    @property
    def requires_justification(self) -> bool:
        return "Justification" in self.enduser_enabled_rules or (
            self.approval_required and self.requestor_justification_required
        )


@dataclass(slots=True)
class ScheduleInfo:
    """requestSchedule as sent (and echoed): start, expiration type, end and duration (string, as given)."""

    start: datetime | None
    expiration_type: str = "notSpecified"
    end: datetime | None = None
    duration: str | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    number: str | None = None
    system: str | None = None


@dataclass(slots=True)
class Schedule:
    """An eligibility or assignment schedule. Its instance (same id) exists while start <= now < end."""

    kind: Kind
    id: str
    group_id: str
    principal_id: str
    access_id: str
    start: datetime
    end: datetime | None  # None = permanent
    created: datetime
    created_using: str
    assignment_type: str | None = None  # assignment only: "assigned" | "activated"
    activated_using: str | None = None  # assignment only: the eligibility schedule used
    member_type: str = "direct"
    modified: datetime | None = None
    status: str = "Provisioned"
    expiration_type: str = "afterDateTime"

    def in_effect(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)

    def not_ended(self, now: datetime) -> bool:
        return self.end is None or now < self.end


@dataclass(slots=True)
class ScheduleRequest:
    kind: Kind
    id: str
    action: str
    principal_id: str
    group_id: str
    access_id: str
    status: str
    created: datetime
    created_by: Identity
    schedule_info: ScheduleInfo | None
    justification: str | None = None
    ticket: Ticket = Ticket()
    completed: datetime | None = None
    approval_id: str | None = None
    is_validation_only: bool = False
    custom_data: str | None = None
    target_schedule_id: str | None = None
    # Resolved at creation: the duration asked for (for approval-delayed provisioning) and the eligibility used.
    requested_duration: timedelta | None = None
    activated_using: str | None = None


@dataclass(slots=True)
class ApprovalStage:
    id: str
    approvers: tuple[SubjectSet, ...]
    justification_required: bool
    status: str = "InProgress"  # InProgress | Completed | Expired
    review_result: str = "NotReviewed"  # NotReviewed | Approved | Denied
    reviewed_by: Identity | None = None
    reviewed: datetime | None = None
    justification: str = ""
    display_name: str | None = None
    # The users who may decide, fixed when the request was made (setting `approvers_at_request`); None: evaluated
    # at each read and decision.
    approvers_at_request: frozenset[str] | None = None


@dataclass(slots=True)
class Approval:
    id: str  # = the assignment schedule request id
    requester_id: str
    stages: list[ApprovalStage]
    expires: datetime
