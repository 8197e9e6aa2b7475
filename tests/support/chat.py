"""What a person does in the bot's personal chat and what Graph then holds: say something (the card of the reply),
cancel a request as a person answers the question (the command asks first, issue 11 point 9), the activation
requests Graph received."""

from __future__ import annotations

from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, TeamsUser
from simtenant.wire import request_json
from tests.support.cards import element, maybe_element
from tests.support.stack import Stack


async def cancel_typed(stack: Stack, group: str = "Security-Operators", user: TeamsUser = ALICE) -> int:
    """Type `cancel <group>`, then press Cancel request on each question it asks, as an older client does (the
    Action.Submit twin: the answer arrives in the chat as text). The HTTP status of the last POST."""
    chat = act.personal_conversation(user)["id"]
    before = len(stack.connector.messages(chat))
    status, _ = await stack.post(act.message(stack.service_url, f"cancel {group}", user))
    for asked in stack.connector.messages(chat)[before:]:
        if asked.card is None or maybe_element(asked.card, "outcome-0-keep") is None:
            continue
        button = element(asked.card, "outcome-0-cancel")["fallback"]
        status, _ = await stack.post(act.card_submit(stack.service_url, button["data"], asked.activity_id, user))
    return status


EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"


SECURITY_OPS = "bbbbbbbb-0000-4000-8000-000000000003"


async def say(stack: Stack, text: str, user: act.TeamsUser = ALICE, **kw: Any) -> dict[str, Any]:
    """Send a personal-chat message; return the card of the last reply that has one."""
    before = len(stack.connector.messages())
    status, _ = await stack.post(act.message(stack.service_url, text, user, **kw))
    assert status == 201
    replies = stack.connector.messages()[before:]
    assert replies, f"no reply to {text!r}"
    # The last card: a text may follow it (an approval request tells the requester who was notified).
    card = next((r.card for r in reversed(replies) if r.card is not None), None)
    assert card is not None, replies[-1].body
    return card


def assignment_requests(stack: Stack) -> list[dict[str, Any]]:
    return [request_json(r) for r in stack.sim.tenant.requests_for("assignment")]


def self_activations(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in assignment_requests(stack) if r["action"] == "selfActivate"]
