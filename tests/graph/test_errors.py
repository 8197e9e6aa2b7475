import base64
import json

import pytest

from graph.errors import acrs_claims_request, parse_error

CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'


def test_clean_envelope_keeps_code_message_and_ids() -> None:
    body = {
        "error": {
            "code": "RoleAssignmentRequestPolicyValidationFailed",
            "message": 'The following policy rules failed: ["ExpirationRule"]',
            "innerError": {"date": "2025-02-13T10:17:05", "request-id": "93b6f17e", "client-request-id": "e70c5c1b"},
        }
    }
    err = parse_error(400, {}, json.dumps(body).encode())
    assert (err.status, err.code, err.inner_code) == (400, "RoleAssignmentRequestPolicyValidationFailed", None)
    assert err.effective_code == "RoleAssignmentRequestPolicyValidationFailed"
    assert (err.request_id, err.client_request_id) == ("93b6f17e", "e70c5c1b")
    assert err.failed_rules == ("ExpirationRule",)


def test_headers_win_over_inner_error_ids() -> None:
    body = {"error": {"code": "X", "message": "", "innerError": {"request-id": "inner"}}}
    err = parse_error(500, {"request-id": "header", "Client-Request-Id": "mine"}, body)
    assert (err.request_id, err.client_request_id) == ("header", "mine")


def test_pim_wrapped_json_error_is_unwrapped() -> None:
    message = json.dumps(
        {
            "errorCode": "PermissionScopeNotGranted",
            "message": "Authorization failed due to missing permission scope PrivilegedAssignmentSchedule.Read.X.",
        }
    )
    err = parse_error(403, {}, {"error": {"code": "UnknownError", "message": message}})
    assert err.code == "UnknownError"
    assert err.inner_code == "PermissionScopeNotGranted"
    assert err.effective_code == "PermissionScopeNotGranted"
    assert err.message.startswith("Authorization failed due to missing permission scope")


def test_wrapped_policy_failure_lists_rules_from_the_inner_message() -> None:
    inner = {
        "errorCode": "RoleAssignmentRequestPolicyValidationFailed",
        "message": 'The following policy rules failed: ["JustificationRule","TicketingRule"]',
    }
    err = parse_error(400, {}, {"error": {"code": "UnknownError", "message": json.dumps(inner)}})
    assert err.is_code("roleassignmentrequestpolicyvalidationfailed")
    assert err.failed_rules == ("JustificationRule", "TicketingRule")


def test_wrapped_acrs_failure_carries_claims_and_context() -> None:
    body = {"error": {"code": "UnknownError", "message": f"RoleAssignmentRequestAcrsValidationFailed claims={CLAIMS}"}}
    err = parse_error(400, {}, body)
    assert err.inner_code == "RoleAssignmentRequestAcrsValidationFailed"
    assert err.is_acrs_failure
    assert err.claims == CLAIMS
    assert err.authentication_context == "c1"


def test_clean_acrs_failure_with_text_around_the_claims() -> None:
    message = f"The authentication context requirement is not satisfied. claims={CLAIMS} (trace 42)"
    err = parse_error(400, {}, {"error": {"code": "RoleAssignmentRequestAcrsValidationFailed", "message": message}})
    assert err.inner_code is None and err.is_acrs_failure
    assert json.loads(err.claims or "") == json.loads(CLAIMS)


def test_unconfirmed_group_acrs_variant_is_recognised_by_suffix() -> None:
    body = {"error": {"code": "UnknownError", "message": f"GroupAssignmentRequestAcrsValidationFailed claims={CLAIMS}"}}
    assert parse_error(400, {}, body).is_acrs_failure


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("The Role assignment already exists. RoleAssignmentExists", "RoleAssignmentExists"),
        ("RoleAssignmentDoesNotExist: The Role assignment does not exist.", "RoleAssignmentDoesNotExist"),
        ("error PendingRoleAssignmentRequest: There already exists a pending request", "PendingRoleAssignmentRequest"),
        ("ActiveDurationTooShort - Miniumum Required is 5 minutes.", "ActiveDurationTooShort"),
        (
            "The following policy rules failed: MfaRule - Multi-factor authentication is required",
            "RoleAssignmentRequestPolicyValidationFailed",
        ),
    ],
)
def test_known_codes_are_found_in_the_text_of_a_wrapper(message: str, code: str) -> None:
    assert parse_error(400, {}, {"error": {"code": "UnknownError", "message": message}}).effective_code == code


