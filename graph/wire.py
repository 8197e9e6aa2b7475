"""Graph's vocabulary for PIM for Groups, and the only module that knows it: paths, `$filter` expressions, JSON field
names, enum spellings, ISO-8601 durations. Everything here is a pure function from Graph JSON to core types or back.

Graph is inconsistent about enum casing (`Direct`/`direct`, `SelfActivate`/`selfActivate`): every comparison is
case-insensitive, and what we send is the camelCase the CSDL declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from core.audit import AuditKind, PimAuditEntry, ScheduleRequestRow
from core.ending import EligibilityChange
from core.feed import (
    EventKind,
    FeedEvent,
    LoggedDecision,
    RequestRecord,
    ScheduleItem,
    ScheduleKind,
    approval_event_id,
)
from core.models import (
    Access,
    ActivationPolicy,
    ActiveAssignment,
    Approval,
    ApprovalStage,
    ApproverRef,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    RequestStatus,
    ReviewResult,
    StageStatus,
    Ticket,
)
from core.ports import ActivationInput

__all__ = [
    "ASSIGNMENT_REQUESTS",
    "SELF_ACTIVATE",
    "SELF_DEACTIVATE",
    "Query",
    "activation_body",
    "approval_path",
    "cancel_path",
    "group_members_query",
    "group_query",
    "group_requests_query",
    "group_state_query",
    "groups_named_query",
    "parse_audit_time",
    "is_pim_for_groups",
    "parse_pim_audit_entry",
    "parse_pim_decision",
    "parse_schedule_request_row",
    "audit_range_query",
    "user_requests_query",
    "group_all_requests_query",
    "parse_pim_group_audit",
    "pim_audit_query",
    "PIM_SERVICES",
    "parse_request_record",
    "parse_schedule_item",
    "group_pending_query",
    "member_ids",
    "member_user_ids",
    "parse_approval",
    "parse_stage",
    "request_path",
    "review_body",
    "stage_path",
    "active_instances_query",
    "deactivation_body",
    "directory_object_query",
    "directory_objects_by_ids",
    "GET_BY_IDS",
    "MAX_GET_BY_IDS",
    "user_principal_name_query",
    "eligibility_requests_query",
    "eligibility_schedules_query",
    "format_datetime",
    "format_duration",
    "group_of",
    "is_action",
    "parse_access",
    "parse_active",
    "parse_datetime",
    "parse_display_name",
    "parse_display_names",
    "parse_user_principal_name",
    "parse_duration",
    "parse_eligibility",
    "parse_policy",
    "parse_request",
    "parse_status",
    "pending_requests_query",
    "policy_query",
    "requests_for_group_query",
    "CalloutError",
    "parse_callout",
    "ASSIGNMENT_SCHEDULES",
    "activated_schedules_query",
    "requests_in_status_query",
    "SCHEDULED_REQUEST_STATUSES",
    "check_member_groups_path",
    "group_owners_query",
    "parse_member_groups",
    "parse_scheduled",
]

Query = tuple[str, dict[str, str]]  # (path relative to the version root, OData query parameters)

PIM_GROUP = "/identityGovernance/privilegedAccess/group"
ASSIGNMENT_REQUESTS = f"{PIM_GROUP}/assignmentScheduleRequests"
ASSIGNMENT_INSTANCES = f"{PIM_GROUP}/assignmentScheduleInstances"
ASSIGNMENT_SCHEDULES = f"{PIM_GROUP}/assignmentSchedules"
ELIGIBILITY_SCHEDULES = f"{PIM_GROUP}/eligibilitySchedules"
ELIGIBILITY_REQUESTS = f"{PIM_GROUP}/eligibilityScheduleRequests"
POLICY_ASSIGNMENTS = "/policies/roleManagementPolicyAssignments"
ASSIGNMENT_APPROVALS = f"{PIM_GROUP}/assignmentApprovals"

SELF_ACTIVATE = "selfActivate"
SELF_DEACTIVATE = "selfDeactivate"
# The user's own ask to extend or renew an eligibility (scheduleRequestActions; issue 14 point 4, graph.pim).
ELIGIBILITY_CHANGE_ACTIONS = {EligibilityChange.EXTEND: "selfExtend", EligibilityChange.RENEW: "selfRenew"}
_ELIGIBILITY_GRANTING_ACTIONS = frozenset({"adminassign", "adminupdate", "adminextend", "adminrenew"})
_ELIGIBILITY_REMOVING_ACTIONS = frozenset({"adminremove"})
_EXPAND_GROUP = "group($select=id,displayName)"

# -- queries --


def _literal(value: str) -> str:
    """An OData string literal: quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def eligibility_schedules_query(principal_id: str) -> Query:
    return ELIGIBILITY_SCHEDULES, {"$filter": f"principalId eq {_literal(principal_id)}", "$expand": _EXPAND_GROUP}


def active_instances_query(principal_id: str) -> Query:
    return ASSIGNMENT_INSTANCES, {"$filter": f"principalId eq {_literal(principal_id)}", "$expand": _EXPAND_GROUP}


def pending_requests_query(principal_id: str) -> Query:
    return ASSIGNMENT_REQUESTS, {"$filter": f"principalId eq {_literal(principal_id)} and status eq 'PendingApproval'"}


def activated_schedules_query(principal_id: str) -> Query:
    """A user's activation schedules, those not started yet included: Graph's instances are "in effect now", its
    schedules also hold a scheduled activation before it starts (privilegedAccessGroupAssignmentSchedule: "the
    schedule of membership or ownership assignments"; assignmentType and principalId support $filter eq)."""
    return ASSIGNMENT_SCHEDULES, {
        "$filter": f"principalId eq {_literal(principal_id)} and assignmentType eq 'activated'",
        "$expand": _EXPAND_GROUP,
    }


# The statuses Graph lists for a request that is neither waiting nor started (learn.microsoft.com/graph/api/resources/
# request: "Granted", "ScheduleCreated", …); which one a request taken for a later start shows is not documented.
SCHEDULED_REQUEST_STATUSES = ("Granted", "ScheduleCreated")


def requests_in_status_query(principal_id: str, status: str) -> Query:
    """A user's assignment requests in one status (principalId and status support $filter eq), with their group."""
    return ASSIGNMENT_REQUESTS, {
        "$filter": f"principalId eq {_literal(principal_id)} and status eq {_literal(status)}",
        "$expand": _EXPAND_GROUP,
    }


