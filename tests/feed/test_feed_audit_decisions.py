"""Approval outcomes from PIM's audit log (issue 5, point 2: "approval decided (approved, denied, expired; by whom)"),
over HTTP: requests made in the portal (Graph selfActivate with the requester's delegated token) and decided there
(the approver's PATCH of the approval stage) or left to expire by the tenant's clock reach the channel once, with the
approver; a decision made in Teams is posted once although the audit log records it too; without AuditLog.Read.All
the feed falls back to the approval desk's own outcomes and `feed status` says what is missing.

Issue 9, point 7: Microsoft documents no shape for the log's entries. Whatever shape the tenant writes them in (the
shapes public samples show, `simtenant.audit.SHAPES`; either spelling of PIM's service), an outcome is posted once,
with the approver when the entry can be placed; an entry the reader cannot place costs the approver's name, never
the post; an entry that names its request by another id than the request's is still the same outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import PARTS_KEY
from bot.feed import AUDIT_WAIT
from cards.wording import FEED_AUDIT_DENIED
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant import seed
from simtenant.audit import PRIVILEGED_IDENTITY_MANAGEMENT, SHAPES, EntryShape
from simtenant.seed import BOB, CAROL, SECURITY_OPERATORS
from tests.support.cards import card_text, element
from tests.support.feed import FeedStack, feed_here, for_days, running_feed_stack, say_in_channel_card
from tests.support.state import StateFile
from tests.support.tenant import PIM


def approval_posts(stack: FeedStack) -> list[str]:
    return [t for t in (card_text(p.card or {}) for p in stack.channel_posts()) if "approval:" in t]


def audit_reads(stack: FeedStack) -> list[dict[str, Any]]:
    return [e for e in stack.sim.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits"]


async def outcome_accounts(stack: FeedStack) -> list[str]:
    """What the feed keeps of the outcomes the two witnesses told (bot.feed `feed/outcome/`), read as a second process
    sharing the store would."""
    store = StateFile(stack.state_db)
    try:
        keys: list[str] = await store.keys_with_prefix("feed/outcome/")
        return keys
    finally:
        store.close()


async def next_cycle(stack: FeedStack) -> int:
    """A cycle a little later, as the background loop runs them (here within the audit API's 5 requests / 10 s)."""
    await stack.graph.advance(10)
    return await stack.cycle()


# Shapes no public sample shows, for what the reader must survive: an entry it cannot place (no group, no principal),
# and one naming its request only by a correlationId that is not the request's.
UNPLACEABLE = EntryShape("unplaceable", ("role", "request"), "RoleAssignmentRequestId", "fresh", "user")
ANOTHER_ID = EntryShape("another-id", ("role", "request", "principal", "group"), None, "fresh", "app")


async def portal_request(stack: FeedStack, principal: str, justification: str) -> str:
    """An activation requested in the portal: Graph selfActivate with the requester's own delegated token."""
    token = await stack.graph.user_token(principal)
    response = await stack.graph.activate(SECURITY_OPERATORS, principal, justification=justification, token=token)
    assert response.status == 201 and response.body["status"] == "PendingApproval", response.body
    request_id: str = response.body["id"]
    return request_id


async def portal_decision(stack: FeedStack, request_id: str, result: str, approver: str = BOB) -> None:
    """The approver decides in the portal: PATCH of the approval's stage with the approver's delegated token."""
    token = await stack.graph.user_token(approver)
    approval = await stack.graph.graph("GET", f"{PIM}/assignmentApprovals/{request_id}", token=token)
    assert approval.status == 200, approval.body
    stage = approval.body["stages"][0]["id"]
    response = await stack.graph.graph(
        "PATCH",
        f"{PIM}/assignmentApprovals/{request_id}/stages/{stage}",
        token=token,
        json={"reviewResult": result, "justification": "decided in the portal"},
    )
    assert response.status in (200, 204), response.body


async def log_shows_a_denial(stack: FeedStack) -> None:
    """The log shows a denial in a shape the reader knows (a portal-only request by Carol, denied by Bob): posted."""
    now = await stack.now()
    await stack.admin("eligibility", "adminAssign", CAROL, SECURITY_OPERATORS, **for_days(now, 30))
    await portal_decision(stack, await portal_request(stack, CAROL, "earlier drill"), "Deny")
    await next_cycle(stack)
    assert len(approval_posts(stack)) == 1


async def teams_request(stack: FeedStack) -> str:
    """Alice asks in Teams (Security-Operators needs an approval): the bot's approval desk tracks the request."""
    await stack.post(act.message(stack.service_url, "help", act.BOB))  # Bob can be reached in Teams
    await stack.post(act.message(stack.service_url, "activate Security-Operators 1h because feed drill"))
    [request] = [
        r for r in stack.sim.tenant.requests["assignment"].values() if r.status == "PendingApproval"
    ]  # the simulated tenant's own record
    return str(request.id)


async def approve_in_teams(stack: FeedStack) -> None:
    url = stack.service_url
    [card] = [r for r in stack.connector.messages(f"a:personal-{act.BOB.oid}") if r.card and "refresh" in r.card]
    data = {**element(card.card or {}, "approve")["data"], "reason": "looks fine"}
    status, _ = await stack.post(act.card_execute(url, "approve", data, card.activity_id, act.BOB))
    assert status == 200


async def approval_poll(stack: FeedStack) -> int:
    """One sweep of the approval desk's poller (it notices decisions made outside Teams)."""
    changed: int = await stack.server.app[PARTS_KEY].poll()
    return changed


async def test_portal_requests_denied_by_an_approver_or_expired_are_posted_once(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, SECURITY_OPERATORS, **for_days(now, 30))
        denied = await portal_request(stack, ALICE.oid, "portal drill")
        await portal_decision(stack, denied, "Deny")
        expiring = await portal_request(stack, CAROL, "nobody will answer")

        await stack.cycle()
        [post] = approval_posts(stack)
        assert "approval: denied by Bob Builder" in post and "Alice Admin" in post, post
        assert "Security-Operators" in post and "portal drill" in post, post

        await stack.graph.advance(24 * 3600 + 60)  # nobody decides Carol's request within PIM's 24 hours
        await stack.cycle()
        posts = approval_posts(stack)
        assert len(posts) == 2, posts
        assert "approval: expired, nobody decided in time" in posts[1] and "Carol Chen" in posts[1], posts
        assert "Bob Builder" not in posts[1]

        # Each audit read re-reads an overlap before its watermark (late entries): the same entries, the same ids.
        assert await stack.cycle() == 0
        assert len(approval_posts(stack)) == 2
        last = audit_reads(stack)[-1]
        assert last["status"] == 200 and "activityDateTime ge " in last["query"]["$filter"]
        outcomes = {r.id: r.status for r in stack.sim.tenant.requests["assignment"].values()}
        assert outcomes[denied] == "Denied" and outcomes[expiring] != "PendingApproval"


async def test_a_decision_made_in_teams_is_posted_once_though_the_audit_log_records_it_too(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        request_id = await teams_request(stack)
        await approve_in_teams(stack)
        # The log has it as well, naming the request in whichever way this entry's shape does (its correlationId, an
        # additionalDetails key or a target: simtenant.audit.SHAPES, written in turn).
        entries = [e for e in stack.sim.tenant.audit.entries() if request_id in json.dumps(e)]
        assert any("request approved" in e["activityDisplayName"] for e in entries)

        await next_cycle(stack)  # posts what the approval desk told; its audit read finds the same decision
        await next_cycle(stack)
        assert audit_reads(stack)[-1]["status"] == 200
        [post] = approval_posts(stack)
        assert "approval: approved by Bob Builder" in post and "Alice Admin" in post, post


async def test_a_bot_request_decided_in_the_portal_is_posted_once_with_the_approver(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        await log_shows_a_denial(stack)

        # … so a denial of a bot-tracked request made elsewhere is left to the log, which names the approver.
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        assert await approval_poll(stack) == 1  # the approval desk sees it denied, by someone it cannot name

        await next_cycle(stack)
        await next_cycle(stack)
        [_, post] = approval_posts(stack)
        assert "approval: denied by Bob Builder" in post and "Alice Admin" in post, post


async def test_until_the_log_has_shown_an_outcome_kind_the_desk_posts_it_itself(tmp_path: Path) -> None:
    # The reference documents no audit entry format: if this tenant's entries were not understood, an outcome left to
    # the log would be lost. Until the log has shown a denial the reader understands, the desk posts its own at once
    # (no approver); the log's copy, should it be understood later, is the same outcome: one post either way.
    async with running_feed_stack(tmp_path) as stack:
        stack.sim.tenant.audit.shapes = (UNPLACEABLE,)
        await feed_here(stack)
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        assert await approval_poll(stack) == 1

        await next_cycle(stack)
        [post] = approval_posts(stack)
        assert "approval: denied" in post and "Alice Admin" in post and "Bob Builder" not in post, post
        assert await next_cycle(stack) == 0
        assert [e["status"] for e in audit_reads(stack)][-1] == 200  # the log was readable all along


async def test_an_entry_the_reader_cannot_place_costs_the_approver_never_the_post(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        await log_shows_a_denial(stack)  # so the desk waits for the log's account of the next one

        stack.sim.tenant.audit.shapes = (UNPLACEABLE,)  # … but this one's entry it cannot place
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        assert await approval_poll(stack) == 1
        assert await next_cycle(stack) == 0  # waiting for the log, which names approvers
        await stack.graph.advance(AUDIT_WAIT.total_seconds())
        await next_cycle(stack)
        [_, post] = approval_posts(stack)
        assert "approval: denied" in post and "Alice Admin" in post and "Bob Builder" not in post, post
        for _ in range(2):
            assert await next_cycle(stack) == 0
        assert len(approval_posts(stack)) == 2


async def test_an_entry_naming_its_request_by_another_id_is_still_one_outcome(tmp_path: Path) -> None:
    # PIM gives one request's steps several correlation ids (Microsoft Learn's PIM lab; MicrosoftDocs/entra-docs
    # PR #2037): an entry that names its request only by its correlationId may carry an id the desk never saw.
    async with running_feed_stack(tmp_path) as stack:
        stack.sim.tenant.audit.shapes = (ANOTHER_ID,)
        await feed_here(stack)
        request_id = await teams_request(stack)
        await approve_in_teams(stack)  # the desk knows the approver: posted at once; the log's account is the same
        await next_cycle(stack)
        await next_cycle(stack)
        [approved] = approval_posts(stack)
        assert "approval: approved by Bob Builder" in approved, approved
        assert request_id not in {e["correlationId"] for e in stack.sim.tenant.audit.entries()}

        await stack.graph.advance(2 * 3600)  # Alice's activation is over; she asks again, Bob denies in the portal
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        await next_cycle(stack)  # the log tells it first, under its own id …
        assert await approval_poll(stack) == 1  # … then the desk, under the request's
        for _ in range(2):
            await next_cycle(stack)
        [_, denied] = approval_posts(stack)
        assert "approval: denied by Bob Builder" in denied and "Alice Admin" in denied, denied

        assert await outcome_accounts(stack)  # kept to recognise either witness's late account …
        await stack.graph.advance(25 * 3600)
        assert await next_cycle(stack) == 0
        assert await outcome_accounts(stack) == []  # … for a day


@pytest.mark.parametrize(
    ("shape", "service"),
    [(shape, service) for shape, service in zip(SHAPES, ("PIM", PRIVILEGED_IDENTITY_MANAGEMENT, "PIM"), strict=True)]
    + [(SHAPES[0], PRIVILEGED_IDENTITY_MANAGEMENT)],
    ids=lambda value: value.name if isinstance(value, EntryShape) else str(value).replace(" ", "-"),
)
async def test_every_entry_shape_finds_the_group_and_posts_each_outcome_once_with_the_approver(
    tmp_path: Path, shape: EntryShape, service: str
) -> None:
    async with running_feed_stack(tmp_path, FEED_GROUPS="Exchange-Admins", FEED_DISCOVER="true") as stack:
        tenant = stack.sim.tenant
        await stack.graph.advance(31 * 24 * 3600)  # the seeded history is gone: every entry is in this shape
        tenant.audit.shapes, tenant.audit.service = (shape,), service
        await feed_here(stack)
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, SECURITY_OPERATORS, **for_days(now, 30))
        await portal_decision(stack, await portal_request(stack, CAROL, "portal drill"), "Deny")  # a portal request
        await next_cycle(stack)
        [first] = approval_posts(stack)  # Security-Operators was found in the log (discovery) and its outcome posted
        assert "approval: denied by Bob Builder" in first and "Carol Chen" in first, first

        request_id = await teams_request(stack)  # a request made through the bot, decided in the portal
        await portal_decision(stack, request_id, "Approve")
        assert await approval_poll(stack) == 1
        for _ in range(3):
            await next_cycle(stack)
        [_, second] = approval_posts(stack)
        assert "approval: approved by Bob Builder" in second and "Alice Admin" in second, second


async def test_without_audit_log_read_all_the_desk_posts_outcomes_without_the_approver(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        app = stack.sim.tenant.apps[stack.sim.client_id.lower()]
        app.roles = frozenset(r for r in seed.APP_ROLES if r != "AuditLog.Read.All")
        await feed_here(stack)
        assert [e["status"] for e in audit_reads(stack)] == [403]  # then not again for 5 minutes
        status = await say_in_channel_card(stack, "feed status")
        [problem] = [b for b in status["body"] if b.get("id") == "discovery-error"]
        assert problem["text"] == FEED_AUDIT_DENIED

        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Approve")
        assert await approval_poll(stack) == 1
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, SECURITY_OPERATORS, **for_days(now, 30))
        portal_only = await portal_request(stack, CAROL, "portal drill")
        await portal_decision(stack, portal_only, "Deny")

        await stack.cycle()
        [post] = approval_posts(stack)  # today's behaviour: from the approval desk, no approver; the portal's is unseen
        assert "approval: approved" in post and "Bob Builder" not in post, post
        assert [e["status"] for e in audit_reads(stack)] == [403]


async def test_the_first_read_is_a_baseline_older_outcomes_are_not_news(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        denied = await portal_request(stack, ALICE.oid, "before the feed")
        await portal_decision(stack, denied, "Deny")
        await stack.graph.advance(60)
        await feed_here(stack)  # its first read covers the denial (the overlap before now) and posts nothing
        assert await next_cycle(stack) == 0  # nor does the next, which re-reads it in its own overlap
        assert approval_posts(stack) == []
        assert any("request denied" in e["activityDisplayName"] for e in stack.sim.tenant.audit.entries())
        # The first read asks for both spellings of PIM's service, every later one only for the tenant's: the cycle
        # `feed here` woke, this test's two (and the loop's own first, when a busy machine lets it start that late).
        reads = audit_reads(stack)
        services = [str(e["query"]["$filter"]).split("'")[1] for e in reads]
        assert sorted(services[:2]) == ["PIM", "Privileged Identity Management"], services
        assert services[2:] in (["PIM"] * 2, ["PIM"] * 3), services
        assert all(e["status"] == 200 for e in reads)
