"""Bad input, forged card data, foreign tenants and a failing Graph: a clear answer, nothing changed, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.teams import activities as act
from tests.support.cards import card_text, element
from tests.support.chat import EXCHANGE, SECURITY_OPS, say, self_activations
from tests.support.stack import Stack

TEAMS_ADMINS_LIKE_FOREIGN_GROUP = "bbbbbbbb-0000-4000-8000-000000000008"  # PIM-Approvers: Alice is not eligible


async def raw_post(stack: Stack, data: bytes, content_type: str | None) -> tuple[int, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with stack.http.post(
        stack.server.make_url("/api/messages"), data=data, headers=headers, skip_auto_headers=["Content-Type"]
    ) as r:
        return r.status, await r.text()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"type": "message"}', None, 415),
        (b'{"type": "message"}', "text/plain", 415),
        (b"{not json", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'{"text": "no type"}', "application/json", 400),
        (b'{"type": "message", "text": "no serviceUrl or conversation"}', "application/json", 400),
        (b'{"type": "message", "serviceUrl": 5, "conversation": "x"}', "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b'{"type": "message", "pad": "' + b"x" * 400_000 + b'"}', "application/json", 413),
    ],
)
async def test_malformed_requests_get_4xx_and_no_reply(
    stack: Stack, body: bytes, content_type: str | None, status: int
) -> None:
    got, text = await raw_post(stack, body, content_type)
    assert got == status, text
    assert stack.connector.sent == []


async def test_healthz_answers_without_authentication(stack: Stack) -> None:
    async with stack.http.get(stack.server.make_url("/healthz")) as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"


async def test_forged_card_data_is_refused_kindly_and_writes_nothing(stack: Stack) -> None:
    forged: dict[str, Any] = {"groupId": EXCHANGE, "access": "member", "durationMinutes": 60}  # no "pim" marker
    status, body = await stack.post(act.card_execute(stack.service_url, "activate", forged, "a-1"))
    assert status == 200
    assert "not from this bot" in card_text(body["value"])
    assert self_activations(stack) == []


async def test_card_naming_a_group_the_clicker_is_not_eligible_for_is_refused(stack: Stack) -> None:
    data = {"pim": 1, "groupId": TEAMS_ADMINS_LIKE_FOREIGN_GROUP, "groupName": "Exchange-Admins", "access": "member",
            "durationMinutes": 60}  # fmt: skip
    status, body = await stack.post(act.card_execute(stack.service_url, "activate", data, "a-1"))
    assert status == 200
    assert element(body["value"], "outcome-0-state")["text"] == "Not activated"
    assert self_activations(stack) == []


async def test_a_card_click_acts_as_the_clicker_not_as_whoever_got_the_card(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins 1h")
    data = element(card, "outcome-0-deactivate")["data"]
    stack.sim.tenant.advance(600)
    # Frank clicks Alice's Deactivate button: Frank has no active Exchange-Admins membership, so nothing happens
    # to Alice's.
    status, body = await stack.post(act.card_execute(stack.service_url, "deactivate", data, "a-1", act.FRANK))
    assert status == 200
    assert element(body["value"], "outcome-0-state")["text"] != "Deactivated"
    assert not [r for r in stack.sim.tenant.requests_for("assignment") if r.action == "selfDeactivate"]


async def test_activities_from_another_tenant_are_ignored_before_any_logic(stack: Stack) -> None:
    status, _ = await stack.post(
        act.message(stack.service_url, "activate Exchange-Admins 1h", tenant="00000000-0000-4000-8000-00000000beef")
    )
    assert status == 201
    assert stack.connector.sent == []
    assert [e for e in stack.sim.tenant.log.recent() if e["path"].startswith("/v1.0")] == []


async def test_activities_without_a_user_are_ignored(stack: Stack) -> None:
    activity = act.message(stack.service_url, "activate Exchange-Admins 1h")
    del activity["from"]["aadObjectId"]
    status, _ = await stack.post(activity)
    assert status == 201
    assert stack.connector.sent == []


async def test_graph_unavailable_is_explained_and_nothing_is_activated(stack: Stack) -> None:
    stack.sim.tenant.add_fault(path=r"^/v1\.0/", status=503, times=None)
    card = await say(stack, "activate Exchange-Admins 1h")
    assert "not answering" in element(card, "outcome-0-message")["text"]
    status_reply = await _status_reply(stack)
    assert "not answering" in status_reply
    stack.sim.tenant.faults.clear()
    assert self_activations(stack) == []


async def test_throttling_beyond_the_retry_budget_says_when_to_try_again(stack: Stack) -> None:
    stack.sim.tenant.add_fault(path=r"^/v1\.0/", status=429, retry_after=120, times=None)
    card = await say(stack, "activate Exchange-Admins 1h")
    assert "try again in 2 min" in element(card, "outcome-0-message")["text"]


async def test_a_timed_out_activation_is_looked_up_before_any_retry_so_it_happens_once(stack: Stack) -> None:
    await say(stack, "status")  # warm: the write below is a plain POST
    await say(stack, "activate Exchange-Admins 30m")  # caches the policy
    # The tenant creates the request, then answers after the bot's Graph timeout (2 s in these tests).
    stack.sim.tenant.add_fault(
        method="POST", path=r"assignmentScheduleRequests$", delay_seconds=3.5, after_processing=True, times=1
    )
    card = await say(stack, "activate Helpdesk-Tier1 1h")
    assert element(card, "outcome-0-state")["text"] == "Active"
    helpdesk = [r for r in self_activations(stack) if r["groupId"].endswith("000000000006")]
    assert len(helpdesk) == 1


async def test_approval_request_while_graph_fails_midway_is_not_duplicated(stack: Stack) -> None:
    stack.sim.tenant.add_fault(
        method="POST", path=r"assignmentScheduleRequests$", delay_seconds=3.5, after_processing=True, times=1
    )
    card = await say(stack, "activate Security-Operators 1h because incident")
    assert element(card, "outcome-0-state")["text"] == "Waiting for approval"
    assert len([r for r in self_activations(stack) if r["groupId"] == SECURITY_OPS]) == 1


async def _status_reply(stack: Stack) -> str:
    before = len(stack.connector.messages())
    status, _ = await stack.post(act.message(stack.service_url, "status"))
    assert status == 201
    [reply] = stack.connector.messages()[before:]
    return str(reply.body.get("text") or card_text(reply.card or {}))


async def test_bot_connector_failures_are_retried_then_logged_never_a_500(stack: Stack) -> None:
    stack.connector.fail_next(502, times=1)  # retried: the help card still arrives
    status, _ = await stack.post(act.message(stack.service_url, "help"))
    assert status == 201
    assert len(stack.connector.messages()) == 1
    stack.connector.fail_next(500, times=20)  # not retryable: the turn fails, the user cannot be told, HTTP stays 201
    status, _ = await stack.post(act.message(stack.service_url, "help"))
    assert status == 201


async def test_under_five_minutes_is_refused_without_calling_graph(stack: Stack) -> None:
    card = await say(stack, "activate Exchange-Admins 3m")
    assert "less than 5 minutes" in element(card, "outcome-0-message")["text"]
    assert [e for e in stack.sim.tenant.log.recent() if e["path"].startswith("/v1.0")] == []
