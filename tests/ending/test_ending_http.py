"""Access about to end (issue 14 points 3 and 4) through /api/messages against the simulated tenant, on its clock
(advanced, never slept through): the ending-soon card, Keep it both ways PIM may take it, I'm done under PIM's
five-minute rule, the eligibility cards, status, and one sender of several instances."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from app import PARTS_KEY
from bot.store import keys as keyspace
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant.seed import EXCHANGE_ADMINS, SECURITY_OPERATORS, SHAREPOINT_ADMINS
from simtenant.wire import request_json
from tests.support.approvals import BOB, CAROL, approval_cards, decide_in_tenant, request_approval, texts
from tests.support.cards import buttons, card_text, element, maybe_element, walk
from tests.support.chat import say, self_activations
from tests.support.stack import Stack, ending_cycle, running_stack
from tests.support.tenant import Client

MINUTE = 60.0


def cards_since(stack: Stack, before: int) -> list[dict[str, Any]]:
    return [r.card for r in stack.connector.messages()[before:] if r.card is not None]


def headings(stack: Stack, before: int) -> list[str]:
    return [str(element(c, "heading")["text"]) for c in cards_since(stack, before) if maybe_element(c, "heading")]


async def click(stack: Stack, card: dict[str, Any], button_id: str, **typed: Any) -> Any:
    """Press an Action.Execute button of `card` as Alice. As Teams does, the values of the card's inputs (as shown,
    or as `typed`) are merged into the button's data, unless the button says `associatedInputs: none`."""
    button = element(card, button_id)
    inputs: dict[str, Any] = {}
    if button.get("associatedInputs") != "none":
        shown = {o["id"]: o.get("value", "") for o in walk(card) if str(o.get("type", "")).startswith("Input.")}
        inputs = {**shown, **typed}
    status, body = await stack.post(
        act.card_execute(stack.service_url, button["verb"], {**button["data"], **inputs}, "card-1")
    )
    assert status == 200
    return body["value"]


async def ending_soon(stack: Stack, group: str = "Exchange-Admins") -> dict[str, Any]:
    """Run a cycle; the one ending-soon card it sent."""
    before = len(stack.connector.messages())
    assert await ending_cycle(stack) >= 1
    [card] = [c for c in cards_since(stack, before) if element(c, "heading")["text"] == f"{group} ends soon"]
    return card


async def no_ending_soon(stack: Stack) -> None:
    """Run a cycle; it sent no ending-soon card of Exchange-Admins."""
    before = len(stack.connector.messages())
    await ending_cycle(stack)
    assert "Exchange-Admins ends soon" not in headings(stack, before)


async def test_ending_soon_card_comes_once_before_the_end_in_the_users_zone(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")  # from Europe/Berlin (the activity's clientInfo)
    stack.sim.tenant.advance(49 * MINUTE)  # 11 minutes left: not yet
    await no_ending_soon(stack)
    stack.sim.tenant.advance(2 * MINUTE)
    card = await ending_soon(stack)
    said = element(card, "ends")["text"]
    assert "(CET)" in said and "in 9 minutes" in said, said
    assert [b["title"] for b in buttons(card)] == ["Keep it", "I'm done"]
    await no_ending_soon(stack)  # once per activation


async def test_no_card_for_an_activation_shorter_than_the_warning(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 10m")
    stack.sim.tenant.advance(3 * MINUTE)
    await no_ending_soon(stack)


async def test_no_card_after_the_user_deactivated_elsewhere(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(10 * MINUTE)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=stack.sim.ssl_context())) as http:
        portal = await Client(stack.sim, http).deactivate(EXCHANGE_ADMINS)  # as in the portal: straight to Graph
    assert portal.status == 201, portal.body
    stack.sim.tenant.advance(41 * MINUTE)
    await no_ending_soon(stack)


async def test_keep_it_is_carried_out_by_the_bot_when_pim_will_not_schedule_it(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack)
    answer = await click(stack, card, "keep", keepMinutes="120")
    assert element(answer, "heading")["text"] == "Exchange-Admins: I will keep it", card_text(answer)
    assert "for 2 h" in element(answer, "ends")["text"]
    refused = [c for c in stack.graph_calls() if c["method"] == "POST" and c["path"].endswith("ScheduleRequests")]
    assert refused[-1]["status"] == 400  # the scheduled start PIM refused (RoleAssignmentExists)
    stack.sim.tenant.advance(5 * MINUTE)
    assert await ending_cycle(stack) == 0  # not due yet
    stack.sim.tenant.advance(5 * MINUTE)  # the first activation has ended
    before = len(stack.connector.messages())
    assert await ending_cycle(stack) == 1
    texts = [r.body.get("text") for r in stack.connector.messages()[before:]]
    assert "Your activation of Exchange-Admins has ended: activating it again, as you asked (Keep it)." in texts
    [kept] = cards_since(stack, before)
    assert element(kept, "outcome-0-state")["text"] == "Active"
    last = self_activations(stack)[-1]
    assert (last["status"], last["scheduleInfo"]["expiration"]["duration"]) == ("Provisioned", "PT2H")
    assert stack.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE.oid)
    assert await ending_cycle(stack) == 0  # carried out once


