"""Approval outcomes from PIM's audit log (issue 5, point 2: "approval decided (approved, denied, expired; by whom)"),
over HTTP: requests made in the portal (Graph selfActivate with the requester's delegated token) and decided there
(the approver's PATCH of the approval stage) or left to expire by the tenant's clock reach the channel once, with the
approver; a decision made in Teams is posted once although the audit log records it too; without AuditLog.Read.All
the feed falls back to the approval desk's own outcomes and `feed status` says what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import APP_KEY
from cards.wording import FEED_AUDIT_DENIED
from simtenant import seed
from simtenant.seed import BOB, CAROL, SECURITY_OPERATORS
from tests.bot.test_activation_http import card_text
from tests.cards.cardtools import element
from tests.fakes import activities as act
from tests.fakes.activities import ALICE
from tests.feed.conftest import FeedStack, for_days, running_feed_stack
from tests.feed.test_feed_http import feed_here, say_in_channel_card
from tests.simtenant.conftest import PIM


def approval_posts(stack: FeedStack) -> list[str]:
    return [t for t in (card_text(p.card or {}) for p in stack.channel_posts()) if "approval:" in t]


def audit_reads(stack: FeedStack) -> list[dict[str, Any]]:
    return [e for e in stack.sim.tenant.log.recent() if e["route"] == "GET auditLogs/directoryAudits"]


async def next_cycle(stack: FeedStack) -> int:
    """A cycle a little later, as the background loop runs them (here within the audit API's 5 requests / 10 s)."""
    await stack.graph.advance(10)
    return await stack.cycle()


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
    changed: int = await stack.server.app[APP_KEY]["poll"]()
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
        entries = [e for e in stack.sim.tenant.audit.entries() if e["correlationId"] == request_id]
        assert any("request approved" in e["activityDisplayName"] for e in entries)  # the log has it as well

        await next_cycle(stack)  # posts what the approval desk queued; its audit read finds the same decision
        await next_cycle(stack)
        assert audit_reads(stack)[-1]["status"] == 200
        [post] = approval_posts(stack)
        assert "approval: approved by Bob Builder" in post and "Alice Admin" in post, post


async def test_a_bot_request_decided_in_the_portal_is_posted_once_with_the_approver(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        # The log has already shown a denial in a shape the reader knows (a portal-only request, denied) …
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, SECURITY_OPERATORS, **for_days(now, 30))
        await portal_decision(stack, await portal_request(stack, CAROL, "earlier drill"), "Deny")
        await stack.cycle()
        assert len(approval_posts(stack)) == 1

        # … so a denial of a bot-tracked request made elsewhere is left to the log, which names the approver.
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        assert await approval_poll(stack) == 1  # the approval desk sees it denied, by someone it cannot name

        await stack.cycle()
        await stack.cycle()
        [_, post] = approval_posts(stack)
        assert "approval: denied by Bob Builder" in post and "Alice Admin" in post, post


async def test_until_the_log_has_shown_an_outcome_kind_the_desk_posts_it_itself(tmp_path: Path) -> None:
    # The reference documents no audit entry format: if this tenant's entries were not understood, an outcome left to
    # the log would be lost. Until the log has shown a denial the reader understands, the desk posts its own (no
    # approver), and the log's later copy of the same request is the same event: one post either way.
    async with running_feed_stack(tmp_path) as stack:
        await feed_here(stack)
        request_id = await teams_request(stack)
        await portal_decision(stack, request_id, "Deny")
        assert await approval_poll(stack) == 1

        await next_cycle(stack)
        await next_cycle(stack)
        [post] = approval_posts(stack)
        assert "approval: denied" in post and "Alice Admin" in post and "Bob Builder" not in post, post
        assert [e["status"] for e in audit_reads(stack)][-1] == 200  # the log was readable all along


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
        # Three reads: the first asks for both spellings of PIM's service, the next only for the tenant's.
        assert len(audit_reads(stack)) == 4 and all(e["status"] == 200 for e in audit_reads(stack))
