"""The demo tenant's people acting behind the bot's back, as they would in Microsoft's own clients.

- A colleague asks for a group (the Entra portal's "My roles › Activate"): one `selfActivate` POST to
  `assignmentScheduleRequests` with the colleague's own delegated token. Never an adminAssign: PIM lets only the
  principal self-activate (graph-pim-groups.md), and a request that needs approval then waits for its approvers.
- An administrator assigns an eligibility (the portal's "Add assignments", Eligible): one `adminAssign` POST to
  `eligibilityScheduleRequests` with the administrator's delegated token.

Each is one Graph request dispatched through `GraphApi.handle`, exactly as an HTTP request with that token would be:
permissions, policy checks, injected faults, the audit log and the request log all apply. Nothing here is Microsoft
behaviour of its own; this is the demo's stand-in for people using the portal (`/_sim/act/*`, `python -m simtenant
request|assign`).

Names are matched as the bot matches them: case- and separator-insensitive (`teams-admins` is "Teams Admins"); a user
also by the part of the UPN before the @ (`carol`) or the given name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from simtenant.entities import Group, User
from simtenant.graph_api import GraphApi, SimRequest, SimResponse
from simtenant.model import Tenant

__all__ = ["Acted", "ActError", "admin_assigns", "colleague_asks", "find_group", "find_user"]

PIM = "/identityGovernance/privilegedAccess/group"
GRAPH = "https://graph.microsoft.com"
# What the portal's token carries for these pages (scopes of the Graph calls it makes).
_ASK_SCOPES = ("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "RoleManagementPolicy.Read.AzureADGroup")
_ASSIGN_SCOPES = ("PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup", "RoleManagementPolicy.Read.AzureADGroup")
JUSTIFICATIONS = (
    "Firewall change CHG-2041 in tonight's window",
    "Replacing the core switch in building 2",
    "VPN gateway certificate renewal",
)


class ActError(Exception):
    """Nobody could act: `status` is the HTTP status to answer (404 unknown name, 409 nothing to do), `message` says
    why in a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Acted:
    """What a person did and what Graph answered (`status` 201, or Graph's error status with `error`)."""

    user: User
    group: Group
    by: User
    status: int
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "user": {"id": self.user.id, "name": self.user.display_name},
            "group": {"id": self.group.id, "name": self.group.display_name},
            "by": {"id": self.by.id, "name": self.by.display_name},
        }
        if self.status < 300:
            out["request"] = {k: self.body.get(k) for k in ("id", "status", "action", "accessId", "justification")}
        else:
            out["error"] = self.body.get("error") or self.body
        return out


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).casefold()


def find_user(tenant: Tenant, name: str) -> User:
    """A user by object id, UPN, the UPN's part before the @, display name or given name. Raises ActError 404."""
    direct = tenant.user(name)
    if direct is not None:
        return direct
    wanted = _key(name)
    found = [
        u
        for u in tenant.iter_users()
        if wanted
        in (_key(u.user_principal_name.split("@")[0]), _key(u.display_name), _key(u.given_name or u.display_name))
    ]
    if len(found) != 1:
        raise ActError(404, f"no single user is called {name!r}" if found else f"there is no user {name!r}")
    return found[0]


def find_group(tenant: Tenant, name: str) -> Group:
    """A group by object id or display name (case- and separator-insensitive). Raises ActError 404."""
    direct = tenant.group(name)
    if direct is not None:
        return direct
    found = [g for g in tenant.iter_groups() if _key(g.display_name) == _key(name)]
    if len(found) != 1:
        raise ActError(404, f"no single group is called {name!r}" if found else f"there is no group {name!r}")
    return found[0]


