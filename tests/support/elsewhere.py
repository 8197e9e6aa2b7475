"""What people do outside the bot (the Entra portal, a script): Graph calls with their own delegated tokens."""

from __future__ import annotations

from typing import Any

from devtools.teams.activities import ALICE
from tests.support.stack import Stack

PIM = "/v1.0/identityGovernance/privilegedAccess/group"


ADMIN_SCOPES = (
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup "
    "RoleManagementPolicy.ReadWrite.AzureADGroup"
)


async def graph_as(stack: Stack, oid: str, method: str, path: str, body: Any = None, scp: str = ADMIN_SCOPES) -> Any:
    """A call to the simulated tenant's Graph with `oid`'s delegated token: what an admin does in the portal, or a
    user in another client."""
    token = (await stack.sim_control("POST", "/token", {"oid": oid, "scp": scp}))["access_token"]
    async with stack.http.request(
        method,
        f"{stack.sim.graph_base_url}{path.removeprefix('/v1.0')}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        ssl=stack.sim.ssl_context(),
    ) as r:
        assert r.status < 300, await r.text()
        return await r.json(content_type=None) if r.content_length != 0 else None


async def alice_elsewhere(stack: Stack, action: str, group: str, **extra: Any) -> Any:
    """Alice's own request made in another client (the portal), with her token, as Graph receives it."""
    body: dict[str, Any] = {"action": action, "groupId": group, "principalId": ALICE.oid, "accessId": "member"}
    if action == "selfActivate":
        body["scheduleInfo"] = {"startDateTime": None, "expiration": {"type": "afterDuration", "duration": "PT1H"}}
    scp = "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
    return await graph_as(stack, ALICE.oid, "POST", f"{PIM}/assignmentScheduleRequests", body | extra, scp=scp)