async def test_keep_it_is_scheduled_in_pim_where_pim_takes_it(stack: Stack) -> None:
    await stack.sim_control("POST", "/settings", {"future_activation_while_active": True})
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack)
    answer = await click(stack, card, "keep", keepMinutes="30")
    assert element(answer, "heading")["text"] == "Exchange-Admins: kept", card_text(answer)
    scheduled = self_activations(stack)[-1]
    assert scheduled["status"] == "Granted"  # PIM starts it by itself
    stack.sim.tenant.advance(10 * MINUTE)
    assert stack.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE.oid)
    assert await ending_cycle(stack) == 0  # nothing for the bot to do


async def test_keep_it_under_a_ticket_policy_asks_for_the_ticket_in_the_card_and_sends_it(stack: Stack) -> None:
    """Teams Admins' policy wants a reason and a ticket: the ending-soon card asks for both (the needs-input card's
    ticket input, required), and Keep it sends them to PIM, scheduled by PIM or carried out by the bot later."""
    await say(stack, "activate Teams Admins 1h because patch night ticket CHG-0001")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack, "Teams Admins")
    ticket = element(card, "ticket")
    assert ticket["type"] == "Input.Text" and ticket["isRequired"] is True
    answer = await click(stack, card, "keep", keepMinutes="60", justification="still patching", ticket="CHG-0042")
    assert element(answer, "heading")["text"] == "Teams Admins: I will keep it", card_text(answer)
    stack.sim.tenant.advance(10 * MINUTE)  # the first activation has ended: the bot activates again
    assert await ending_cycle(stack) == 1
    last = self_activations(stack)[-1]
    assert last["status"] == "Provisioned", last
    assert last["ticketInfo"]["ticketNumber"] == "CHG-0042"
    assert last["justification"] == "still patching"


async def test_keep_it_scheduled_in_pim_carries_the_ticket(stack: Stack) -> None:
    await stack.sim_control("POST", "/settings", {"future_activation_while_active": True})
    await say(stack, "activate Teams Admins 1h because patch night ticket CHG-0001")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack, "Teams Admins")
    answer = await click(stack, card, "keep", keepMinutes="30", justification="still patching", ticket="CHG-0042")
    assert element(answer, "heading")["text"] == "Teams Admins: kept", card_text(answer)
    scheduled = self_activations(stack)[-1]
    assert (scheduled["status"], scheduled["ticketInfo"]["ticketNumber"]) == ("Granted", "CHG-0042")


async def test_keep_it_under_an_approval_policy_is_a_request_the_approvers_get_again(stack: Stack) -> None:
    """Security-Operators needs an approval: Keep it is a request like any other (issue 14 point 3, "approval
    policies apply as to any request"), so when the bot activates again at the end it waits for an approver, every
    approver gets a card for it and Alice is told so; nothing is activated before someone approves."""
    request_id, _, _ = await request_approval(stack)
    await decide_in_tenant(stack, request_id, "Approve")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack, "Security-Operators")
    answer = await click(stack, card, "keep", keepMinutes="60", justification="incident still open")
    assert element(answer, "heading")["text"] == "Security-Operators: I will keep it", card_text(answer)
    stack.sim.tenant.advance(10 * MINUTE)  # the approved activation has ended: the bot asks again, as Alice
    said = len(texts(stack, ALICE))
    assert await ending_cycle(stack) == 1
    again = self_activations(stack)[-1]
    assert (again["status"], again["justification"]) == ("PendingApproval", "incident still open")
    assert again["id"] != request_id and not stack.sim.tenant.is_member(SECURITY_OPERATORS, ALICE.oid)
    for approver in (BOB, CAROL):
        assert [c for c in approval_cards(stack, approver) if again["id"] in json.dumps(c.card)] != [], approver
    assert any("sent your request" in t for t in texts(stack, ALICE, said)), texts(stack, ALICE, said)
    assert await ending_cycle(stack) == 0  # asked once


