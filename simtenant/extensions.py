"""PIM custom extensions (preview) for PIM for Groups: the extension objects, the policy rule that links one to a
group's member or owner policy, and the callout PIM makes to the extension's endpoint during `selfActivate`.

Contract and sources: `/work/shared/reference/pim-custom-extension.md` (cited below as "ref §n"), which collects
Microsoft's how-to (learn.microsoft.com/entra/id-governance/privileged-identity-management/
privileged-identity-management-custom-extensions, "the how-to") and the Graph reference pages.

Documented, and followed here:

* The objects: `roleManagementCustomCalloutExtension` under `/identityGovernance/privilegedAccess/customExtensions`
  (Graph: privilegedaccessroot-post-customextensions → 201 with the object, -list-customextensions with `$filter`
  (eq) on resourceType, rolemanagementcustomcalloutextension-get, -update (PATCH), -delete → 204). Served on /beta,
  which the how-to requires ("the beta endpoint is required because this feature is in preview"), and on /v1.0, where
  the same reference pages exist (ref §1.1, "Beta or v1.0?": open question Q9).
* Permissions: `PrivilegedAccess-CustomExt.ReadWrite.All` to write, `…Read.All` or ReadWrite to read, delegated or
  application; a delegated caller must hold at least Privileged Role Administrator (the same pages): the sim's
  `User.is_admin`.
* Properties (rolemanagementcustomcalloutextension resource; customExtensionClientConfiguration):
  `endpointConfiguration` `#microsoft.graph.httpRequestEndpoint` {targetUrl}; `authenticationConfiguration`
  `#microsoft.graph.azureAdTokenAuthentication` {resourceId}; `clientConfiguration` {timeoutInMilliseconds 1000–60000,
  maximumRetries 0–5} ("For a roleManagementCustomCalloutExtension, the valid range is …"); `resourceType`
  entraRoles|azureResources|entraGroups (Graph SDK enum); `type` preApproval|postApproval|grant|revoke (SDK);
  `customAttributes`; `displayName`, `description`. There is no callbackConfiguration (ref §1.1).
* The link: `#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule` {customExtensionId, isEnabled, target}
  among the policy's rules (unifiedrolemanagementpolicycustomextensionrule resource, v1.0 and beta).
* The callout: POST of the request object (`privilegedAccessGroupAssignmentScheduleRequest`: @odata.type, id, status,
  action, justification, principalId, accessId, groupId, scheduleInfo, ticketInfo; the how-to's "request model for
  PIM for groups") with `Authorization: Bearer <token issued by Entra>`; the answer in the HTTP response:
  {evaluationId, evaluationOutcome Approved|AutoApproved|Denied, reason[]} (the how-to's "Response model").
  Approved: the normal workflow, approval included; AutoApproved: no manual approval; Denied: blocked, with the
  reasons (the how-to, "Verify the role activation flow").
* The token: app-only, `aud` = resourceId (the Application ID URI), `appid`/`azp` = PIM's first-party app id
  `1c67c054-65c8-4f7f-92a1-eb7ba6e48627` (entra-docs commit 8a730dfe; the live page shows a placeholder: ref §2.3,
  Q10), `iss` = the tenant; signed by the tenant's published keys (`TokenService.issue_api_token`).

Inferred or chosen where the sources are silent (each is a setting or a comment where it is made):

* `id` on create: required, a GUID ("Id property needs to have a GUID value": two third parties observed it live,
  ref §1.1; the how-to's example omits it). The product always sends one.
* `clientConfiguration` missing on create: timeout 10000 ms (the how-to's example) and 0 retries.
* `targetUrl` must be https, as the how-to says ("HTTPS endpoint"); plain http is allowed for loopback hosts only
  (a stand-in convenience: the demo's bot listens on http://127.0.0.1).
* Rule ids `CustomExtension_PreApproval_EndUser_Assignment` / `…PostApproval…` (third parties, for Entra roles;
  the same for Groups is inferred: ref §1.3, Q11). A policy has no such rule until one is PATCHed in (GET → 404);
  the PATCH creates it (azd-pim needed a full-policy append for roles: not modelled). Only the pre-approval rule is
  acted on: the post-approval stage is not in Microsoft's how-to (ref §5).
* Deleting an extension a policy rule names: 400 BadRequest (nothing documented).
* Callout retries (ref §4, Q2 "What is the retry back-off?"): a 5xx answer, a timeout or a connection that fails is
  retried at once, up to maximumRetries times; a 2xx with an unreadable body or another status is not retried.
* The payload's `status` at callout time is undocumented (Q6): the sim sends the status the request would have
  without the extension (`Granted` or `PendingApproval`).
* When the endpoint cannot be reached or answers nothing readable after every retry (Q2): setting
  `extension_failure`: "deny" (default, fail closed: the request is refused as a failed CustomExtensionRule) or
  "continue" (the normal workflow, as if Approved).
* What a Graph caller gets on `Denied` (Q7; the how-to shows only the portal's screen): setting
  `extension_denial_style`: "policy" (default) — 400 `RoleAssignmentRequestPolicyValidationFailed` naming
  `CustomExtensionRule` and carrying the reasons, the form of PIM's other synchronous rule refusals
  (`errors.extension_denied`); "status" — 201, the request stored with status `Denied` and no reasons anywhere.
* Audit: "evaluationId … is logged in PIM audits for traceability" (the how-to). The activity name and keys are not
  documented: one entry `Custom extension evaluated (PIM activation)` per evaluation with additionalDetails
  `EvaluationId`, `EvaluationOutcome`, `CustomExtensionId`, `Reason`, `Attempts` (written only when an extension runs).
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from simtenant.errors import GraphError, bad_request

__all__ = [
    "ENTRA_GROUPS",
    "EXTENSION_RULE_IDS",
    "OUTCOMES",
    "PIM_APP_ID",
    "PRE_APPROVAL_RULE",
    "CustomExtension",
    "Evaluation",
    "ExtensionRule",
    "callout_payload",
    "evaluate",
    "extension_denied",
    "extension_json",
    "parse_extension",
    "parse_extension_patch",
    "parse_rule",
    "rule_json",
]

JsonDict = dict[str, Any]
ODATA_TYPE = "#microsoft.graph.roleManagementCustomCalloutExtension"
RULE_TYPE = "#microsoft.graph.unifiedRoleManagementPolicyCustomExtensionRule"
PIM_APP_ID = "1c67c054-65c8-4f7f-92a1-eb7ba6e48627"
PRE_APPROVAL_RULE = "CustomExtension_PreApproval_EndUser_Assignment"
POST_APPROVAL_RULE = "CustomExtension_PostApproval_EndUser_Assignment"
EXTENSION_RULE_IDS = (PRE_APPROVAL_RULE, POST_APPROVAL_RULE)
ENTRA_GROUPS = "entraGroups"
RESOURCE_TYPES = ("entraRoles", "azureResources", ENTRA_GROUPS)
TYPES = ("preApproval", "postApproval", "grant", "revoke")
OUTCOMES = ("Approved", "AutoApproved", "Denied")
TIMEOUT_MS = (1000, 60000)
RETRIES = (0, 5)
DEFAULT_TIMEOUT_MS = 10000

Outcome = Literal["Approved", "AutoApproved", "Denied"]


@dataclass(slots=True)
class CustomExtension:
    id: str
    display_name: str
    target_url: str
    resource_id: str
    resource_type: str
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    max_retries: int = 0
    description: str | None = None
    type: str | None = None
    custom_attributes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExtensionRule:
    """A unifiedRoleManagementPolicyCustomExtensionRule of one policy."""

    extension_id: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the callout came to: an outcome with its reasons, or `failure` (why no outcome could be read)."""

    outcome: Outcome | None
    reasons: tuple[str, ...] = ()
    evaluation_id: str | None = None
    attempts: int = 0
    failure: str | None = None


