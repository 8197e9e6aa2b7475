"""Approvals from a test's side: the approvers (Carol, Dave besides the seed's Bob), a request that needs approval,
the approval cards each approver got and their updates, a click on a card, the poller run once, a decision made in
the tenant outside the bot, the requester's waiting card."""

from __future__ import annotations

from typing import Any

from app import PARTS_KEY
from bot.store.keys import request_copies
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, TeamsUser
from devtools.teams.connector import FakeConnector, Recorded
from tests.support.cards import element, maybe_element
from tests.support.chat import self_activations
from tests.support.stack import Stack
from tests.support.state import StateFile

CAROL = TeamsUser("aaaaaaaa-0000-4000-8000-000000000003", "Carol Chen")


DAVE = TeamsUser("aaaaaaaa-0000-4000-8000-000000000004", "Dave Diaz")


def conversation(user: TeamsUser) -> str:
    return act.personal_conversation(user)["id"]


async def post(stack: Stack, activity: dict[str, Any]) -> tuple[int, Any]:
    return await stack.post(activity)


async def hello(stack: Stack, *users: TeamsUser) -> None:
    for user in users:
        status, _ = await stack.post(act.message(stack.service_url, "help", user))
        assert status == 201


def approval_patches(stack: Stack) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.sim.tenant.log.recent()
        if e["method"] == "PATCH" and "assignmentApprovals" in e["path"] and e["status"] < 300
    ]


def approval_writes(stack: Stack) -> list[dict[str, Any]]:
    """Every PATCH attempt on an approval, refused or not."""
    return [e for e in stack.sim.tenant.log.recent() if e["method"] == "PATCH" and "assignmentApprovals" in e["path"]]


def approval_cards(stack: Stack, user: TeamsUser) -> list[Recorded]:
    return [
        r
        for r in stack.connector.messages(conversation(user))
        if r.card is not None and maybe_element(r.card, "approve") is not None
    ]


def approver_updates(stack: Stack) -> list[Recorded]:
    """Updates of the approvers' copies (the requester's own card: tests/approvals/test_requester_card.py)."""
    return [r for r in stack.connector.sent if r.method == "PUT" and r.conversation_id != conversation(ALICE)]


def texts(stack: Stack, user: TeamsUser, since: int = 0) -> list[str]:
    return [str(r.body.get("text")) for r in stack.connector.messages(conversation(user))[since:] if r.body.get("text")]


async def request_approval(stack: Stack) -> tuple[str, Recorded, Recorded]:
    """Bob and Carol say hello; Alice activates Security-Operators. Returns (request id, Bob's card, Carol's card)."""
    await hello(stack, BOB, CAROL)
    status, _ = await stack.post(
        act.message(stack.service_url, "activate Security-Operators 1h because incident INC-9", ALICE)
    )
    assert status == 201
    [request] = self_activations(stack)
    assert request["status"] == "PendingApproval"
    [bob_card] = approval_cards(stack, BOB)
    [carol_card] = approval_cards(stack, CAROL)
    return request["id"], bob_card, carol_card


async def spread(stack: Stack) -> None:
    """Wait until the card updates a click left running in the background (issue 9, point 6) are done."""
    await stack.server.app[PARTS_KEY].bot.drain(10)


async def click(
    stack: Stack, user: TeamsUser, card: Recorded, verb: str, reason: str | None = None, **data: Any
) -> dict[str, Any]:
    """The invoke's answer, once the other copies were updated too (tests/approvals/test_click_answers_first.py
    shows the answer comes first)."""
    button = element(card.card or {}, "approve" if verb != "deny" else "deny")
    payload = {**button["data"], **data}
    if reason is not None:
        payload["reason"] = reason
    invoke = act.card_execute(stack.service_url, verb, payload, card.activity_id, user)
    status, body = await stack.post(invoke)
    assert status == 200, body
    assert isinstance(body, dict)
    await spread(stack)
    return body


def answered_card(body: dict[str, Any]) -> dict[str, Any]:
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    card: dict[str, Any] = body["value"]
    return card


async def stack_copies(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    """The copies of the request's approval card the bot keeps (one stored record each)."""
    storage = StateFile(stack.state_db)
    try:
        keys = await storage.keys_with_prefix(request_copies(request_id))
        items = await storage.read(keys)
    finally:
        storage.close()
    return [dict(items[key]) for key in keys]


async def stack_record(stack: Stack, request_id: str) -> dict[str, Any]:
    storage = StateFile(stack.state_db)
    try:
        items = await storage.read([f"request/{request_id}"])
    finally:
        storage.close()
    record: dict[str, Any] = dict(items[f"request/{request_id}"])
    return record


async def poll_once(stack: Stack) -> int:
    changed: int = await stack.server.app[PARTS_KEY].poll()
    return changed


async def decide_in_tenant(stack: Stack, request_id: str, decision: str) -> None:
    from simtenant.entities import Caller

    tenant = stack.sim.tenant
    stage = tenant.approvals[request_id.lower()].stages[0]
    tenant.decide(Caller("user", "portal", DAVE.oid), request_id, stage.id, decision, "done in the portal")


def reminders(stack: Stack, user: object) -> list[str]:
    return [t for t in texts(stack, user) if t.startswith("Reminder:")]  # type: ignore[arg-type]


def warnings(stack: Stack) -> list[dict[str, object]]:
    return [
        r.card
        for r in stack.connector.messages(conversation(ALICE))
        if r.card is not None and (r.card.get("body") or [{}])[0].get("text") == "Approval request expires soon"
    ]


def waiting_cards(connector: FakeConnector, requester: TeamsUser, request_id: str) -> list[Recorded]:
    """The requester's activation cards that show `request_id` with its Cancel button, as sent."""
    return [
        r
        for r in connector.messages(conversation(requester))
        if r.card is not None
        and (button := maybe_element(r.card, "outcome-0-cancel")) is not None
        and button["data"]["requestId"] == request_id
    ]


def waiting_card(stack: Stack, request_id: str, requester: TeamsUser = ALICE) -> Recorded:
    """The requester's activation card that shows `request_id` with its Cancel button."""
    [sent] = waiting_cards(stack.connector, requester, request_id)
    return sent


def requester_updates(stack: Stack, activity_id: str) -> list[dict[str, Any]]:
    return [
        r.card
        for r in stack.connector.sent
        if r.method == "PUT" and r.conversation_id == conversation(ALICE) and r.activity_id == activity_id and r.card
    ]


def assert_settled(card: dict[str, Any], state: str, message_starts: str) -> None:
    assert maybe_element(card, "outcome-0-cancel") is None and maybe_element(card, "outcome-0-actions") is None
    assert element(card, "outcome-0-state")["text"] == state
    assert element(card, "outcome-0-message")["text"].startswith(message_starts), element(card, "outcome-0-message")
    assert "waits for approval" not in card["fallbackText"]
    # The rest of the card is what was sent: title, request id and duration.
    assert element(card, "outcome-0-title")["text"] == "Security-Operators · Member"
    facts = {f["title"]: f["value"] for f in element(card, "outcome-0-facts")["facts"]}
    assert facts["Duration"] == "1 h"
