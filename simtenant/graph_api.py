"""Graph v1.0 as the bot sees it: routing, permissions, OData options, paging, $batch, error envelopes.

Transport-neutral (moto's `responses.py`): `GraphApi.handle(SimRequest)` → `SimResponse`. `app.py` adapts aiohttp
to it, and `$batch` feeds its inner requests through the same path, so every inner request is authorised,
counted, logged, throttled and fault-injected on its own.

Permissions (app roles for app tokens, scopes for delegated tokens):
* PIM assignment reads: PrivilegedAssignmentSchedule.Read|ReadWrite.AzureADGroup; writes: …ReadWrite…
* PIM eligibility reads: PrivilegedEligibilitySchedule.Read|ReadWrite.AzureADGroup; writes: …ReadWrite…
* approvals (GET, stages, PATCH): delegated only (app → 403), with the assignment Read / ReadWrite scope
* filterByCurrentUser: delegated only (app → 403)
* policies: RoleManagementPolicy.Read|ReadWrite.AzureADGroup (PATCH rules: ReadWrite); a delegated caller also
  needs to be the group's owner or member or an admin (`Tenant.may_read_settings`: Microsoft's pages are silent)
* users: User.Read.All, User.ReadBasic.All, Directory.Read.All… (delegated User.Read: only the caller himself)
* groups, members, owners: GroupMember.Read.All, Group.Read.All, Directory.Read.All…
* directoryObjects/getByIds: Directory.Read.All (Learn), or per type (Settings.get_by_ids_per_type)
* identity/conditionalAccess/authenticationContextClassReferences/{id}: AuthenticationContext.Read.All,
  AuthenticationContext.ReadWrite.All or Policy.Read.ConditionalAccess (403 AccessDenied without)
* auditLogs/directoryAudits: AuditLog.Read.All (403 Authorization_RequestDenied without it), throttled at
  5 requests / 10 s per app (429 + Retry-After); entries, filter and throttle: `simtenant.audit`
* Teams apps (`simtenant.teams`): the catalog with AppCatalog.Read.All or AppCatalog.ReadWrite.All (delegated also
  AppCatalog.Submit, Directory.Read.All); a user's installed apps and their chat with any TeamsAppInstallation
  …ForUser permission, installing with the ReadWrite/Manage ones (userteamwork-post-installedapps, its least
  privileged application permission being TeamsAppInstallation.ReadWriteSelfForUser.All); refusals 403 `Forbidden`
  naming the permissions. *Self* permissions reach only the caller's own app (its webApplicationInfo id); the
  *Selected* ones are treated as reaching every app (the stand-in has no admin selection)
* Teams Shifts (`simtenant.shifts`): a team's shifts with Schedule.Read.All or Schedule.ReadWrite.All (delegated also
  Group.Read.All, Group.ReadWrite.All); an app token must name the user it acts as (MS-APP-ACTS-AS)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from yarl import URL

from simtenant import extensions, wire
from simtenant.audit import parse_audit_filter
from simtenant.entities import Caller, Group, Kind, RolePolicy, Schedule, ScheduleRequest, User
from simtenant.errors import (
    GraphError,
    app_only_refused,
    bad_request,
    conflict,
    denied,
    directory_not_found,
    missing_permission,
    not_found,
    scopes_missing,
    teams_forbidden,
)
from simtenant.extensions import CustomExtension
from simtenant.model import RequestInput, Tenant
from simtenant.observe import ConnectionDropped, Fault
from simtenant.odata import ExpandItem, Filter, parse_expand, parse_filter, parse_select
from simtenant.shifts import parse_shift_filter, shift_json
from simtenant.teams import CatalogApp, Installation
from simtenant.tokens import TokenError

__all__ = ["GraphApi", "SimRequest", "SimResponse"]

JsonDict = dict[str, Any]
P = r"/identityGovernance/privilegedAccess/group"
BATCH_LIMIT = 20
MAX_TOP = 999


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str  # after /v1.0, starting with "/"
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str  # "https://127.0.0.1:PORT/v1.0"
    remote: str | None = None
    inner: bool = False
    version: str = "v1.0"  # "v1.0" | "beta": the same routes on both (beta adds nothing the sim models apart)

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and "
                "payload is of valid JSON format."
            ) from exc


@dataclass(slots=True)
class SimResponse:
    status: int
    body: JsonDict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Perm:
    """Any one of `any_of` suffices; `report` names the permission in a refusal."""

    any_of: frozenset[str]
    report: str
    directory: bool = False  # refusals use the directory's Authorization_RequestDenied
    delegated_only: bool = False
    refusal: Callable[[], GraphError] | None = None  # a route family's own refusal (Conditional Access: AccessDenied)
    app_any_of: frozenset[str] | None = None  # what app tokens need, where it differs from delegated ones
    teams: bool = False  # refusals in the Teams routes' form (errors.teams_forbidden)

    def accepted(self, caller: Caller) -> frozenset[str]:
        return self.app_any_of if caller.is_app and self.app_any_of is not None else self.any_of


def _perm(
    *names: str,
    directory: bool = False,
    delegated_only: bool = False,
    refusal: Callable[[], GraphError] | None = None,
) -> Perm:
    return Perm(frozenset(names), names[0], directory, delegated_only, refusal)


ASSIGN_R = _perm(
    "PrivilegedAssignmentSchedule.Read.AzureADGroup", "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
)
ASSIGN_W = _perm("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup")
ELIG_R = _perm(
    "PrivilegedEligibilitySchedule.Read.AzureADGroup", "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup"
)
ELIG_W = _perm("PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup")
APPROVAL_R = _perm(
    "PrivilegedAssignmentSchedule.Read.AzureADGroup",
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    delegated_only=True,
)
APPROVAL_W = _perm("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", delegated_only=True)
# PIM custom extensions (privilegedaccessroot-post/list-customextensions, rolemanagementcustomcalloutextension-get/
# update/delete): delegated or application; a delegated caller must also hold Privileged Role Administrator (checked
# in the handlers: `_extension_admin`).
CUSTOM_EXT_R = _perm("PrivilegedAccess-CustomExt.Read.All", "PrivilegedAccess-CustomExt.ReadWrite.All")
CUSTOM_EXT_W = _perm("PrivilegedAccess-CustomExt.ReadWrite.All")
POLICY_R = _perm("RoleManagementPolicy.Read.AzureADGroup", "RoleManagementPolicy.ReadWrite.AzureADGroup")
POLICY_W = _perm("RoleManagementPolicy.ReadWrite.AzureADGroup")
USERS_R = _perm(
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    directory=True,
)
GROUPS_R = _perm(
    "GroupMember.Read.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    directory=True,
)
AUDIT_R = _perm("AuditLog.Read.All", directory=True)
# GET authenticationContextClassReference (learn.microsoft.com/graph/api/authenticationcontextclassreference-get,
# v1.0): least privileged AuthenticationContext.Read.All; higher AuthenticationContext.ReadWrite.All and
# Policy.Read.ConditionalAccess. Policy.Read.All is not listed there, so it is not accepted.
AUTH_CONTEXT_R = _perm(
    "AuthenticationContext.Read.All",
    "AuthenticationContext.ReadWrite.All",
    "Policy.Read.ConditionalAccess",
    refusal=scopes_missing,
)


def _teams_perm(delegated: tuple[str, ...], app: tuple[str, ...]) -> Perm:
    return Perm(frozenset(delegated), delegated[0], app_any_of=frozenset(app), teams=True)


CATALOG_R = _teams_perm(
    ("AppCatalog.Read.All", "AppCatalog.ReadWrite.All", "AppCatalog.Submit", "Directory.Read.All",
     "Directory.ReadWrite.All"),
    ("AppCatalog.Read.All", "AppCatalog.ReadWrite.All"),
)  # fmt: skip
_INSTALL = ("ReadWriteSelfForUser", "ReadWriteForUser", "ReadWriteAndConsentSelfForUser", "ReadWriteAndConsentForUser",
            "ReadWriteSelectedForUser", "ManageSelectedForUser")  # fmt: skip
_INSTALLED_READ = ("ReadForUser", *_INSTALL, "ReadSelectedForUser")
INSTALLED_R = _teams_perm(
    tuple(f"TeamsAppInstallation.{p}" for p in _INSTALLED_READ),
    tuple(f"TeamsAppInstallation.{p}.All" for p in _INSTALLED_READ),
)
INSTALL_W = _teams_perm(
    tuple(f"TeamsAppInstallation.{p}" for p in _INSTALL), tuple(f"TeamsAppInstallation.{p}.All" for p in _INSTALL)
)
SELF_ONLY = frozenset(
    f"TeamsAppInstallation.{p}{suffix}"
    for p in ("ReadWriteSelfForUser", "ReadWriteAndConsentSelfForUser")
    for suffix in ("", ".All")
)
# List shifts (schedule-list-shifts, v1.0): delegated Schedule.Read.All, Schedule.ReadWrite.All, Group.Read.All,
# Group.ReadWrite.All; application Schedule.Read.All, Schedule.ReadWrite.All. Refused in the Teams routes' form.
SHIFTS_R = _teams_perm(
    ("Schedule.Read.All", "Schedule.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"),
    ("Schedule.Read.All", "Schedule.ReadWrite.All"),
)
DIRECTORY_R = _perm(*(USERS_R.any_of | GROUPS_R.any_of), directory=True)
GET_BY_IDS_R = frozenset({"Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"})
NO_PERM = Perm(frozenset(), "")

_COLLECTIONS: dict[str, tuple[Kind, str]] = {
    "assignmentschedulerequests": ("assignment", "requests"),
    "assignmentschedules": ("assignment", "schedules"),
    "assignmentscheduleinstances": ("assignment", "instances"),
    "eligibilityschedulerequests": ("eligibility", "requests"),
    "eligibilityschedules": ("eligibility", "schedules"),
    "eligibilityscheduleinstances": ("eligibility", "instances"),
}
_CANONICAL = {
    "assignmentschedulerequests": "assignmentScheduleRequests",
    "assignmentschedules": "assignmentSchedules",
    "assignmentscheduleinstances": "assignmentScheduleInstances",
    "eligibilityschedulerequests": "eligibilityScheduleRequests",
    "eligibilityschedules": "eligibilitySchedules",
    "eligibilityscheduleinstances": "eligibilityScheduleInstances",
}
_FILTERABLE = {
    "requests": (
        "id",
        "groupId",
        "principalId",
        "accessId",
        "action",
        "status",
        "targetScheduleId",
        "approvalId",
        "createdBy/user/id",
        "createdBy/application/id",
    ),
    "schedules": (
        "id",
        "groupId",
        "principalId",
        "accessId",
        "memberType",
        "assignmentType",
        "status",
        "createdUsing",
    ),
    "instances": (
        "id",
        "groupId",
        "principalId",
        "accessId",
        "memberType",
        "assignmentType",
        "assignmentScheduleId",
        "eligibilityScheduleId",
    ),
}
_COLL = (
    r"(?P<coll>assignmentScheduleRequests|assignmentSchedules|assignmentScheduleInstances|"
    r"eligibilityScheduleRequests|eligibilitySchedules|eligibilityScheduleInstances)"
)
_FBCU = r"filterByCurrentUser\(on='?(?P<on>[A-Za-z]+)'?\)"
_SEG = r"(?P<id>[^/()]+)"


class Ctx:
    """One request being served: the tenant, the verified caller, the request."""

    __slots__ = ("api", "tenant", "caller", "req")

    def __init__(self, api: GraphApi, caller: Caller, req: SimRequest) -> None:
        self.api = api
        self.tenant = api.tenant
        self.caller = caller
        self.req = req

    def q(self, name: str) -> str | None:
        value = self.req.query.get(name)
        if value is None:  # Graph accepts the options without the "$" too
            value = self.req.query.get(name.lstrip("$"))
        return value

    def filter(self) -> Filter:
        try:
            return parse_filter(self.q("$filter"))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

    def expand(self) -> dict[str, ExpandItem]:
        try:
            return parse_expand(self.q("$expand"))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

    def select(self) -> list[str] | None:
        return parse_select(self.q("$select"))

    def context(self, fragment: str) -> str:
        return f"{self.req.base_url}/$metadata#{fragment}"


Handler = Callable[[Ctx, "re.Match[str]"], Awaitable[SimResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    perm: Perm | Callable[[re.Match[str]], Perm]
    handler: Handler
    pim: bool = True  # errors may be PIM-wrapped


# ---------------------------------------------------------------------------------------------------- helpers


def _apply_select(row: JsonDict, select: Sequence[str] | None, keep: Sequence[str] = ()) -> JsonDict:
    if not select:
        return row
    lowered = {key.lower(): key for key in row}
    out: JsonDict = {}
    if "@odata.type" in row:
        out["@odata.type"] = row["@odata.type"]
    for name in select:
        key = lowered.get(name.strip().lower())
        if key is None:
            raise bad_request(f"Could not find a property named '{name}' on this type.")
        out[key] = row[key]
    for key in keep:
        if key in row:
            out[key] = row[key]
    return out


def _skiptoken(offset: int) -> str:
    raw = json.dumps({"o": offset, "n": uuid.uuid4().hex[:8]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request("Invalid $skiptoken.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise bad_request("Invalid $skiptoken.")
    return offset


def _page(ctx: Ctx, rows: list[JsonDict], context: str) -> SimResponse:
    top_raw = ctx.q("$top")
    size = ctx.tenant.settings.page_size
    if top_raw is not None:
        if not top_raw.isdigit() or int(top_raw) < 1:
            raise bad_request(f"Invalid value '{top_raw}' for $top.")
        size = min(int(top_raw), MAX_TOP)
    offset = _offset(ctx.q("$skiptoken"))
    body: JsonDict = {"@odata.context": context, "value": rows[offset : offset + size]}
    if offset + size < len(rows):
        query = {k: v for k, v in ctx.req.query.items() if k.lstrip("$").lower() != "skiptoken"}
        query["$skiptoken"] = _skiptoken(offset + size)
        body["@odata.nextLink"] = str(URL(ctx.req.base_url + ctx.req.path).with_query(query))
    return SimResponse(200, body)


def _entity(ctx: Ctx, row: JsonDict, context: str, status: int = 200) -> SimResponse:
    return SimResponse(status, {"@odata.context": context, **row})


def _principal_ref(tenant: Tenant, principal_id: str) -> JsonDict | None:
    obj = tenant.directory_object(principal_id)
    if obj is None:
        return None
    odata = "#microsoft.graph.user" if isinstance(obj, User) else "#microsoft.graph.group"
    return {"@odata.type": odata, "id": obj.id}


def _group_ref(tenant: Tenant, group_id: str, item: ExpandItem) -> JsonDict | None:
    group = tenant.group(group_id)
    if group is None:
        return None
    return _apply_select(wire.group_json(group), item.select)


# ---------------------------------------------------------------------------------------------------- PIM rows


def _row_expand(
    ctx: Ctx, kind: Kind, view: str, obj: ScheduleRequest | Schedule, expand: dict[str, ExpandItem]
) -> JsonDict:
    row = (
        wire.request_json(obj)
        if isinstance(obj, ScheduleRequest)
        else (wire.instance_json(obj) if view == "instances" else wire.schedule_json(obj))
    )
    tenant = ctx.tenant
    for key, item in expand.items():
        if key == "group":
            row["group"] = _group_ref(tenant, obj.group_id, item)
        elif key == "principal":
            row["principal"] = _principal_ref(tenant, obj.principal_id)
        elif key == "activatedusing" and kind == "assignment":
            elig_id = obj.activated_using
            elig = tenant.schedule("eligibility", elig_id) if elig_id else None
            if elig is None:
                row["activatedUsing"] = None
            else:
                rendered = wire.instance_json(elig) if view == "instances" else wire.schedule_json(elig)
                row["activatedUsing"] = _apply_select(rendered, item.select)
        elif key == "targetschedule" and isinstance(obj, ScheduleRequest):
            target = tenant.schedule(kind, obj.target_schedule_id) if obj.target_schedule_id else None
            row["targetSchedule"] = None if target is None else _apply_select(wire.schedule_json(target), item.select)
        else:
            raise bad_request(f"Could not find a navigation property named '{item.name}' usable in $expand.")
    return row


_NAV_NAMES = {
    "group": "group",
    "principal": "principal",
    "activatedusing": "activatedUsing",
    "targetschedule": "targetSchedule",
}


def _render_rows(ctx: Ctx, kind: Kind, view: str, objs: Sequence[ScheduleRequest | Schedule]) -> list[JsonDict]:
    flt = ctx.filter()
    expand = ctx.expand()
    select = ctx.select()
    keep = [_NAV_NAMES.get(key, key) for key in expand]
    out = []
    for obj in objs:
        row = _row_expand(ctx, kind, view, obj, expand)
        if flt and not flt.matches(row):
            continue
        out.append(_apply_select(row, select, keep))
    return out


def _collection_context(ctx: Ctx, coll: str) -> str:
    return ctx.context(f"identityGovernance/privilegedAccess/group/{_CANONICAL[coll.lower()]}")


async def list_collection(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    coll = m["coll"].lower()
    kind, view = _COLLECTIONS[coll]
    flt = ctx.filter()
    try:
        flt.check_properties(_FILTERABLE[view])
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    group_id, principal_id = flt.eq_value("groupId"), flt.eq_value("principalId")
    if not group_id and not principal_id:
        raise GraphError(400, "MissingParameters", "The required parameters GroupId or PrincipalId is missing")
    objs: Sequence[ScheduleRequest | Schedule]
    if view == "requests":
        objs = ctx.tenant.requests_for(kind, group_id=group_id, principal_id=principal_id)
    else:
        objs = ctx.tenant.schedules_for(
            kind, group_id=group_id, principal_id=principal_id, instances=view == "instances"
        )
    return _page(ctx, _render_rows(ctx, kind, view, objs), _collection_context(ctx, coll))


async def filter_by_current_user(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    coll = m["coll"].lower()
    kind, view = _COLLECTIONS[coll]
    if ctx.caller.is_app or not ctx.caller.oid:
        raise app_only_refused("filterByCurrentUser")
    flt = ctx.filter()
    try:
        flt.check_properties(_FILTERABLE[view])
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    on = m["on"].lower()
    allowed = ("principal", "createdby", "approver") if view == "requests" else ("principal",)
    if on not in allowed:
        raise bad_request(f"Invalid value '{m['on']}' for parameter 'on'.")
    oid = ctx.caller.oid
    objs: Sequence[ScheduleRequest | Schedule]
    if view != "requests":
        objs = ctx.tenant.schedules_for(kind, principal_id=oid, instances=view == "instances")
    elif on == "principal":
        objs = ctx.tenant.requests_for(kind, principal_id=oid)
    elif on == "createdby":
        objs = ctx.tenant.requests_for(kind, created_by=oid)
    else:
        objs = ctx.tenant.requests_for_approver(oid) if kind == "assignment" else []
    return _page(ctx, _render_rows(ctx, kind, view, objs), _collection_context(ctx, coll))


def _find(ctx: Ctx, coll: str, ident: str) -> ScheduleRequest | Schedule:
    kind, view = _COLLECTIONS[coll]
    obj: ScheduleRequest | Schedule | None
    if view == "requests":
        obj = ctx.tenant.request(kind, ident)
    else:
        obj = ctx.tenant.schedule(kind, ident, instance=view == "instances")
    if obj is None:
        raise not_found(_CANONICAL[coll][:-1], ident)
    return obj


async def get_item(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    coll = m["coll"].lower()
    kind, view = _COLLECTIONS[coll]
    obj = _find(ctx, coll, m["id"])
    expand = ctx.expand()
    row = _row_expand(ctx, kind, view, obj, expand)
    row = _apply_select(row, ctx.select(), [_NAV_NAMES.get(key, key) for key in expand])
    return _entity(ctx, row, _collection_context(ctx, coll) + "/$entity")


async def get_navigation(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    coll = m["coll"].lower()
    kind, view = _COLLECTIONS[coll]
    obj = _find(ctx, coll, m["id"])
    nav = m["nav"].lower()
    if nav == "group":
        group = ctx.tenant.group(obj.group_id)
        if group is None:
            raise directory_not_found(obj.group_id)
        return _entity(ctx, _apply_select(wire.group_json(group), ctx.select()), ctx.context("groups/$entity"))
    if nav == "principal":
        principal = ctx.tenant.directory_object(obj.principal_id)
        if principal is None:
            raise directory_not_found(obj.principal_id)
        row = wire.directory_object_json(principal)
        return _entity(ctx, _apply_select(row, ctx.select()), ctx.context("directoryObjects/$entity"))
    target_id = None
    if nav == "targetschedule" and isinstance(obj, ScheduleRequest):
        target_id, target_kind = obj.target_schedule_id, kind
    elif nav == "activatedusing" and kind == "assignment":
        target_id, target_kind = obj.activated_using, "eligibility"
    else:
        raise bad_request(f"Resource not found for the segment '{m['nav']}'.")
    target = ctx.tenant.schedule(target_kind, target_id) if target_id else None
    if target is None:
        raise not_found("schedule", target_id or "")
    return _entity(ctx, _apply_select(wire.schedule_json(target), ctx.select()), ctx.context("$entity"))


async def create_request(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    coll = m["coll"].lower()
    kind, _ = _COLLECTIONS[coll]
    inp = wire.parse_request_body(ctx.req.json())
    tenant = ctx.tenant
    extension = tenant.extension_for(inp.group_id, inp.access_id) if inp.action == "selfActivate" else None
    if kind == "assignment" and extension is not None and not inp.is_validation_only:
        request = await _activate_with_extension(ctx, inp, extension)
    else:
        request = tenant.create_request(kind, ctx.caller, inp)
    return _entity(ctx, wire.request_json(request), _collection_context(ctx, coll) + "/$entity", 201)


async def _activate_with_extension(ctx: Ctx, inp: RequestInput, extension: CustomExtension) -> ScheduleRequest:
    """selfActivate on a policy with an enabled pre-approval custom extension (simtenant.extensions): validate as
    usual, call the extension while the request waits (awaited: the event loop serves everything else meanwhile), then
    obey it — Denied refuses, AutoApproved skips the approval stage, Approved goes on as without an extension."""
    tenant, caller = ctx.tenant, ctx.caller
    # Every rule the policy enforces first (a validation-only request is checked in full and stored nowhere).
    preview = tenant.create_request("assignment", caller, replace(inp, is_validation_only=True))
    key = (inp.principal_id.lower(), inp.group_id.lower(), inp.access_id)
    if key in tenant.evaluating:  # a second request while the first one's extension is still being asked
        raise GraphError(
            400, "PendingRoleAssignmentRequest", "There already exists a pending Role assignment request in the system."
        )
    tenant.evaluating.add(key)
    try:
        settings = tenant.settings
        origin = ctx.req.base_url.rsplit("/", 1)[0]
        audience = extension.resource_id
        if settings.extension_token_version == 2 and audience.startswith("api://"):
            # Entra writes the API's client id, not its Application ID URI, into the aud of a v2 token (reference
            # pim-custom-extension.md §2.3, inferred from general Entra behaviour): the URI's last segment.
            audience = audience.rstrip("/").rsplit("/", 1)[-1]
        token = tenant.tokens.issue_api_token(
            settings.pim_app_id,
            audience,
            version="2.0" if settings.extension_token_version == 2 else "1.0",
            authority=origin,
        )
        payload = extensions.callout_payload(wire.request_json(preview), preview.status)
        attempts: list[JsonDict] = []
        evaluation = await extensions.evaluate(extension, payload, token, log=attempts)
        ctx.api.callouts.append({"request": preview.id, "extension": extension.id, "attempts": attempts})
    finally:
        tenant.evaluating.discard(key)
    outcome = evaluation.outcome
    if outcome is None:
        reasons: tuple[str, ...] = (f"The custom extension could not be reached: {evaluation.failure}",)
        outcome_name = "Denied" if settings.extension_failure == "deny" else "Approved"
        tenant.audit_evaluation(preview, extension, f"Failed ({outcome_name})", reasons, Attempts=evaluation.attempts)
        if settings.extension_failure == "deny":
            raise extensions.extension_denied(reasons, "array")
        return tenant.create_request("assignment", caller, inp, request_id=preview.id)
    tenant.audit_evaluation(
        preview,
        extension,
        outcome,
        evaluation.reasons,
        EvaluationId=evaluation.evaluation_id,
        Attempts=evaluation.attempts,
    )
    if outcome == "Denied":
        if settings.extension_denial_style == "status":
            return tenant.deny_by_extension(caller, inp, preview.id)
        raise extensions.extension_denied(evaluation.reasons, settings.extension_denial_style)
    return tenant.create_request(
        "assignment", caller, inp, request_id=preview.id, auto_approved=outcome == "AutoApproved"
    )


async def cancel_request(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    kind, _ = _COLLECTIONS[m["coll"].lower()]
    ctx.tenant.cancel_request(kind, ctx.caller, m["id"])
    return SimResponse(204)


# ---------------------------------------------------------------------------------------------------- approvals


def _approval_row(ctx: Ctx, approval_id: str) -> JsonDict:
    tenant = ctx.tenant
    approval = tenant.approval(approval_id)
    if approval is None:
        raise not_found("approval", approval_id)
    return wire.approval_json(approval, lambda stage: tenant.is_approver(approval, stage, ctx.caller.oid))


async def get_approval(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    row = _apply_select(_approval_row(ctx, m["id"]), ctx.select())
    return _entity(ctx, row, ctx.context("identityGovernance/privilegedAccess/group/assignmentApprovals/$entity"))


async def approvals_for_me(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    if m["on"].lower() != "approver":
        raise bad_request(f"Invalid value '{m['on']}' for parameter 'on'; only 'approver' is supported.")
    rows = [_approval_row(ctx, approval.id) for approval in ctx.tenant.approvals_for_approver(ctx.caller.oid or "")]
    return _page(ctx, rows, ctx.context("Collection(approval)"))


async def list_stages(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    row = _approval_row(ctx, m["id"])
    return _page(
        ctx,
        row["stages"],
        ctx.context(f"identityGovernance/privilegedAccess/group/assignmentApprovals('{m['id']}')/{m['stages']}"),
    )


async def get_stage(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    row = _approval_row(ctx, m["id"])
    for stage in row["stages"]:
        if stage["id"].lower() == m["sid"].lower():
            return _entity(ctx, _apply_select(stage, ctx.select()), ctx.context("approvalStage/$entity"))
    raise not_found("approval stage", m["sid"])


async def patch_stage(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    body = ctx.req.json()
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    result = body.get("reviewResult")
    justification = body.get("justification") or ""
    if not isinstance(result, str) or not isinstance(justification, str):
        raise bad_request("reviewResult ('Approve' or 'Deny') and justification must be strings.")
    ctx.tenant.decide(ctx.caller, m["id"], m["sid"], result, justification)
    return SimResponse(204)


# ---------------------------------------------------------------------------------------------------- policies


def _scope_filter(ctx: Ctx, *, with_role: bool) -> tuple[str | None, str | None, str | None]:
    flt = ctx.filter()
    allowed = ["scopeId", "scopeType"] + (["roleDefinitionId"] if with_role else [])
    try:
        flt.check_properties(allowed)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    scope_id, scope_type = flt.eq_value("scopeId"), flt.eq_value("scopeType")
    if not scope_id or not scope_type:
        raise bad_request(
            "The filter must specify scopeId and scopeType (e.g. scopeId eq '{groupId}' and scopeType eq 'Group')."
        )
    return scope_id, scope_type, flt.eq_value("roleDefinitionId")


def _policy_expand(ctx: Ctx) -> tuple[bool, bool]:
    expand = ctx.expand()
    for key, item in expand.items():
        if key != "policy":
            raise bad_request(f"Could not find a navigation property named '{item.name}' usable in $expand.")
    policy = expand.get("policy")
    if policy is None:
        return False, False
    for key, item in policy.expand.items():
        if key != "rules":
            raise bad_request(f"Could not find a navigation property named '{item.name}' usable in $expand.")
    return True, "rules" in policy.expand


def _rules_expanded(ctx: Ctx) -> bool:
    expand = ctx.expand()
    for key, item in expand.items():
        if key != "rules":
            raise bad_request(f"Could not find a navigation property named '{item.name}' usable in $expand.")
    return "rules" in expand


def _settings_reader(ctx: Ctx, group_id: str) -> None:
    """403 unless the caller may read this group's PIM settings (`Tenant.may_read_settings` says who, and why)."""
    if not ctx.tenant.may_read_settings(ctx.caller, group_id):
        raise denied(
            "The signed-in user must be an owner or member of the group or hold a supported Microsoft Entra role to "
            "read its PIM settings."
        )