# ---------------------------------------------------------------------------------------------------- objects


def extension_json(ext: CustomExtension) -> JsonDict:
    return {
        "@odata.type": ODATA_TYPE,
        "id": ext.id,
        "displayName": ext.display_name,
        "description": ext.description,
        "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": ext.target_url},
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
            "resourceId": ext.resource_id,
        },
        "clientConfiguration": {
            "@odata.type": "#microsoft.graph.customExtensionClientConfiguration",
            "timeoutInMilliseconds": ext.timeout_ms,
            "maximumRetries": ext.max_retries,
        },
        "resourceType": ext.resource_type,
        "type": ext.type,
        "customAttributes": list(ext.custom_attributes),
    }


def _type_is(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.lstrip("#").lower() == expected.lstrip("#").lower()


def _guid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise bad_request("Id property needs to have a GUID value.") from exc


def _target_url(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request("endpointConfiguration.targetUrl is required.")
    parts = urlsplit(value)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise bad_request("endpointConfiguration.targetUrl must be an absolute HTTPS URL.")
    return value


def _endpoint(body: Mapping[str, Any]) -> str:
    endpoint = body.get("endpointConfiguration")
    if not isinstance(endpoint, Mapping) or not _type_is(
        endpoint.get("@odata.type"), "microsoft.graph.httpRequestEndpoint"
    ):
        raise bad_request('endpointConfiguration must be a "#microsoft.graph.httpRequestEndpoint" with a targetUrl.')
    return _target_url(endpoint.get("targetUrl"))


def _resource_id(body: Mapping[str, Any]) -> str:
    auth = body.get("authenticationConfiguration")
    # Only bearer tokens are documented for PIM; PoP (azureAdPopTokenAuthentication) is not (ref §2.3, Q5).
    if not isinstance(auth, Mapping) or not _type_is(
        auth.get("@odata.type"), "microsoft.graph.azureAdTokenAuthentication"
    ):
        raise bad_request(
            'authenticationConfiguration must be a "#microsoft.graph.azureAdTokenAuthentication" with a resourceId.'
        )
    resource = auth.get("resourceId")
    if not isinstance(resource, str) or not resource.strip():
        raise bad_request("authenticationConfiguration.resourceId is required.")
    return resource.strip()


def _whole(config: Mapping[str, Any], key: str, bounds: tuple[int, int], default: int) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not bounds[0] <= value <= bounds[1]:
        raise bad_request(
            f"clientConfiguration.{key} must be a whole number from {bounds[0]} through {bounds[1]} for a "
            "roleManagementCustomCalloutExtension."
        )
    return value


def _client(body: Mapping[str, Any], timeout: int, retries: int) -> tuple[int, int]:
    config = body.get("clientConfiguration")
    if config is None:
        return timeout, retries
    if not isinstance(config, Mapping):
        raise bad_request("clientConfiguration must be an object.")
    return (
        _whole(config, "timeoutInMilliseconds", TIMEOUT_MS, timeout),
        _whole(config, "maximumRetries", RETRIES, retries),
    )


def _choice(body: Mapping[str, Any], key: str, allowed: tuple[str, ...], current: str | None) -> str | None:
    value = body.get(key, current)
    if value is None:
        return None
    match = next((a for a in allowed if isinstance(value, str) and a.lower() == value.lower()), None)
    if match is None:
        raise bad_request(f"Invalid value '{value}' for {key}; expected one of {', '.join(allowed)}.")
    return match


def _text(body: Mapping[str, Any], key: str, current: str | None) -> str | None:
    value = body.get(key, current)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return value


def _attributes(body: Mapping[str, Any], current: list[str]) -> list[str]:
    value = body.get("customAttributes", current)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request("customAttributes must be a list of strings.")
    return list(value)


def parse_extension(body: Any) -> CustomExtension:
    """The extension a POST …/customExtensions body describes. Raises GraphError (400)."""
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    if "@odata.type" in body and not _type_is(body["@odata.type"], ODATA_TYPE):
        raise bad_request(f'Only "{ODATA_TYPE}" objects can be created here.')
    if "id" not in body:
        raise bad_request("Id property needs to have a GUID value.")
    name = _text(body, "displayName", None)
    if not name or not name.strip():
        raise bad_request("displayName is required.")
    resource_type = _choice(body, "resourceType", RESOURCE_TYPES, None)
    if resource_type is None:
        raise bad_request(f"resourceType is required: one of {', '.join(RESOURCE_TYPES)}.")
    timeout, retries = _client(body, DEFAULT_TIMEOUT_MS, 0)
    return CustomExtension(
        id=_guid(body["id"]),
        display_name=name,
        target_url=_endpoint(body),
        resource_id=_resource_id(body),
        resource_type=resource_type,
        timeout_ms=timeout,
        max_retries=retries,
        description=_text(body, "description", None),
        type=_choice(body, "type", TYPES, None),
        custom_attributes=_attributes(body, []),
    )


def parse_extension_patch(ext: CustomExtension, body: Any) -> CustomExtension:
    """The extension after a PATCH: only the properties sent change; `id` cannot. Raises GraphError (400)."""
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    if "id" in body and str(body["id"]).lower() != ext.id.lower():
        raise bad_request("The id property cannot be changed.")
    timeout, retries = _client(body, ext.timeout_ms, ext.max_retries)
    name = _text(body, "displayName", ext.display_name)
    if not name or not name.strip():
        raise bad_request("displayName cannot be empty.")
    return CustomExtension(
        id=ext.id,
        display_name=name,
        target_url=_endpoint(body) if "endpointConfiguration" in body else ext.target_url,
        resource_id=_resource_id(body) if "authenticationConfiguration" in body else ext.resource_id,
        resource_type=_choice(body, "resourceType", RESOURCE_TYPES, ext.resource_type) or ext.resource_type,
        timeout_ms=timeout,
        max_retries=retries,
        description=_text(body, "description", ext.description),
        type=_choice(body, "type", TYPES, ext.type),
        custom_attributes=_attributes(body, ext.custom_attributes),
    )


def rule_json(rule_id: str, rule: ExtensionRule, target: JsonDict) -> JsonDict:
    return {
        "@odata.type": RULE_TYPE,
        "id": rule_id,
        "customExtensionId": rule.extension_id,
        "isEnabled": rule.enabled,
        "displayName": None,  # read-only, not documented beyond its type
        "customAttributes": [],
        "target": target,
    }


def parse_rule(body: Any, extensions: Mapping[str, CustomExtension], current: ExtensionRule | None) -> ExtensionRule:
    """The rule a PATCH …/rules/CustomExtension_… body sets. The extension must exist and be one for groups."""
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    if not _type_is(body.get("@odata.type"), RULE_TYPE):
        raise bad_request(f'The request body must carry "@odata.type": "{RULE_TYPE}".')
    ext_id = body.get("customExtensionId", current.extension_id if current else None)
    if not isinstance(ext_id, str) or not ext_id:
        raise bad_request("customExtensionId is required.")
    ext = extensions.get(ext_id.lower())
    if ext is None:
        raise bad_request(f"The custom extension '{ext_id}' does not exist.")
    if ext.resource_type != ENTRA_GROUPS:
        raise bad_request(
            f"The custom extension '{ext_id}' has resourceType '{ext.resource_type}'; a group policy needs "
            f"'{ENTRA_GROUPS}'."
        )
    enabled = body.get("isEnabled", current.enabled if current else True)
    if not isinstance(enabled, bool):
        raise bad_request("Property 'isEnabled' must be a boolean.")
    return ExtensionRule(ext.id, enabled)


# ---------------------------------------------------------------------------------------------------- callout


def callout_payload(request: JsonDict, status: str) -> JsonDict:
    """The documented request model for PIM for Groups, from the rendered schedule request (wire.request_json)."""
    return {
        "@odata.type": "#microsoft.graph.privilegedAccessGroupAssignmentScheduleRequest",
        "id": request["id"],
        "status": status,
        "action": request["action"],
        "justification": request.get("justification"),
        "principalId": request["principalId"],
        "accessId": request["accessId"],
        "groupId": request["groupId"],
        "scheduleInfo": request.get("scheduleInfo"),
        "ticketInfo": request.get("ticketInfo"),
    }


def _read_answer(status: int, raw: bytes) -> tuple[Outcome, tuple[str, ...], str | None]:
    """Outcome, reasons and evaluationId of a 2xx answer. Raises ValueError when it cannot be read."""
    body = json.loads(raw or b"null")
    if not isinstance(body, Mapping):
        raise ValueError("the answer is not a JSON object")
    value = body.get("evaluationOutcome")
    outcome = next((o for o in OUTCOMES if isinstance(value, str) and o.lower() == value.lower()), None)
    if outcome is None:
        raise ValueError(f"unknown evaluationOutcome {value!r}")
    reasons = body.get("reason", [])
    if isinstance(reasons, str):
        reasons = [reasons]
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ValueError("reason is not a list of strings")
    evaluation_id = body.get("evaluationId")
    return outcome, tuple(reasons), str(evaluation_id) if evaluation_id is not None else None  # type: ignore[return-value]


async def evaluate(
    ext: CustomExtension,
    payload: JsonDict,
    token: str,
    *,
    ssl: Any = None,
    log: list[JsonDict] | None = None,
) -> Evaluation:
    """POST the payload to the extension's endpoint and read its decision, honouring its timeout and retries.

    Awaited on the tenant's event loop: the simulated tenant keeps answering other requests (the bot's own Graph
    reads, the endpoint's look-ups) while it waits. `log` receives one entry per attempt (status, seconds, error)."""
    attempts = 0
    failure = "not called"
    timeout = aiohttp.ClientTimeout(total=ext.timeout_ms / 1000)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    body = json.dumps(payload).encode()
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while attempts <= ext.max_retries:
            attempts += 1
            started = time.monotonic()
            entry: JsonDict = {"attempt": attempts, "url": ext.target_url}
            try:
                async with http.post(ext.target_url, data=body, headers=headers, ssl=ssl) as response:
                    raw = await response.read()
                    entry["status"] = response.status
                    if response.status >= 500:
                        failure = f"HTTP {response.status}"
                        continue
                    if response.status >= 300:
                        return Evaluation(None, attempts=attempts, failure=f"HTTP {response.status}")
                    try:
                        outcome, reasons, evaluation_id = _read_answer(response.status, raw)
                    except ValueError as exc:
                        return Evaluation(None, attempts=attempts, failure=f"unreadable answer: {exc}")
                    return Evaluation(outcome, reasons, evaluation_id, attempts)
            except TimeoutError:
                failure = f"no answer within {ext.timeout_ms} ms"
                entry["error"] = "timeout"
            except aiohttp.ClientError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                entry["error"] = type(exc).__name__
            finally:
                entry["seconds"] = round(time.monotonic() - started, 3)
                if log is not None:
                    log.append(entry)
    return Evaluation(None, attempts=attempts, failure=failure)


def extension_denied(reasons: tuple[str, ...], style: str) -> GraphError:
    """What a Graph caller gets when the extension answers Denied (setting `extension_denial_style` "policy"; inferred,
    see the module docstring): PIM's rule refusal naming CustomExtensionRule, the reasons after it."""
    if style == "text":
        detail = "CustomExtensionRule - " + ("; ".join(reasons) or "The custom extension denied the request")
    else:
        detail = '["CustomExtensionRule"]'
        if reasons:
            detail += " Reasons: " + json.dumps(list(reasons), separators=(",", ":"))
    return GraphError(
        400, "RoleAssignmentRequestPolicyValidationFailed", f"The following policy rules failed: {detail}"
    )