async def test_no_ticket_input_where_the_policy_wants_none(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack)
    assert maybe_element(card, "ticket") is None


async def test_keep_it_ended_early_is_dropped(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack)
    await click(stack, card, "keep", keepMinutes="60")
    await click(stack, card, "done")  # I'm done after all: the plan goes with the activation
    stack.sim.tenant.advance(MINUTE)
    await ending_cycle(stack)
    stack.sim.tenant.advance(10 * MINUTE)
    assert await ending_cycle(stack) == 0
    assert not stack.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE.oid)


async def test_im_done_respects_pims_five_minute_rule(tmp_path: Any) -> None:
    async with running_stack(tmp_path, ENDING_WARNING_MINUTES="10") as stack:
        await say(stack, "activate Exchange-Admins 12m")
        stack.sim.tenant.advance(3 * MINUTE)  # 9 minutes left, 3 minutes old
        card = await ending_soon(stack)
        requests = len(stack.sim.tenant.requests_for("assignment"))
        answer = await click(stack, card, "done")
        assert "from" in card_text(answer) and "5 minutes" in card_text(answer), card_text(answer)
        assert len(stack.sim.tenant.requests_for("assignment")) == requests  # Graph was not asked
        stack.sim.tenant.advance(2 * MINUTE)
        answer = await click(stack, card, "done")
        assert element(answer, "outcome-0-state")["text"] == "Deactivated"
        assert not stack.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE.oid)


async def test_eligibility_cards_ask_to_extend_and_renew_once_each(stack: Stack) -> None:
    await say(stack, "status")  # Alice is known to the bot
    before = len(stack.connector.messages())
    assert await ending_cycle(stack) == 2
    found = {element(c, "heading")["text"]: c for c in cards_since(stack, before)}
    extend = found["Your eligibility for Exchange-Admins ends soon"]
    renew = found["Your eligibility for SharePoint-Admins has ended"]
    assert "in 10 days" in element(extend, "ends")["text"]
    assert [b["title"] for b in buttons(extend)] == ["Ask to extend"]
    answer = await click(stack, extend, "ask", changeReason="on call until March")
    assert element(answer, "heading")["text"] == "Exchange-Admins: asked to extend", card_text(answer)
    [asked] = [request_json(r) for r in stack.sim.tenant.requests_for("eligibility", principal_id=ALICE.oid)
               if r.action == "selfExtend"]  # fmt: skip
    assert (asked["status"], asked["accessId"], asked["justification"]) == (
        "PendingAdminDecision",
        "owner",
        "on call until March",
    )
    answer = await click(stack, renew, "ask", changeReason="back on the SharePoint project")
    assert element(answer, "heading")["text"] == "SharePoint-Admins: asked to renew", card_text(answer)
    renewals = [
        r for r in stack.sim.tenant.requests_for("eligibility", group_id=SHAREPOINT_ADMINS) if r.action == "selfRenew"
    ]
    assert len(renewals) == 1
    stack.sim.tenant.advance(2 * 3600)  # the next hourly read of eligibilities: nothing sent twice
    before = len(stack.connector.messages())
    await ending_cycle(stack)
    assert not [h for h in headings(stack, before) if h.startswith("Your eligibility")]


