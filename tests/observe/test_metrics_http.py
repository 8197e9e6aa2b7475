"""GET /metrics through HTTP on the bot's metrics port, after a realistic run: every seam reports, and the scrape
names no user, group, request, conversation or tenant."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from app import METRICS_KEY
from bot.transport.connector import ConnectorError
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from simtenant.seed import CAROL, EXCHANGE_ADMINS
from tests.support.approvals import CAROL as CAROL_USER
from tests.support.approvals import click, hello, poll_once, request_approval
from tests.support.feed import FeedStack, feed_here, for_days, running_feed_stack
from tests.support.scrape import metrics_url, scrape
from tests.support.sso import ask_to_activate, token_exchange
from tests.support.stack import Stack, Tokens, running_stack

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UPN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


async def a_realistic_run(stack: FeedStack) -> None:
    """An admin turns the feed on; Alice asks for a group that needs approval and Bob approves it; Alice activates
    another, with Graph throttling one read and Teams one send; an admin change reaches the feed; the approval
    poller runs; a malformed activity is refused."""
    await feed_here(stack)
    await hello(stack, CAROL_USER)
    request_id, bob_card, _ = await request_approval(stack)
    await click(stack, BOB, bob_card, "approve", reason="patch window")
    stack.sim.tenant.add_fault(method="GET", path="eligibilitySchedules", status=429, retry_after=0, times=1)
    stack.connector.fail_next(429, 1, retry_after="0")
    status, _ = await stack.post(act.message(stack.service_url, "activate Exchange-Admins 1h because INC-7"))
    assert status == 201
    now = await stack.now()
    await stack.admin("eligibility", "adminAssign", CAROL, EXCHANGE_ADMINS, **for_days(now, 30))
    assert await stack.cycle() >= 1  # the admin change, and the approval's outcome
    await poll_once(stack)
    async with aiohttp.ClientSession() as http:
        url = stack.server.make_url("/api/messages")
        async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
    assert request_id


async def test_a_scrape_after_a_realistic_run_counts_every_seam_and_names_nobody(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, METRICS_PORT="0") as stack:
        before = await scrape(metrics_url(stack))
        await a_realistic_run(stack)
        scraped = await scrape(metrics_url(stack))
    got = scraped.since(before)

    assert got.content_type.startswith("text/plain; version=0.0.4")
    # Turns, by kind and outcome, and their latency.
    assert got.value("pimbot_turns_total", kind="message", outcome="ok") >= 4
    assert got.value("pimbot_turns_total", kind="invoke/adaptiveCard/action", outcome="ok") == 1
    assert got.value("pimbot_turns_total", kind="unknown", outcome="rejected") == 1
    assert got.value("pimbot_turn_duration_seconds_count", kind="message") >= 4
    # Graph, by templated route and status; the throttled read counted as such, and its retry apart.
    routes = got.labels("pimbot_graph_requests_total", "route")
    assert "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests" in routes, routes
    approvals = [r for r in routes if r.startswith("/identityGovernance/privilegedAccess/group/assignmentApprovals/")]
    assert approvals, "\n".join(sorted(routes))
    assert got.value("pimbot_graph_requests_total", status="429") >= 1
    assert got.value("pimbot_graph_throttled_total") >= 1
    assert got.value("pimbot_graph_retries_total", reason="429") >= 1
    assert got.value("pimbot_graph_request_duration_seconds_count") > 0
    # The Bot Connector: sends and replies, the one 429, and the send limiter's count.
    operations = got.labels("pimbot_connector_requests_total", "operation")
    assert {"reply", "update", "create_conversation"} <= operations, operations
    assert got.labels("pimbot_connector_requests_total", "status") <= {"200", "201", "429"}
    assert got.value("pimbot_connector_throttled_total") == 1
    assert got.value("pimbot_connector_failures_total") == 0
    assert "pimbot_connector_send_delays" in got.families()
    # Approvals: one created and approved; none left waiting; the poll ran.
    assert got.value("pimbot_approval_requests_created_total") == 1
    assert got.value("pimbot_approval_requests_settled_total", outcome="approved") == 1
    assert got.value("pimbot_approval_requests_pending") == 0
    assert got.value("pimbot_approval_poll_last_success_timestamp_seconds") > 0
    # The feed: its cycles, its lease, its last success, nothing waiting.
    assert got.value("pimbot_feed_cycle_duration_seconds_count", outcome="ok") >= 2
    assert got.value("pimbot_feed_lease_held") == 1
    assert got.value("pimbot_feed_last_success_timestamp_seconds") > 0
    assert got.value("pimbot_feed_lag_seconds") == 0
    assert {"pimbot_sign_ins", "pimbot_step_ups", "process_resident_memory_bytes"} <= got.families()

    # Nobody in it: no GUID (users, groups, requests, the tenant), no UPN, no name, no conversation id.
    assert not GUID.findall(scraped.text), GUID.findall(scraped.text)
    assert not UPN.findall(scraped.text), UPN.findall(scraped.text)
    for who in ("Alice", "Bob", "Carol", "Exchange-Admins", "Security-Operators", "a:", "19:", "29:", ALICE.oid):
        assert who not in scraped.text, who


async def test_a_pending_request_and_a_stuck_feed_show_in_the_gauges(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, METRICS_PORT="0") as stack:
        before = await scrape(metrics_url(stack))
        await feed_here(stack)
        await request_approval(stack)
        await poll_once(stack)
        now = await stack.now()
        await stack.admin("eligibility", "adminAssign", CAROL, EXCHANGE_ADMINS, **for_days(now, 30))
        stack.connector.fail_next(403, times=5)  # Teams refuses the feed's post: it stays queued
        with pytest.raises(ConnectorError):
            await stack.cycle()
        await asyncio.sleep(1.1)
        got = (await scrape(metrics_url(stack))).since(before)
    assert got.value("pimbot_approval_requests_pending") == 1
    assert got.value("pimbot_feed_cycle_duration_seconds_count", outcome="failed") == 1
    assert 1 <= got.value("pimbot_feed_lag_seconds") < 30  # grows from the cycle on: the scrape came a second later
    assert got.value("pimbot_connector_failures_total", operation="create_conversation") == 1


async def test_metrics_are_off_unless_a_port_is_set_and_never_on_the_messaging_port(stack: Stack) -> None:
    assert stack.server.app[METRICS_KEY].port is None
    async with stack.http.get(stack.server.make_url("/metrics")) as r:
        assert r.status == 404


def test_the_feed_lag_grows_while_the_oldest_event_waits() -> None:
    from datetime import UTC, datetime

    from bot.observe import metrics

    now = datetime.now(UTC)
    metrics.feed_lag_from(now - timedelta(minutes=5), now)
    try:
        lag = metrics.REGISTRY.get_sample_value("pimbot_feed_lag_seconds")
        assert lag is not None and 299 <= lag <= 310
    finally:
        metrics.feed_lag_from(None)
    assert metrics.REGISTRY.get_sample_value("pimbot_feed_lag_seconds") == 0


async def test_sso_sign_ins_are_counted_by_step(tmp_path: Path) -> None:
    async with running_stack(tmp_path, tokens=Tokens.SSO, METRICS_PORT="0") as sso:
        before = await scrape(metrics_url(sso))
        await ask_to_activate(sso)
        assert sso.token_service is not None
        sso.token_service.fail_exchanges = 1
        status, _ = await sso.post(await token_exchange(sso))
        assert status == 412  # Teams then shows the sign-in button
        status, _ = await sso.post(await token_exchange(sso))
        assert status == 200
        got = (await scrape(metrics_url(sso))).since(before)
    assert got.value("pimbot_sign_ins_total", step="asked") == 1
    assert got.value("pimbot_sign_ins_total", step="exchange_failed") == 1
    assert got.value("pimbot_sign_ins_total", step="exchanged") == 1
