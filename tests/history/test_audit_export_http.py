"""`audit export` through POST /api/messages (issue 14 point 5): an admin gets a CSV of the monitored groups' PIM
events as a file in the 1:1 chat — the file consent card, the `fileConsent/invoke`, the PUT to the upload session
and the file info card, as Teams runs them (the Bot Connector stand-in, devtools.teams.connector) — with a summary
card; the audit log read page by page within its 5 requests per 10 s."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.store import keys
from cards.wording import EXPORT_BAD_CONSENT, EXPORT_GONE, REPLIED_PRIVATELY
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from devtools.teams.connector import Recorded
from simtenant import seed
from simtenant.seed import EXCHANGE_ADMINS, SECURITY_OPERATORS
from tests.support.approvals import click, decide_in_tenant, request_approval
from tests.support.cards import card_text, element, facts
from tests.support.chat import say, self_activations
from tests.support.feed import FEED_GROUPS, FeedStack, feed_here
from tests.support.history import FILE_CONSENT, FILE_INFO, answer_consent, attachments
from tests.support.stack import Channel, Stack, running_stack
from tests.support.state import StateFile


def _days(stack: Stack, back: int) -> tuple[str, str]:
    today = stack.sim.tenant.now().astimezone(UTC).date()
    return (today - timedelta(days=back)).isoformat(), today.isoformat()


async def _consent(stack: Stack, back: int, group: str = "") -> tuple[Recorded, dict[str, Any]]:
    """Alice asks for the export of the last `back` days (of `group`, or of every monitored group); the one file
    consent card she gets for it."""
    start, end = _days(stack, back)
    before = len(stack.connector.messages())
    await stack.post(act.message(stack.service_url, f"audit export {start} {end} {group}".strip()))
    [consent] = attachments(stack, FILE_CONSENT, before)
    return consent


def _rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel opens it as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def _audit_reads(stack: Stack) -> list[dict[str, object]]:
    return [c for c in stack.graph_calls() if "auditLogs/directoryAudits" in str(c["path"])]


async def test_an_admin_gets_the_csv_through_file_consent_with_a_summary(export_stack: Stack) -> None:
    stack = export_stack
    await say(stack, "activate Exchange-Admins 1h because patching ticket CHG-1")
    await say(stack, "activate Security-Operators 1h because incident")
    [_, waiting] = self_activations(stack)
    await decide_in_tenant(stack, waiting["id"], "Approve")
    stack.sim.tenant.advance(timedelta(minutes=10))
    await say(stack, "deactivate Exchange-Admins")
    start, end = _days(stack, 40)
    before = len(stack.connector.messages())

    status, _ = await stack.post(act.message(stack.service_url, f"audit export {start} {end}"))
    assert status == 201
    summary = next(r.card for r in stack.connector.messages()[before:] if r.card)
    counts = facts(summary, "counts")
    # The monitored groups (FEED_GROUPS): 3 seeded activations (each ended) + 2 now; 1 deactivated now.
    assert counts["Activations"] == "5" and counts["Deactivations"] == "4", counts
    assert counts["Approved"] == "2", counts  # Bob's seeded approval, Dave's now
    assert "covers only from" in element(summary, "coverage")["text"]  # 40 days asked, the log keeps 30
    [consent] = attachments(stack, FILE_CONSENT, before)
    name = consent[1]["name"]
    assert name == f"pim-audit-{start}-to-{end}.csv"
    content = consent[1]["content"]
    assert set(content) == {"description", "sizeInBytes", "acceptContext", "declineContext"}
    assert content["acceptContext"] == content["declineContext"] and content["sizeInBytes"] > 0

    status, body = await answer_consent(stack, consent, "accept")
    assert status == 200 and not body  # answered as botbuilder answers fileConsent/invoke: 200, no body
    data = stack.connector.files[name]
    assert len(data) == content["sizeInBytes"]
    [(_, info)] = attachments(stack, FILE_INFO, before)
    assert info["name"] == name and info["contentUrl"].endswith(name)
    assert info["content"]["fileType"] == "csv" and info["content"]["uniqueId"]

    rows = _rows(data)
    mine = [r for r in rows if r["request_id"] == waiting["id"]]
    events = {r["event"] for r in mine}
    assert {"activation requested", "approval requested", "approved", "activated"} <= events, events
    [approved] = [r for r in mine if r["event"] == "approved"]
    assert approved["approver"] == "Dave Diaz" and approved["approver_id"] == approved["actor_id"], approved
    assert approved["justification"] == "incident" and approved["group"] == "Security-Operators"
    assert approved["principal"] == "Alice Admin" and approved["request_action"] == "selfActivate"
    exchange = [r for r in rows if r["group_id"] == EXCHANGE_ADMINS and r["ticket"]]
    assert exchange and all(r["ticket"].endswith("CHG-1") for r in exchange)
    assert all(r["group_id"] in (EXCHANGE_ADMINS, SECURITY_OPERATORS) or r["group"] for r in rows)
    times = [r["time_utc"] for r in rows]
    assert times == sorted(times)
    # The record is taken: the same answer again finds nothing.
    status, _ = await answer_consent(stack, consent, "accept")
    assert status == 200 and stack.connector.messages()[-1].body.get("text") == EXPORT_GONE


async def test_a_group_named_limits_the_export_and_the_bytes_go_in_one_put(export_stack: Stack) -> None:
    stack = export_stack
    consent = await _consent(stack, 10, "Security-Operators")
    await answer_consent(stack, consent, "accept")
    data = stack.connector.files[consent[1]["name"]]
    rows = _rows(data)
    assert rows and {r["group"] for r in rows} == {"Security-Operators"}
    # One fragment for a small file, as Microsoft's sample sends it; no Authorization header (the stand-in: 401).
    assert [(r, s) for _, r, s in stack.connector.upload_puts] == [(f"bytes 0-{len(data) - 1}/{len(data)}", 201)]
    assert not stack.connector.uploads  # completed: the session is gone


async def test_declining_drops_the_export_and_says_so(export_stack: Stack) -> None:
    stack = export_stack
    consent = await _consent(stack, 5)
    status, _ = await answer_consent(stack, consent, "decline")
    assert status == 200
    assert "won't upload" in (stack.connector.messages()[-1].body.get("text") or "")
    assert not stack.connector.files
    assert await StateFile(stack.state_db).keys_with_prefix(keys.EXPORTS) == []


async def test_someone_else_cannot_take_an_admins_export(export_stack: Stack) -> None:
    stack = export_stack
    consent = await _consent(stack, 5)
    status, _ = await answer_consent(stack, consent, "accept", BOB)
    assert status == 200 and not stack.connector.files
    assert await StateFile(stack.state_db).keys_with_prefix(keys.EXPORTS) != []


async def test_a_non_admin_is_refused_and_nothing_is_read(export_stack: Stack) -> None:
    stack = export_stack
    start, end = _days(stack, 5)
    await stack.post(act.message(stack.service_url, f"audit export {start} {end}", BOB))
    assert "Only the bot's admins" in (stack.connector.messages()[-1].body.get("text") or "")
    assert not _audit_reads(stack) and await StateFile(stack.state_db).keys_with_prefix(keys.EXPORTS) == []


async def test_an_unknown_group_is_named_and_nothing_is_exported(export_stack: Stack) -> None:
    stack = export_stack
    start, end = _days(stack, 5)
    await stack.post(act.message(stack.service_url, f"audit export {start} {end} Finance-Prod"))
    said = stack.connector.messages()[-1].body.get("text") or ""
    assert "“Finance-Prod” is not among the monitored groups" in said and "Exchange-Admins" in said
    assert not _audit_reads(stack)


async def test_in_a_channel_the_export_continues_in_the_1_1_chat(export_stack: Stack) -> None:
    stack = export_stack
    start, end = _days(stack, 5)
    await stack.post(act.channel_message(stack.service_url, f"audit export {start} {end}"))
    in_channel = [r for r in stack.connector.messages() if r.conversation_id.startswith("19:incidents")]
    assert [r.body.get("text") for r in in_channel] == [REPLIED_PRIVATELY]
    [(chat, _)] = stack.connector.created
    assert [a for r in stack.connector.messages(chat) for a in r.body.get("attachments") or []
            if a["contentType"] == FILE_CONSENT]  # fmt: skip


async def test_a_large_period_pages_through_the_log_within_5_requests_per_10_seconds(export_stack: Stack) -> None:
    stack = export_stack
    tenant = stack.sim.tenant
    now = tenant.now()
    first = now - timedelta(days=29)
    for n in range(700):  # ~2100 entries: 5 pages of 500 under one spelling of PIM's service
        at = first + timedelta(minutes=50 * n)
        tenant.add_activation_history(EXCHANGE_ADMINS, ALICE.oid, start=at, end=at + timedelta(minutes=30))
    for _ in range(5):  # another reader of the app (the feed) has just used the budget: the first page gets a 429
        tenant.reports_throttle.admit(stack.sim.client_id, tenant.now())
    start, end = _days(stack, 29)
    before = len(stack.connector.messages())
    await stack.post(act.message(stack.service_url, f"audit export {start} {end} Exchange-Admins"))
    summary = next(r.card for r in stack.connector.messages()[before:] if r.card)
    assert int(facts(summary, "counts")["Activations"]) >= 700
    assert "wait" in card_text(summary)  # the 429 was waited out (Retry-After), and said
    reads = [c for c in _audit_reads(stack) if c["status"] == 200]
    at = sorted(datetime.fromisoformat(str(c["time"]).replace("Z", "+00:00")) for c in reads)
    assert len(at) >= 6, len(at)
    assert all(at[i + 5] - at[i] >= timedelta(seconds=10) for i in range(len(at) - 5)), at


async def test_a_period_longer_than_the_setting_allows_is_refused_and_nothing_is_read(export_stack: Stack) -> None:
    stack = export_stack
    await stack.post(act.message(stack.service_url, "audit export 2026-01-01 2026-12-31"))
    said = stack.connector.messages()[-1].body.get("text") or ""
    assert "365 days" in said and "92 at most" in said
    assert not _audit_reads(stack) and await StateFile(stack.state_db).keys_with_prefix(keys.EXPORTS) == []


async def test_an_approval_made_in_teams_carries_the_approvers_reason(export_stack: Stack) -> None:
    stack = export_stack
    request_id, bob_card, _ = await request_approval(stack)
    await click(stack, BOB, bob_card, "approve", reason="ok for the patch window")
    consent = await _consent(stack, 1, "Security-Operators")
    await answer_consent(stack, consent, "accept")
    [approved] = [r for r in _rows(stack.connector.files[consent[1]["name"]]) if r["event"] == "approved"]
    assert approved["request_id"] == request_id and approved["approver"] == "Bob Builder"
    assert approved["reason"] == "ok for the patch window"  # the bot's record: no documented log field has it
    assert approved["justification"] == "incident INC-9"


async def test_with_production_settings_the_upload_carries_no_bearer_and_goes_over_https(tmp_path: Path) -> None:
    """The SIGNED stack: the Bot Connector stand-in (HTTPS, test CA) checks the bot's bearer on every call; the upload
    URL must get none (its session answers 401 to one)."""
    values = {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "3600", "FEED_GROUPS": FEED_GROUPS}
    async with running_stack(tmp_path, channel=Channel.SIGNED, quick=True, **values) as stack:
        start, end = _days(stack, 3)
        before = len(stack.connector.messages())
        status, _ = await stack.post(act.message(stack.service_url, f"audit export {start} {end}"))
        assert status == 201
        [consent] = attachments(stack, FILE_CONSENT, before)
        status, _ = await answer_consent(stack, consent, "accept")
        assert status == 200
        assert consent[1]["name"] in stack.connector.files
        assert stack.connector.upload_puts[-1][2] == 201 and stack.service_url.startswith("https://")
        assert not stack.connector.refused  # every Bot Connector call carried a valid bearer


async def test_an_upload_url_that_is_not_https_gets_no_bytes(export_stack: Stack) -> None:
    """Teams' upload URL is OneDrive's (https). Plain http is taken only on loopback in development (this stack's
    Bot Connector stand-in); anywhere else the bot sends nothing and keeps the export."""
    stack = export_stack
    message, card = await _consent(stack, 3)
    info = {**stack.connector.offer_upload(card["name"]), "uploadUrl": "http://files.contoso.test/upload/1"}
    invoke = act.file_consent(stack.service_url, "accept", card["content"]["acceptContext"], message.activity_id, info)
    status, _ = await stack.post(invoke)
    assert status == 200
    assert stack.connector.messages()[-1].body.get("text") == EXPORT_BAD_CONSENT
    assert not stack.connector.upload_puts and await StateFile(stack.state_db).keys_with_prefix(keys.EXPORTS) != []


async def test_without_audit_log_read_all_the_export_has_the_requests_and_says_so(export_stack: Stack) -> None:
    stack = export_stack
    app = stack.sim.tenant.apps[stack.sim.client_id.lower()]
    app.roles = frozenset(r for r in seed.APP_ROLES if r != "AuditLog.Read.All")
    await say(stack, "activate Exchange-Admins 1h because patching")
    start, end = _days(stack, 3)
    before = len(stack.connector.messages())
    await stack.post(act.message(stack.service_url, f"audit export {start} {end}"))
    summary = next(r.card for r in stack.connector.messages()[before:] if r.card)
    assert "AuditLog.Read.All" in element(summary, "coverage")["text"]
    [consent] = attachments(stack, FILE_CONSENT, before)
    await answer_consent(stack, consent, "accept")
    rows = _rows(stack.connector.files[consent[1]["name"]])
    assert [(r["event"], r["source"], r["justification"]) for r in rows if r["group"] == "Exchange-Admins"] == [
        ("activation requested", "schedule request", "patching")
    ]


async def test_an_export_during_feed_cycles_keeps_the_apps_audit_reads_within_5_per_10_seconds(
    tmp_path: Path,
) -> None:
    """The feed reads PIM's audit log every cycle and the export pages through it: one budget for the app per tenant
    (Microsoft Graph throttling limits, Entra logs and reports: 5 requests per 10 s), so both go through the one pacer
    of the process. None of the tenant's audit requests is refused, and no 10 s holds more than 5 of them."""
    values = {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "3600", "FEED_GROUPS": FEED_GROUPS}
    async with running_stack(tmp_path, quick=True, cls=FeedStack, **values) as stack:
        tenant = stack.sim.tenant
        first = tenant.now() - timedelta(days=29)
        for n in range(700):  # ~2100 entries: several pages of 500
            at = first + timedelta(minutes=50 * n)
            tenant.add_activation_history(EXCHANGE_ADMINS, ALICE.oid, start=at, end=at + timedelta(minutes=30))
        await feed_here(stack)
        start, end = _days(stack, 29)
        export = asyncio.create_task(
            stack.post(act.message(stack.service_url, f"audit export {start} {end} Exchange-Admins"))
        )
        cycles = 0
        while not export.done():
            await stack.cycle()  # the background loop's cycles, as often as they can come
            cycles += 1
        await export
        reads = _audit_reads(stack)
        # The export's queries bound the period (`activityDateTime le`, kept in every nextLink); the feed's do not. The
        # feed read while the export paged: their requests' spans overlap (one long first cycle is enough, or several).
        export_at = [i for i, c in enumerate(reads) if "activityDateTime le" in str(c["query"].get("$filter"))]
        feed_at = [i for i in range(len(reads)) if i not in export_at]
        assert len(export_at) >= 5 and feed_at, (cycles, len(export_at), len(feed_at))
        assert feed_at[0] < export_at[-1] and export_at[0] < feed_at[-1], (export_at, feed_at)
        assert [c for c in reads if c["status"] != 200] == []
        at = sorted(datetime.fromisoformat(str(c["time"]).replace("Z", "+00:00")) for c in reads)
        assert all(at[i + 5] - at[i] >= timedelta(seconds=10) for i in range(len(at) - 5)), at
