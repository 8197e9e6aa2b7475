"""The demo's people acting behind the bot's back (simtenant.colleagues, /_sim/act/*, `python -m simtenant assign|
request`): each is a Graph request made with that person's own delegated token, so PIM's rules apply to it as to any
client; a colleague self-activates (never an adminAssign), an administrator assigns eligibility."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from simtenant import RunningSimTenant, act
from simtenant.seed import BOB, CAROL, DAVE, ERIN, NETWORK_ADMINS, TEAMS_ADMINS
from tests.support.tenant import PIM, Client


def writes(client: Client) -> list[dict[str, Any]]:
    """The Graph writes the tenant logged (not the token requests)."""
    return [e for e in client.sim.tenant.log.recent(None) if e["method"] == "POST" and "ScheduleRequests" in e["path"]]


async def requests_of(client: Client, principal: str) -> list[dict[str, Any]]:
    answer = await client.graph(
        "GET", f"{PIM}/assignmentScheduleRequests", params={"$filter": f"principalId eq '{principal}'"}
    )
    assert answer.status == 200, answer.body
    return list(answer.body["value"])


async def test_a_colleague_of_an_approver_asks_with_their_own_token_until_everyone_waits(client: Client) -> None:
    asked = []
    for _ in range(2):
        answer = await client.control("POST", "/act/request", json={"approver": "alice"})
        assert answer.status == 201, answer.body
        asked.append(answer.body["user"]["id"])
        assert answer.body["group"] == {"id": NETWORK_ADMINS, "name": "Network-Admins"}
        assert answer.body["request"]["status"] == "PendingApproval"
        assert answer.body["request"]["action"] == "selfActivate"
    assert asked == [CAROL, DAVE]  # by name, each once: a second request of the same person PIM refuses

    [carols] = [r for r in await requests_of(client, CAROL) if r["status"] == "PendingApproval"]
    assert carols["createdBy"]["user"]["id"] == CAROL and carols["action"] == "selfActivate"
    assert carols["justification"]
    assert [(e["oid"], e["status"]) for e in writes(client)] == [(CAROL, 201), (DAVE, 201)]

    answer = await client.control("POST", "/act/request", json={"approver": "alice"})
    assert answer.status == 409 and "approve or deny one first" in answer.body["error"]


async def test_a_named_colleague_asks_and_pim_refuses_what_it_refuses(client: Client) -> None:
    answer = await client.control(
        "POST", "/act/request", json={"user": "dave", "group": "network admins", "justification": "switch swap"}
    )
    assert answer.status == 201 and answer.body["request"]["justification"] == "switch swap"
    # Bob approves Network-Admins too (and Security-Operators): Dave waits there, so Carol is the one who asks.
    answer = await client.control("POST", "/act/request", json={"approver": BOB, "minutes": 30})
    assert answer.status == 201 and answer.body["user"]["id"] == CAROL, answer.body
    assert answer.body["group"]["id"] == NETWORK_ADMINS
    # Carol is not eligible for Teams Admins: Graph's refusal, passed on.
    answer = await client.control("POST", "/act/request", json={"user": "carol", "group": "Teams-Admins"})
    assert answer.status == 400 and answer.body["error"]["code"] == "RoleAssignmentRequestPolicyValidationFailed"
    answer = await client.control("POST", "/act/request", json={"approver": "erin"})
    assert answer.status == 404 and "Erin Evans" in answer.body["error"]
    answer = await client.control("POST", "/act/request", json={"user": "zed", "group": "Teams-Admins"})
    assert answer.status == 404 and "zed" in answer.body["error"]
    answer = await client.control("POST", "/act/request", json={"user": "carol"})
    assert answer.status == 400


async def test_an_administrator_assigns_an_eligibility_through_graph(client: Client) -> None:
    answer = await client.control("POST", "/act/assign", json={"user": "carol", "group": "teams-admins"})
    assert answer.status == 201, answer.body
    assert answer.body["by"]["id"] == ERIN and answer.body["request"]["status"] == "Provisioned"
    listed = await client.graph(
        "GET",
        f"{PIM}/eligibilitySchedules",
        params={"$filter": f"groupId eq '{TEAMS_ADMINS}' and principalId eq '{CAROL}'"},
    )
    assert [s["accessId"] for s in listed.body["value"]] == ["member"]
    [write] = writes(client)
    assert write["oid"] == ERIN and "eligibilityScheduleRequests" in write["path"]

    again = await client.control("POST", "/act/assign", json={"user": "carol", "group": "Teams Admins"})
    assert again.status == 400 and again.body["error"]["code"] == "RoleAssignmentExists"
    # Carol holds no admin role and owns no group: Graph refuses her.
    refused = await client.control("POST", "/act/assign", json={"user": "dave", "group": "Teams Admins", "by": "carol"})
    assert refused.status == 403
    for bad in ({"user": "carol"}, {"user": "carol", "group": "x", "access": "boss"}, {"user": 3, "group": "x"}):
        assert (await client.control("POST", "/act/assign", json=bad)).status == 400


@pytest.mark.parametrize(
    ("argv", "said", "code"),
    [
        (["assign", "carol", "Teams-Admins"], "Erin Evans made Carol Chen eligible for member of Teams Admins", 0),
        (["request", "--approver", "alice"], "Carol Chen asked for member of Network-Admins", 0),
        (["request", "carol", "Teams-Admins"], "Graph refused it (400)", 1),
        (["assign", "nobody", "Teams-Admins"], "Nothing was done: there is no user 'nobody'.", 1),
    ],
)
async def test_the_command_line_acts_in_the_running_tenant(
    sim: RunningSimTenant, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str, code: int
) -> None:
    (tmp_path / "simtenant.json").write_text(json.dumps(sim.to_json()))
    assert await asyncio.to_thread(act.main, [*argv, "--state-dir", str(tmp_path)]) == code
    assert capsys.readouterr().out.startswith(said)


def test_the_command_line_says_when_no_tenant_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="No running simulated tenant found"):
        act.main(["assign", "carol", "Teams-Admins", "--state-dir", str(tmp_path)])