def test_text_form_of_failed_rules() -> None:
    message = (
        "The following policy rules failed: MfaRule - Multi-factor authentication is required; "
        "JustificationRule - Justification is required"
    )
    err = parse_error(400, {}, {"error": {"code": "RoleAssignmentRequestPolicyValidationFailed", "message": message}})
    assert err.failed_rules == ("MfaRule", "JustificationRule")


def test_www_authenticate_claims_challenge_is_decoded() -> None:
    encoded = base64.b64encode(CLAIMS.encode()).decode().rstrip("=")
    header = f'Bearer realm="", error="insufficient_claims", claims="{encoded}"'
    err = parse_error(
        401, {"WWW-Authenticate": header}, {"error": {"code": "InvalidAuthenticationToken", "message": ""}}
    )
    assert err.claims == CLAIMS and err.authentication_context == "c1"


def test_retry_after_and_a_body_without_envelope() -> None:
    err = parse_error(429, {"Retry-After": "7"}, b"")
    assert (err.status, err.code, err.retry_after) == (429, "", 7.0)
    html = parse_error(502, {}, b"<html>Bad Gateway</html>")
    assert html.code == "" and "Bad Gateway" in html.message
    assert parse_error(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None).retry_after is None


# The form real tenants answer with (Azure/azure-powershell#25421, graph-pim-groups.md §8.2 corrected 2026-12): the
# claims URL-encoded after `&claims=`, the JSON serialised with ", " between members.
ENCODED = "%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%20%22value%22%3A%22c1%22%7D%7D%7D"


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "RoleAssignmentRequestAcrsValidationFailed", "message": f"&claims={ENCODED}"}},
        {"error": {"code": "UnknownError", "message": f"RoleAssignmentRequestAcrsValidationFailed&claims={ENCODED}"}},
        {
            "error": {
                "code": "UnknownError",
                "message": json.dumps(
                    {"errorCode": "RoleAssignmentRequestAcrsValidationFailed", "message": f"&claims={ENCODED}"}
                ),
            }
        },
        {"error": {"code": "RoleAssignmentRequestAcrsValidationFailed", "message": f"claims={ENCODED} (trace 42)"}},
    ],
    ids=["clean", "wrapped-text", "wrapped-json", "text-after"],
)
def test_url_encoded_claims_of_real_tenants_are_read(body: dict[str, object]) -> None:
    err = parse_error(400, {}, body)
    assert err.is_acrs_failure
    assert json.loads(err.claims or "null") == json.loads(CLAIMS)
    assert err.authentication_context == "c1"


def test_claims_url_encoded_twice_are_read() -> None:
    message = "RoleAssignmentRequestAcrsValidationFailed&claims=" + ENCODED.replace("%", "%25")
    err = parse_error(400, {}, {"error": {"code": "UnknownError", "message": message}})
    assert err.authentication_context == "c1"


@pytest.mark.parametrize(
    "message",
    [
        "RoleAssignmentRequestAcrsValidationFailed",
        "RoleAssignmentRequestAcrsValidationFailed&claims=",
        "RoleAssignmentRequestAcrsValidationFailed&claims=%7B%22access_tok",  # cut short
        "RoleAssignmentRequestAcrsValidationFailed claims=[1,2]",
        "RoleAssignmentRequestAcrsValidationFailed&claims=%ZZ%7B",
    ],
)
def test_unreadable_claims_leave_none_and_the_code_is_still_known(message: str) -> None:
    err = parse_error(400, {}, {"error": {"code": "UnknownError", "message": message}})
    assert err.is_acrs_failure
    assert err.claims is None and err.authentication_context is None


def test_acrs_claims_request_is_built_for_a_context() -> None:
    assert json.loads(acrs_claims_request("c7")) == {"access_token": {"acrs": {"essential": True, "value": "c7"}}}