async def colleague_asks(
    api: GraphApi,
    base_url: str,
    *,
    user: str | None = None,
    group: str | None = None,
    approver: str | None = None,
    minutes: int = 60,
    justification: str | None = None,
) -> Acted:
    """A colleague self-activates membership of a group with their own token. Either `user` and `group` are named,
    or `approver` is: then a group whose activation needs that person's approval and a colleague eligible for it who
    has nothing waiting or active there are chosen (the first by name). Raises ActError."""
    tenant = api.tenant
    if approver is not None:
        asker, target = _colleague_of(tenant, find_user(tenant, approver))
    else:
        asker, target = find_user(tenant, user or ""), find_group(tenant, group or "")
    asked = len(tenant.requests_for("assignment", group_id=target.id))
    body = {
        "action": "selfActivate",
        "principalId": asker.id,
        "groupId": target.id,
        "accessId": "member",
        "justification": justification or JUSTIFICATIONS[asked % len(JUSTIFICATIONS)],
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": f"PT{minutes}M"}},
    }
    answer = await _as(api, base_url, asker, _ASK_SCOPES, f"{PIM}/assignmentScheduleRequests", body)
    return Acted(asker, target, asker, answer.status, answer.body or {})


async def admin_assigns(
    api: GraphApi,
    base_url: str,
    *,
    user: str,
    group: str,
    access: str = "member",
    days: int = 180,
    by: str | None = None,
    justification: str | None = None,
) -> Acted:
    """An administrator (`by`, else the tenant's first user holding an admin role) makes `user` eligible for `access`
    of `group` for `days` from now (PIM's default policy requires an end, at most a year). Raises ActError."""
    tenant = api.tenant
    admin = find_user(tenant, by) if by else next((u for u in tenant.iter_users() if u.is_admin), None)
    if admin is None:
        raise ActError(404, "the tenant has no administrator to make the assignment")
    member, target = find_user(tenant, user), find_group(tenant, group)
    expiration = {"type": "afterDuration", "duration": f"P{days}D"}
    body = {
        "action": "adminAssign",
        "principalId": member.id,
        "groupId": target.id,
        "accessId": access,
        "justification": justification or "Assigned in the Entra portal",
        "scheduleInfo": {"expiration": expiration},
    }
    answer = await _as(api, base_url, admin, _ASSIGN_SCOPES, f"{PIM}/eligibilityScheduleRequests", body)
    return Acted(member, target, admin, answer.status, answer.body or {})


def _colleague_of(tenant: Tenant, approver: User) -> tuple[User, Group]:
    """The first group (by name) whose member activation needs `approver`'s approval, and the first colleague (by
    name) directly eligible for it with no request waiting and no access active there."""
    groups = sorted(tenant.iter_groups(), key=lambda g: g.display_name.casefold())
    approved = [g for g in groups if tenant.approves(g.id, "member", approver.id)]
    if not approved:
        raise ActError(404, f"no group's activation needs the approval of {approver.display_name}")
    for group in approved:
        for user in _eligible_users(tenant, group, approver):
            if not _busy(tenant, group, user):
                return user, group
    names = ", ".join(g.display_name for g in approved)
    raise ActError(
        409,
        f"every colleague who may ask for {names} already has a request waiting or the access active: "
        "approve or deny one first",
    )


def _eligible_users(tenant: Tenant, group: Group, approver: User) -> list[User]:
    users = []
    for schedule in tenant.schedules_for("eligibility", group_id=group.id, instances=True):
        user = tenant.user(schedule.principal_id)
        if schedule.access_id == "member" and user is not None and user.id != approver.id:
            users.append(user)
    return sorted(users, key=lambda u: u.display_name.casefold())


def _busy(tenant: Tenant, group: Group, user: User) -> bool:
    waiting = any(
        r.status == "PendingApproval" and r.access_id == "member"
        for r in tenant.requests_for("assignment", principal_id=user.id, group_id=group.id)
    )
    active = any(
        s.access_id == "member"
        for s in tenant.schedules_for("assignment", principal_id=user.id, group_id=group.id, instances=True)
    )
    return waiting or active


async def _as(
    api: GraphApi, base_url: str, user: User, scopes: tuple[str, ...], path: str, body: dict[str, Any]
) -> SimResponse:
    """POST `body` to Graph's `path` with `user`'s delegated token, through the same handler as HTTP requests."""
    tenant = api.tenant
    token = tenant.tokens.issue_user_token(user, tenant.default_client_id or "", scopes, audience=GRAPH)
    request = SimRequest(
        method="POST",
        path=path,
        query={},
        headers=CIMultiDict({"Authorization": f"Bearer {token}", "Content-Type": "application/json"}),
        body=json.dumps(body).encode(),
        base_url=base_url,
        remote="127.0.0.1",
    )
    return await api.handle(request)
