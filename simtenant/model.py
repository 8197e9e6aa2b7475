"""State and behaviour of the simulated tenant: directory, PIM-for-Groups policies, schedules, requests,
approvals, and the rules Graph enforces on them. No HTTP here (`graph_api` and `app` translate).

Seed (add_*/set_policy), behave (create_request, cancel_request, decide, …), observe (members, schedules,
requests, …). Every public method first applies what the sim clock says has happened (`tick`): activations
end, approvals expire, eligibilities end — in time order, via an event heap, so nothing scans all objects.

Choices made where the reference (graph-pim-groups.md) is silent — the bot's tests may rely on these:

* Approval timeout: a request still PendingApproval 24 h (sim clock) after it was made gets status
  `Canceled` (setting `expired_approval_status`, may be set to "Failed"), completedDateTime = the expiry
  instant, and its approval stage status `Expired` (reviewResult stays NotReviewed).
* selfActivate validation order: EligibilityRule alone (not eligible or unknown group) → policy rules collected
  together in one message (ExpirationRule, JustificationRule, TicketingRule, MfaRule) → authentication context
  (RoleAssignmentRequestAcrsValidationFailed) → RoleAssignmentExists → PendingRoleAssignmentRequest.
  A duration under 5 minutes, a missing/`noExpiration` end when expiration is required, and an end before the
  start are all ExpirationRule. Calendar durations (`P6M`) → 400 InvalidRoleAssignmentRequest.
* Justification is required when Enablement_EndUser_Assignment lists "Justification", or when approval is
  required and isRequestorJustificationRequired is true (that flag alone, without approval, requires nothing —
  the doc's default policy carries it set to true).
* A requested startDateTime up to 5 minutes in the future counts as now (clients' clocks differ); later starts
  are scheduled: the request is `Granted`, the schedule exists, the instance and group membership appear at
  the start (then the request becomes `Provisioned`). Cancel works on Granted and PendingApproval requests.
* An activation never outlives the eligibility it uses: its end is capped at the eligibility's end.
* selfDeactivate ends only a JIT activation (assignmentType activated); an admin `assigned` assignment →
  RoleAssignmentDoesNotExist. The deactivation request gets status `Revoked`, targetScheduleId = the ended
  schedule. isValidationOnly requests are validated and echoed (status `Granted`, or `PendingApproval` when
  approval would be needed) but not stored.
* selfExtend / selfRenew on eligibilityScheduleRequests (a user's own eligibility ending or lapsed): kept as
  `PendingAdminDecision` for an admin, or refused (setting `self_eligibility_requests`); a future selfActivate beside
  a running activation that ends by its start: RoleAssignmentExists unless `future_activation_while_active`
  (Settings says why both are settings).
* Approval: one stage, approvers snapshotted from the policy when the request is made; `assignedToMe` is true
  for a singleUser approver or a member of a groupMembers approver group, never for the requester. Which members
  count is two settings, as the docs are silent (Settings): by default direct members at the time of the call;
  `nested_group_approvers` adds members of nested groups, `approvers_at_request` fixes the members at the request.
  Any delegated caller may GET an approval; only approvers may decide (403 otherwise); a decided, expired or
  canceled stage answers 409. Approval start = the decision time. If at decision time the user is no longer
  eligible or already active, the request ends `Failed`.
* Group-inherited eligibility: an eligibility whose principal is a group makes each (current, direct, member)
  member of that group eligible. Listing with `principalId eq '<user>'` or filterByCurrentUser returns such rows
  with principalId = the user, memberType `group` and id `{scheduleId}_{userId}`; listing by groupId alone
  returns the stored rows (principal = the group, memberType `direct`). Nested groups are not expanded further.
* Admin requests (adminAssign/Update/Remove/Extend/Renew) need an app token with the ReadWrite role, or a
  delegated token with the ReadWrite scope of a user who is an admin (User.is_admin) or an owner of the group.
  Admin rules enforced: Expiration_Admin_{Eligibility,Assignment} (isExpirationRequired, maximumDuration measured
  from max(start, now)) and Enablement_Admin_* (Justification, Ticketing, MFA — an app token has no MFA), for all
  actions except adminRemove. adminExtend needs a later end than the current one; adminRenew needs a lapsed
  eligibility/assignment and none in effect. Removing an eligibility leaves activations made with it running.
* No row-level security on reads of schedules and requests: any caller holding the read permission sees every row.
* Group PIM policies (`roleManagementPolicyAssignments`, `roleManagementPolicies`, their rules): an app token with
  the RoleManagementPolicy permission reads and updates any group's; a delegated caller reads only as an owner or
  member of the group or an admin (User.is_admin), and updates only as an owner or an admin (`may_read_settings`,
  `may_change_settings`: the sources and why the sim refuses where Microsoft's pages are silent are given there).
* Every step of a PIM request carried out (and an activation's expiry) writes a PIM audit entry
  (`simtenant.audit` names the activities); validation-only requests and refusals write none.
"""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from simtenant import audit
from simtenant.audit import AuditLog, ReportsThrottle
from simtenant.clock import SimClock
from simtenant.entities import (
    ACCESS_IDS,
    App,
    Approval,
    ApprovalStage,
    AuthenticationContext,
    Caller,
    Group,
    Identity,
    Kind,
    RolePolicy,
    Schedule,
    ScheduleInfo,
    ScheduleRequest,
    SubjectSet,
    Ticket,
    User,
)
from simtenant.errors import (
    GraphError,
    PolicyMessageStyle,
    acrs_failed,
    app_only_refused,
    bad_request,
    denied,
    invalid_request,
    not_found,
    policy_failed,
)
from simtenant.extensions import PIM_APP_ID, PRE_APPROVAL_RULE, CustomExtension, ExtensionRule
from simtenant.isotime import CalendarDurationError, format_instant, parse_duration
from simtenant.observe import Fault, FaultRegistry, RequestLog, Stats
from simtenant.shifts import Schedules, Shift, ShiftItem, new_shift
from simtenant.teams import TeamsApps
from simtenant.tokens import TokenService

__all__ = [
    "APPROVAL_TIMEOUT",
    "DEFAULT_DELEGATED_SCOPES",
    "MIN_ACTIVATION",
    "RequestInput",
    "Settings",
    "Tenant",
]

MIN_ACTIVATION = timedelta(minutes=5)
APPROVAL_TIMEOUT = timedelta(hours=24)
FUTURE_START_TOLERANCE = timedelta(minutes=5)
SELF_ACTIONS = ("selfActivate", "selfDeactivate", "selfExtend", "selfRenew")
DEFAULT_DELEGATED_SCOPES = (
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    # ReadWrite: a user's own selfExtend / selfRenew of an eligibility (eligibilityScheduleRequests POST needs it,
    # learn.microsoft.com/graph/api/privilegedaccessgroup-post-eligibilityschedulerequests), issue 14 point 4.
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.Read.AzureADGroup",
    "User.Read",
)