def check_member_groups_path(user_id: str) -> str:
    """POST /users/{id}/checkMemberGroups (learn.microsoft.com/graph/api/directoryobject-checkmembergroups): which of
    up to 20 group ids the user is a member of (transitively), in one call whatever the group's size; application
    permission GroupMember.Read.All with User.ReadBasic.All (User.Read.All includes it)."""
    return f"/users/{_segment(user_id)}/checkMemberGroups"


def group_owners_query(group_id: str) -> Query:
    """A group's owners (ids only; learn.microsoft.com/graph/api/group-list-owners). checkMemberGroups does not see
    ownership, and a group has at most 100 owners: one page."""
    return f"/groups/{_segment(group_id)}/owners", {"$select": "id"}


def requests_for_group_query(principal_id: str, group_id: str) -> Query:
    """A user's assignment requests in one group (createdDateTime is not filterable: callers filter locally)."""
    return ASSIGNMENT_REQUESTS, {
        "$filter": f"principalId eq {_literal(principal_id)} and groupId eq {_literal(group_id)}"
    }


def eligibility_requests_query(principal_id: str) -> Query:
    return ELIGIBILITY_REQUESTS, {"$filter": f"principalId eq {_literal(principal_id)}", "$expand": _EXPAND_GROUP}


def policy_query(group_id: str, access: Access) -> Query:
    return POLICY_ASSIGNMENTS, {
        "$filter": (
            f"scopeId eq {_literal(group_id)} and scopeType eq 'Group' and roleDefinitionId eq {_literal(access.value)}"
        ),
        "$expand": "policy($expand=rules)",
    }


AUTHENTICATION_CONTEXTS = "/identity/conditionalAccess/authenticationContextClassReferences"
# Ids are c1…c25 (Graph v1.0 authenticationContextClassReference; the sign-in log's authContext allows up to c99).
_CONTEXT_ID = re.compile(r"c[0-9]{1,2}\Z")


def authentication_context_path(context_id: str) -> str | None:
    """GET path of an authentication context, or None for a value that is no context id (never put in a path)."""
    return f"{AUTHENTICATION_CONTEXTS}/{context_id}" if _CONTEXT_ID.match(context_id) else None


def parse_authentication_context_name(item: Mapping[str, Any]) -> str | None:
    """The display name of an authenticationContextClassReference, if it has one."""
    name = _opt_str(item.get("displayName"))
    return name.strip() or None if name else None


def _segment(value: str) -> str:
    """An id as one path segment: request ids may come from card data, so nothing in them can change the path."""
    return quote(value, safe="")


def request_path(request_id: str) -> str:
    return f"{ASSIGNMENT_REQUESTS}/{_segment(request_id)}"


def cancel_path(request_id: str) -> str:
    return f"{request_path(request_id)}/cancel"


def approval_path(request_id: str) -> str:
    """In PIM for Groups the approval id is the request id."""
    return f"{ASSIGNMENT_APPROVALS}/{_segment(request_id)}"


def stage_path(request_id: str, stage_id: str) -> str:
    # v1.0 names them stages (beta: steps; one v1.0 docs page still shows /steps/).
    return f"{approval_path(request_id)}/stages/{_segment(stage_id)}"


def group_pending_query(group_id: str) -> Query:
    return ASSIGNMENT_REQUESTS, {"$filter": f"groupId eq {_literal(group_id)} and status eq 'PendingApproval'"}


def group_members_query(group_id: str) -> Query:
    """Direct members of a group (ids only): PIM expands a groupMembers approver to them."""
    return f"/groups/{_segment(group_id)}/members", {"$select": "id"}


def directory_object_query(object_id: str) -> Query:
    return f"/directoryObjects/{object_id}", {"$select": "id,displayName"}


# POST /directoryObjects/getByIds (learn.microsoft.com/graph/api/directoryobject-getbyids): up to 1000 ids a call;
# ids that match nothing are left out of the answer.
GET_BY_IDS = "/directoryObjects/getByIds"
MAX_GET_BY_IDS = 1000


def directory_objects_by_ids(object_ids: Sequence[str]) -> dict[str, list[str]]:
    """The body of getByIds for the users and groups among `object_ids` (approvers, principals)."""
    return {"ids": list(object_ids), "types": ["user", "group"]}


def user_principal_name_query(user_id: str) -> Query:
    return f"/users/{_segment(user_id)}", {"$select": "id,userPrincipalName"}


# -- scalars --