async def test_a_refused_self_extension_says_so_and_points_to_the_portal(stack: Stack) -> None:
    await stack.sim_control("POST", "/settings", {"self_eligibility_requests": False})
    await say(stack, "status")
    before = len(stack.connector.messages())
    await ending_cycle(stack)
    [extend] = [c for c in cards_since(stack, before) if "ends soon" in element(c, "heading")["text"]]
    answer = await click(stack, extend, "ask", changeReason="still needed")
    assert element(answer, "heading")["text"] == "Exchange-Admins: not asked"
    said = element(answer, "ends")["text"]
    assert "does not document" in said and "PIM portal" in said, said
    assert element(answer, "open-pim")["url"].startswith("https://entra.microsoft.com/")


async def test_ask_without_a_reason_changes_nothing(stack: Stack) -> None:
    await say(stack, "status")
    before = len(stack.connector.messages())
    await ending_cycle(stack)
    [extend] = [c for c in cards_since(stack, before) if "ends soon" in element(c, "heading")["text"]]
    button = element(extend, "ask")
    status, body = await stack.post(act.card_execute(stack.service_url, button["verb"], button["data"], "card-1"))
    assert status == 200 and "reason" in body["value"]
    assert not [
        r for r in stack.sim.tenant.requests_for("eligibility", principal_id=ALICE.oid) if r.action == "selfExtend"
    ]


async def test_status_shows_an_eligibility_ending_within_14_days(stack: Stack) -> None:
    card = await say(stack, "status")
    endings = [o["text"] for o in _walk(card) if str(o.get("id", "")).endswith("-ending")]
    assert endings == ["Eligibility ends in 10 days"]


async def test_of_two_instances_one_sends(tmp_path: Any) -> None:
    async with running_stack(tmp_path, instances=2) as stack:
        await say(stack, "activate Exchange-Admins 1h")
        stack.sim.tenant.advance(51 * MINUTE)
        before = len(stack.connector.messages())
        sent = [await ending_cycle(stack, 1), await ending_cycle(stack, 0), await ending_cycle(stack, 1)]
        assert sent.count(0) >= 2
        assert headings(stack, before).count("Exchange-Admins ends soon") == 1


async def test_a_cycle_reads_every_known_user_in_one_batch(stack: Stack) -> None:
    await say(stack, "status")
    await say(stack, "status", act.BOB)
    await ending_cycle(stack)  # the first reads eligibilities too
    stack.sim.tenant.advance(MINUTE)
    calls = len(stack.graph_calls())
    await ending_cycle(stack)
    made = stack.graph_calls()[calls:]
    # One round trip: a $batch carrying one read per user (the simulated tenant logs the inner requests too).
    paths = sorted(c["path"].rsplit("/", 1)[-1] for c in made)
    assert paths == ["$batch", "assignmentScheduleInstances", "assignmentScheduleInstances"], made


async def test_a_chat_teams_refuses_is_forgotten_not_tried_every_cycle(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    stack.connector.block(act.personal_conversation(ALICE)["id"], 403)  # the app removed for Alice
    assert await ending_cycle(stack) == 0
    assert await stack_user_refs(stack) == []
    stack.connector.blocked.pop(act.personal_conversation(ALICE)["id"])  # added again
    await say(stack, "status")  # her next message stores the chat again: the card comes then
    assert "Exchange-Admins ends soon" in [element(c, "heading")["text"] for c in [await ending_soon(stack)]]


async def test_forged_keep_it_data_is_refused_kindly_and_changes_nothing(stack: Stack) -> None:
    await say(stack, "activate Exchange-Admins 1h")
    stack.sim.tenant.advance(51 * MINUTE)
    card = await ending_soon(stack)
    keep = element(card, "keep")
    requests = len(stack.sim.tenant.requests_for("assignment"))
    for forged in ({"keepMinutes": "abc"}, {"keepMinutes": "-5"}, {"keepMinutes": 10**9}, {"extra": "x"}):
        status, body = await stack.post(
            act.card_execute(stack.service_url, keep["verb"], {**keep["data"], **forged}, "card-1")
        )
        assert status == 200, forged
        assert "did not work" in json.dumps(body), (forged, body)
    assert len(stack.sim.tenant.requests_for("assignment")) == requests


async def stack_user_refs(stack: Stack) -> list[str]:
    store = stack.server.app[PARTS_KEY].store
    return [key async for key in store.keys(keyspace.USER_REFS)]


def _walk(node: Any) -> list[dict[str, Any]]:
    return list(walk(node))