@dataclass(slots=True)
class Settings:
    wrapped_errors: bool = False  # PIM routes answer errors as UnknownError with the real error in `message`
    page_size: int = 100
    policy_message_style: PolicyMessageStyle = "array"
    expired_approval_status: str = "Canceled"
    shuffle_batch_responses: bool = False  # $batch answers "in any order": reversed when on
    # Who counts as an approver of a stage naming groupMembers(G). Microsoft's docs say approvers may be "users or
    # groups" (learn.microsoft.com/entra/id-governance/privileged-identity-management/groups-approval-workflow) and
    # that groupMembers means "the members of a specific group" (learn.microsoft.com/graph/api/resources/groupmembers);
    # they say neither whether members of groups nested in G count nor whether membership is taken when the request
    # is made or when the approver acts. The product asks Graph at each click, so it must work under every reading:
    # both are settings, and the tests run each. Defaults: direct members, evaluated when the approver reads or
    # decides (approvalStage.assignedToMe is "whether the stage is assigned to the calling user", computed per call:
    # learn.microsoft.com/graph/api/resources/approvalstage).
    nested_group_approvers: bool = False
    approvers_at_request: bool = False
    # What POST /directoryObjects/getByIds needs. Its Learn page
    # (learn.microsoft.com/graph/api/directoryobject-getbyids) lists Directory.Read.All, delegated and application, and
    # nothing less: that is the default (403 without it). A real tenant was reported to answer with User.Read.All alone
    # (github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/8798); on: any read permission of users or groups
    # lets the call through, and an object of a type the caller cannot read comes back with its id and @odata.type
    # only, every other property null, as Graph does for directoryObject collections ("Limited information returned
    # for inaccessible member objects",
    # learn.microsoft.com/graph/permissions-overview#limited-information-returned-for-inaccessible-member-objects).
    get_by_ids_per_type: bool = False
    # PIM custom extensions (simtenant.extensions, whose docstring gives the sources and what is inferred): what a
    # Graph caller gets on Denied ("policy": 400 naming CustomExtensionRule with the reasons; "status": 201 with the
    # request Denied), what PIM does when the endpoint never answers readably ("deny" | "continue"), the caller app id
    # in the callout token, and its token version (1: aud = Application ID URI, appid; 2: aud = client id, azp).
    extension_denial_style: str = "policy"
    extension_failure: str = "deny"
    pim_app_id: str = PIM_APP_ID
    extension_token_version: int = 1
    # A user's selfExtend / selfRenew of their own group eligibility. Microsoft's page for
    # privilegedAccessGroupEligibilityScheduleRequest (learn.microsoft.com/graph/api/resources/
    # privilegedaccessgroupeligibilityschedulerequest) lists neither action for groups; both are in the shared
    # scheduleRequestActions enum and documented for Entra roles ("selfExtend: For users to request to extend their
    # expiring assignments", learn.microsoft.com/graph/api/resources/unifiedroleeligibilityschedulerequest), and the
    # portal offers them for groups ("The affected user or group can request to extend assignments that are about to
    # expire and request to renew assignments that are already expired", Entra docs groups-renew-extend.md). So both
    # readings are a setting: on (the default), the request is kept for an admin with status PendingAdminDecision (a
    # documented request status, R-REQ; which status such a request gets is inferred); off, 400
    # InvalidRoleAssignmentRequest as for any action the groups API does not take.
    self_eligibility_requests: bool = True
    # A selfActivate whose startDateTime is in the future while the user holds an activation of the same group that
    # ends by then. Microsoft documents scheduled starts (requestSchedule.startDateTime, "When the eligible or active
    # assignment becomes active") but not whether PIM takes one beside a running activation; RoleAssignmentExists is
    # what it answers for an activation while one exists (LEGACY error table). Off (the default): refused so;
    # on: scheduled. The product must work under both (issue 14 point 3, "Keep it").
    future_activation_while_active: bool = False
    # A selfActivate with a future start, before it starts. Graph lists ScheduleCreated, Granted, PendingProvisioning
    # and Provisioned among a request's statuses (learn.microsoft.com/graph/api/resources/request, "status") and the
    # portal offers a custom activation start time ("The membership or ownership is to be activated only after the
    # selected time", learn.microsoft.com/entra/id-governance/privileged-identity-management/groups-activate-roles);
    # no page says which status a request shows until then. Inferred: Granted or ScheduleCreated (a setting, the
    # product is tested under both); Provisioned once it starts, when its instance appears.
    scheduled_request_status: str = "Granted"
    # Seconds between PIM adding a member (or owner) and the directory's reads showing it (GET groups/{id}/members,
    # checkMemberGroups). Microsoft: PIM "creates an active assignment (adds user as member or owner of the group)
    # within seconds" (groups-activate-roles); 0 by default, more to let a test see the bot check again.
    membership_lag_seconds: float = 0.0

    def update(self, data: dict[str, Any]) -> None:
        """Apply a /_sim/settings body. Raises ValueError."""
        for key, value in data.items():
            if key == "wrapped_errors" and isinstance(value, bool):
                self.wrapped_errors = value
            elif key == "page_size" and isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                self.page_size = value
            elif key == "policy_message_style" and value in ("array", "text"):
                self.policy_message_style = value
            elif key == "expired_approval_status" and value in ("Canceled", "Failed"):
                self.expired_approval_status = value
            elif key == "shuffle_batch_responses" and isinstance(value, bool):
                self.shuffle_batch_responses = value
            elif key == "nested_group_approvers" and isinstance(value, bool):
                self.nested_group_approvers = value
            elif key == "approvers_at_request" and isinstance(value, bool):
                self.approvers_at_request = value
            elif key == "get_by_ids_per_type" and isinstance(value, bool):
                self.get_by_ids_per_type = value
            elif key == "extension_denial_style" and value in ("policy", "text", "status"):
                self.extension_denial_style = value
            elif key == "extension_failure" and value in ("deny", "continue"):
                self.extension_failure = value
            elif key == "pim_app_id" and isinstance(value, str) and value:
                self.pim_app_id = value
            elif key == "extension_token_version" and value in (1, 2):
                self.extension_token_version = value
            elif key == "self_eligibility_requests" and isinstance(value, bool):
                self.self_eligibility_requests = value
            elif key == "future_activation_while_active" and isinstance(value, bool):
                self.future_activation_while_active = value
            elif key == "scheduled_request_status" and value in ("Granted", "ScheduleCreated"):
                self.scheduled_request_status = value
            elif (
                key == "membership_lag_seconds"
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and 0 <= value <= 86400
            ):
                self.membership_lag_seconds = float(value)
            else:
                raise ValueError(f"bad setting {key}={value!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "wrapped_errors": self.wrapped_errors,
            "page_size": self.page_size,
            "policy_message_style": self.policy_message_style,
            "expired_approval_status": self.expired_approval_status,
            "shuffle_batch_responses": self.shuffle_batch_responses,
            "nested_group_approvers": self.nested_group_approvers,
            "approvers_at_request": self.approvers_at_request,
            "get_by_ids_per_type": self.get_by_ids_per_type,
            "extension_denial_style": self.extension_denial_style,
            "extension_failure": self.extension_failure,
            "pim_app_id": self.pim_app_id,
            "extension_token_version": self.extension_token_version,
            "self_eligibility_requests": self.self_eligibility_requests,
            "future_activation_while_active": self.future_activation_while_active,
            "scheduled_request_status": self.scheduled_request_status,
            "membership_lag_seconds": self.membership_lag_seconds,
        }


@dataclass(slots=True)
class RequestInput:
    """The parsed body of POST …/assignmentScheduleRequests or …/eligibilityScheduleRequests."""

    action: str
    principal_id: str
    group_id: str
    access_id: str
    schedule: ScheduleInfo | None = None
    justification: str | None = None
    ticket: Ticket = Ticket()
    is_validation_only: bool = False
    custom_data: str | None = None


class _Index:
    """key -> ordered set of ids (insertion order = creation order, so listings are stable for paging)."""

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[str, dict[str, None]] = {}

    def add(self, key: str, ident: str) -> None:
        self._map.setdefault(key.lower(), {})[ident.lower()] = None

    def remove(self, key: str, ident: str) -> None:
        bucket = self._map.get(key.lower())
        if bucket is not None:
            bucket.pop(ident.lower(), None)
            if not bucket:
                del self._map[key.lower()]

    def get(self, key: str) -> list[str]:
        return list(self._map.get(key.lower(), ()))


def _k(ident: str) -> str:
    return ident.lower()


def _new_id() -> str:
    return str(uuid.uuid4())


def _admin_activity(kind: Kind, action: str, end: datetime | None, step: str) -> str:
    """The audit activity of an admin request step (simtenant.audit names the choices)."""
    role = "eligible member" if kind == "eligibility" else "member"
    span = "permanent" if end is None else "timebound"
    if action == "adminRemove":
        return f"Remove {role} from role in PIM {step} ({span})"
    if action == "adminAssign":
        return f"Add {role} to role in PIM {step} ({span})"
    verb = {"adminUpdate": "Update", "adminExtend": "Extend", "adminRenew": "Renew"}.get(action, "Update")
    return f"{verb} {role} in role in PIM {step} ({span})"


_EventKind = Literal["assign_start", "assign_end", "elig_end", "approval_expire"]


