"""The policy pre-flight and the "no" that must be Graph's, through POST /api/messages against the simulated tenant.

Every activation's policy is read before its write, app-only (the simulated tenant refuses a plain eligible user's
own policy read, as Graph may); a refusal or question the policy implies reaches the user with no selfActivate POST
in the tenant's request log, also with a cold cache and on the first message after a restart. A negative drawn
from a cached read is checked against Graph once before it is said.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.store import keys
from devtools.teams.activities import ALICE, FRANK
from simtenant import seed
from simtenant.wire import request_json
from tests.support.cards import card_text, element
from tests.support.chat import cancel_typed, say
from tests.support.elsewhere import PIM, alice_elsewhere, graph_as
from tests.support.stack import Stack, another_bot
from tests.support.state import StateFile

ACTIVATION_ROUTE = "POST assignmentScheduleRequests"


def graph_log(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.sim.tenant.log.recent())


def activation_posts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["route"] == ACTIVATION_ROUTE]


def policy_reads(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["path"].startswith("/v1.0/policies/")]


async def admin_grants_eligibility(stack: Stack, group: str, principal: str) -> None:
    """Erin (an admin) makes `principal` eligible for member of `group`: adminAssign on eligibilityScheduleRequests."""
    body = {
        "action": "adminAssign",
        "groupId": group,
        "principalId": principal,
        "accessId": "member",
        "justification": "joins the on-call rota",
        "scheduleInfo": {"startDateTime": None, "expiration": {"type": "afterDuration", "duration": "P90D"}},
    }
    await graph_as(stack, seed.ERIN, "POST", f"{PIM}/eligibilityScheduleRequests", body)


# ---- the pre-flight runs before any write, cold or warm ----------------------------------------------------------

COLD_REFUSALS = [
    pytest.param("activate Helpdesk-Tier1 10h", "at most 8 h", id="over the maximum"),
    pytest.param('activate "Teams Admins" 90m', "justification", id="justification and ticket missing"),
    pytest.param('activate "Teams Admins" 90m because INC-1 rollout', "ticket", id="ticket missing"),
    pytest.param("activate Exchange-Admins as owner 1h", "justification", id="justification missing (owner)"),
    pytest.param("activate Exchange-Admins 4m", "5 minutes", id="under five minutes"),
]


@pytest.mark.parametrize(("text", "said"), COLD_REFUSALS)
async def test_with_a_cold_cache_the_policy_refuses_or_asks_before_any_write(
    stack: Stack, text: str, said: str
) -> None:
    card = await say(stack, text)

    assert said in card_text(card)
    log = graph_log(stack)
    assert activation_posts(log) == []  # nothing was sent that Graph would refuse
    assert all(e["caller"] == "app" for e in policy_reads(log))  # the policy is read app-only, never as Alice


@pytest.mark.parametrize(("text", "said"), COLD_REFUSALS)
async def test_on_the_first_message_after_a_restart_too(stack: Stack, text: str, said: str) -> None:
    await say(stack, "activate Exchange-Admins 1h")  # the first process read and wrote
    async with another_bot(stack) as fresh:
        before = len(graph_log(stack))
        card = await say(fresh, text)

        assert said in card_text(card)
        assert activation_posts(graph_log(stack)[before:]) == []


async def test_a_cold_activation_reads_the_policy_app_only_then_writes_as_the_user(stack: Stack) -> None:
    card = await say(stack, 'activate "Teams Admins" 90m because INC-1 rollout ticket INC-1')

    assert element(card, "outcome-0-state")["text"] == "Active"
    log = [e for e in graph_log(stack) if e["path"].startswith("/v1.0/")]
    [post] = activation_posts(log)
    assert (post["caller"], post["oid"]) == ("user", ALICE.oid)
    assert [e["caller"] for e in log if e is not post] == ["app"] * (len(log) - 1)
    assert [e["status"] for e in policy_reads(log)] == [200]


async def round_trips(stack: Stack, text: str, user: Any = ALICE) -> tuple[int, dict[str, Any]]:
    await stack.sim_control("POST", "/stats/reset")
    card = await say(stack, text, user)
    return int((await stack.sim_control("GET", "/stats"))["graph_requests"]), card


async def test_graph_round_trips_cold_and_warm(stack: Stack) -> None:
    # Each count ends with the directory check after the write (issue 14 point 2: one app-only checkMemberGroups).
    # A group this process has never seen: its id comes with the snapshot, so the policy is a round trip of its own.
    trips, card = await round_trips(stack, "activate Exchange-Admins 1h")
    assert (trips, element(card, "outcome-0-state")["text"]) == (3 + 1, "Active")
    # Another user, cold, naming a group seen in Alice's snapshot: snapshot and policy in one $batch, then the write.
    trips, card = await round_trips(stack, "activate Helpdesk-Tier1 1h", FRANK)
    assert (trips, element(card, "outcome-0-state")["text"]) == (2 + 1, "Active")
    # Snapshot cached (the status read it), policy not: one app-only policy read, then the write.
    await say(stack, "status")
    trips, card = await round_trips(stack, 'activate "Teams Admins" 1h because x ticket INC-2')
    assert (trips, element(card, "outcome-0-state")["text"]) == (2 + 1, "Active")
    # Warm: snapshot and policy cached; the write alone.
    await say(stack, "status")
    trips, card = await round_trips(stack, "activate Helpdesk-Tier1 1h")
    assert (trips, element(card, "outcome-0-state")["text"]) == (1 + 1, "Active")


async def test_a_group_seen_before_a_restart_still_costs_two_round_trips_after_it(stack: Stack) -> None:
    await say(stack, "status")  # Alice's eligibilities: the first process sees Helpdesk-Tier1 among them
    async with another_bot(stack) as fresh:  # nothing read yet in this process, the state file kept
        trips, card = await round_trips(fresh, "activate Helpdesk-Tier1 1h", FRANK)

    # snapshot and policy in one $batch, the write, then the directory check (issue 14 point 2)
    assert (trips, element(card, "outcome-0-state")["text"]) == (2 + 1, "Active")
    [batch, write, check] = [e for e in graph_log(stack)[-3:]]
    assert (batch["route"], write["route"]) == ("POST $batch", ACTIVATION_ROUTE)
    assert check["route"] == "POST users/{id}/checkMemberGroups"


async def test_the_groups_seen_are_written_only_when_they_change(stack: Stack) -> None:
    async def kept() -> dict[str, Any]:
        storage = StateFile(stack.state_db)
        try:
            return dict((await storage.read([keys.KNOWN_GROUPS]))[keys.KNOWN_GROUPS])
        finally:
            storage.close()

    await say(stack, "status")
    first = await kept()
    stack.sim.tenant.clock.advance(timedelta(minutes=2))  # the snapshot cache expired: read from Graph again
    await say(stack, "status")
    await say(stack, "status", FRANK)  # Frank's only group was seen in Alice's eligibilities

    assert await kept() == first  # same e_tag: not written again
    assert "Helpdesk-Tier1" in {name for _, name, _ in first["groups"]}


# ---- a "no" from a cache is Graph's before it is said --------------------------------------------------------------


async def test_an_eligibility_an_admin_granted_a_minute_ago_is_activatable_at_once(stack: Stack) -> None:
    card = await say(stack, "status", FRANK)  # Frank's snapshot is cached: Helpdesk-Tier1 only
    assert "Exchange-Admins" not in card_text(card)
    await admin_grants_eligibility(stack, seed.EXCHANGE_ADMINS, FRANK.oid)

    card = await say(stack, "activate Exchange-Admins 1h", FRANK)

    assert element(card, "outcome-0-state")["text"] == "Active"
    [request] = [request_json(r) for r in stack.sim.tenant.requests_for("assignment")]
    assert (request["principalId"], request["groupId"]) == (FRANK.oid, seed.EXCHANGE_ADMINS)


async def test_status_shows_an_eligibility_granted_after_the_last_read(stack: Stack) -> None:
    await say(stack, "status", FRANK)
    await admin_grants_eligibility(stack, seed.EXCHANGE_ADMINS, FRANK.oid)

    card = await say(stack, "status", FRANK)

    assert "Exchange-Admins" in card_text(card)


async def test_already_active_from_a_stale_snapshot_is_checked_first(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.clock.advance(timedelta(minutes=6))
    await say(stack, "status")  # cached: active
    await alice_elsewhere(stack, "selfDeactivate", seed.EXCHANGE_ADMINS)  # ended in another client

    card = await say(stack, "activate Exchange-Admins 1h")

    assert element(card, "outcome-0-state")["text"] == "Active"


async def test_a_policy_relaxed_since_it_was_cached_is_read_again_before_refusing(stack: Stack) -> None:
    card = await say(stack, "activate Helpdesk-Tier1 10h")
    assert "at most 8 h" in card_text(card)  # the policy is cached now
    policy = stack.sim.tenant.policy(seed.HELPDESK_TIER1, "member")
    rule = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": True,
        "maximumDuration": "PT10H",
    }
    path = f"/v1.0/policies/roleManagementPolicies/{policy.policy_id}/rules/Expiration_EndUser_Assignment"
    await graph_as(stack, seed.ERIN, "PATCH", path, rule)

    card = await say(stack, "activate Helpdesk-Tier1 10h")

    assert element(card, "outcome-0-state")["text"] == "Active"


async def test_deactivate_answers_from_graph_not_from_a_stale_snapshot(stack: Stack) -> None:
    await say(stack, "status")  # cached: nothing active
    await alice_elsewhere(stack, "selfActivate", seed.EXCHANGE_ADMINS)  # in the portal

    card = await say(stack, "deactivate Exchange-Admins")
    assert "5 minutes" in card_text(card)  # active, as Graph says: not "not active", as the cache would
    stack.sim.tenant.clock.advance(timedelta(minutes=6))
    card = await say(stack, "deactivate Exchange-Admins")
    assert element(card, "outcome-0-state")["text"] == "Deactivated"


async def test_cancel_finds_a_request_made_outside_the_bot(stack: Stack) -> None:
    await say(stack, "status")  # cached: nothing waiting
    made = await alice_elsewhere(stack, "selfActivate", seed.SECURITY_OPERATORS, justification="made in the portal")
    assert made["status"] == "PendingApproval"

    before = len(stack.connector.messages())
    status = await cancel_typed(stack)
    assert status == 201
    [reply] = [m.body.get("text") for m in stack.connector.messages()[before:] if m.body.get("text")]
    assert reply == "I cancelled your request for Security-Operators."
    [kept] = [request_json(r) for r in stack.sim.tenant.requests_for("assignment") if r.id == made["id"]]
    assert kept["status"] == "Canceled"

    before = len(stack.connector.messages())
    await cancel_typed(stack)
    [reply] = [m.body.get("text") for m in stack.connector.messages()[before:] if m.body.get("text")]
    assert reply == "You have no request for Security-Operators waiting for approval or scheduled for later."
