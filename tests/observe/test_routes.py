"""Graph routes as metric labels and span names: templated, so no key (GUID, UPN, chat id, name) survives, while the
names Graph gives its collections, functions and actions do."""

from __future__ import annotations

import pytest

from bot.observe.metrics import connector_operation, turn_kind
from graph.observe import route_of

BASE = "https://graph.microsoft.com/v1.0"
GUID = "0b1c2d3e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("url", "route"),
    [
        (f"{BASE}/users/alice@contoso.com/memberOf?$select=id", "/users/{id}/memberOf"),
        (f"{BASE}/users/{GUID}", "/users/{id}"),
        (f"{BASE}/users/alice", "/users/{id}"),  # a key after a keyed collection, whatever it looks like
        (f"{BASE}/groups/{GUID}/members?$top=999", "/groups/{id}/members"),
        (f"{BASE}/groups/{GUID}/members/$count", "/groups/{id}/members/$count"),
        (f"{BASE}/groups?$filter=displayName eq 'Exchange-Admins'", "/groups"),
        (
            f"{BASE}/identityGovernance/privilegedAccess/group/assignmentApprovals/{GUID}/stages/{GUID}",
            "/identityGovernance/privilegedAccess/group/assignmentApprovals/{id}/stages/{id}",
        ),
        (
            f"{BASE}/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/"
            "filterByCurrentUser(on='principal')?$filter=status eq 'PendingApproval'",
            "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/filterByCurrentUser(on='principal')",
        ),
        (
            f"{BASE}/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/{GUID}/cancel",
            "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/{id}/cancel",
        ),
        (f"{BASE}/policies/roleManagementPolicyAssignments", "/policies/roleManagementPolicyAssignments"),
        (f"{BASE}/directoryObjects/getByIds", "/directoryObjects/getByIds"),
        (f"{BASE}/$batch", "/$batch"),
        ("/chats/19:abc_def@unq.gbl.spaces/members", "/chats/{id}/members"),
        (f"{BASE}/users/{GUID}/teamwork/installedApps/NzQ0YzI2NjItZTMz=", "/users/{id}/teamwork/installedApps/{id}"),
        (f"{BASE}/identity/conditionalAccess/authenticationContextClassReferences/c1",
         "/identity/conditionalAccess/authenticationContextClassReferences/{id}"),
        (f"{BASE}/groups/{GUID}('x')", "/groups/{id}"),
        ("https://graph.microsoft.com/beta/users/Bob O'Neil", "/users/{id}"),
    ],
)  # fmt: skip
def test_a_route_keeps_graph_names_and_hides_every_key(url: str, route: str) -> None:
    assert route_of(url) == route


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "v3/conversations", "create_conversation"),
        ("POST", "v3/conversations/a%3A1xyz/activities", "send"),
        ("POST", "v3/conversations/a%3A1xyz/activities/f%3A1", "reply"),
        ("PUT", "v3/conversations/a%3A1xyz/activities/f%3A1", "update"),
        ("DELETE", "v3/conversations/a%3A1xyz/activities/f%3A1", "delete"),
        ("GET", "v3/conversations/19%3Aabc%40thread.tacv2/members/29%3A1abc", "get_member"),
    ],
)
def test_a_bot_connector_call_is_named_by_its_operation(method: str, path: str, operation: str) -> None:
    assert connector_operation(method, path) == operation


def test_an_activity_kind_is_one_of_a_closed_list() -> None:
    assert turn_kind("message", None) == "message"
    assert turn_kind("invoke", "adaptiveCard/action") == "invoke/adaptiveCard/action"
    assert turn_kind("invoke", "alice@contoso.com") == "invoke/other"
    assert turn_kind("x" * 500, None) == "other"