class Tenant:
    """One simulated Entra tenant. Ids are matched case-insensitively, stored as given."""

    def __init__(
        self,
        tenant_id: str,
        domain: str = "contoso.test",
        *,
        clock: SimClock | None = None,
        settings: Settings | None = None,
        display_name: str = "Contoso (simulated)",
    ) -> None:
        self.tenant_id = tenant_id
        self.domain = domain
        self.display_name = display_name
        self.clock = clock or SimClock()
        self.settings = settings or Settings()
        self.tokens = TokenService(tenant_id, self.clock)
        self.delegated_scopes: tuple[str, ...] = DEFAULT_DELEGATED_SCOPES
        self.default_client_id: str | None = None
        self.seed_spec: str | None = None
        self.faults = FaultRegistry()
        self.stats = Stats()
        self.log = RequestLog()
        self.reports_throttle = ReportsThrottle()  # auditLogs: 5 requests / 10 s per app (simtenant.audit)
        self.teams = TeamsApps()  # the Teams app catalog and personal-scope installations (simtenant.teams)
        self.shifts = Schedules()  # Teams Shifts schedules of teams (simtenant.shifts)
        self.clear()

    # ------------------------------------------------------------------ state

    def clear(self) -> None:
        """Forget every object (apps, users, groups, policies, PIM state). Clock, settings, faults stay."""
        self.apps: dict[str, App] = {}
        self.authentication_contexts: dict[str, AuthenticationContext] = {}
        self.users: dict[str, User] = {}
        self._users_by_upn: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self._groups_by_name: _Index = _Index()
        self.policies: dict[tuple[str, str], RolePolicy] = {}
        self._policies_by_id: dict[str, RolePolicy] = {}
        self.schedules: dict[Kind, dict[str, Schedule]] = {"assignment": {}, "eligibility": {}}
        self.requests: dict[Kind, dict[str, ScheduleRequest]] = {"assignment": {}, "eligibility": {}}
        self.approvals: dict[str, Approval] = {}
        self.custom_extensions: dict[str, CustomExtension] = {}  # PIM custom extensions by lower-cased id
        self.evaluating: set[tuple[str, str, str]] = set()  # (principal, group, access) whose extension is being called
        self._sched_by_group = {"assignment": _Index(), "eligibility": _Index()}
        self._sched_by_principal = {"assignment": _Index(), "eligibility": _Index()}
        self._req_by_group = {"assignment": _Index(), "eligibility": _Index()}
        self._req_by_principal = {"assignment": _Index(), "eligibility": _Index()}
        self._req_by_creator = {"assignment": _Index(), "eligibility": _Index()}
        self._pending: dict[tuple[str, str, str], str] = {}
        self._active: dict[tuple[str, str, str], dict[str, None]] = {}  # (group, principal, access) -> schedules
        self._pim_members: dict[tuple[str, str], dict[str, None]] = {}  # (group, access) -> principals
        self._pim_since: dict[tuple[str, str, str], datetime] = {}  # (group, principal, access) -> added at
        self._member_of: dict[str, dict[tuple[str, str], None]] = {}  # principal -> (group, access)
        self._lapsed: dict[tuple[Kind, str, str, str], Schedule] = {}
        self._events: list[tuple[datetime, int, _EventKind, str]] = []
        self._seq = 0
        self.audit = AuditLog()
        self.teams.clear()  # its listeners (the delivery to the bot) stay
        self.shifts.clear()

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the sim clock forward (seconds or a timedelta) and apply what fell due. Returns the new now."""
        self.clock.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))
        return self.tick()

    def add_fault(self, **spec: Any) -> Fault:
        """Inject a fault, with the fields of the /_sim/faults body (path, method, status, retry_after, times,
        delay_seconds, after_processing, code, message, wrapped)."""
        return self.faults.add(Fault.from_json(spec))

    def tick(self) -> datetime:
        """Apply everything due by sim-now (activation ends, approval expiry, eligibility ends). Returns now."""
        now = self.clock.now()
        events = self._events
        while events and events[0][0] <= now:
            when, _, kind, ref = heapq.heappop(events)
            if kind == "assign_start":
                schedule = self.schedules["assignment"].get(ref)
                if schedule is not None and schedule.start <= when:
                    self._start_assignment(schedule, when)
            elif kind in ("assign_end", "elig_end"):
                skind: Kind = "assignment" if kind == "assign_end" else "eligibility"
                schedule = self.schedules[skind].get(ref)
                if schedule is not None and schedule.end is not None and schedule.end <= when:
                    self._end_schedule(schedule)
                    if schedule.assignment_type == "activated":
                        self._audit_schedule(when, "Remove member from role (PIM activation expired)", schedule, None)
            elif kind == "approval_expire":
                self._expire_approval(ref, when)
        return now

    def _push(self, when: datetime, kind: _EventKind, ref: str) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, ref.lower()))

    # ------------------------------------------------------------------ seed

    def add_app(self, client_id: str, client_secret: str, roles: Iterable[str], display_name: str = "") -> App:
        app = App(client_id, client_secret, display_name or client_id, frozenset(roles))
        self.apps[_k(client_id)] = app
        if self.default_client_id is None:
            self.default_client_id = client_id
        return app

    def add_authentication_context(
        self, context_id: str, display_name: str, description: str = "", is_available: bool = True
    ) -> AuthenticationContext:
        context = AuthenticationContext(context_id, display_name, description, is_available)
        self.authentication_contexts[_k(context_id)] = context
        return context

    def add_user(
        self,
        user_id: str,
        display_name: str,
        user_principal_name: str | None = None,
        *,
        mail: str | None = None,
        is_admin: bool = False,
        given_name: str | None = None,
        surname: str | None = None,
        job_title: str | None = None,
    ) -> User:
        upn = user_principal_name or f"{display_name.lower().replace(' ', '.')}@{self.domain}"
        first, _, last = display_name.partition(" ")
        user = User(
            id=user_id,
            display_name=display_name,
            user_principal_name=upn,
            mail=mail if mail is not None else upn,
            given_name=given_name if given_name is not None else first or None,
            surname=surname if surname is not None else last or None,
            job_title=job_title,
            is_admin=is_admin,
        )
        self.users[_k(user_id)] = user
        self._users_by_upn[upn.lower()] = _k(user_id)
        return user

    def add_group(
        self,
        group_id: str,
        display_name: str,
        *,
        description: str | None = None,
        members: Iterable[str] = (),
        owners: Iterable[str] = (),
        is_assignable_to_role: bool = True,
    ) -> Group:
        """Create a security group with default member and owner policies (reference §6.3 defaults, except
        Enablement_EndUser_Assignment = [] — nothing extra needed to activate)."""
        nickname = "".join(ch for ch in display_name if ch.isalnum() or ch in "-_.") or group_id
        group = Group(
            id=group_id,
            display_name=display_name,
            description=description,
            mail_nickname=nickname,
            is_assignable_to_role=is_assignable_to_role,
            created=self.clock.now(),
        )
        self.groups[_k(group_id)] = group
        self._groups_by_name.add(display_name, group_id)
        for access in ("member", "owner"):
            policy_id = f"Group_{group_id}_{uuid.uuid5(uuid.NAMESPACE_URL, f'{self.tenant_id}/{group_id}/{access}')}"
            policy = RolePolicy(group_id=group_id, access=access, policy_id=policy_id)
            self.policies[(_k(group_id), access)] = policy
            self._policies_by_id[policy_id.lower()] = policy
        for member in members:
            self.add_member(group_id, member)
        for owner in owners:
            self.add_member(group_id, owner, "owner")
        return group

    def add_member(self, group_id: str, principal_id: str, access: str = "member") -> None:
        """Permanent (non-PIM) membership or ownership."""
        group = self._group(group_id)
        base = group.base_members if access == "member" else group.base_owners
        base[_k(principal_id)] = None
        self._refresh_membership(group_id, principal_id, access)

    def remove_member(self, group_id: str, principal_id: str, access: str = "member") -> None:
        group = self._group(group_id)
        base = group.base_members if access == "member" else group.base_owners
        base.pop(_k(principal_id), None)
        self._refresh_membership(group_id, principal_id, access)

    def add_team_schedule(self, team_id: str) -> None:
        """Make an existing group a team with a Shifts schedule (its members see it; simtenant.shifts)."""
        self._group(team_id)
        self.shifts.add_team(team_id)

    def add_shift(
        self,
        team_id: str,
        user_id: str,
        start: datetime,
        end: datetime,
        *,
        display_name: str = "On call",
        shared: bool = True,
    ) -> Shift:
        """A shift of `user_id` in the team's schedule (made a team with a schedule if it was not); `shared` False:
        a manager's draft only. Graph's limits: 1 minute to 24 hours (resources/shift)."""
        self._group(team_id)
        if not timedelta(minutes=1) <= end - start <= timedelta(hours=24):
            raise ValueError("a shift lasts from 1 minute to 24 hours")
        item = ShiftItem(start=start, end=end, display_name=display_name)
        return self.shifts.add(team_id, new_shift(user_id, item, shared=shared, created=self.clock.now()))

    def set_policy(self, group_id: str, access: str = "member", **changes: Any) -> RolePolicy:
        """Change role settings, by RolePolicy field name (activation_max="PT2H", enduser_enabled_rules=[…],
        approval_required=True, primary_approvers=[SubjectSet(...) or ("singleUser", id, description)], …)."""
        policy = self.policies.get((_k(group_id), access))
        if policy is None:
            raise KeyError(f"no policy for group {group_id} / {access}")
        for name, value in changes.items():
            if name in ("group_id", "access", "policy_id") or not hasattr(policy, name):
                raise AttributeError(f"RolePolicy has no settable field {name!r}")
            if name == "primary_approvers":
                value = [item if isinstance(item, SubjectSet) else SubjectSet(*item) for item in value]
            elif name in ("activation_max", "eligibility_max", "admin_assignment_max"):
                parse_duration(str(value))  # refuse nonsense early
            setattr(policy, name, value)
        policy.last_modified = self.clock.now()
        return policy

    def add_eligibility(
        self,
        group_id: str,
        principal_id: str,
        access: str = "member",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        created_by: Identity | None = None,
        justification: str | None = "Seeded eligibility",
    ) -> Schedule:
        """An eligibility assigned by an admin, bypassing policy checks, with its adminAssign request in the history.
        `end` None = permanent. An end in the past leaves only history (the schedule is returned but not listed)."""
        return self._seed_schedule("eligibility", group_id, principal_id, access, start, end, created_by, justification)

    def add_assignment(
        self,
        group_id: str,
        principal_id: str,
        access: str = "member",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        created_by: Identity | None = None,
        justification: str | None = "Seeded assignment",
    ) -> Schedule:
        """An active assignment (assignmentType `assigned`) made by an admin, bypassing policy checks."""
        return self._seed_schedule("assignment", group_id, principal_id, access, start, end, created_by, justification)

    def _seed_schedule(
        self,
        kind: Kind,
        group_id: str,
        principal_id: str,
        access: str,
        start: datetime | None,
        end: datetime | None,
        created_by: Identity | None,
        justification: str | None,
    ) -> Schedule:
        now = self.tick()
        self._group(group_id)
        if self._principal(principal_id) is None:
            raise KeyError(f"no user or group {principal_id}")
        if access not in ("member", "owner"):
            raise ValueError(f"access must be member or owner, not {access!r}")
        start = start or now
        creator = created_by or Identity("application", self.default_client_id or self.tenant_id)
        request = ScheduleRequest(
            kind=kind,
            id=_new_id(),
            action="adminAssign",
            principal_id=principal_id,
            group_id=group_id,
            access_id=access,
            status="Provisioned",
            created=min(start, now),
            completed=min(start, now),
            created_by=creator,
            schedule_info=ScheduleInfo(start, "afterDateTime" if end else "noExpiration", end, None),
            justification=justification,
        )
        schedule = self._new_schedule(kind, request, start, end, "assigned" if kind == "assignment" else None)
        self._store_request(request)
        self._audit_request(
            request.created, _admin_activity(kind, "adminAssign", end, "completed"), request, start, end
        )
        if end is not None and end <= now:
            self._lapsed[(kind, _k(principal_id), _k(group_id), access)] = schedule
        else:
            self._add_schedule(schedule, now)
        return schedule

    # ------------------------------------------------------------------ lookups

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(_k(group_id))
        if group is None:
            raise KeyError(f"no group {group_id}")
        return group

    def _principal(self, ident: str) -> User | Group | None:
        return self.users.get(_k(ident)) or self.groups.get(_k(ident))

    def user(self, id_or_upn: str) -> User | None:
        key = _k(id_or_upn)
        user = self.users.get(key)
        if user is None and key in self._users_by_upn:
            user = self.users.get(self._users_by_upn[key])
        return user

    def group(self, group_id: str) -> Group | None:
        return self.groups.get(_k(group_id))

    def directory_object(self, ident: str) -> User | Group | None:
        return self._principal(ident)

    def groups_named(self, display_name: str) -> list[Group]:
        return [self.groups[i] for i in self._groups_by_name.get(display_name) if i in self.groups]

    def policy(self, group_id: str, access: str) -> RolePolicy | None:
        return self.policies.get((_k(group_id), access.lower()))

    def policy_by_id(self, policy_id: str) -> RolePolicy | None:
        return self._policies_by_id.get(_k(policy_id))

    def policies_for_scope(self, group_id: str) -> list[RolePolicy]:
        return [p for p in (self.policy(group_id, "member"), self.policy(group_id, "owner")) if p is not None]

    # ------------------------------------------------------------------ membership

    def members(self, group_id: str, access: str = "member") -> list[str]:
        """Current members (or owners): permanent ones, then those holding an active PIM assignment."""
        self.tick()
        group = self._group(group_id)
        base = group.base_members if access == "member" else group.base_owners
        out = dict(base)
        out.update(self._pim_members.get((_k(group_id), access), {}))
        return [obj.id if (obj := self._principal(key)) is not None else key for key in out]

    def directory_members(self, group_id: str, access: str = "member") -> list[str]:
        """The members (or owners) as the directory's reads show them: a PIM member only `membership_lag_seconds`
        after PIM added them (Settings.membership_lag_seconds)."""
        now = self.tick()
        g = _k(group_id)
        return [m for m in self.members(group_id, access) if self._shown(g, _k(m), access, now)]

    def directory_member_groups(self, principal_id: str) -> set[str]:
        """The groups (lower-case ids) the directory's reads show `principal_id` a member of, directly or through
        nested groups (checkMemberGroups is transitive), each membership PIM added shown only `membership_lag_seconds`
        after it was added, as in `directory_members`. Walked up from the principal's own memberships, so a check
        costs what the principal belongs to, not what the groups hold (a group with thousands of activated members
        in the benchmark made every check scan them all, which real Graph does not charge its caller)."""
        now = self.tick()
        found: set[str] = set()
        todo = [_k(principal_id)]
        while todo:
            principal = todo.pop()
            for group, access in self._member_of.get(principal, {}):
                if access == "member" and group not in found and self._shown(group, principal, access, now):
                    found.add(group)
                    todo.append(group)
        return found

    def _shown(self, group: str, principal: str, access: str, now: datetime) -> bool:
        """Whether the directory's reads show this membership (keys lower-case): a permanent one always, one PIM
        added only `membership_lag_seconds` after it was added (Settings.membership_lag_seconds)."""
        since = self._pim_since.get((group, principal, access))
        return since is None or since + timedelta(seconds=self.settings.membership_lag_seconds) <= now

    def is_member(self, group_id: str, principal_id: str, access: str = "member") -> bool:
        return (_k(group_id), access) in self._member_of.get(_k(principal_id), {})

    def _refresh_membership(self, group_id: str, principal_id: str, access: str) -> None:
        g, p = _k(group_id), _k(principal_id)
        group = self.groups.get(g)
        active = bool(self._active.get((g, p, access)))
        pim = self._pim_members.setdefault((g, access), {})
        if active:
            if p not in pim:
                self._pim_since[(g, p, access)] = self.clock.now()
            pim[p] = None
        else:
            pim.pop(p, None)
            self._pim_since.pop((g, p, access), None)
        base = (group.base_members if access == "member" else group.base_owners) if group else {}
        memberships = self._member_of.setdefault(p, {})
        if active or p in base:
            memberships[(g, access)] = None
        else:
            memberships.pop((g, access), None)

    # ------------------------------------------------------------------ schedules

    def _new_schedule(
        self, kind: Kind, request: ScheduleRequest, start: datetime, end: datetime | None, assignment_type: str | None
    ) -> Schedule:
        schedule_id = f"{request.group_id}_{request.access_id}_{request.id}"
        request.target_schedule_id = schedule_id
        return Schedule(
            kind=kind,
            id=schedule_id,
            group_id=request.group_id,
            principal_id=request.principal_id,
            access_id=request.access_id,
            start=start,
            end=end,
            created=request.created,
            created_using=request.id,
            assignment_type=assignment_type,
            activated_using=request.activated_using,
            expiration_type="afterDateTime" if end else "noExpiration",
        )

    def _add_schedule(self, schedule: Schedule, now: datetime) -> None:
        kind = schedule.kind
        self.schedules[kind][_k(schedule.id)] = schedule
        self._sched_by_group[kind].add(schedule.group_id, schedule.id)
        self._sched_by_principal[kind].add(schedule.principal_id, schedule.id)
        if schedule.end is not None:
            self._push(schedule.end, "assign_end" if kind == "assignment" else "elig_end", schedule.id)
        if kind == "assignment":
            if schedule.start <= now:
                self._start_assignment(schedule, now)
            else:
                self._push(schedule.start, "assign_start", schedule.id)

    def _start_assignment(self, schedule: Schedule, when: datetime) -> None:
        key = (_k(schedule.group_id), _k(schedule.principal_id), schedule.access_id)
        self._active.setdefault(key, {})[_k(schedule.id)] = None
        self._refresh_membership(schedule.group_id, schedule.principal_id, schedule.access_id)
        request = self.requests["assignment"].get(_k(schedule.created_using))
        schedule.status = "Provisioned"
        if request is not None and request.status in ("Granted", "ScheduleCreated"):
            request.status = "Provisioned"
            request.completed = when

    def _end_schedule(self, schedule: Schedule) -> None:
        kind = schedule.kind
        self.schedules[kind].pop(_k(schedule.id), None)
        self._sched_by_group[kind].remove(schedule.group_id, schedule.id)
        self._sched_by_principal[kind].remove(schedule.principal_id, schedule.id)
        self._lapsed[(kind, _k(schedule.principal_id), _k(schedule.group_id), schedule.access_id)] = schedule
        if kind == "assignment":
            key = (_k(schedule.group_id), _k(schedule.principal_id), schedule.access_id)
            active = self._active.get(key)
            if active is not None:
                active.pop(_k(schedule.id), None)
                if not active:
                    del self._active[key]
            self._refresh_membership(schedule.group_id, schedule.principal_id, schedule.access_id)

    def _reschedule(self, schedule: Schedule, start: datetime, end: datetime | None, now: datetime) -> None:
        schedule.start = start
        schedule.end = end
        schedule.expiration_type = "afterDateTime" if end else "noExpiration"
        schedule.modified = now
        if end is not None:
            self._push(end, "assign_end" if schedule.kind == "assignment" else "elig_end", schedule.id)

    def _current(self, kind: Kind, principal_id: str, group_id: str, access: str, now: datetime) -> list[Schedule]:
        """Direct schedules of the principal for (group, access) that have not ended (in effect or future)."""
        out = []
        for sid in self._sched_by_principal[kind].get(principal_id):
            schedule = self.schedules[kind].get(sid)
            if (
                schedule is not None
                and _k(schedule.group_id) == _k(group_id)
                and schedule.access_id == access
                and schedule.not_ended(now)
            ):
                out.append(schedule)
        return out

    def _eligibility_in_effect(self, principal_id: str, group_id: str, access: str, now: datetime) -> Schedule | None:
        for schedule in self._current("eligibility", principal_id, group_id, access, now):
            if schedule.in_effect(now):
                return schedule
        for via_group, via_access in list(self._member_of.get(_k(principal_id), {})):
            if via_access != "member":
                continue
            for schedule in self._current("eligibility", via_group, group_id, access, now):
                if schedule.in_effect(now):
                    return schedule
        return None

    def _inherited(self, schedule: Schedule, user_id: str) -> Schedule:
        return replace(schedule, id=f"{schedule.id}_{user_id}", principal_id=user_id, member_type="group")

    def schedules_for(
        self,
        kind: Kind,
        *,
        group_id: str | None = None,
        principal_id: str | None = None,
        instances: bool = False,
    ) -> list[Schedule]:
        """Schedules (in effect or not yet started) or instances (in effect now), by principal and/or group.
        With a principal, eligibility rows inherited through groups are included (memberType "group")."""
        now = self.tick()
        rows: list[Schedule] = []
        store = self.schedules[kind]
        if principal_id is not None:
            rows = [store[sid] for sid in self._sched_by_principal[kind].get(principal_id) if sid in store]
            if kind == "eligibility":
                for via_group, via_access in list(self._member_of.get(_k(principal_id), {})):
                    if via_access != "member":
                        continue
                    for sid in self._sched_by_principal[kind].get(via_group):
                        if sid in store:
                            rows.append(self._inherited(store[sid], principal_id))
            if group_id is not None:
                rows = [row for row in rows if _k(row.group_id) == _k(group_id)]
        elif group_id is not None:
            rows = [store[sid] for sid in self._sched_by_group[kind].get(group_id) if sid in store]
        else:
            rows = list(store.values())
        if instances:
            return [row for row in rows if row.in_effect(now)]
        return [row for row in rows if row.not_ended(now)]

    def schedule(self, kind: Kind, schedule_id: str, *, instance: bool = False) -> Schedule | None:
        """One schedule (or instance) by id, including the `{scheduleId}_{userId}` ids of inherited rows."""
        now = self.tick()
        store = self.schedules[kind]
        found = store.get(_k(schedule_id))
        if found is None and kind == "eligibility" and "_" in schedule_id:
            base_id, _, user_id = schedule_id.rpartition("_")
            base = store.get(_k(base_id))
            if base is not None and self.is_member(base.principal_id, user_id):
                found = self._inherited(base, user_id)
        if found is None:
            return None
        if instance and not found.in_effect(now):
            return None
        return found

    # ------------------------------------------------------------------ requests (read)

    def _store_request(self, request: ScheduleRequest) -> None:
        kind = request.kind
        self.requests[kind][_k(request.id)] = request
        self._req_by_group[kind].add(request.group_id, request.id)
        self._req_by_principal[kind].add(request.principal_id, request.id)
        if request.created_by.kind == "user":
            self._req_by_creator[kind].add(request.created_by.id, request.id)

    def request(self, kind: Kind, request_id: str) -> ScheduleRequest | None:
        self.tick()
        return self.requests[kind].get(_k(request_id))

    def requests_for(
        self,
        kind: Kind,
        *,
        group_id: str | None = None,
        principal_id: str | None = None,
        created_by: str | None = None,
    ) -> list[ScheduleRequest]:
        self.tick()
        store = self.requests[kind]
        if principal_id is not None:
            ids = self._req_by_principal[kind].get(principal_id)
        elif created_by is not None:
            ids = self._req_by_creator[kind].get(created_by)
        elif group_id is not None:
            ids = self._req_by_group[kind].get(group_id)
        else:
            ids = list(store)
        rows = [store[i] for i in ids if i in store]
        if group_id is not None:
            rows = [row for row in rows if _k(row.group_id) == _k(group_id)]
        if created_by is not None:
            rows = [row for row in rows if row.created_by.kind == "user" and _k(row.created_by.id) == _k(created_by)]
        return rows

    def requests_for_approver(self, user_id: str) -> list[ScheduleRequest]:
        """Assignment requests with an approval the user may (or could) decide."""
        self.tick()
        out = []
        for approval in self.approvals.values():
            if any(self.is_approver(approval, stage, user_id) for stage in approval.stages):
                request = self.requests["assignment"].get(_k(approval.id))
                if request is not None:
                    out.append(request)
        return out

    # ------------------------------------------------------------------ approvals (read)

    def approval(self, approval_id: str) -> Approval | None:
        self.tick()
        return self.approvals.get(_k(approval_id))

    def approvals_for_approver(self, user_id: str) -> list[Approval]:
        """Approvals with a stage still InProgress that the user may decide."""
        self.tick()
        return [
            approval
            for approval in self.approvals.values()
            if any(
                stage.status == "InProgress" and self.is_approver(approval, stage, user_id) for stage in approval.stages
            )
        ]

    def is_approver(self, approval: Approval, stage: ApprovalStage, user_id: str | None) -> bool:
        """Whether `user_id` may decide `stage` now (never the requester): per the settings `approvers_at_request`
        (the members taken when the request was made) and `nested_group_approvers` (see Settings)."""
        if not user_id or _k(user_id) == _k(approval.requester_id):
            return False
        if stage.approvers_at_request is not None:
            return _k(user_id) in stage.approvers_at_request
        return self._named_by(stage.approvers, user_id)

    def approves(self, group_id: str, access: str, user_id: str) -> bool:
        """Whether the group's policy for `access` requires approval and names `user_id` among its approvers."""
        policy = self.policy(group_id, access)
        if policy is None or not policy.approval_required:
            return False
        return self._named_by(tuple(policy.primary_approvers), user_id)

    def _named_by(self, subjects: tuple[SubjectSet, ...], user_id: str) -> bool:
        for subject in subjects:
            if subject.kind == "singleUser" and _k(subject.id) == _k(user_id):
                return True
            if subject.kind == "groupMembers" and self._in_approver_group(subject.id, user_id):
                return True
        return False

    def _in_approver_group(self, group_id: str, user_id: str) -> bool:
        if self.is_member(group_id, user_id):
            return True
        if not self.settings.nested_group_approvers:
            return False
        seen, todo = {_k(group_id)}, [group_id]
        while todo:
            for member in self.members(todo.pop()):
                key = _k(member)
                if key in self.groups and key not in seen:
                    if self.is_member(member, user_id):
                        return True
                    seen.add(key)
                    todo.append(member)
        return False

    def _approvers_now(self, subjects: tuple[SubjectSet, ...], requester_id: str) -> frozenset[str]:
        """Every user who could decide a stage naming `subjects` at this instant (for `approvers_at_request`)."""
        return frozenset(key for key in self.users if key != _k(requester_id) and self._named_by(subjects, key))

    # ------------------------------------------------------------------ behaviour: requests

    def create_request(
        self,
        kind: Kind,
        caller: Caller,
        inp: RequestInput,
        *,
        request_id: str | None = None,
        auto_approved: bool = False,
    ) -> ScheduleRequest:
        """POST …ScheduleRequests. Permission (scope/app role) is checked by the caller of this method.

        `request_id`: the id the request gets (the one a custom extension was shown); `auto_approved`: the custom
        extension answered AutoApproved, so a selfActivate skips the approval stage (simtenant.extensions)."""
        now = self.tick()
        if inp.action in SELF_ACTIONS:
            if kind == "eligibility" and inp.action not in ("selfExtend", "selfRenew"):
                raise invalid_request(f"The action '{inp.action}' is not supported on eligibility schedule requests.")
            if caller.is_app:
                raise app_only_refused(f"The action '{inp.action}'")
            if _k(caller.oid or "") != _k(inp.principal_id):
                raise denied("A self-service request must name the signed-in user as principalId.")
            if kind == "eligibility":
                return self._self_eligibility_change(caller, inp, now)
            if inp.action == "selfActivate":
                return self._self_activate(caller, inp, now, request_id=request_id, auto_approved=auto_approved)
            if inp.action == "selfDeactivate":
                return self._self_deactivate(caller, inp, now)
            raise invalid_request(f"The action '{inp.action}' is not supported for groups by the simulated tenant.")
        return self._admin_request(kind, caller, inp, now)

    def _new_request(
        self, kind: Kind, caller: Caller, inp: RequestInput, now: datetime, status: str
    ) -> ScheduleRequest:
        app = self.apps.get(_k(caller.app_id))
        return ScheduleRequest(
            kind=kind,
            id=_new_id(),
            action=inp.action,
            principal_id=inp.principal_id,
            group_id=inp.group_id,
            access_id=inp.access_id,
            status=status,
            created=now,
            created_by=Identity.of(caller, app.display_name if app else None),
            schedule_info=inp.schedule,
            justification=inp.justification,
            ticket=inp.ticket,
            is_validation_only=inp.is_validation_only,
            custom_data=inp.custom_data,
        )

    def _fail(self, rules: list[str]) -> GraphError:
        return policy_failed(rules, self.settings.policy_message_style)

    def _window(
        self,
        schedule: ScheduleInfo | None,
        now: datetime,
        *,
        required: bool,
        maximum: timedelta,
        minimum: timedelta | None,
        keep_past_start: bool,
    ) -> tuple[datetime, datetime | None, list[str]]:
        """Start and end from a requested schedule, and ["ExpirationRule"] if the expiration breaks the policy."""
        requested = schedule.start if schedule is not None else None
        if requested is None:
            start = now
        elif requested <= now:
            start = requested if keep_past_start else now
        elif requested <= now + FUTURE_START_TOLERANCE and not keep_past_start:
            start = now
        else:
            start = requested
        etype = schedule.expiration_type if schedule is not None else "notSpecified"
        end: datetime | None = None
        if etype == "afterDuration":
            if schedule is None or not schedule.duration:
                raise bad_request("scheduleInfo.expiration.duration is required when type is afterDuration.")
            try:
                end = start + parse_duration(schedule.duration)
            except CalendarDurationError as exc:
                raise invalid_request() from exc
            except ValueError as exc:
                raise bad_request(f"Invalid duration '{schedule.duration}'.") from exc
        elif etype == "afterDateTime":
            if schedule is None or schedule.end is None:
                raise bad_request("scheduleInfo.expiration.endDateTime is required when type is afterDateTime.")
            end = schedule.end
        failures: list[str] = []
        if end is None:
            if required:
                failures.append("ExpirationRule")
        else:
            span = end - max(start, now)
            if end <= start or span > maximum or (minimum is not None and end - start < minimum):
                failures.append("ExpirationRule")
        return start, end, failures

    def _self_activate(
        self, caller: Caller, inp: RequestInput, now: datetime, *, request_id: str | None, auto_approved: bool
    ) -> ScheduleRequest:
        policy = self.policy(inp.group_id, inp.access_id)
        eligibility = self._eligibility_in_effect(inp.principal_id, inp.group_id, inp.access_id, now)
        if policy is None or eligibility is None:
            raise self._fail(["EligibilityRule"])
        start, end, failures = self._window(
            inp.schedule,
            now,
            required=policy.activation_expiration_required,
            maximum=policy.activation_max_delta,
            minimum=MIN_ACTIVATION,
            keep_past_start=False,
        )
        if policy.requires_justification and not (inp.justification or "").strip():
            failures.append("JustificationRule")
        if "Ticketing" in policy.enduser_enabled_rules and not (inp.ticket.number or "").strip():
            failures.append("TicketingRule")
        if "MultiFactorAuthentication" in policy.enduser_enabled_rules and "mfa" not in caller.amr:
            failures.append("MfaRule")
        if failures:
            raise self._fail(failures)
        if policy.auth_context_enabled and policy.auth_context_claim:
            if policy.auth_context_claim not in caller.acrs:
                raise acrs_failed(policy.auth_context_claim)
        current = self._current("assignment", inp.principal_id, inp.group_id, inp.access_id, now)
        after_current = (
            self.settings.future_activation_while_active
            and start > now
            and all(s.end is not None and s.end <= start for s in current)
        )
        if current and not after_current:
            raise GraphError(400, "RoleAssignmentExists", "The Role assignment already exists.")
        key = (_k(inp.principal_id), _k(inp.group_id), inp.access_id)
        if key in self._pending:
            raise GraphError(
                400,
                "PendingRoleAssignmentRequest",
                "There already exists a pending Role assignment request in the system.",
            )
        request = self._new_request("assignment", caller, inp, now, "Granted")
        if request_id is not None:
            request.id = request_id
        request.schedule_info = ScheduleInfo(
            start,
            inp.schedule.expiration_type if inp.schedule else "notSpecified",
            inp.schedule.end if inp.schedule else None,
            inp.schedule.duration if inp.schedule else None,
        )
        request.requested_duration = (end - start) if end is not None else None
        request.activated_using = eligibility.id
        if inp.is_validation_only:
            request.status = "PendingApproval" if policy.approval_required else "Granted"
            return request
        if policy.approval_required and not auto_approved:
            request.status = "PendingApproval"
            request.approval_id = request.id
            approvers = tuple(policy.primary_approvers)
            stage = ApprovalStage(
                id=_new_id(),
                approvers=approvers,
                justification_required=policy.approver_justification_required,
                approvers_at_request=(
                    self._approvers_now(approvers, inp.principal_id) if self.settings.approvers_at_request else None
                ),
            )
            approval = Approval(request.id, inp.principal_id, [stage], now + APPROVAL_TIMEOUT)
            self.approvals[_k(request.id)] = approval
            self._pending[key] = request.id
            self._push(approval.expires, "approval_expire", request.id)
            self._store_request(request)
            self._audit_request(now, "Add member to role requested (PIM activation)", request, start, end)
            self._audit_request(now, "Add member to role approval requested (PIM activation)", request, start, end)
            return request
        self._provision(request, start, eligibility, now)
        self._store_request(request)
        self._audit_request(now, "Add member to role requested (PIM activation)", request, start, end)
        self._audit_request(now, "Add member to role completed (PIM activation)", request, start, end)
        return request

    def _self_eligibility_change(self, caller: Caller, inp: RequestInput, now: datetime) -> ScheduleRequest:
        """selfExtend (an eligibility in effect that has an end) or selfRenew (one that lapsed, none in effect): kept
        for an admin as PendingAdminDecision (Settings.self_eligibility_requests says why); nothing changes until an
        admin acts (adminExtend / adminRenew). A second one while the first waits: PendingRoleAssignmentRequest."""
        if not self.settings.self_eligibility_requests:
            raise invalid_request(f"The action '{inp.action}' is not supported for group eligibility requests.")
        current = self._current("eligibility", inp.principal_id, inp.group_id, inp.access_id, now)
        if inp.action == "selfExtend":
            if not any(s.end is not None and s.in_effect(now) for s in current):
                raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        elif current or ("eligibility", _k(inp.principal_id), _k(inp.group_id), inp.access_id) not in self._lapsed:
            raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        for other in self.requests_for("eligibility", principal_id=inp.principal_id, group_id=inp.group_id):
            if other.action == inp.action and other.status == "PendingAdminDecision":
                raise GraphError(
                    400,
                    "PendingRoleAssignmentRequest",
                    "There already exists a pending Role assignment request in the system.",
                )
        if not (inp.justification or "").strip():
            raise self._fail(["JustificationRule"])
        request = self._new_request("eligibility", caller, inp, now, "PendingAdminDecision")
        if not inp.is_validation_only:
            self._store_request(request)
        return request

    def _provision(self, request: ScheduleRequest, start: datetime, eligibility: Schedule, now: datetime) -> None:
        end = start + request.requested_duration if request.requested_duration is not None else None
        if eligibility.end is not None and (end is None or end > eligibility.end):
            end = eligibility.end
        schedule = self._new_schedule("assignment", request, start, end, "activated")
        schedule.created = now
        if start <= now:
            request.status = "Provisioned"
            request.completed = now
        else:
            request.status = self.settings.scheduled_request_status  # until it starts (Settings: inferred)
            schedule.status = request.status
        self._add_schedule(schedule, now)

    def _self_deactivate(self, caller: Caller, inp: RequestInput, now: datetime) -> ScheduleRequest:
        active = [
            s
            for s in self._current("assignment", inp.principal_id, inp.group_id, inp.access_id, now)
            if s.assignment_type == "activated" and s.in_effect(now)
        ]
        if not active:
            raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        schedule = active[0]
        if now - schedule.start < MIN_ACTIVATION:
            raise GraphError(
                400, "ActiveDurationTooShort", "The Active duration is too short. Miniumum Required is 5 minutes."
            )
        request = self._new_request("assignment", caller, inp, now, "Revoked")
        request.completed = now
        request.target_schedule_id = schedule.id
        if inp.is_validation_only:
            return request
        self._end_schedule(schedule)
        self._store_request(request)
        self._audit_request(now, "Remove member from role requested (PIM deactivate)", request, schedule.start, now)
        self._audit_request(now, "Remove member from role completed (PIM deactivate)", request, schedule.start, now)
        return request

    # ------------------------------------------------------------------ PIM custom extensions (simtenant.extensions)

    def add_custom_extension(self, extension: CustomExtension) -> CustomExtension:
        self.custom_extensions[_k(extension.id)] = extension
        return extension

    def link_extension(
        self, group_id: str, access: str, extension_id: str, *, enabled: bool = True, rule_id: str = PRE_APPROVAL_RULE
    ) -> RolePolicy:
        """The policy rule naming the extension (a PATCH of …/rules/CustomExtension_PreApproval_EndUser_Assignment)."""
        policy = self.policies.get((_k(group_id), access))
        if policy is None:
            raise KeyError(f"no policy for group {group_id} / {access}")
        ext = self.custom_extensions.get(_k(extension_id))
        if ext is None:
            raise KeyError(f"no custom extension {extension_id}")
        policy.extension_rules[rule_id] = ExtensionRule(ext.id, enabled)
        policy.last_modified = self.clock.now()
        return policy

    def extension_for(self, group_id: str, access: str) -> CustomExtension | None:
        """The extension PIM calls before a selfActivate of (group, access): its enabled pre-approval rule's."""
        policy = self.policies.get((_k(group_id), access))
        rule = policy.extension_rules.get(PRE_APPROVAL_RULE) if policy is not None else None
        if rule is None or not rule.enabled:
            return None
        return self.custom_extensions.get(_k(rule.extension_id))

    def extension_in_use(self, extension_id: str) -> bool:
        return any(
            _k(rule.extension_id) == _k(extension_id)
            for policy in self.policies.values()
            for rule in policy.extension_rules.values()
        )

    def deny_by_extension(self, caller: Caller, inp: RequestInput, request_id: str) -> ScheduleRequest:
        """Setting extension_denial_style "status": the request is kept, status Denied (inferred, see extensions)."""
        now = self.tick()
        request = self._new_request("assignment", caller, inp, now, "Denied")
        request.id = request_id
        request.completed = now
        if not inp.is_validation_only:
            self._store_request(request)
            self._audit_request(now, "Add member to role requested (PIM activation)", request, None, None)
        return request

    def audit_evaluation(
        self, request: ScheduleRequest, extension: CustomExtension, outcome: str, reasons: Iterable[str], **extra: Any
    ) -> None:
        """One audit entry per evaluation; the how-to says only that evaluationId "is logged in PIM audits"."""
        now = self.tick()
        group = self.groups.get(_k(request.group_id))
        principal = self._principal(request.principal_id)
        party = None
        if isinstance(principal, User):
            party = audit.Party(principal.id, principal.display_name, "User", principal.user_principal_name)
        details: dict[str, str | None] = {
            "Role": request.access_id.capitalize(),
            "CustomExtensionId": extension.id,
            "EvaluationOutcome": outcome,
            "Reason": json.dumps(list(reasons)),
            "Justification": request.justification,
        }
        details.update({key: None if value is None else str(value) for key, value in extra.items()})
        self.audit.record_pim(
            now,
            "Custom extension evaluated (PIM activation)",
            group=audit.Party(request.group_id, group.display_name if group else None, "Group"),
            principal=party,
            access=request.access_id,
            request_id=request.id,
            initiated_by=None,  # PIM itself calls the extension
            details=details,
            operation_type="Assign",
        )

    def may_read_settings(self, caller: Caller, group_id: str) -> bool:
        """Whether a caller may read a group's PIM policy (role settings), given the RoleManagementPolicy permission.

        Microsoft's pages for these reads ("List roleManagementPolicyAssignments", "List roleManagementPolicies",
        "Get unifiedRoleManagementPolicyAssignment", learn.microsoft.com/graph/api/policyroot-list-
        rolemanagementpolicyassignments?view=graph-rest-1.0 and siblings) list, for PIM for Groups, only the scopes;
        the requirement on the signed-in user is spelled out there for Entra roles alone (Global Reader, Security
        Reader, … Privileged Role Administrator). Every other PIM-for-Groups read states it: "In delegated scenarios
        … the signed-in user must be an owner or member of the group or be assigned a supported Microsoft Entra
        role" (microsoft-graph-docs-contrib, api-reference/v1.0/includes/rbac-for-apis/rbac-pim-groups-apis-read-
        eligibilityschedules.md and the other rbac-pim-groups-apis-read-* includes), and the settings themselves are
        managed by a Privileged Role Administrator or the group's owner (Entra docs, "Configure PIM for Groups
        settings", groups-role-settings.md). Silent docs must not become a product dependency, so the sim refuses a
        delegated read by anyone else: a plain eligible user is neither owner nor member and holds no role. App
        tokens read any group's policy (application RoleManagementPolicy.Read.AzureADGroup, same pages)."""
        if caller.is_app:
            return True
        user = self.users.get(_k(caller.oid or ""))
        if user is None:
            return False
        return user.is_admin or any(self.is_member(group_id, user.id, access) for access in ACCESS_IDS)

    def may_change_settings(self, caller: Caller, group_id: str) -> bool:
        """Whether a caller may update a group's PIM policy rules, given RoleManagementPolicy.ReadWrite: app tokens,
        and delegated callers who are a Privileged Role Administrator (User.is_admin) or the group's owner
        (groups-role-settings.md, as for `may_read_settings`)."""
        return self._may_administer(caller, group_id)

    def _may_administer(self, caller: Caller, group_id: str) -> bool:
        if caller.is_app:
            return True
        user = self.users.get(_k(caller.oid or ""))
        return user is not None and (user.is_admin or self.is_member(group_id, user.id, "owner"))

    def _admin_request(self, kind: Kind, caller: Caller, inp: RequestInput, now: datetime) -> ScheduleRequest:
        if not self._may_administer(caller, inp.group_id):
            raise denied()
        if _k(inp.group_id) not in self.groups:
            raise GraphError(400, "ResourceNotFound", f"The resource '{inp.group_id}' is not found.")
        if self._principal(inp.principal_id) is None:
            raise GraphError(400, "SubjectNotFound", f"The subject '{inp.principal_id}' is not found.")
        policy = self.policy(inp.group_id, inp.access_id)
        assert policy is not None
        current = self._current(kind, inp.principal_id, inp.group_id, inp.access_id, now)
        if inp.action == "adminRemove":
            if not current:
                raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
            request = self._new_request(kind, caller, inp, now, "Revoked")
            request.completed = now
            request.target_schedule_id = current[0].id
            if not inp.is_validation_only:
                for schedule in current:
                    self._end_schedule(schedule)
                self._store_request(request)
                old = current[0]
                self._audit_request(
                    now, _admin_activity(kind, "adminRemove", old.end, "completed"), request, old.start, old.end
                )
            return request
        if kind == "eligibility":
            required, maximum, rules = (
                policy.eligibility_expiration_required,
                parse_duration(policy.eligibility_max),
                policy.admin_eligibility_enabled_rules,
            )
        else:
            required, maximum, rules = (
                policy.admin_assignment_expiration_required,
                parse_duration(policy.admin_assignment_max),
                policy.admin_assignment_enabled_rules,
            )
        if inp.action in ("adminAssign", "adminRenew"):
            if current:
                raise GraphError(400, "RoleAssignmentExists", "The Role assignment already exists.")
            if inp.action == "adminRenew" and (kind, _k(inp.principal_id), _k(inp.group_id), inp.access_id) not in (
                self._lapsed
            ):
                raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        elif inp.action in ("adminUpdate", "adminExtend"):
            if not current:
                raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        else:
            raise bad_request(f"Unsupported action '{inp.action}'.")
        start, end, failures = self._window(
            inp.schedule, now, required=required, maximum=maximum, minimum=None, keep_past_start=True
        )
        if "Justification" in rules and not (inp.justification or "").strip():
            failures.append("JustificationRule")
        if "Ticketing" in rules and not (inp.ticket.number or "").strip():
            failures.append("TicketingRule")
        if "MultiFactorAuthentication" in rules and "mfa" not in caller.amr:
            failures.append("MfaRule")
        if failures:
            raise self._fail(failures)
        if inp.action == "adminExtend":
            old_end = current[0].end
            if old_end is None or (end is not None and end <= old_end):
                raise invalid_request("An extension must end later than the current schedule.")
        request = self._new_request(kind, caller, inp, now, "Provisioned")
        request.completed = now
        if inp.is_validation_only:
            request.status = "Granted"
            request.completed = None
            return request
        if inp.action in ("adminUpdate", "adminExtend"):
            target = current[0]
            new_start = target.start if inp.action == "adminExtend" else start
            self._reschedule(target, new_start, end, now)
            request.target_schedule_id = target.id
        else:
            schedule = self._new_schedule(kind, request, start, end, "assigned" if kind == "assignment" else None)
            if kind == "assignment" and start > now:
                request.status = "Granted"
                request.completed = None
            self._add_schedule(schedule, now)
        self._store_request(request)
        if inp.action == "adminAssign":
            self._audit_request(now, _admin_activity(kind, inp.action, end, "requested"), request, start, end)
        self._audit_request(now, _admin_activity(kind, inp.action, end, "completed"), request, start, end)
        return request

    def cancel_request(self, kind: Kind, caller: Caller, request_id: str) -> None:
        now = self.tick()
        request = self.requests[kind].get(_k(request_id))
        if request is None:
            raise not_found("request", request_id)
        if not caller.is_app and not (
            request.created_by.kind == "user" and _k(request.created_by.id) == _k(caller.oid or "")
        ):
            raise denied("Only the requester can cancel this request.")
        # Learn (privilegedaccessgroupassignmentschedulerequest-cancel) gives no cancelable statuses; the Entra-roles
        # analog cancels a request "in a Granted status" (unifiedroleassignmentschedulerequest-cancel) and the portal
        # cancels pending ones: a scheduled activation (Granted or ScheduleCreated, Settings) and PendingApproval.
        if request.status not in ("PendingApproval", "Granted", "ScheduleCreated"):
            raise invalid_request(f"The request cannot be canceled in its current status '{request.status}'.")
        request.status = "Canceled"
        request.completed = now
        if kind == "assignment" and request.action == "selfActivate":
            self._audit_request(now, "Add member to role canceled (PIM activation)", request, None, None)
        self._pending.pop((_k(request.principal_id), _k(request.group_id), request.access_id), None)
        approval = self.approvals.get(_k(request.id))
        if approval is not None:
            for stage in approval.stages:
                if stage.status == "InProgress":
                    stage.status = "Completed"
        if request.target_schedule_id:
            schedule = self.schedules[kind].get(_k(request.target_schedule_id))
            if schedule is not None and schedule.start > now:
                self._end_schedule(schedule)

    # ------------------------------------------------------------------ behaviour: approvals

    def decide(self, caller: Caller, approval_id: str, stage_id: str, review_result: str, justification: str) -> None:
        """PATCH …/assignmentApprovals/{id}/stages/{stageId}."""
        now = self.tick()
        if caller.is_app:
            raise app_only_refused("Reviewing an approval")
        approval = self.approvals.get(_k(approval_id))
        if approval is None:
            raise not_found("approval", approval_id)
        stage = next((s for s in approval.stages if _k(s.id) == _k(stage_id)), None)
        if stage is None:
            raise not_found("approval stage", stage_id)
        if not self.is_approver(approval, stage, caller.oid):
            raise denied("The signed-in user is not an approver of this request.")
        if stage.status != "InProgress":
            raise GraphError(409, "Conflict", "The approval stage has already been completed.")
        result = {"approve": "Approved", "deny": "Denied"}.get(review_result.strip().lower())
        if result is None:
            raise bad_request(f"Invalid reviewResult '{review_result}'; expected 'Approve' or 'Deny'.")
        if stage.justification_required and not justification.strip():
            raise self._fail(["JustificationRule"])
        user = self.users.get(_k(caller.oid or ""))
        stage.status = "Completed"
        stage.review_result = result
        stage.reviewed_by = Identity("user", caller.oid or "", user.display_name if user else None)
        stage.reviewed = now
        stage.justification = justification
        request = self.requests["assignment"][_k(approval.id)]
        self._pending.pop((_k(request.principal_id), _k(request.group_id), request.access_id), None)
        request.completed = now
        approver = Identity("user", caller.oid or "", user.display_name if user else None)
        if result == "Denied":
            request.status = "Denied"
            self._audit_request(
                now, "Add member to role request denied (PIM activation)", request, None, None, approver
            )
            return
        self._audit_request(now, "Add member to role request approved (PIM activation)", request, None, None, approver)
        eligibility = self._eligibility_in_effect(request.principal_id, request.group_id, request.access_id, now)
        if eligibility is None or self._current(
            "assignment", request.principal_id, request.group_id, request.access_id, now
        ):
            request.status = "Failed"
            return
        requested_start = request.schedule_info.start if request.schedule_info else None
        start = max(now, requested_start) if requested_start else now
        if request.schedule_info is not None:
            request.schedule_info.start = start
        self._provision(request, start, eligibility, now)
        target = self.schedules["assignment"].get(_k(request.target_schedule_id or ""))
        self._audit_request(
            now, "Add member to role completed (PIM activation)", request, start, target.end if target else None
        )

    def _expire_approval(self, request_id: str, when: datetime) -> None:
        request = self.requests["assignment"].get(request_id)
        approval = self.approvals.get(request_id)
        if request is None or approval is None or request.status != "PendingApproval":
            return
        request.status = self.settings.expired_approval_status
        request.completed = when
        for stage in approval.stages:
            if stage.status == "InProgress":
                stage.status = "Expired"
        self._audit_request(when, "PIM activation request expired", request, None, None, None)
        self._pending.pop((_k(request.principal_id), _k(request.group_id), request.access_id), None)

    # ------------------------------------------------------------------ audit log (simtenant.audit)

    def add_activation_history(
        self,
        group_id: str,
        principal_id: str,
        access: str = "member",
        *,
        start: datetime,
        end: datetime,
        approver_id: str | None = None,
        justification: str | None = "Seeded activation",
    ) -> None:
        """Audit entries of an activation that began and expired in the past (a seeded history; no state)."""
        if end > self.clock.now() or end <= start:
            raise ValueError("a past activation needs start < end <= now")
        self._group(group_id)
        request = ScheduleRequest(
            kind="assignment",
            id=_new_id(),
            action="selfActivate",
            principal_id=principal_id,
            group_id=group_id,
            access_id=access,
            status="Provisioned",
            created=start,
            created_by=Identity("user", principal_id),
            schedule_info=ScheduleInfo(start, "afterDateTime", end, None),
            justification=justification,
        )
        self._audit_request(start, "Add member to role requested (PIM activation)", request, start, end)
        if approver_id is not None:
            self._audit_request(start, "Add member to role approval requested (PIM activation)", request, start, end)
            self._audit_request(
                start,
                "Add member to role request approved (PIM activation)",
                request,
                start,
                end,
                Identity("user", approver_id),
            )
        self._audit_request(start, "Add member to role completed (PIM activation)", request, start, end)
        self._audit_request(end, "Remove member from role (PIM activation expired)", request, start, end, None)

    def _audit_schedule(self, when: datetime, activity: str, schedule: Schedule, by: Identity | None) -> None:
        request = self.requests[schedule.kind].get(_k(schedule.created_using))
        self._audit(
            when,
            activity,
            schedule.group_id,
            schedule.principal_id,
            schedule.access_id,
            by,
            request_id=schedule.created_using,
            start=schedule.start,
            end=schedule.end,
            justification=request.justification if request else None,
        )

    _SAME_AS_REQUEST = Identity("user", "")

    def _audit_request(
        self,
        when: datetime,
        activity: str,
        request: ScheduleRequest,
        start: datetime | None,
        end: datetime | None,
        by: Identity | None = _SAME_AS_REQUEST,
    ) -> None:
        """`by`: who initiated it (default: the request's creator; None: PIM itself)."""
        self._audit(
            when,
            activity,
            request.group_id,
            request.principal_id,
            request.access_id,
            request.created_by if by is Tenant._SAME_AS_REQUEST else by,
            request_id=request.id,
            start=start,
            end=end,
            justification=request.justification,
        )

    def _audit(
        self,
        when: datetime,
        activity: str,
        group_id: str,
        principal_id: str,
        access: str,
        by: Identity | None,
        *,
        request_id: str,
        start: datetime | None,
        end: datetime | None,
        justification: str | None,
    ) -> None:
        group = self.groups.get(_k(group_id))
        principal = self._principal(principal_id)
        party: audit.Party | None = None
        if isinstance(principal, User):
            party = audit.Party(principal.id, principal.display_name, "User", principal.user_principal_name)
        elif principal is not None:
            party = audit.Party(principal.id, principal.display_name, "Group")
        initiator: dict[str, Any] | None = None  # None: PIM itself, as the entry's shape writes it
        if by is not None and by.kind == "user":
            user = self.users.get(_k(by.id))
            initiator = audit.user_initiator(
                by.id, user.display_name if user else by.display_name, user.user_principal_name if user else None
            )
        elif by is not None:
            app = self.apps.get(_k(by.id))
            initiator = audit.app_initiator(by.id, app.display_name if app else by.display_name)
        removal = activity.startswith("Remove") or "expired" in activity or "canceled" in activity
        self.audit.record_pim(
            when,
            activity,
            group=audit.Party(group_id, group.display_name if group else None, "Group"),
            principal=party,
            access=access,
            request_id=request_id,
            initiated_by=initiator,
            details={
                "Role": access.capitalize(),
                "StartTime": format_instant(start) if start else None,
                "ExpirationTime": format_instant(end) if end else None,
                "Justification": justification,
            },
            operation_type="Unassign" if removal else "Assign",
        )

    # ------------------------------------------------------------------ misc

    def iter_users(self) -> Iterator[User]:
        return iter(list(self.users.values()))

    def iter_groups(self) -> Iterator[Group]:
        return iter(list(self.groups.values()))
