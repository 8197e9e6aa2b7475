"""FEED_DISCOVER in the feed desk (bot.feed) with the real Graph reader against the simulated tenant: the audit log
is read every cycle (the same read brings the approval outcomes), incrementally from the stored watermark; the
groups found are stored, so they stay monitored after the log has forgotten them (30 days) and across restarts; a
failed read never fails the cycle."""

from __future__ import annotations

from datetime import timedelta

from bot.feed import FeedDesk
from bot.store.sqlite import SqliteStore
from cards.wording import FEED_DISCOVERY_DENIED
from simtenant import seed
from tests.support.feed import CHANNEL_SETTING as CHANNEL
from tests.support.feed import Env

DEMO_PIM_GROUPS = seed.DEMO_PIM_GROUPS
FRESH = "eeeeeeee-0000-4000-8000-000000000001"


async def ids(desk: FeedDesk) -> set[str]:
    return {g.id for g in await desk.monitored()}


async def test_read_every_cycle_incrementally_and_kept_after_the_log_forgets(env: Env) -> None:
    store = SqliteStore(env.path)
    try:
        desk = env.desk(store)
        await desk.set_channel(CHANNEL)
        assert await desk.cycle() == 0  # baseline
        assert await ids(desk) == DEMO_PIM_GROUPS
        assert len(env.audit_reads()) == 2  # both spellings of PIM's service, the first time

        env.tenant.add_group(FRESH, "Fresh-PIM-Group")
        env.tenant.add_eligibility(FRESH, seed.BOB, "member")  # an admin elsewhere: the group enters the log
        env.wall.now += 60
        await desk.cycle()  # the next cycle reads the log again (one request): the group is found at once
        assert await ids(desk) == DEMO_PIM_GROUPS | {FRESH}
        [_, _, third] = env.audit_reads()
        assert third["query"]["$filter"].startswith("loggedByService eq 'PIM' and activityDateTime ge ")  # watermark
        assert "Fresh-PIM-Group" in [g.display_name for g in await desk.monitored()]
        await desk.switch_off()  # `feed off`, and the bot is shut down cleanly
        await desk.release_lease()
    finally:
        store.close()

    env.tenant.advance(timedelta(days=31))  # the audit log has forgotten every group
    store = SqliteStore(env.path)  # a new process on the same store; `feed here` again (a fresh baseline)
    try:
        desk = env.desk(store)
        await desk.set_channel(CHANNEL)
        assert await desk.cycle() == 0
        assert len(env.audit_reads()) == 5  # read at this process's start (both spellings again): nothing new in it
        assert await ids(desk) == DEMO_PIM_GROUPS | {FRESH}
    finally:
        store.close()


async def test_a_failed_read_keeps_the_cycle_and_is_retried_in_five_minutes(env: Env) -> None:
    other, secret = "11111111-2222-4333-8444-555555555555", "no-audit-secret"
    without = [role for role in seed.APP_ROLES if role != "AuditLog.Read.All"]
    env.tenant.add_app(other, secret, without, "Without AuditLog.Read.All")
    store = SqliteStore(env.path)
    try:
        desk = env.desk(store, client_id=other, secret=secret)
        await desk.set_channel(CHANNEL)
        assert await desk.cycle() == 0  # the cycle itself succeeds
        assert await ids(desk) == set()
        assert [e["status"] for e in env.audit_reads()] == [403]
        status = await desk.status_card(None)
        assert isinstance(status, dict)
        [problem] = [b for b in status["body"] if b.get("id") == "discovery-error"]
        assert problem["text"] == FEED_DISCOVERY_DENIED
        env.wall.now += 299
        await desk.cycle()
        assert len(env.audit_reads()) == 1
        env.wall.now += 1
        await desk.cycle()
        assert [e["status"] for e in env.audit_reads()] == [403, 403]

        env.tenant.apps[other.lower()].roles = frozenset(seed.APP_ROLES)  # consent granted meanwhile
        env.wall.now += 300
        await desk.cycle()
        assert await ids(desk) == DEMO_PIM_GROUPS
        status = await desk.status_card(None)
        assert isinstance(status, dict)
        assert not [b for b in status["body"] if b.get("id") == "discovery-error"]
    finally:
        store.close()


async def test_a_throttled_audit_log_does_not_hold_the_cycle_and_is_read_after_its_retry_after(env: Env) -> None:
    store = SqliteStore(env.path)
    try:
        desk = env.desk(store)
        await desk.set_channel(CHANNEL)
        for _ in range(5):  # another tool of this app used the audit API's 5 requests / 10 s
            env.tenant.reports_throttle.admit(env.sim.client_id, env.tenant.now())
        env.tenant.advance(7)  # three seconds left in the throttle window
        assert await desk.cycle() == 0  # not held by the throttle: no wait inside the cycle
        assert [e["status"] for e in env.audit_reads()] == [429]
        env.wall.now += 2
        await desk.cycle()
        assert len(env.audit_reads()) == 1  # not before the Retry-After (3 s) …
        env.wall.now += 1
        env.tenant.advance(3)
        await desk.cycle()
        assert [e["status"] for e in env.audit_reads()] == [429, 200, 200]  # … but long before five minutes
        assert await ids(desk) == DEMO_PIM_GROUPS
    finally:
        store.close()
