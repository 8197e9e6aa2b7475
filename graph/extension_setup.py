"""Setting the bot up as a group's PIM custom extension through Graph (issue 15 point 4): create (or update) the
`roleManagementCustomCalloutExtension` and link it to the group's member or owner policy with a
`unifiedRoleManagementPolicyCustomExtensionRule`. Run as an administrator (delegated token) by `python -m admin
extension setup`; the request shapes live here, with their sources, and nowhere else.

Sources (collected in ../shared/reference/pim-custom-extension.md, cited "ref §n"):
* `POST /identityGovernance/privilegedAccess/customExtensions` → 201 (Graph privilegedaccessroot-post-customextensions);
  list with `$filter=resourceType eq 'entraGroups'` (…-list-customextensions); `PATCH …/customExtensions/{id}` (
  rolemanagementcustomcalloutextension-update). Permission `PrivilegedAccess-CustomExt.ReadWrite.All`; the signed-in
  user needs at least Privileged Role Administrator. The how-to requires Graph **beta** ("because this feature is in
  preview"); v1.0 reference pages exist too (Q9), so the base URL is the caller's choice, beta by default.
* The body is the how-to's example: httpRequestEndpoint {targetUrl}, azureAdTokenAuthentication {resourceId = the
  Application ID URI}, customExtensionClientConfiguration {timeoutInMilliseconds 1000–60000, maximumRetries 0–5},
  resourceType entraGroups. `id`: a GUID chosen here — the how-to omits it, but two third parties saw creation refused
  without one ("Id property needs to have a GUID value", ref §1.1); sending it works either way.
* The group's policy: `GET /policies/roleManagementPolicyAssignments?$filter=scopeId eq '{group}' and scopeType eq
  'Group' and roleDefinitionId eq '{member|owner}'` → policyId (Graph policy assignment list, ref §1.3).
* The rule: `PATCH /policies/roleManagementPolicies/{policyId}/rules/CustomExtension_PreApproval_EndUser_Assignment`
  with `#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule` {customExtensionId, isEnabled, target}
  (Graph unifiedrolemanagementpolicycustomextensionrule; the rule id is third-party, inferred the same for Groups:
  ref §1.3, Q11). Permission `RoleManagementPolicy.ReadWrite.AzureADGroup`. If a tenant answers 404 (a policy that
  never had the rule: azd-pim needed a full-policy append for roles), the operator is told to tick "Require
  pre-approval custom extension to activate" in the group's PIM settings instead.

Running it again is safe: an extension already pointing at the same URL is updated, not duplicated, and the rule is
set again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.models import Access
from graph.client import GraphClient, JsonObject
from graph.errors import GraphError

__all__ = [
    "EXTENSIONS",
    "PRE_APPROVAL_RULE",
    "SCOPES",
    "ExtensionConfig",
    "PlannedCall",
    "SetupResult",
    "SetupRefused",
    "plan",
    "set_up",
]

EXTENSIONS = "/identityGovernance/privilegedAccess/customExtensions"
PRE_APPROVAL_RULE = "CustomExtension_PreApproval_EndUser_Assignment"
POLICY_ASSIGNMENTS = "/policies/roleManagementPolicyAssignments"
# What the operator consents to: the two the issue names, and group reads to find a group by its name.
SCOPES = (
    "PrivilegedAccess-CustomExt.ReadWrite.All",
    "RoleManagementPolicy.ReadWrite.AzureADGroup",
    "GroupMember.Read.All",
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True, slots=True)
class ExtensionConfig:
    """What the operator asked for. `group`: object id or display name; timeout in whole seconds (1–60)."""

    group: str
    access: Access
    target_url: str
    resource_id: str
    timeout_seconds: int
    retries: int
    display_name: str = "PIM Teams bot"
    description: str = "Ticket checks and on-call auto-approval by the PIM Teams bot"

    def body(self, extension_id: str | None) -> JsonObject:
        """The extension as Graph takes it (the how-to's example); `extension_id` None for a PATCH."""
        body: JsonObject = {
            "@odata.type": "#microsoft.graph.roleManagementCustomCalloutExtension",
            "displayName": self.display_name,
            "description": self.description,
            "endpointConfiguration": {
                "@odata.type": "#microsoft.graph.httpRequestEndpoint",
                "targetUrl": self.target_url,
            },
            "clientConfiguration": {
                "@odata.type": "#microsoft.graph.customExtensionClientConfiguration",
                "timeoutInMilliseconds": self.timeout_seconds * 1000,
                "maximumRetries": self.retries,
            },
            "authenticationConfiguration": {
                "@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
                "resourceId": self.resource_id,
            },
            "resourceType": "entraGroups",
        }
        if extension_id is not None:
            body = {"id": extension_id, **body, "customAttributes": []}
        return body


def rule_body(extension_id: str) -> JsonObject:
    return {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule",
        "id": PRE_APPROVAL_RULE,
        "customExtensionId": extension_id,
        "isEnabled": True,
        "target": {
            "caller": "EndUser",
            "operations": ["All"],
            "level": "Assignment",
            "inheritableSettings": [],
            "enforcedSettings": [],
        },
    }


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One Graph request, for --dry-run: what it is for, and the request as it would be sent."""

    purpose: str
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class SetupResult:
    group_id: str
    group_name: str | None
    policy_id: str
    extension_id: str
    extension: str  # "created" | "updated"


class SetupRefused(Exception):
    """Graph refused or the input names nothing: `message` says what the operator does about it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _is_guid(value: str) -> bool:
    return _GUID.match(value) is not None


def plan(config: ExtensionConfig, extension_id: str) -> list[PlannedCall]:
    """The requests `set_up` makes, ids it cannot know without Graph in braces (--dry-run signs nobody in)."""
    calls: list[PlannedCall] = []
    group_id = config.group
    if not _is_guid(config.group):
        calls.append(
            PlannedCall(
                f"find the group named {config.group!r}",
                "GET",
                "/groups",
                {"$filter": f"displayName eq {_literal(config.group)}", "$select": "id,displayName"},
            )
        )
        group_id = "{group id}"
    calls.append(
        PlannedCall(
            f"find the group's {config.access.value} policy",
            "GET",
            POLICY_ASSIGNMENTS,
            _policy_filter(group_id, config.access),
        )
    )
    calls.append(
        PlannedCall(
            "look for an extension already pointing at this URL (then it is updated instead)",
            "GET",
            EXTENSIONS,
            {"$filter": "resourceType eq 'entraGroups'"},
        )
    )
    calls.append(PlannedCall("create the custom extension", "POST", EXTENSIONS, body=config.body(extension_id)))
    calls.append(
        PlannedCall(
            f"link it to the group's {config.access.value} policy (pre-approval)",
            "PATCH",
            f"/policies/roleManagementPolicies/{{policy id}}/rules/{PRE_APPROVAL_RULE}",
            body=rule_body(extension_id),
        )
    )
    return calls


def _policy_filter(group_id: str, access: Access) -> dict[str, str]:
    return {
        "$filter": f"scopeId eq {_literal(group_id)} and scopeType eq 'Group' and roleDefinitionId eq "
        f"{_literal(access.value)}"
    }


async def set_up(client: GraphClient, token: str, config: ExtensionConfig) -> SetupResult:
    """Create or update the extension and link it to the policy, as the signed-in administrator (`token`)."""
    try:
        group_id, group_name = await _group(client, token, config.group)
        policy_id = await _policy_id(client, token, group_id, config.access)
        extension_id, verb = await _extension(client, token, config)
        path = f"/policies/roleManagementPolicies/{policy_id}/rules/{PRE_APPROVAL_RULE}"
        try:
            await client.patch(path, token=token, json=rule_body(extension_id), idempotent=True)
        except GraphError as err:
            if err.status == 404:
                raise SetupRefused(
                    f"The extension {extension_id} is {verb}, but Graph has no custom-extension rule on this policy to "
                    f"set ({err.effective_code}: {err.message}). In the Entra admin center open PIM › Groups › "
                    f"{group_name or group_id} › Settings › {config.access.value.capitalize()} › Edit and tick "
                    "'Require pre-approval custom extension to activate', choosing this extension."
                ) from err
            raise
    except GraphError as err:
        raise SetupRefused(_refusal(err)) from err
    return SetupResult(group_id, group_name, policy_id, extension_id, verb)


async def _group(client: GraphClient, token: str, group: str) -> tuple[str, str | None]:
    if _is_guid(group):
        return group, None
    page = await client.get(
        "/groups", token=token, params={"$filter": f"displayName eq {_literal(group)}", "$select": "id,displayName"}
    )
    found = [row for row in _rows(page) if isinstance(row.get("id"), str)]
    if not found:
        raise SetupRefused(f"No group is named {group!r}. Give its exact display name or its object id.")
    if len(found) > 1:
        ids = ", ".join(str(row["id"]) for row in found)
        raise SetupRefused(f"{len(found)} groups are named {group!r} ({ids}): give the object id of the one you mean.")
    return str(found[0]["id"]), str(found[0].get("displayName") or group)


async def _policy_id(client: GraphClient, token: str, group_id: str, access: Access) -> str:
    page = await client.get(POLICY_ASSIGNMENTS, token=token, params=_policy_filter(group_id, access))
    for row in _rows(page):
        policy_id = row.get("policyId")
        if isinstance(policy_id, str) and policy_id:
            return policy_id
    raise SetupRefused(
        f"Group {group_id} has no PIM {access.value} policy: is it a group PIM manages (Entra admin center › PIM › "
        "Groups › Discover groups)?"
    )


async def _extension(client: GraphClient, token: str, config: ExtensionConfig) -> tuple[str, str]:
    page = await client.get(EXTENSIONS, token=token, params={"$filter": "resourceType eq 'entraGroups'"})
    for row in _rows(page):
        endpoint = row.get("endpointConfiguration")
        url = endpoint.get("targetUrl") if isinstance(endpoint, Mapping) else None
        if isinstance(url, str) and url.rstrip("/").lower() == config.target_url.rstrip("/").lower():
            extension_id = str(row["id"])
            await client.patch(f"{EXTENSIONS}/{extension_id}", token=token, json=config.body(None), idempotent=True)
            return extension_id, "updated"
    created = await client.post(EXTENSIONS, token=token, json=config.body(str(uuid.uuid4())))
    new_id = created.get("id")
    if not isinstance(new_id, str):
        raise SetupRefused("Graph created the extension but did not say its id; run the setup again to link it.")
    return new_id, "created"


def _rows(page: JsonObject) -> list[Mapping[str, Any]]:
    value = page.get("value")
    return [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []


def _refusal(err: GraphError) -> str:
    """Graph's refusal, and what the operator can do about it."""
    said = f"Graph answered {err.status} {err.effective_code}: {err.message}"
    if err.status in (401, 403):
        return (
            f"{said}\nSign in as a Privileged Role Administrator (or Global Administrator) and consent to "
            f"{', '.join(SCOPES)}; changing a group's PIM settings also needs ownership of the group or that role."
        )
    if err.status == 400:
        return f"{said}\nCheck --url (an https URL), --resource-id (the Application ID URI), --timeout and --retries."
    return said
