"""`history` through POST /api/messages (issue 14 point 5): the user's own requests of the last 30 days from Graph —
the requests it lists and what PIM's audit log tells — with the approver, a page at a time."""

from __future__ import annotations

from datetime import timedelta

from cards.wording import REPLIED_PRIVATELY
from devtools.teams import activities as act
from devtools.teams.activities import BOB
from simtenant import seed
from tests.support.approvals import decide_in_tenant
from tests.support.cards import buttons, card_text, element, maybe_element
from tests.support.chat import say, self_activations
from tests.support.stack import Stack


async def test_history_lists_the_users_requests_newest_first_with_outcome_and_approver(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h because patching")
    await say(stack, "activate Security-Operators 1h because incident")  # waits for Bob
    [_, waiting] = self_activations(stack)
    await decide_in_tenant(stack, waiting["id"], "Approve")
    stack.sim.tenant.advance(timedelta(minutes=10))
    await say(stack, "deactivate Exchange-Admins")

    card = await say(stack, "history")
    text = card_text(card)
    first, second = element(card, "item-0-title")["text"], element(card, "item-1-title")["text"]
    assert first == "Exchange-Admins · Member · deactivation", text
    assert "Security-Operators" in second and "activation" in second, text
    assert "approved by Dave" in element(card, "item-1-detail")["text"], text  # decide_in_tenant decides as Dave
    assert element(card, "item-2-reason")["text"] == "“patching”"
    # The seeded month (audit log only, no request Graph still lists) is there too: Alice's approved one of 6 days ago.
    assert "Security-Operators · Member · activation" in text and "approved by Bob Builder" in text, text
    assert maybe_element(card, "approvers-note") is None


async def test_history_is_paged_and_the_buttons_turn_the_page_in_place(stack: Stack) -> None:
    for _ in range(3):
        await say(stack, "activate Exchange-Admins 30m")
        stack.sim.tenant.advance(timedelta(minutes=10))
        await say(stack, "deactivate Exchange-Admins")
    card = await say(stack, "history")  # 6 requests of the test + 7 seeded ones: two pages of 8
    assert element(card, "pages")["text"] == "Page 1 of 2"
    [older] = buttons(card)
    assert older["title"] == "Older"
    sent = stack.connector.messages()[-1]
    status, body = await stack.post(act.card_execute(stack.service_url, older["verb"], older["data"], sent.activity_id))
    assert status == 200
    page2 = body["value"]
    assert element(page2, "pages")["text"] == "Page 2 of 2"
    assert [b["title"] for b in buttons(page2)] == ["Newer"]
    assert maybe_element(page2, "item-5") is None  # 13 requests: 5 on the second page


async def test_history_typed_in_a_channel_continues_in_the_1_1_chat(stack: Stack) -> None:
    status, _ = await stack.post(act.channel_message(stack.service_url, "history"))
    assert status == 201
    [(chat, _)] = stack.connector.created  # the 1:1 chat with Alice, opened through the Bot Connector
    private = [r.card for r in stack.connector.messages(chat) if r.card]
    assert private and element(private[-1], "heading")["text"] == "Your PIM requests"
    in_channel = [r for r in stack.connector.messages() if r.conversation_id.startswith("19:incidents")]
    assert [r.body.get("text") for r in in_channel] == [REPLIED_PRIVATELY]


async def test_a_user_with_no_requests_is_told_so_kindly(stack: Stack) -> None:
    card = await say(stack, "history", BOB)
    assert "no PIM group requests in the last 30 days" in element(card, "empty")["text"]


async def test_a_bad_page_is_explained_and_reads_no_history(stack: Stack) -> None:
    card = await say(stack, "history page x")
    assert "history 2" in element(card, "line")["text"]
    assert not [c for c in stack.graph_calls() if "auditLogs" in c["path"]]


async def test_without_audit_log_read_all_history_shows_the_requests_and_says_why_no_approver(stack: Stack) -> None:
    app = stack.sim.tenant.apps[stack.sim.client_id.lower()]
    app.roles = frozenset(r for r in seed.APP_ROLES if r != "AuditLog.Read.All")
    await say(stack, "activate Exchange-Admins 1h")
    card = await say(stack, "history")
    assert element(card, "item-0-title")["text"] == "Exchange-Admins · Member · activation"
    assert "AuditLog.Read.All" in element(card, "approvers-note")["text"]