def _settings_changer(ctx: Ctx, group_id: str) -> None:
    if not ctx.tenant.may_change_settings(ctx.caller, group_id):
        raise denied()


async def list_policy_assignments(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    scope_id, scope_type, role = _scope_filter(ctx, with_role=True)
    expand_policy, with_rules = _policy_expand(ctx)
    policies: list[RolePolicy] = []
    if (scope_type or "").lower() == "group" and scope_id:
        _settings_reader(ctx, scope_id)
        policies = [p for p in ctx.tenant.policies_for_scope(scope_id) if role is None or p.access == role.lower()]
    keep = ["policy"] if expand_policy else []
    rows = [
        _apply_select(
            wire.policy_assignment_json(p, expand_policy=expand_policy, with_rules=with_rules), ctx.select(), keep
        )
        for p in policies
    ]
    suffix = "(policy(rules()))" if with_rules else ("(policy())" if expand_policy else "")
    return _page(ctx, rows, ctx.context(f"policies/roleManagementPolicyAssignments{suffix}"))


async def get_policy_assignment(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    ident = m["id"]
    policy_id, _, access = ident.rpartition("_")
    policy = ctx.tenant.policy_by_id(policy_id)
    if policy is None or policy.access != access.lower():
        raise not_found("policy assignment", ident)
    _settings_reader(ctx, policy.group_id)
    expand_policy, with_rules = _policy_expand(ctx)
    row = wire.policy_assignment_json(policy, expand_policy=expand_policy, with_rules=with_rules)
    return _entity(
        ctx,
        _apply_select(row, ctx.select(), ["policy"]),
        ctx.context("policies/roleManagementPolicyAssignments/$entity"),
    )


async def list_policies(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    scope_id, scope_type, _ = _scope_filter(ctx, with_role=False)
    with_rules = _rules_expanded(ctx)
    is_group = (scope_type or "").lower() == "group"
    if is_group:
        _settings_reader(ctx, scope_id or "")
    policies = ctx.tenant.policies_for_scope(scope_id or "") if is_group else []
    keep = ["rules"] if with_rules else []
    rows = [_apply_select(wire.policy_json(p, with_rules=with_rules), ctx.select(), keep) for p in policies]
    return _page(ctx, rows, ctx.context("policies/roleManagementPolicies" + ("(rules())" if with_rules else "")))


def _policy(ctx: Ctx, policy_id: str, *, change: bool = False) -> RolePolicy:
    policy = ctx.tenant.policy_by_id(policy_id)
    if policy is None:
        raise not_found("policy", policy_id)
    if change:
        _settings_changer(ctx, policy.group_id)
    else:
        _settings_reader(ctx, policy.group_id)
    return policy


async def get_policy(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    policy = _policy(ctx, m["id"])
    with_rules = _rules_expanded(ctx)
    row = _apply_select(wire.policy_json(policy, with_rules=with_rules), ctx.select(), ["rules"])
    return _entity(ctx, row, ctx.context("policies/roleManagementPolicies/$entity"))


async def list_rules(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    policy = _policy(ctx, m["id"])
    rows = [_apply_select(rule, ctx.select()) for rule in wire.rules_json(policy)]
    return _page(ctx, rows, ctx.context(f"policies/roleManagementPolicies('{policy.policy_id}')/rules"))


async def get_rule(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    policy = _policy(ctx, m["id"])
    context = ctx.context(f"policies/roleManagementPolicies('{policy.policy_id}')/rules/$entity")
    ext_rule = next((r for r in policy.extension_rules if r.lower() == m["rid"].lower()), None)
    if ext_rule is not None:
        return _entity(ctx, _apply_select(wire.extension_rule_json(policy, ext_rule), ctx.select()), context)
    rule_id = next((r for r in wire.RULE_IDS if r.lower() == m["rid"].lower()), None)
    if rule_id is None:
        raise not_found("rule", m["rid"])
    return _entity(ctx, _apply_select(wire.rule_json(policy, rule_id), ctx.select()), context)


async def patch_rule(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    policy = _policy(ctx, m["id"], change=True)
    ext_rule = next((r for r in extensions.EXTENSION_RULE_IDS if r.lower() == m["rid"].lower()), None)
    if ext_rule is not None:
        # Created by its first PATCH (inferred: simtenant.extensions); the extension must exist and be for groups.
        rule = extensions.parse_rule(ctx.req.json(), ctx.tenant.custom_extensions, policy.extension_rules.get(ext_rule))
        ctx.tenant.link_extension(
            policy.group_id, policy.access, rule.extension_id, enabled=rule.enabled, rule_id=ext_rule
        )
        return SimResponse(204)
    rule_id = next((r for r in wire.RULE_IDS if r.lower() == m["rid"].lower()), m["rid"])
    changes = wire.parse_rule_patch(policy, rule_id, ctx.req.json())
    ctx.tenant.set_policy(policy.group_id, policy.access, **changes)
    return SimResponse(204)


# ---------------------------------------------------------------------------------------------------- custom extensions


def _extension_admin(ctx: Ctx) -> None:
    """A delegated caller must hold Privileged Role Administrator (or more): the sim's `User.is_admin`."""
    caller = ctx.caller
    if caller.is_app:
        return
    user = ctx.tenant.user(caller.oid or "")
    if user is None or not user.is_admin:
        raise denied(
            "The signed-in user must be assigned a supported Microsoft Entra role (at least Privileged Role "
            "Administrator) to manage PIM custom extensions."
        )


def _extension(ctx: Ctx, ident: str) -> CustomExtension:
    ext = ctx.tenant.custom_extensions.get(ident.lower())
    if ext is None:
        raise not_found("roleManagementCustomCalloutExtension", ident)
    return ext


_EXT_CONTEXT = "identityGovernance/privilegedAccess/customExtensions"


async def list_extensions(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _extension_admin(ctx)
    flt = ctx.filter()
    try:
        flt.check_properties(["resourceType"])  # the list page: $filter (eq) on resourceType
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    rows = [extensions.extension_json(ext) for ext in ctx.tenant.custom_extensions.values()]
    rows = [_apply_select(row, ctx.select()) for row in rows if not flt or flt.matches(row)]
    return _page(ctx, rows, ctx.context(_EXT_CONTEXT))


async def get_extension(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _extension_admin(ctx)
    row = _apply_select(extensions.extension_json(_extension(ctx, m["id"])), ctx.select())
    return _entity(ctx, row, ctx.context(_EXT_CONTEXT + "/$entity"))


async def create_extension(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _extension_admin(ctx)
    ext = extensions.parse_extension(ctx.req.json())
    if ext.id.lower() in ctx.tenant.custom_extensions:
        raise conflict(f"A custom extension with id '{ext.id}' already exists.")
    ctx.tenant.add_custom_extension(ext)
    return _entity(ctx, extensions.extension_json(ext), ctx.context(_EXT_CONTEXT + "/$entity"), 201)


async def update_extension(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _extension_admin(ctx)
    ext = extensions.parse_extension_patch(_extension(ctx, m["id"]), ctx.req.json())
    if ext.resource_type != extensions.ENTRA_GROUPS and ctx.tenant.extension_in_use(ext.id):
        raise bad_request("The custom extension is linked to a group policy; its resourceType must stay entraGroups.")
    ctx.tenant.add_custom_extension(ext)
    return SimResponse(204)


async def delete_extension(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _extension_admin(ctx)
    ext = _extension(ctx, m["id"])
    if ctx.tenant.extension_in_use(ext.id):  # nothing documented: refused rather than leaving a dangling rule
        raise bad_request("The custom extension is referenced by a role management policy rule; remove the rule first.")
    del ctx.tenant.custom_extensions[ext.id.lower()]
    return SimResponse(204)


# ---------------------------------------------------------------------------------------------------- directory

_USER_FILTERABLE = ("id", "displayName", "userPrincipalName", "mail", "givenName", "surname")
_GROUP_FILTERABLE = ("id", "displayName", "mailNickname", "securityEnabled", "isAssignableToRole")


def _user_row(ctx: Ctx, user: User) -> JsonDict:
    row = wire.user_json(user)
    select = ctx.select()
    if select:
        return _apply_select(row, select)
    return {key: row[key] for key in wire.USER_DEFAULT}


def _check_user_read(ctx: Ctx, user_id: str | None) -> None:
    caller = ctx.caller
    if caller.has_any(USERS_R.any_of):
        return
    if not caller.is_app and user_id is not None and caller.oid and caller.oid.lower() == user_id.lower():
        if caller.has_any(frozenset({"User.Read", "User.ReadWrite"})):
            return
    raise denied()


async def get_me(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    if ctx.caller.is_app or not ctx.caller.oid:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    _check_user_read(ctx, ctx.caller.oid)
    user = ctx.tenant.user(ctx.caller.oid)
    if user is None:
        raise directory_not_found(ctx.caller.oid)
    return _entity(ctx, _user_row(ctx, user), ctx.context("users/$entity"))


async def get_user(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    user = ctx.tenant.user(m["id"])
    _check_user_read(ctx, user.id if user else None)
    if user is None:
        raise directory_not_found(m["id"])
    return _entity(ctx, _user_row(ctx, user), ctx.context("users/$entity"))


async def list_users(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    _check_user_read(ctx, None)
    flt = ctx.filter()
    try:
        flt.check_properties(_USER_FILTERABLE)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    rows = [_user_row(ctx, u) for u in ctx.tenant.iter_users() if not flt or flt.matches(wire.user_json(u))]
    return _page(ctx, rows, ctx.context("users"))


def _group_row(ctx: Ctx, group: Group) -> JsonDict:
    return _apply_select(wire.group_json(group), ctx.select())


async def get_group(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    group = ctx.tenant.group(m["id"])
    if group is None:
        raise directory_not_found(m["id"])
    return _entity(ctx, _group_row(ctx, group), ctx.context("groups/$entity"))


async def list_groups(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    flt = ctx.filter()
    try:
        flt.check_properties(_GROUP_FILTERABLE)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    name = flt.eq_value("displayName")
    candidates = ctx.tenant.groups_named(name) if name is not None else list(ctx.tenant.iter_groups())
    rows = [_group_row(ctx, g) for g in candidates if not flt or flt.matches(wire.group_json(g))]
    return _page(ctx, rows, ctx.context("groups"))


async def list_group_members(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    group = ctx.tenant.group(m["id"])
    if group is None:
        raise directory_not_found(m["id"])
    access = "owner" if m["rel"].lower() == "owners" else "member"
    rows = []
    flt = ctx.filter()
    for principal_id in ctx.tenant.directory_members(group.id, access):
        obj = ctx.tenant.directory_object(principal_id)
        if obj is None:
            continue
        row = wire.directory_object_json(obj)
        if flt and not flt.matches(row):
            continue
        rows.append(_apply_select(row, ctx.select()))
    return _page(ctx, rows, ctx.context("directoryObjects"))


async def check_member_groups(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    """POST /users/{id}/checkMemberGroups (learn.microsoft.com/graph/api/directoryobject-checkmembergroups): of the
    `groupIds` asked (at most 20), those the object is a member of, transitively; ids that are not groups are left
    out. Application permissions: GroupMember.Read.All with User.ReadBasic.All for a user, or Directory.Read.All.
    Membership as the directory shows it (Settings.membership_lag_seconds)."""
    if not (ctx.caller.has_any(GROUPS_R.any_of) and ctx.caller.has_any(USERS_R.any_of)):
        raise denied()
    if ctx.tenant.directory_object(m["id"]) is None:
        raise directory_not_found(m["id"])
    body = ctx.req.json()
    ids = body.get("groupIds") if isinstance(body, Mapping) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("The request body must carry 'groupIds' (a list of group ids).")
    if len(ids) > 20:
        raise bad_request("At most 20 groupIds may be checked in one call.")
    member_of = ctx.tenant.directory_member_groups(m["id"])
    found = [g for g in ids if g.lower() in member_of]
    return SimResponse(200, {"@odata.context": ctx.context("Collection(Edm.String)"), "value": found})


async def get_directory_object(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    obj = ctx.tenant.directory_object(m["id"])
    if obj is None:
        raise directory_not_found(m["id"])
    return _entity(
        ctx, _apply_select(wire.directory_object_json(obj), ctx.select()), ctx.context("directoryObjects/$entity")
    )


async def get_by_ids(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    """Learn: up to 1000 ids; `types` narrows the search (not case-sensitive; default: every directory object type);
    ids that match nothing are simply not in the answer. Who may call it: Settings.get_by_ids_per_type."""
    per_type = ctx.tenant.settings.get_by_ids_per_type
    if not per_type and not ctx.caller.has_any(GET_BY_IDS_R):
        raise denied()
    body = ctx.req.json()
    if not isinstance(body, Mapping) or not isinstance(body.get("ids"), list):
        raise bad_request("The request body must carry 'ids' (a list of object ids).")
    ids = body["ids"]
    if len(ids) > 1000:
        raise bad_request("At most 1000 ids may be requested.")
    types = {str(t).lower() for t in body.get("types") or ["directoryObject"]}
    rows = []
    for ident in ids:
        obj = ctx.tenant.directory_object(str(ident))
        kind = "user" if isinstance(obj, User) else "group"
        if obj is None or not types & {kind, "directoryobject"}:
            continue
        row = _apply_select(wire.directory_object_json(obj), ctx.select())
        if per_type and not ctx.caller.has_any((USERS_R if kind == "user" else GROUPS_R).any_of):
            row = {k: (v if k in ("@odata.type", "id") else None) for k, v in row.items()}  # limited information
        rows.append(row)
    return SimResponse(200, {"@odata.context": ctx.context("directoryObjects"), "value": rows})


async def get_container(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    return _entity(ctx, {"id": ctx.tenant.tenant_id}, ctx.context("identityGovernance/privilegedAccess/group/$entity"))


# ---------------------------------------------------------------------------------------------------- audit log


async def list_directory_audits(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    tenant = ctx.tenant
    now = tenant.now()
    retry_after = tenant.reports_throttle.admit(ctx.caller.app_id, now)
    if retry_after is not None:
        raise GraphError(
            429,
            "TooManyRequests",
            "Too many requests. Audit and report APIs allow 5 requests per 10 seconds per app per tenant.",
            headers={"Retry-After": str(retry_after)},
        )
    try:
        flt = parse_audit_filter(ctx.q("$filter"))
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    rows = [_apply_select(row, ctx.select()) for row in tenant.audit.listing(flt, now)]
    return _page(ctx, rows, ctx.context("auditLogs/directoryAudits"))


# ------------------------------------------------------------------------------------------------ Conditional Access


async def get_authentication_context(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    # An unknown id: the reference and the docs are silent; answered like other unknown objects (404 ResourceNotFound).
    context = ctx.tenant.authentication_contexts.get(m["id"].lower())
    if context is None:
        raise not_found("authenticationContextClassReference", m["id"])
    row = _apply_select(wire.authentication_context_json(context), ctx.select())
    return _entity(ctx, row, ctx.context("identity/conditionalAccess/authenticationContextClassReferences/$entity"))


# ---------------------------------------------------------------------------------------------------- Teams apps

_USER_APPS = f"/users/{_SEG}/teamwork/installedApps"
_IID = r"(?P<iid>[^/()]+)"


def _manages(ctx: Ctx, perm: Perm, app: CatalogApp) -> bool:
    """Whether the caller's permissions reach `app`: any non-Self one reaches every app, a Self one only the app whose
    webApplicationInfo id is the caller's own (microsoft-graph-docs-contrib#330, #478)."""
    caller = ctx.caller
    granted = (caller.roles if caller.is_app else caller.scopes) & perm.accepted(caller)
    return bool(granted - SELF_ONLY) or (app.azure_ad_app_id or "").lower() == caller.app_id.lower()


def _catalog_row(app: CatalogApp, expand: Mapping[str, ExpandItem]) -> JsonDict:
    row = wire.teams_app_json(app)
    definitions = expand.get("appdefinitions")
    if definitions is not None:
        row["appDefinitions"] = [wire.app_definition_json(app, bot="bot" in definitions.expand)]
    return row


def _only_expand(expand: Mapping[str, ExpandItem], known: set[str], owner: str) -> None:
    unknown = sorted(set(expand) - known)
    if unknown:
        raise bad_request(f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.{owner}'.")


async def list_catalog(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    flt = ctx.filter()
    expand = ctx.expand()
    _only_expand(expand, {"appdefinitions"}, "teamsApp")
    full = {"appdefinitions": ExpandItem("appDefinitions", None, {"bot": ExpandItem("bot")})}
    rows = [
        _apply_select(_catalog_row(app, expand), ctx.select())
        for app in ctx.tenant.teams.catalog.values()
        if not flt or flt.matches(_catalog_row(app, full))
    ]
    return _page(ctx, rows, ctx.context("appCatalogs/teamsApps"))


async def get_catalog_app(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    app = ctx.tenant.teams.app(m["id"])
    if app is None:
        raise GraphError(404, "NotFound", f"The teamsApp '{m['id']}' was not found.")
    return _entity(ctx, _catalog_row(app, ctx.expand()), ctx.context("appCatalogs/teamsApps/$entity"))


def _installation_row(ctx: Ctx, installation: Installation, expand: Mapping[str, ExpandItem]) -> JsonDict:
    row = wire.installation_json(installation)
    app = ctx.tenant.teams.app(installation.app_id)
    if app is not None and "teamsapp" in expand:
        row["teamsApp"] = wire.teams_app_json(app)
    if app is not None and "teamsappdefinition" in expand:
        row["teamsAppDefinition"] = wire.app_definition_json(app, bot=False)
    return row


def _teams_user(ctx: Ctx, user_id: str) -> str:
    user = ctx.tenant.user(user_id)
    if user is None:
        raise directory_not_found(user_id)
    return user.id


def _visible_installations(ctx: Ctx, user_id: str) -> list[Installation]:
    teams = ctx.tenant.teams
    return [
        i
        for i in teams.of_user(user_id)
        if (app := teams.app(i.app_id)) is not None and _manages(ctx, INSTALLED_R, app)
    ]


async def list_installed(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    user_id = _teams_user(ctx, m["id"])
    flt = ctx.filter()
    expand = ctx.expand()
    _only_expand(expand, {"teamsapp", "teamsappdefinition"}, "teamsAppInstallation")
    full = {"teamsapp": ExpandItem("teamsApp"), "teamsappdefinition": ExpandItem("teamsAppDefinition")}
    rows = [
        _apply_select(_installation_row(ctx, i, expand), ctx.select())
        for i in _visible_installations(ctx, user_id)
        if not flt or flt.matches(_installation_row(ctx, i, full))
    ]
    return _page(ctx, rows, ctx.context(f"users('{user_id}')/teamwork/installedApps"))


def _installation(ctx: Ctx, m: re.Match[str]) -> Installation:
    user_id = _teams_user(ctx, m["id"])
    found = next((i for i in _visible_installations(ctx, user_id) if i.id == m["iid"]), None)
    if found is None:
        raise GraphError(404, "NotFound", f"The teamsAppInstallation '{m['iid']}' was not found.")
    return found


async def get_installed(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    row = _installation_row(ctx, _installation(ctx, m), ctx.expand())
    return _entity(ctx, row, ctx.context("users/teamwork/installedApps/$entity"))


async def get_installed_chat(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    installation = _installation(ctx, m)
    row = wire.chat_json(installation, ctx.tenant.tenant_id, wire.instant(ctx.tenant.now()) or "")
    return _entity(ctx, _apply_select(row, ctx.select()), ctx.context("chats/$entity"))


_BIND = re.compile(r"/appCatalogs/teamsApps/(?P<app>[^/?#]+)$", re.IGNORECASE)


async def install_app(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    body = ctx.req.json()
    bind = body.get("teamsApp@odata.bind") if isinstance(body, Mapping) else None
    found = _BIND.search(bind) if isinstance(bind, str) else None
    if found is None:
        raise bad_request("The request body must bind 'teamsApp@odata.bind' to …/appCatalogs/teamsApps/{id}.")
    user_id = _teams_user(ctx, m["id"])
    teams = ctx.tenant.teams
    app = teams.app(found["app"])
    if app is None:
        raise GraphError(404, "NotFound", f"The teamsApp '{found['app']}' was not found in the app catalog.")
    if not _manages(ctx, INSTALL_W, app):
        raise GraphError(
            403, "Forbidden", f"AAD App Id '{ctx.caller.app_id}' is not allowed to manage the Teams App ''"
        )
    if teams.installed(user_id, app.id) is not None:
        raise conflict(f"The app '{app.id}' is already installed for the user.")
    teams.install(user_id, app.id)
    return SimResponse(201)


# ---------------------------------------------------------------------------------------------------- Shifts


async def list_shifts(ctx: Ctx, m: re.Match[str]) -> SimResponse:
    """GET /teams/{id}/schedule/shifts (simtenant.shifts: sources and what is inferred)."""
    acting = ctx.caller.oid
    if ctx.caller.is_app:
        acting = next((v for k, v in ctx.req.headers.items() if k.lower() == "ms-app-acts-as"), None)
        if not acting:
            raise GraphError(
                403, "Forbidden", "MS-APP-ACTS-AS header needs to be set for application context requests."
            )
    shifts = ctx.tenant.shifts.team(m["id"])
    tenant = ctx.tenant
    sees = acting is not None and any(tenant.is_member(m["id"], acting, a) for a in ("member", "owner"))
    if shifts is None or not sees:
        raise GraphError(404, "NotFound", "Sorry, the team was not found, or you may not have access to it.")
    try:
        wanted = parse_shift_filter(ctx.q("$filter"))
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    rows = [shift_json(s) for s in shifts if wanted(s)]
    return _page(ctx, rows, ctx.context(f"teams('{m['id']}')/schedule/shifts"))


# ---------------------------------------------------------------------------------------------------- routes


def _coll_perm(m: re.Match[str], write: bool = False) -> Perm:
    kind, _ = _COLLECTIONS[m["coll"].lower()]
    if kind == "assignment":
        return ASSIGN_W if write else ASSIGN_R
    return ELIG_W if write else ELIG_R


def _r(
    method: str,
    pattern: str,
    name: str,
    perm: Perm | Callable[[re.Match[str]], Perm],
    handler: Handler,
    pim: bool = True,
) -> Route:
    return Route(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), name, perm, handler, pim)


_EXT = "/identityGovernance/privilegedAccess/customExtensions"

ROUTES: tuple[Route, ...] = (
    _r("GET", _EXT, "GET customExtensions", CUSTOM_EXT_R, list_extensions),
    _r("POST", _EXT, "POST customExtensions", CUSTOM_EXT_W, create_extension),
    _r("GET", f"{_EXT}/{_SEG}", "GET customExtensions/{id}", CUSTOM_EXT_R, get_extension),
    _r("PATCH", f"{_EXT}/{_SEG}", "PATCH customExtensions/{id}", CUSTOM_EXT_W, update_extension),
    _r("DELETE", f"{_EXT}/{_SEG}", "DELETE customExtensions/{id}", CUSTOM_EXT_W, delete_extension),
    _r("GET", P, "GET privilegedAccess/group", ASSIGN_R, get_container),
    _r("GET", f"{P}/{_COLL}/{_FBCU}", "GET {coll}/filterByCurrentUser", _coll_perm, filter_by_current_user),
    _r("GET", f"{P}/{_COLL}", "GET {coll}", _coll_perm, list_collection),
    _r("POST", f"{P}/{_COLL}", "POST {coll}", lambda m: _coll_perm(m, True), create_request),
    _r("POST", f"{P}/{_COLL}/{_SEG}/cancel", "POST {coll}/{id}/cancel", lambda m: _coll_perm(m, True), cancel_request),
    _r(
        "GET",
        f"{P}/{_COLL}/{_SEG}/(?P<nav>group|principal|targetSchedule|activatedUsing)",
        "GET {coll}/{id}/{nav}",
        _coll_perm,
        get_navigation,
    ),
    _r("GET", f"{P}/{_COLL}/{_SEG}", "GET {coll}/{id}", _coll_perm, get_item),
    _r(
        "GET",
        f"{P}/assignmentApprovals/{_FBCU}",
        "GET assignmentApprovals/filterByCurrentUser",
        APPROVAL_R,
        approvals_for_me,
    ),
    _r("GET", f"{P}/assignmentApprovals/{_SEG}", "GET assignmentApprovals/{id}", APPROVAL_R, get_approval),
    _r(
        "GET",
        f"{P}/assignmentApprovals/{_SEG}/(?P<stages>stages|steps)",
        "GET assignmentApprovals/{id}/stages",
        APPROVAL_R,
        list_stages,
    ),
    _r(
        "GET",
        f"{P}/assignmentApprovals/{_SEG}/(?:stages|steps)/(?P<sid>[^/]+)",
        "GET assignmentApprovals/{id}/stages/{id}",
        APPROVAL_R,
        get_stage,
    ),
    _r(
        "PATCH",
        f"{P}/assignmentApprovals/{_SEG}/(?:stages|steps)/(?P<sid>[^/]+)",
        "PATCH assignmentApprovals/{id}/stages/{id}",
        APPROVAL_W,
        patch_stage,
    ),
    _r(
        "GET",
        "/policies/roleManagementPolicyAssignments",
        "GET roleManagementPolicyAssignments",
        POLICY_R,
        list_policy_assignments,
    ),
    _r(
        "GET",
        f"/policies/roleManagementPolicyAssignments/{_SEG}",
        "GET roleManagementPolicyAssignments/{id}",
        POLICY_R,
        get_policy_assignment,
    ),
    _r("GET", "/policies/roleManagementPolicies", "GET roleManagementPolicies", POLICY_R, list_policies),
    _r("GET", f"/policies/roleManagementPolicies/{_SEG}", "GET roleManagementPolicies/{id}", POLICY_R, get_policy),
    _r(
        "GET",
        f"/policies/roleManagementPolicies/{_SEG}/rules",
        "GET roleManagementPolicies/{id}/rules",
        POLICY_R,
        list_rules,
    ),
    _r(
        "GET",
        f"/policies/roleManagementPolicies/{_SEG}/rules/(?P<rid>[^/]+)",
        "GET roleManagementPolicies/{id}/rules/{id}",
        POLICY_R,
        get_rule,
    ),
    _r(
        "PATCH",
        f"/policies/roleManagementPolicies/{_SEG}/rules/(?P<rid>[^/]+)",
        "PATCH roleManagementPolicies/{id}/rules/{id}",
        POLICY_W,
        patch_rule,
    ),
    _r("GET", "/me", "GET me", NO_PERM, get_me, pim=False),
    _r("GET", "/users", "GET users", NO_PERM, list_users, pim=False),
    _r("GET", f"/users/{_SEG}", "GET users/{id}", NO_PERM, get_user, pim=False),
    _r("GET", "/groups", "GET groups", GROUPS_R, list_groups, pim=False),
    _r("GET", f"/groups/{_SEG}", "GET groups/{id}", GROUPS_R, get_group, pim=False),
    _r(
        "GET",
        f"/groups/{_SEG}/(?P<rel>members|owners)",
        "GET groups/{id}/members",
        GROUPS_R,
        list_group_members,
        pim=False,
    ),
    _r(
        "GET",
        f"/identity/conditionalAccess/authenticationContextClassReferences/{_SEG}",
        "GET authenticationContextClassReferences/{id}",
        AUTH_CONTEXT_R,
        get_authentication_context,
        pim=False,
    ),
    _r("GET", "/auditLogs/directoryAudits", "GET auditLogs/directoryAudits", AUDIT_R, list_directory_audits, pim=False),
    _r("POST", "/directoryObjects/getByIds", "POST directoryObjects/getByIds", DIRECTORY_R, get_by_ids, pim=False),
    _r(
        "POST",
        f"/(?:users|directoryObjects)/{_SEG}/checkMemberGroups",
        "POST users/{id}/checkMemberGroups",
        NO_PERM,
        check_member_groups,
        pim=False,
    ),
    _r("GET", f"/directoryObjects/{_SEG}", "GET directoryObjects/{id}", DIRECTORY_R, get_directory_object, pim=False),
    _r("GET", "/appCatalogs/teamsApps", "GET appCatalogs/teamsApps", CATALOG_R, list_catalog, pim=False),
    _r(
        "GET", f"/appCatalogs/teamsApps/{_SEG}", "GET appCatalogs/teamsApps/{id}", CATALOG_R, get_catalog_app, pim=False
    ),
    _r("GET", f"/teams/{_SEG}/schedule/shifts", "GET teams/{id}/schedule/shifts", SHIFTS_R, list_shifts, pim=False),
    _r("GET", f"{_USER_APPS}", "GET users/{id}/teamwork/installedApps", INSTALLED_R, list_installed, pim=False),
    _r("POST", f"{_USER_APPS}", "POST users/{id}/teamwork/installedApps", INSTALL_W, install_app, pim=False),
    _r(
        "GET",
        f"{_USER_APPS}/{_IID}",
        "GET users/{id}/teamwork/installedApps/{id}",
        INSTALLED_R,
        get_installed,
        pim=False,
    ),
    _r(
        "GET",
        f"{_USER_APPS}/{_IID}/chat",
        "GET users/{id}/teamwork/installedApps/{id}/chat",
        INSTALLED_R,
        get_installed_chat,
        pim=False,
    ),
)


# ---------------------------------------------------------------------------------------------------- dispatch


def _innererror(now: datetime, client_request_id: str, request_id: str) -> JsonDict:
    return {
        "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }


class GraphApi:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        # Every custom-extension callout: {"request", "extension", "attempts": [{attempt, url, status|error, seconds}]}
        self.callouts: list[JsonDict] = []

    # -- entry points

    async def handle(self, req: SimRequest) -> SimResponse:
        """One HTTP request to /v1.0 (not inside a batch)."""
        self.tenant.stats.graph_requests += 1
        request_id = str(uuid.uuid4())
        client_request_id = req.headers.get("client-request-id") or str(uuid.uuid4())
        caller: Caller | None = None
        route_name = "unknown"
        try:
            caller = self._authenticate(req.headers.get("Authorization"))
            if req.method.upper() == "POST" and req.path.rstrip("/").lower() == "/$batch":
                route_name = "POST $batch"
                self.tenant.stats.by_route[route_name] += 1
                response = await self._with_faults(req, caller, lambda: self._batch(req, caller), pim=False)
            else:
                response, route_name = await self._dispatch(req, caller)
        except GraphError as err:
            response = self._error(err, wrapped=False)
        return self._finish(req, response, caller, route_name, request_id, client_request_id)

    def _authenticate(self, header: str | None) -> Caller:
        if not header:
            raise self._unauthorized("Access token is empty.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._unauthorized("Access token is empty.")
        try:
            return self.tenant.tokens.verify(token.strip())
        except TokenError as exc:
            raise self._unauthorized(str(exc)) from exc

    @staticmethod
    def _unauthorized(message: str) -> GraphError:
        return GraphError(
            401,
            "InvalidAuthenticationToken",
            message,
            headers={
                "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
            },
        )

    def _match(self, req: SimRequest) -> tuple[Route, re.Match[str]]:
        path = req.path if req.path.startswith("/") else "/" + req.path
        method_mismatch = False
        for route in ROUTES:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == req.method.upper():
                return route, m
            method_mismatch = True
        if method_mismatch:
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{req.method}' is not allowed here.")
        segment = path.rstrip("/").rsplit("/", 1)[-1]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    async def _dispatch(self, req: SimRequest, caller: Caller) -> tuple[SimResponse, str]:
        route, m = self._match(req)
        name = route.name
        if "coll" in m.groupdict():
            name = name.replace("{coll}", _CANONICAL[m["coll"].lower()])
        self.tenant.stats.by_route[name] += 1

        async def run() -> SimResponse:
            ctx = Ctx(self, caller, req)
            self._authorize(route, m, caller)
            return await route.handler(ctx, m)

        return await self._with_faults(req, caller, run, pim=route.pim), name

    def _authorize(self, route: Route, m: re.Match[str], caller: Caller) -> None:
        perm = route.perm if isinstance(route.perm, Perm) else route.perm(m)
        if perm.delegated_only and caller.is_app:
            raise app_only_refused("This operation")
        accepted = perm.accepted(caller)
        if accepted and not caller.has_any(accepted):
            if perm.refusal is not None:
                raise perm.refusal()
            if perm.teams:
                granted = caller.roles if caller.is_app else caller.scopes
                raise teams_forbidden(sorted(accepted), sorted(granted), delegated=not caller.is_app)
            raise denied() if perm.directory else missing_permission(perm.report)

    async def _with_faults(
        self, req: SimRequest, caller: Caller, work: Callable[[], Awaitable[SimResponse]], *, pim: bool
    ) -> SimResponse:
        fault = self.tenant.faults.take(req.method, f"/{req.version}{req.path}")
        if fault is not None and not fault.after_processing:
            await _sleep(fault.delay_seconds)
            if fault.drop:
                raise ConnectionDropped()
            if fault.status is not None:
                return self._fault_response(fault)
        try:
            response = await work()
        except GraphError as err:
            response = self._error(err, wrapped=pim and self.tenant.settings.wrapped_errors)
        if fault is not None and fault.after_processing:
            await _sleep(fault.delay_seconds)
            if fault.drop:
                raise ConnectionDropped()
            if fault.status is not None:
                return self._fault_response(fault)
        return response

    def _fault_response(self, fault: Fault) -> SimResponse:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        if fault.status == 429:
            headers["x-ms-throttle-scope"] = (
                f"Tenant_Application/ReadWrite/{self.tenant.default_client_id}/{self.tenant.tenant_id}"
            )
            headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
        err = GraphError(fault.status or 500, fault.error_code, fault.error_message, headers=headers)
        return self._error(err, wrapped=fault.wrapped)

    def _error(self, err: GraphError, *, wrapped: bool) -> SimResponse:
        if wrapped:
            body = {"error": {"code": "UnknownError", "message": err.wrapped_text()}}
        else:
            body = {"error": {"code": err.code, "message": err.message}}
        return SimResponse(err.status, body, dict(err.headers))

    def _finish(
        self,
        req: SimRequest,
        response: SimResponse,
        caller: Caller | None,
        route_name: str,
        request_id: str,
        client_request_id: str,
    ) -> SimResponse:
        if response.body is not None and "error" in response.body and isinstance(response.body["error"], dict):
            response.body["error"]["innerError"] = _innererror(self.tenant.now(), client_request_id, request_id)
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", client_request_id)
        # Like every HTTP service, Graph dates its answers by its own clock; here that is the simulated clock.
        response.headers["Date"] = format_datetime(self.tenant.now(), usegmt=True)
        self.tenant.stats.by_status[response.status] += 1
        self.tenant.log.add(
            {
                "time": wire.instant(self.tenant.now()),
                "method": req.method.upper(),
                "path": f"/{req.version}{req.path}",
                "query": dict(req.query),
                "caller": None if caller is None else caller.kind,
                "oid": None if caller is None else caller.oid,
                "app_id": None if caller is None else caller.app_id,
                "route": route_name,
                "status": response.status,
                "inner": req.inner,
                "error": (response.body or {}).get("error", {}).get("code") if response.status >= 400 else None,
            }
        )
        return response

    # -- $batch

    async def _batch(self, req: SimRequest, caller: Caller) -> SimResponse:
        body = req.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("requests"), list):
            raise bad_request("Invalid batch payload format: a 'requests' array is required.")
        items = body["requests"]
        if len(items) > BATCH_LIMIT:
            raise bad_request(f"Number of batch request steps exceeds the maximum of {BATCH_LIMIT}.")
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, Mapping):
                raise bad_request("Invalid batch payload format: every request must be an object.")
            ident = item.get("id")
            if not isinstance(ident, str | int) or str(ident) == "":
                raise bad_request("Invalid batch payload format: every request needs an 'id'.")
            if str(ident) in seen:
                raise bad_request(f"Batch request contains duplicate request id '{ident}'.")
            if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
                raise bad_request(f"Invalid batch payload format: request '{ident}' needs 'method' and 'url'.")
            depends = item.get("dependsOn") or []
            if not isinstance(depends, list) or any(str(d) not in seen for d in depends):
                raise bad_request(f"Request '{ident}' depends on an unknown or later request id.")
            headers = item.get("headers") or {}
            if not isinstance(headers, Mapping):
                raise bad_request(f"Invalid batch payload format: headers of request '{ident}' must be an object.")
            if item.get("body") is not None and not any(k.lower() == "content-type" for k in headers):
                raise bad_request(f"Content-Type header must be specified for request '{ident}' with a body.")
            seen.add(str(ident))
        statuses: dict[str, int] = {}
        responses: list[JsonDict] = []
        for item in items:
            self.tenant.stats.batch_inner_requests += 1
            ident = str(item["id"])
            depends = [str(d) for d in item.get("dependsOn") or []]
            if any(statuses.get(d, 500) >= 400 for d in depends):
                statuses[ident] = 424
                responses.append(
                    {
                        "id": ident,
                        "status": 424,
                        "headers": {"Content-Type": "application/json"},
                        "body": {
                            "error": {
                                "code": "FailedDependency",
                                "message": "The request failed because a request it depends on failed.",
                            }
                        },
                    }
                )
                continue
            response = await self._inner(req, caller, item)
            statuses[ident] = response.status
            entry: JsonDict = {"id": ident, "status": response.status, "headers": response.headers}
            if response.body is not None:
                entry["body"] = response.body
            responses.append(entry)
        if self.tenant.settings.shuffle_batch_responses:
            responses.reverse()
        return SimResponse(200, {"responses": responses})

    async def _inner(self, outer: SimRequest, caller: Caller, item: Mapping[str, Any]) -> SimResponse:
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        request_id = str(uuid.uuid4())
        client_request_id = next((v for k, v in headers.items() if k.lower() == "client-request-id"), "") or str(
            uuid.uuid4()
        )
        raw_url = str(item["url"])
        url = URL(raw_url if raw_url.startswith("/") else "/" + raw_url)
        body = item.get("body")
        raw_body = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        path = url.path
        if path.lower().startswith(f"/{outer.version}/"):
            path = path[len(outer.version) + 1 :]
        inner = SimRequest(
            method=str(item["method"]).upper(),
            path=path,
            query={k: v for k, v in url.query.items()},
            headers=headers,
            body=raw_body,
            base_url=outer.base_url,
            remote=outer.remote,
            inner=True,
            version=outer.version,
        )
        route_name = "unknown"
        try:
            if raw_url.lower().startswith(("http://", "https://")):
                raise bad_request("Batch request URLs must be relative.")
            if path.rstrip("/").lower() == "/$batch":
                raise bad_request("A batch request cannot contain another batch request.")
            response, route_name = await self._dispatch(inner, caller)
        except GraphError as err:
            response = self._error(err, wrapped=False)
        response.headers.setdefault("Content-Type", "application/json")
        return self._finish(inner, response, caller, route_name, request_id, client_request_id)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
