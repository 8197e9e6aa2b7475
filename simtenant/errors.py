"""The errors Graph and the PIM back end answer with, and where each code and message is chosen.

A behaviour raises `GraphError(status, code, message)`; the HTTP layer renders it either clean
(`{"error": {"code", "message", "innerError"}}`) or, for PIM routes when the tenant's `wrapped_errors` setting is
on, PIM-wrapped: `code` "UnknownError" with the real error JSON-serialised in `message` (reference §8.1).

Choices where the reference is silent (documented here so the bot's tests can rely on them):

* every authorization refusal that is not a missing permission (app-only token on a delegated-only operation,
  selfActivate for somebody else, a non-approver deciding, a non-admin doing admin actions) is
  403 `Authorization_RequestDenied`; a missing scope/app role is 403 `PermissionScopeNotGranted`
  (directory routes: 403 `Authorization_RequestDenied`, as Graph's directory does);
* unknown PIM objects are 404 `ResourceNotFound`; unknown users/groups 404 `Request_ResourceNotFound`;
* a second decision on an approval stage is 409 `Conflict`;
* an approver who must justify and did not: 400 `RoleAssignmentRequestPolicyValidationFailed` ["JustificationRule"];
* cancel in a status other than PendingApproval/Granted: 400 `InvalidRoleAssignmentRequest`;
* malformed bodies / unknown enum values: 400 `BadRequest`; unsupported schedules (`P6M`, selfExtend): 400
  `InvalidRoleAssignmentRequest`;
* Teams app routes (simtenant.teams): a missing permission is 403 `Forbidden` "Missing role permissions on the
  request. API requires one of '…'. Roles on the request '…'." (scope/Scopes for delegated tokens), as reported from
  real tenants (microsoftgraph/microsoft-graph-docs#13690, MicrosoftDocs/office-docs-powershell#8399); an app already
  installed is 409 `Conflict`; an app id not in the catalog is 404 `NotFound` (a choice: the sources are silent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import quote

__all__ = [
    "ACRS_FAILED",
    "GraphError",
    "PolicyMessageStyle",
    "acrs_failed",
    "app_only_refused",
    "bad_request",
    "conflict",
    "denied",
    "directory_not_found",
    "invalid_request",
    "missing_permission",
    "not_found",
    "policy_failed",
    "scopes_missing",
    "teams_forbidden",
]

PolicyMessageStyle = Literal["array", "text"]

ACRS_FAILED = "RoleAssignmentRequestAcrsValidationFailed"

# Rule name -> the sentence of the newer "text" message form.
_RULE_TEXT = {
    "EligibilityRule": "The principal is not eligible",
    "ExpirationRule": "The requested expiration does not satisfy the policy",
    "JustificationRule": "Justification is required",
    "TicketingRule": "Ticket information is required",
    "MfaRule": "Multi-factor authentication is required",
}


class GraphError(Exception):
    """An error response: HTTP status, Graph error code, message.

    `headers` are added to the HTTP response (e.g. Retry-After)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def wrapped_text(self) -> str:
        return json.dumps({"errorCode": self.code, "message": self.message}, separators=(",", ":"))


def policy_failed(rules: Sequence[str], style: PolicyMessageStyle = "array") -> GraphError:
    """400 RoleAssignmentRequestPolicyValidationFailed listing every failed rule.

    style "array": `The following policy rules failed: ["ExpirationRule","JustificationRule"]` (the classic form);
    style "text": `The following policy rules failed: MfaRule - Multi-factor authentication is required; …`."""
    if style == "text":
        detail = "; ".join(f"{rule} - {_RULE_TEXT.get(rule, rule)}" for rule in rules)
    else:
        detail = json.dumps(list(rules), separators=(",", ":"))
    return GraphError(
        400, "RoleAssignmentRequestPolicyValidationFailed", f"The following policy rules failed: {detail}"
    )


def acrs_failed(claim_value: str) -> GraphError:
    """400 RoleAssignmentRequestAcrsValidationFailed: the token lacks the policy's authentication context.

    The message is the claims request URL-encoded after `&claims=`, as a real tenant answers (Azure/azure-powershell
    #25421: `&claims=%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%20%22value%22%3A%22c1%22%7D
    %7D%7D`, the JSON serialised with ", " between members); PIM-wrapped it is the usual JSON wrapping of §8.1."""
    claims = json.dumps({"access_token": {"acrs": {"essential": True, "value": claim_value}}}, separators=(", ", ":"))
    return GraphError(400, ACRS_FAILED, f"&claims={quote(claims, safe='')}")


def missing_permission(permission: str) -> GraphError:
    return GraphError(
        403, "PermissionScopeNotGranted", f"Authorization failed due to missing permission scope {permission}."
    )


def scopes_missing() -> GraphError:
    """403 of the Conditional Access routes (identity/conditionalAccess/…) to a token without the permission, as
    real tenants answer it (AlexFilipin/ConditionalAccess#10, Cyberlorians/Articles#11)."""
    return GraphError(
        403, "AccessDenied", "You cannot perform the requested operation, required scopes are missing in the token."
    )


def denied(message: str = "Insufficient privileges to complete the operation.") -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", message)


def app_only_refused(operation: str) -> GraphError:
    return denied(f"{operation} requires a delegated (user) token; application permissions are not supported.")


def not_found(what: str, ident: str) -> GraphError:
    return GraphError(404, "ResourceNotFound", f"The {what} '{ident}' was not found.")


def directory_not_found(ident: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ident}' does not exist or one of its queried reference-property objects are not present.",
    )


def bad_request(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def invalid_request(message: str = "The role assignment request is invalid.") -> GraphError:
    return GraphError(400, "InvalidRoleAssignmentRequest", message)


def teams_forbidden(required: Sequence[str], granted: Sequence[str], *, delegated: bool) -> GraphError:
    kind, plural = ("scope", "Scopes") if delegated else ("role", "Roles")
    return GraphError(
        403,
        "Forbidden",
        f"Missing {kind} permissions on the request. API requires one of '{', '.join(required)}'. "
        f"{plural} on the request '{', '.join(sorted(granted))}'.",
    )


def conflict(message: str) -> GraphError:
    return GraphError(409, "Conflict", message)
