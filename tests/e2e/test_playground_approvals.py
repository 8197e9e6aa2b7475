"""Inline approvals (issue 4) through the Microsoft 365 Agents Playground, impersonating the approver.

The Playground has one personal chat, and it belongs to its currentUser (Alice); its message API always sends as
Alice. Bob, the approver, is impersonated with `/_internal/v1/customActivities` (posted as is, so `from` can be any
configured user — local-clients.md §3.3). Bob's 1:1 conversation cannot be modelled: his `help` is posted into the
same personal chat with `from` = Bob, so the bot stores Bob's reference pointing at that chat, and his approval card
arrives on the same WebSocket stream as Alice's messages. Bob's click is an `adaptiveCard/action` invoke posted
through customActivities with `from` = Bob (`/_conversation/v1/invoke` refuses him: not a member of Alice's chat);
the bot's invoke response is read from the Playground's wire log.

Security-Operators (seed "demo"): approvers Bob (singleUser) and PIM-Approvers (Carol, Dave); a reason is required.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest

from devtools.stack import DEMO_USERS
from tests.support.cards import element, maybe_element, request_id_of
from tests.support.e2e import SimControl
from tests.support.playground import PERSONAL, BotMessage, PlaygroundClient

pytestmark = [pytest.mark.playground, pytest.mark.asyncio(loop_scope="session")]

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = {"id": DEMO_USERS[1].id, "name": "Bob Builder", "aadObjectId": "aaaaaaaa-0000-4000-8000-000000000002"}


async def custom_activity(pg: PlaygroundClient) -> dict[str, Any]:
    """The Playground's filled-in activity for the personal chat (customActivities template)."""
    async with pg.http.get(
        f"{pg.base_url}/_internal/v1/customActivities/template", params={"conversationId": PERSONAL}
    ) as r:
        assert r.status == 200, await r.text()
        activity: dict[str, Any] = await r.json(content_type=None)
        return activity


async def as_bob(pg: PlaygroundClient, text: str) -> None:
    """Post a message into the personal chat as Bob (customActivities template, `from` replaced)."""
    activity = await custom_activity(pg)
    activity.update({"id": str(uuid.uuid4()), "type": "message", "text": text, "from": dict(BOB)})
    async with pg.http.post(f"{pg.base_url}/_internal/v1/customActivities", json=activity) as r:
        assert r.status < 300, f"customActivities -> {r.status}: {await r.text()}"


async def invoke_as_bob(
    pg: PlaygroundClient, reply_to: str, data: dict[str, Any], within: float = 10
) -> dict[str, Any]:
    """Bob clicks Approve: an `adaptiveCard/action` invoke posted through customActivities with `from` = Bob.

    `/_conversation/v1/invoke` refuses Bob (`400 UserNotFound`: he is no member of Alice's personal chat), and
    customActivities answers an empty 200, so the bot's invoke response is read from the Playground's wire log
    (`/_ws/log/stream`), matched by the activity's id.
    """
    activity = await custom_activity(pg)
    activity.pop("text", None)
    activity.update({
        "id": str(uuid.uuid4()),
        "type": "invoke",
        "name": "adaptiveCard/action",
        "from": dict(BOB),
        "replyToId": reply_to,
        "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": data}, "trigger": "manual"},
    })  # fmt: skip
    async with pg.http.ws_connect(f"{pg.base_url}/_ws/log/stream") as log:
        async with pg.http.post(f"{pg.base_url}/_internal/v1/customActivities", json=activity) as r:
            assert r.status < 300, f"customActivities -> {r.status}: {await r.text()}"

        async def answer() -> dict[str, Any]:
            async for frame in log:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                entry = json.loads(frame.data).get("log") or {}
                if entry.get("activityName") == "invoke" and entry["request"]["body"].get("id") == activity["id"]:
                    response = entry.get("response") or {}
                    assert response.get("statusCode") == 200, f"invoke -> {response}\n{pg.diagnostics()}"
                    body: dict[str, Any] = response["body"]
                    return body
            raise AssertionError(f"the Playground closed its log stream\n{pg.diagnostics()}")

        try:
            return await asyncio.wait_for(answer(), within)
        except TimeoutError:
            raise AssertionError(f"no invoke response within {within:.0f}s\n{pg.diagnostics()}") from None


async def until(pg: PlaygroundClient, wanted: Any, within: float = 10) -> BotMessage:
    """The next bot message in the personal chat for which wanted(message) holds (others are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await pg.next_message(max(deadline - loop.time(), 0.1))
        if wanted(message):
            return message


def is_approval_card(m: BotMessage) -> bool:
    return m.card is not None and maybe_element(m.card, "approve") is not None


async def test_bob_approves_alices_request_from_the_playground(fresh: PlaygroundClient, sim: SimControl) -> None:
    pg = fresh
    loop = asyncio.get_running_loop()
    started = loop.time()

    await as_bob(pg, "help")  # the bot stores Bob's reference (pointing at this chat: see the module docstring)
    await until(pg, lambda m: m.card is not None and "help" in json.dumps(m.card).lower())

    await pg.say("activate Security-Operators 1h because patch")
    card = await until(pg, is_approval_card)
    assert card.card is not None
    facts = {f["title"]: f["value"] for f in element(card.card, "facts")["facts"]}
    assert facts["Requested by"] == "<at>Alice Admin</at>" and facts["Group"] == "Security-Operators"
    assert facts["Justification"] == "patch"
    request_id = request_id_of(card.card, "request-id")
    [request] = [r for r in await sim.assignment_requests(ALICE) if r["id"] == request_id]
    assert request["status"] == "PendingApproval"

    data = {**element(card.card, "approve")["data"], "reason": "ok for the patch window"}
    answer = await invoke_as_bob(pg, card.message_id, data)
    final = answer.get("value") or {}
    assert answer.get("statusCode") == 200 and answer.get("type") == "application/vnd.microsoft.card.adaptive", answer
    state = element(final, "state")["text"]
    assert state.startswith("Approved by Bob Builder at ") and state.endswith(" — ok for the patch window"), state
    assert maybe_element(final, "approve") is None

    told = await until(pg, lambda m: "approved by Bob Builder" in m.text)
    assert "active until" in told.text
    assert (await sim.assignment_request(request_id))["status"] == "Provisioned"
    approvals = [e for e in await sim.requests() if e["method"] == "PATCH" and "assignmentApprovals" in e["path"]]
    assert [(e["status"] < 300, e["oid"]) for e in approvals] == [(True, BOB["aadObjectId"])]
    assert loop.time() - started < 20