def parse_datetime(value: Any) -> datetime | None:
    """A Graph DateTimeOffset (`2023-02-07T07:05:55.3404527Z`) as aware UTC; None for null/garbage.
    `0001-01-01…` (Graph's "unset") is None too."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # Python 3.11 reads Graph's own form as it comes ('Z', seven fraction digits cut to six), ten times faster
        # than after rewriting it; anything else it refuses goes the lenient way.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        lenient = _lenient_datetime(value)
        if lenient is None:
            return None
        parsed = lenient
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def _lenient_datetime(value: str) -> datetime | None:
    """`value` with blanks around it, a lower-case `z`, or more fraction digits than `fromisoformat` takes."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text))
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware UTC")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(value: str) -> timedelta:
    """ISO-8601 duration → timedelta: `PT8H`, `PT1H45M`, `P1D`, `P1DT2H`, `PT90S`, `P2W`.
    Years and months have no fixed length; they count as 365 and 30 days (policies use `P365D`/`P180D` anyway)."""
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match is None or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if k != "sign" and v is not None}
    result = timedelta(
        days=parts.get("years", 0) * 365
        + parts.get("months", 0) * 30
        + parts.get("weeks", 0) * 7
        + parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    return -result if match.group("sign") else result


def format_duration(value: timedelta) -> str:
    """timedelta → ISO-8601: `PT8H`, `PT1H45M`, `P1D`, `P1DT2H30M`, `PT0S`."""
    if value < timedelta(0):
        raise ValueError("negative duration")
    total_us = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    days, rest_us = divmod(total_us, 86_400_000_000)
    hours, rest_us = divmod(rest_us, 3_600_000_000)
    minutes, rest_us = divmod(rest_us, 60_000_000)
    seconds, micros = divmod(rest_us, 1_000_000)
    date_part = f"{days}D" if days else ""
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if seconds or micros:
        time_part += f"{seconds}.{micros:06d}".rstrip("0") + "S" if micros else f"{seconds}S"
    if not date_part and not time_part:
        return "PT0S"
    return "P" + date_part + ("T" + time_part if time_part else "")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _fold(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else ""


# By the case-folded text Graph sends: a dict lookup instead of a walk over the enum (a few µs per answer).
_ACCESS = {access.value: access for access in Access}
_STATUSES = {status.value.casefold(): status for status in RequestStatus if status is not RequestStatus.OTHER}


def parse_access(value: Any) -> Access | None:
    return _ACCESS.get(_fold(value))


def parse_status(value: Any) -> RequestStatus:
    return _STATUSES.get(_fold(value), RequestStatus.OTHER)


def is_action(value: Any, action: str) -> bool:
    return _fold(value) == action.casefold()


# -- resources --


def group_of(item: Mapping[str, Any]) -> Group | None:
    """The group of a schedule/instance/request, named if `$expand=group` brought its displayName."""
    group_id = _opt_str(item.get("groupId"))
    expanded = _obj(item.get("group"))
    group_id = group_id or _opt_str(expanded.get("id"))
    if group_id is None:
        return None
    return Group(id=group_id, display_name=_str(expanded.get("displayName")))


def _schedule_window(schedule_info: Any) -> tuple[datetime | None, timedelta | None, datetime | None]:
    """(start, duration, end) of a requestSchedule; end computed from the duration when only that is given."""
    info = _obj(schedule_info)
    start = parse_datetime(info.get("startDateTime"))
    expiration = _obj(info.get("expiration"))
    kind = _fold(expiration.get("type"))
    duration: timedelta | None = None
    raw_duration = expiration.get("duration")
    if isinstance(raw_duration, str) and raw_duration:
        try:
            duration = parse_duration(raw_duration)
        except ValueError:
            duration = None
    end = parse_datetime(expiration.get("endDateTime"))
    if kind == "noexpiration":
        return start, None, None
    if end is None and duration is not None and start is not None:
        end = start + duration
    return start, duration, end


def parse_eligibility(item: Mapping[str, Any]) -> Eligibility | None:
    """An eligibility schedule (`scheduleInfo`) or eligibility schedule instance (`startDateTime`/`endDateTime`).
    memberType `group` means inherited through membership of another group."""
    group = group_of(item)
    access = parse_access(item.get("accessId"))
    if group is None or access is None:
        return None
    if "scheduleInfo" in item:
        start, _, end = _schedule_window(item.get("scheduleInfo"))
    else:
        start, end = parse_datetime(item.get("startDateTime")), parse_datetime(item.get("endDateTime"))
    return Eligibility(
        group=group, access=access, start=start, end=end, inherited=_fold(item.get("memberType")) == "group"
    )


def parse_active(item: Mapping[str, Any]) -> ActiveAssignment | None:
    """An assignment schedule instance: assignmentType `activated` = a JIT activation, `assigned` = admin-assigned."""
    group = group_of(item)
    access = parse_access(item.get("accessId"))
    if group is None or access is None:
        return None
    if "scheduleInfo" in item and "startDateTime" not in item:
        start, _, end = _schedule_window(item.get("scheduleInfo"))
    else:
        start, end = parse_datetime(item.get("startDateTime")), parse_datetime(item.get("endDateTime"))
    return ActiveAssignment(
        group=group, access=access, start=start, end=end, activated=_fold(item.get("assignmentType")) == "activated"
    )


def parse_request(item: Mapping[str, Any]) -> PimRequest:
    """An assignment (or eligibility) schedule request. Unknown statuses become OTHER; `raw_status` keeps the text."""
    start, duration, end = _schedule_window(item.get("scheduleInfo"))
    ticket_info = _obj(item.get("ticketInfo"))
    ticket_number = _opt_str(ticket_info.get("ticketNumber"))
    group = group_of(item)
    raw_status = _str(item.get("status"))
    return PimRequest(
        id=_str(item.get("id")),
        status=parse_status(raw_status),
        action=_str(item.get("action")),
        group_id=group.id if group else "",
        access=parse_access(item.get("accessId")) or Access.MEMBER,
        principal_id=_str(item.get("principalId")),
        created=parse_datetime(item.get("createdDateTime")),
        start=start,
        duration=duration,
        end=end,
        justification=_opt_str(item.get("justification")),
        ticket=Ticket(ticket_number, _opt_str(ticket_info.get("ticketSystem"))) if ticket_number else None,
        raw_status=raw_status,
    )


class CalloutError(ValueError):
    """A PIM custom extension's request body that is not a usable activation request (the message says what)."""


_GUIDISH = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")


def parse_callout(body: Any) -> PimRequest:
    """The activation request a PIM custom extension receives: the raw `privilegedAccessGroupAssignmentScheduleRequest`
    at the top level of the JSON body ("In the request model for PIM for groups, PIM sends a
    privilegedAccessGroupAssignmentScheduleRequest object", learn.microsoft.com/entra/id-governance/
    privileged-identity-management/privileged-identity-management-custom-extensions, "Request model"). The doc
    shows no filled-in example; nothing but `id`, `principalId`, `groupId` and `accessId` is required here, and an
    envelope (`{"data": {...}}`, entitlement management's shape) is refused rather than guessed at. Raises
    CalloutError naming the first field that is missing or of the wrong type."""
    if not isinstance(body, Mapping):
        raise CalloutError("the body must be a JSON object: the privilegedAccessGroupAssignmentScheduleRequest")
    for name in ("id", "principalId", "groupId"):
        value = body.get(name)
        if not isinstance(value, str) or not _GUIDISH.match(value):
            raise CalloutError(f"'{name}' must be the request's {name} (a non-empty id), got {value!r}"[:300])
    if parse_access(body.get("accessId")) is None:
        raise CalloutError(f"'accessId' must be 'member' or 'owner', got {body.get('accessId')!r}"[:300])
    for name in ("scheduleInfo", "ticketInfo"):
        if body.get(name) is not None and not isinstance(body.get(name), Mapping):
            raise CalloutError(f"'{name}' must be an object when present")
    for name in ("justification", "action", "status"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise CalloutError(f"'{name}' must be a string when present")
    return parse_request(body)


def parse_scheduled(item: Mapping[str, Any]) -> tuple[PimRequest, Group] | None:
    """An activation's assignment schedule as the request that made it (`createdUsing`, which `cancel` takes), with
    the schedule's status and window; and its group, named when `$expand=group` brought the name."""
    group = group_of(item)
    access = parse_access(item.get("accessId"))
    request_id = _opt_str(item.get("createdUsing"))
    if group is None or access is None or request_id is None:
        return None
    start, duration, end = _schedule_window(item.get("scheduleInfo"))
    raw_status = _str(item.get("status"))
    request = PimRequest(
        id=request_id,
        status=parse_status(raw_status),
        action=SELF_ACTIVATE,
        group_id=group.id,
        access=access,
        principal_id=_str(item.get("principalId")),
        created=parse_datetime(item.get("createdDateTime")),
        start=start,
        duration=duration if duration is not None else (end - start if end and start else None),
        end=end,
        raw_status=raw_status,
    )
    return request, group


def parse_member_groups(page: Mapping[str, Any]) -> list[str]:
    """The group ids of a checkMemberGroups answer (`{"value": [ids]}`)."""
    value = page.get("value")
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def eligibility_changes(items: Iterable[Mapping[str, Any]]) -> list[tuple[Eligibility, PimRequest]]:
    """Eligibility windows granted or removed by admin eligibility requests, oldest first: for each request that was
    carried out, the eligibility it describes (a removal ends at its creation time, start unknown)."""
    changes: list[tuple[Eligibility, PimRequest]] = []
    for item in items:
        request = parse_request(item)
        group = group_of(item)
        access = parse_access(item.get("accessId"))
        action = _fold(item.get("action"))
        if group is None or access is None or not request.status.is_active_grant:
            continue
        if action in _ELIGIBILITY_GRANTING_ACTIONS:
            eligibility = Eligibility(group=group, access=access, start=request.start, end=request.end)
        elif action in _ELIGIBILITY_REMOVING_ACTIONS:
            eligibility = Eligibility(group=group, access=access, start=None, end=request.created or request.start)
        else:
            continue
        changes.append((eligibility, request))
    epoch = datetime.min.replace(tzinfo=UTC)
    changes.sort(key=lambda change: change[1].created or change[1].start or epoch)
    return changes


def is_removal(request: PimRequest) -> bool:
    return _fold(request.action) in _ELIGIBILITY_REMOVING_ACTIONS


def parse_display_name(item: Mapping[str, Any]) -> tuple[str, str] | None:
    object_id, name = _opt_str(item.get("id")), _opt_str(item.get("displayName"))
    return (object_id, name) if object_id and name else None


def parse_display_names(page: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A getByIds answer: the names it gives, and the ids it returned without one (an object of a type the app may
    not read comes back as its id and @odata.type only, every other property null)."""
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for item in page.get("value") or ():
        if not isinstance(item, Mapping):
            continue
        pair = parse_display_name(item)
        if pair is not None:
            named[pair[0]] = pair[1]
        elif object_id := _opt_str(item.get("id")):
            unnamed.append(object_id)
    return named, unnamed


def parse_user_principal_name(item: Mapping[str, Any]) -> str | None:
    return _opt_str(item.get("userPrincipalName")) or None


# -- policies --


def parse_policy(page: Mapping[str, Any], group_id: str, access: Access) -> ActivationPolicy | None:
    """The end-user activation rules from `roleManagementPolicyAssignments?…&$expand=policy($expand=rules)`;
    None when the page holds no assignment for this group and role."""
    for assignment in page.get("value") or ():
        if not isinstance(assignment, Mapping):
            continue
        if _fold(assignment.get("scopeId")) not in ("", group_id.casefold()):
            continue
        if parse_access(assignment.get("roleDefinitionId")) not in (None, access):
            continue
        policy = _obj(assignment.get("policy"))
        rules = policy.get("rules")
        if isinstance(rules, list):
            return policy_from_rules(rules, group_id, access)
    return None


def policy_from_rules(rules: Iterable[Any], group_id: str, access: Access) -> ActivationPolicy:
    by_id = {_fold(rule.get("id")): rule for rule in rules if isinstance(rule, Mapping)}
    defaults = ActivationPolicy(group_id=group_id, access=access)

    expiration = _obj(by_id.get("expiration_enduser_assignment"))
    maximum = defaults.maximum_duration
    if isinstance(expiration.get("maximumDuration"), str):
        try:
            maximum = parse_duration(expiration["maximumDuration"])
        except ValueError:
            maximum = defaults.maximum_duration
    expiration_required = expiration.get("isExpirationRequired")

    enablement = _obj(by_id.get("enablement_enduser_assignment"))
    enabled = {_fold(name) for name in enablement.get("enabledRules") or () if isinstance(name, str)}

    setting = _obj(_obj(by_id.get("approval_enduser_assignment")).get("setting"))
    stages = [stage for stage in setting.get("approvalStages") or () if isinstance(stage, Mapping)]
    first_stage = stages[0] if stages else {}
    approvers = tuple(
        ref for ref in (_approver(subject) for subject in first_stage.get("primaryApprovers") or ()) if ref is not None
    )

    approval_required = setting.get("isApprovalRequired") is True
    # The requestor-justification flag of the approval setting applies to requests that go to approval; on its own
    # it demands nothing (the documented default policy has it set with approval off).
    requestor_justification = setting.get("isRequestorJustificationRequired") is True

    context_rule = _obj(by_id.get("authenticationcontext_enduser_assignment"))
    context = _opt_str(context_rule.get("claimValue")) if context_rule.get("isEnabled") is True else None

    return ActivationPolicy(
        group_id=group_id,
        access=access,
        maximum_duration=maximum,
        expiration_required=expiration_required if isinstance(expiration_required, bool) else True,
        justification_required="justification" in enabled or (approval_required and requestor_justification),
        ticket_required="ticketing" in enabled,
        mfa_required="multifactorauthentication" in enabled,
        authentication_context=context,
        approval_required=approval_required,
        approvers=approvers,
        approver_justification_required=first_stage.get("isApproverJustificationRequired") is True,
    )


def _approver(subject: Any) -> ApproverRef | None:
    subject = _obj(subject)
    kind = _fold(subject.get("@odata.type")).rsplit(".", 1)[-1]
    description = _opt_str(subject.get("description"))
    if kind == "singleuser" and _opt_str(subject.get("userId")):
        return ApproverRef(id=subject["userId"], is_group=False, description=description)
    if kind == "groupmembers" and _opt_str(subject.get("groupId")):
        return ApproverRef(id=subject["groupId"], is_group=True, description=description)
    return None  # requestorManager, sponsors: not something the bot can route a card to


def member_user_ids(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user ids among group members (nested groups, devices and service principals approve nothing).
    A member without `@odata.type` counts as a user: `$select=id` may leave it out."""
    ids: list[str] = []
    for item in items:
        kind = _fold(item.get("@odata.type")).rsplit(".", 1)[-1]
        member_id = _opt_str(item.get("id"))
        if member_id and kind in ("", "user"):
            ids.append(member_id)
    return ids


def member_ids(items: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(user ids, group ids) among group members; devices, service principals and other kinds are left out.
    Graph annotates each member of the directoryObject collection with its `@odata.type`, `$select=id` or not."""
    rows = list(items)
    groups: list[str] = []
    for item in rows:
        member_id = _opt_str(item.get("id"))
        if member_id and _fold(item.get("@odata.type")).rsplit(".", 1)[-1] == "group":
            groups.append(member_id)
    return member_user_ids(rows), groups


# -- approvals --

_STAGE_STATUS = {s.value.casefold(): s for s in StageStatus if s is not StageStatus.OTHER}
_REVIEW_RESULT = {r.value.casefold(): r for r in ReviewResult}
_NOBODY = "00000000-0000-0000-0000-000000000000"  # learn: reviewedBy may carry an all-zero id before a review


def parse_stage(item: Mapping[str, Any]) -> ApprovalStage:
    reviewed_by = _obj(item.get("reviewedBy"))
    # identity ("id", "displayName"), or identitySet ("user": identity) as some answers carry it.
    if "user" in reviewed_by and "id" not in reviewed_by:
        reviewed_by = _obj(reviewed_by.get("user"))
    reviewer = _opt_str(reviewed_by.get("id"))
    if reviewer == _NOBODY:
        reviewer = None
    return ApprovalStage(
        id=_str(item.get("id")),
        status=_STAGE_STATUS.get(_fold(item.get("status")), StageStatus.OTHER),
        assigned_to_me=_opt_bool(item.get("assignedToMe")),
        review_result=_REVIEW_RESULT.get(_fold(item.get("reviewResult")), ReviewResult.NOT_REVIEWED),
        reviewed_by=reviewer,
        reviewed_by_name=_str(reviewed_by.get("displayName")) if reviewer else "",
        reviewed_at=parse_datetime(item.get("reviewedDateTime")),
        justification=_str(item.get("justification")),
    )


def parse_approval(item: Mapping[str, Any]) -> Approval:
    """An `approval` (v1.0 `stages`; beta `steps`)."""
    stages = item.get("stages")
    if not isinstance(stages, list):
        stages = item.get("steps")
    return Approval(
        request_id=_str(item.get("id")),
        stages=tuple(parse_stage(stage) for stage in stages or () if isinstance(stage, Mapping)),
    )


def review_body(decision: Decision, justification: str | None) -> dict[str, Any]:
    return {
        "reviewResult": "Approve" if decision is Decision.APPROVE else "Deny",
        "justification": justification or "",
    }


# -- request bodies --


def activation_body(request: ActivationInput) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accessId": request.access.value,
        "principalId": request.principal_id,
        "groupId": request.group_id,
        "action": SELF_ACTIVATE,
        "scheduleInfo": {
            "startDateTime": format_datetime(request.start),
            "expiration": {"type": "afterDuration", "duration": format_duration(request.duration)},
        },
    }
    if request.justification:
        body["justification"] = request.justification
    if request.ticket is not None:
        body["ticketInfo"] = {"ticketNumber": request.ticket.number, "ticketSystem": request.ticket.system}
    return body


def eligibility_change_body(
    change: EligibilityChange, eligibility: Eligibility, principal_id: str, justification: str, now: datetime
) -> dict[str, Any]:
    """selfExtend / selfRenew of an eligibility. The span asked for is the one the eligibility had (from its start,
    or from now when unknown), at least a day; the admin who approves it in PIM sets what PIM grants. Inferred: no
    Microsoft page shows this body for groups (the Entra-roles selfExtend takes the same scheduleInfo)."""
    start = now
    span = timedelta(days=30)
    if eligibility.start is not None and eligibility.end is not None:
        span = timedelta(days=max(1, (eligibility.end - eligibility.start).days))
    return {
        "accessId": eligibility.access.value,
        "principalId": principal_id,
        "groupId": eligibility.group.id,
        "action": ELIGIBILITY_CHANGE_ACTIONS[change],
        "justification": justification,
        "scheduleInfo": {
            "startDateTime": format_datetime(start),
            "expiration": {"type": "afterDuration", "duration": format_duration(span)},
        },
    }


def deactivation_body(
    group_id: str, access: Access, principal_id: str, justification: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accessId": access.value,
        "principalId": principal_id,
        "groupId": group_id,
        "action": SELF_DEACTIVATE,
    }
    if justification:
        body["justification"] = justification
    return body


# -- the admin feed (issue 5): a group's eligibility schedules, assignment instances and request history --

_INSTANCE_FIELDS = "id,principalId,groupId,accessId,memberType,startDateTime,endDateTime"
_SCHEDULE_FIELDS = "id,principalId,groupId,accessId,memberType,status,scheduleInfo"
# A schedule in one of these states grants nothing (request and schedule statuses share one value set).
_NOT_GRANTED = frozenset({"canceled", "denied", "failed", "revoked", "pendingapproval", "pendingadmindecision"})
_REQUEST_FIELDS = (
    "id,action,status,principalId,groupId,accessId,createdDateTime,createdBy,justification,ticketInfo,approvalId,"
    "targetScheduleId"
)


def group_state_query(kind: ScheduleKind, group_id: str) -> Query:
    """What one group grants, as the feed compares it (`$filter` by groupId is required; `$select` trims each row).

    Eligible: the eligibility *schedules*, which list current and future windows (not yet started), so an
    eligibility made today that starts next week is seen today (the instances show it only once it starts).
    Active: the assignment schedule instances, what is in effect now (an active assignment matters when it is)."""
    if kind is ScheduleKind.ELIGIBLE:
        return ELIGIBILITY_SCHEDULES, {"$filter": f"groupId eq {_literal(group_id)}", "$select": _SCHEDULE_FIELDS}
    return ASSIGNMENT_INSTANCES, {
        "$filter": f"groupId eq {_literal(group_id)}",
        "$select": f"{_INSTANCE_FIELDS},assignmentType,assignmentScheduleId",
    }


def group_requests_query(kind: ScheduleKind, group_id: str, principal_id: str) -> Query:
    """One principal's request history in one group (groupId and principalId are both filterable with eq; Graph
    keeps only recent requests, enough for a change seen within a poll interval)."""
    path = ELIGIBILITY_REQUESTS if kind is ScheduleKind.ELIGIBLE else ASSIGNMENT_REQUESTS
    return path, {
        "$filter": f"groupId eq {_literal(group_id)} and principalId eq {_literal(principal_id)}",
        "$select": _REQUEST_FIELDS,
    }


DIRECTORY_AUDITS = "/auditLogs/directoryAudits"
AUDIT_PAGE_SIZE = 500
# PIM's loggedByService: "PIM" in real tenants (community queries; captured entries), "Privileged Identity Management"
# as the Graph directoryAudit resource page's example value (reference §9). Each is asked for with its own `eq` (the
# page marks loggedByService filterable with `eq` only, and documents no `or`; graph.feed asks for the one a tenant
# uses). Filtering on activityDateTime alone and matching the service here would read the tenant's whole directory
# log (every user, group and app change, sync included) through an API that allows 5 requests per 10 s: 30 days of it
# at the first read of a large tenant.
PIM_SERVICES = ("PIM", "Privileged Identity Management")
_PIM_SERVICES = frozenset(s.casefold() for s in PIM_SERVICES)
_PIM_CATEGORY = "groupmanagement"  # PIM for Groups; PIM for Entra roles logs RoleManagement
# PIM writing an entry itself (an expiry): the user "Azure AD PIM" (no UPN) or the app "MS-PIM" in real entries;
# anchored, so a person called Pim is still a person.
_PIM_ITSELF = re.compile(
    r"^(?:(?:azure ad|azure active directory|microsoft entra|entra|ms)[ -]?)?(?:pim|privileged identity management)$",
    re.IGNORECASE,
)
# The request id in additionalDetails: `RoleAssignmentRequestId` (Microsoft Learn's PIM lab, captured real entries),
# `RequestId` (reference §9). Compared case-insensitively.
_REQUEST_KEYS = ("roleassignmentrequestid", "requestid")


def pim_audit_query(service: str, since: datetime | None) -> Query:
    """PIM's entries of the directory audit log (AuditLog.Read.All) under one spelling of its loggedByService
    (`PIM_SERVICES`), from `since` (inclusive) or, with None, all that the log still holds (30 days); newest first.
    Only properties the directoryAudit page marks filterable are sent: `category` is not among them, so PIM for
    Groups' entries (category GroupManagement) are told apart here (`parse_pim_group_audit`, `parse_pim_decision`)."""
    flt = f"loggedByService eq {_literal(service)}"
    if since is not None:
        flt += f" and activityDateTime ge {format_datetime(since)}"
    return DIRECTORY_AUDITS, {"$filter": flt, "$top": str(AUDIT_PAGE_SIZE)}


def audit_range_query(service: str, since: datetime, until: datetime, target_id: str | None = None) -> Query:
    """PIM's entries (one spelling of its loggedByService) with since <= activityDateTime <= until, newest first;
    `target_id`: only entries naming that object among their targets (`targetResources/any(t: t/id eq '…')`, which
    the directoryAudit list page documents as a supported filter). Only documented filterable properties are sent."""
    flt = (
        f"loggedByService eq {_literal(service)} and activityDateTime ge {format_datetime(since)}"
        f" and activityDateTime le {format_datetime(until)}"
    )
    if target_id is not None:
        flt += f" and targetResources/any(t: t/id eq {_literal(target_id)})"
    return DIRECTORY_AUDITS, {"$filter": flt, "$top": str(AUDIT_PAGE_SIZE)}


def user_requests_query(kind: ScheduleKind, principal_id: str) -> Query:
    """Every assignment (ACTIVE) or eligibility (ELIGIBLE) schedule request of a principal, with its group's name
    (principalId is filterable with eq; Graph requires a principalId or groupId filter, reference §11)."""
    path = ELIGIBILITY_REQUESTS if kind is ScheduleKind.ELIGIBLE else ASSIGNMENT_REQUESTS
    return path, {"$filter": f"principalId eq {_literal(principal_id)}", "$expand": _EXPAND_GROUP}


def group_all_requests_query(kind: ScheduleKind, group_id: str) -> Query:
    """Every assignment or eligibility schedule request of a group (`createdDateTime` is not filterable: the period
    is applied by the caller)."""
    path = ELIGIBILITY_REQUESTS if kind is ScheduleKind.ELIGIBLE else ASSIGNMENT_REQUESTS
    return path, {"$filter": f"groupId eq {_literal(group_id)}", "$select": _REQUEST_FIELDS}


def parse_schedule_request_row(kind: ScheduleKind, item: Mapping[str, Any]) -> ScheduleRequestRow | None:
    """A group's schedule request for the export; None without an id, a group or an access the bot knows."""
    record = parse_request_record(kind, item)
    if record is None or not record.id or not record.group_id:
        return None
    return ScheduleRequestRow(
        id=record.id,
        eligibility=kind is ScheduleKind.ELIGIBLE,
        action=record.action,
        status=record.status,
        group_id=record.group_id,
        principal_id=record.principal_id,
        access=record.access,
        created=record.created,
        created_by=record.created_by,
        justification=record.justification,
        ticket=record.ticket,
    )


def parse_audit_time(item: Mapping[str, Any]) -> datetime | None:
    return parse_datetime(item.get("activityDateTime"))


def parse_pim_group_audit(item: Mapping[str, Any]) -> str | None:
    """The id of the group a PIM-for-Groups audit entry is about; None for any other entry, and for one whose group
    cannot be told apart (`_placed`).

    Activity names are matched loosely (reference §9: the official names use "role" wording even for groups and
    community code disagrees on some): logged by PIM, category GroupManagement, "PIM" in the activity name."""
    if "pim" not in _fold(item.get("activityDisplayName")) or not is_pim_for_groups(item):
        return None
    return _placed(item, _named_request(item))[0]


def is_pim_for_groups(item: Mapping[str, Any]) -> bool:
    """An entry PIM wrote (either spelling of its loggedByService) about a group (category GroupManagement)."""
    return _fold(item.get("loggedByService")) in _PIM_SERVICES and _fold(item.get("category")) == _PIM_CATEGORY


def _details(item: Mapping[str, Any]) -> dict[str, Any]:
    return {_fold(d.get("key")): d.get("value") for d in item.get("additionalDetails") or () if isinstance(d, Mapping)}


def _named_request(item: Mapping[str, Any]) -> str | None:
    details = _details(item)
    return next((found for key in _REQUEST_KEYS if (found := _opt_str(details.get(key)))), None)


def _positions(count: int) -> tuple[int | None, int | None]:
    """Where samples put (the group, the principal) among `count` targets: [group, principal] with two; with four or
    more the requestor at [2] and the resource at [3] (Log Analytics' PIM activations query, realmjoin's PIM report,
    Azure-Sentinel's PIM rules)."""
    if count == 2:
        return 0, 1
    if count >= 4:
        return 3, 2
    return None, None


def _placed(item: Mapping[str, Any], request_id: str | None) -> tuple[str | None, str | None]:
    """(the group, the principal) of a PIM-for-Groups entry, each None when the entry does not tell.

    The group is the one target of type Group (or with a groupType) that is neither the request (its id, or the
    entry's correlationId) nor, when two are groups (a group made eligible for a group), the one where samples put
    the principal; failing that, the group where samples put it. A target without any type is taken by its position
    only when no target is a group. The principal is the one other user or group, else the target where samples put
    the principal. Anything else is left unplaced: a wrong group or principal would be worse than none."""
    targets = [t for t in item.get("targetResources") or () if isinstance(t, Mapping) and _opt_str(t.get("id"))]
    not_ids = {_fold(request_id), _fold(item.get("correlationId"))} - {""}
    group_at, principal_at = _positions(len(targets))

    def kind(n: int) -> str:
        return _fold(targets[n].get("type"))

    def usable(n: int) -> bool:
        return _fold(targets[n].get("id")) not in not_ids

    groups = [n for n in range(len(targets)) if usable(n) and (kind(n) == "group" or targets[n].get("groupType"))]
    if len(groups) > 1 and principal_at in groups:
        groups.remove(principal_at)
    if len(groups) > 1:
        groups = [n for n in groups if n == group_at]
    if not groups and group_at is not None and not kind(group_at) and usable(group_at):
        groups = [group_at]
    if len(groups) != 1:
        return None, None
    group = groups[0]
    others = [n for n in range(len(targets)) if n != group and usable(n) and kind(n) in ("user", "group")]
    if len(others) != 1:
        others = [principal_at] if principal_at not in (None, group) and kind(principal_at) in ("user", "group") else []
    principal = _opt_str(targets[others[0]].get("id")) if others else None
    return _opt_str(targets[group].get("id")), principal


def _pim_itself(initiated_by: Mapping[str, Any]) -> bool:
    """The entry was written by PIM (an expiry), not by a person: such an initiator approves nothing."""
    for side in ("user", "app"):
        if _PIM_ITSELF.match(_str(_obj(initiated_by.get(side)).get("displayName")).strip()):
            return True
    return False


# What an activity name records (reference §9: official names use "role" wording for groups; community names differ
# in places), matched on these parts, case-insensitively, first match wins. `Request approved|denied` without "PIM"
# in the name is what community queries of real tenants show (the service and category say it is PIM's).
_KINDS: tuple[tuple[tuple[str, ...], AuditKind], ...] = (
    (("request approved",), AuditKind.APPROVED),
    (("request denied",), AuditKind.DENIED),
    (("request expired",), AuditKind.EXPIRED),
    (("canceled",), AuditKind.CANCELED),
    (("cancelled",), AuditKind.CANCELED),
    (("approval requested",), AuditKind.APPROVAL_REQUESTED),
    (("activation expired",), AuditKind.ACTIVATION_ENDED),
    (("pim deactivate", "requested"), AuditKind.DEACTIVATION_REQUESTED),
    (("pim deactivate",), AuditKind.DEACTIVATED),
    (("pim activation", "requested"), AuditKind.REQUESTED),
    (("pim activation",), AuditKind.ACTIVATED),
    (("add eligible",), AuditKind.ELIGIBLE_ASSIGNED),
    (("remove eligible",), AuditKind.ELIGIBLE_REMOVED),
    (("add member", "in pim"), AuditKind.ACTIVE_ASSIGNED),
    (("add owner", "in pim"), AuditKind.ACTIVE_ASSIGNED),
    (("remove member", "in pim"), AuditKind.ACTIVE_REMOVED),
    (("remove owner", "in pim"), AuditKind.ACTIVE_REMOVED),
    (("update",), AuditKind.UPDATED),
    (("extend",), AuditKind.UPDATED),
    (("renew",), AuditKind.UPDATED),
)
_DECIDED = {AuditKind.APPROVED: "approved", AuditKind.DENIED: "denied", AuditKind.EXPIRED: "expired"}
# A reason beside the request's justification (an approver's): no documented key. Inferred: the entry's resultReason,
# or an additionalDetails key naming one; read when present, never required.
_REASON_KEYS = ("approverjustification", "approvaljustification", "reviewjustification", "reason")


def _kind_of(name: str) -> AuditKind:
    return next((kind for parts, kind in _KINDS if all(p in name for p in parts)), AuditKind.OTHER)


def parse_pim_audit_entry(item: Mapping[str, Any]) -> PimAuditEntry | None:
    """A PIM-for-Groups entry of the directory audit log (logged by PIM, category GroupManagement); None for any
    other entry. The one reader of these entries: the feed's approval outcomes (`parse_pim_decision`), `history`'s
    approvers and the admins' export all go through it.

    The request is additionalDetails `RoleAssignmentRequestId` or `RequestId` (`request_named`), else the
    correlationId (not `request_named`: PIM gives one request's steps several correlation ids). Group and principal:
    `_placed` (None when the entry does not tell for sure). The initiator is initiatedBy's user, else its app;
    `by_pim` when PIM itself wrote it (an expiry, or an entry initiated by "Azure AD PIM" / "MS-PIM"). Access is
    additionalDetails `Role` (Member/Owner), member when it is missing."""
    if not is_pim_for_groups(item):
        return None
    name = _fold(item.get("activityDisplayName"))
    kind = _kind_of(name)
    named = _named_request(item)
    group_id, principal_id = _placed(item, named)
    initiated_by = _obj(item.get("initiatedBy"))
    user, app = _obj(initiated_by.get("user")), _obj(initiated_by.get("app"))
    details = _details(item)
    reason = _opt_str(item.get("resultReason")) or next(
        (found for key in _REASON_KEYS if (found := _opt_str(details.get(key)))), None
    )
    return PimAuditEntry(
        id=_str(item.get("id")),
        at=parse_audit_time(item),
        activity=_str(item.get("activityDisplayName")),
        kind=kind,
        phase="requested" if "requested" in name else "completed" if "completed" in name else "",
        group_id=group_id,
        principal_id=principal_id,
        request_id=named or _opt_str(item.get("correlationId")),
        request_named=named is not None,
        initiator_id=_opt_str(user.get("id")) or _opt_str(app.get("appId")),
        initiator_name=_opt_str(user.get("displayName")) or _opt_str(app.get("displayName")),
        by_pim=kind is AuditKind.EXPIRED or _pim_itself(initiated_by),
        access=parse_access(details.get("role")) or Access.MEMBER,
        justification=_opt_str(details.get("justification")),
        reason=reason,
        group_name=_target_name(item, group_id),
    )


def _target_name(item: Mapping[str, Any], object_id: str | None) -> str | None:
    """The displayName of the target with this id (the name as the entry was written)."""
    if object_id is None:
        return None
    for target in item.get("targetResources") or ():
        if isinstance(target, Mapping) and _fold(target.get("id")) == object_id.casefold():
            return _opt_str(target.get("displayName"))
    return None


def parse_pim_decision(item: Mapping[str, Any]) -> LoggedDecision | None:
    """An approval outcome in PIM's audit log as an APPROVAL_DECIDED event; None for any other entry and for one
    this reader cannot place (no group, principal or request it can be sure of).

    `Add member to role request approved|denied (PIM activation)`, `PIM activation request expired`, and `Request
    approved|denied` (`parse_pim_audit_entry`); a cancel is left out: the requester withdrew it, nobody decided (and
    a canceled activation may never have needed an approval). The event's id is the request's (`approval_event_id`,
    the approval desk's id for the same outcome). `by` is the person who decided (initiatedBy.user), never PIM
    itself."""
    entry = parse_pim_audit_entry(item)
    if entry is None or entry.kind not in _DECIDED or entry.request_id is None:
        return None
    if entry.group_id is None or entry.principal_id is None:
        return None
    user_id = _opt_str(_obj(_obj(item.get("initiatedBy")).get("user")).get("id"))
    event = FeedEvent(
        id=approval_event_id(entry.request_id),
        kind=EventKind.APPROVAL_DECIDED,
        group_id=entry.group_id,
        principal_id=entry.principal_id,
        access=entry.access,
        by=None if entry.by_pim else user_id,
        justification=entry.justification,
        decision=_DECIDED[entry.kind],
        observed_at=entry.at,
    )
    return LoggedDecision(event, request_named=entry.request_named)


def groups_named_query(name: str) -> Query:
    """Groups by exact display name (names are not unique: 0, 1 or more rows)."""
    return "/groups", {"$filter": f"displayName eq {_literal(name)}", "$select": "id,displayName"}


def group_query(group_id: str) -> Query:
    return f"/groups/{_segment(group_id)}", {"$select": "id,displayName"}


def parse_schedule_item(kind: ScheduleKind, item: Mapping[str, Any], group_id: str = "") -> ScheduleItem | None:
    """A schedule (`scheduleInfo`: its id is the schedule id) or schedule instance (`startDateTime`/`endDateTime`)
    as the feed compares it; None for a row without a principal, with an access the bot does not know, or a
    schedule whose status says it grants nothing (revoked, canceled, …)."""
    principal_id = _opt_str(item.get("principalId"))
    access = parse_access(item.get("accessId"))
    if principal_id is None or access is None:
        return None
    row_id = _str(item.get("id"))
    if "scheduleInfo" in item:
        if _fold(item.get("status")) in _NOT_GRANTED:
            return None
        start, _, end = _schedule_window(item.get("scheduleInfo"))
        schedule_id = row_id or None
    else:
        start, end = parse_datetime(item.get("startDateTime")), parse_datetime(item.get("endDateTime"))
        schedule_field = "eligibilityScheduleId" if kind is ScheduleKind.ELIGIBLE else "assignmentScheduleId"
        schedule_id = _opt_str(item.get(schedule_field)) or row_id or None
    return ScheduleItem(
        kind=kind,
        id=row_id,
        group_id=_opt_str(item.get("groupId")) or group_id,
        principal_id=principal_id,
        access=access,
        start=start,
        end=end,
        member_type="group" if _fold(item.get("memberType")) == "group" else "direct",
        activated=kind is ScheduleKind.ACTIVE and _fold(item.get("assignmentType")) == "activated",
        schedule_id=schedule_id,
    )


def _creator(created_by: Any) -> str | None:
    """The object id in an identitySet: the user, else the application that made the request."""
    identities = _obj(created_by)
    for side in ("user", "application"):
        found = _opt_str(_obj(identities.get(side)).get("id"))
        if found:
            return found
    return None


def parse_request_record(kind: ScheduleKind, item: Mapping[str, Any]) -> RequestRecord | None:
    access = parse_access(item.get("accessId"))
    if access is None:
        return None
    ticket_info = _obj(item.get("ticketInfo"))
    ticket_number = _opt_str(ticket_info.get("ticketNumber"))
    return RequestRecord(
        kind=kind,
        id=_str(item.get("id")),
        action=_str(item.get("action")),
        status=_str(item.get("status")),
        group_id=_str(item.get("groupId")),
        principal_id=_str(item.get("principalId")),
        access=access,
        created=parse_datetime(item.get("createdDateTime")),
        created_by=_creator(item.get("createdBy")),
        justification=_opt_str(item.get("justification")),
        ticket=Ticket(ticket_number, _opt_str(ticket_info.get("ticketSystem"))) if ticket_number else None,
        approval_id=_opt_str(item.get("approvalId")),
        target_schedule_id=_opt_str(item.get("targetScheduleId")),
    )
