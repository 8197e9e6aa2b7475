"""What the bot keeps of PIM's custom-extension calls, over restarts and time: a decision stored by a process that
died before telling the admin feed is posted by the next feed cycle, once; decisions past their retention are pruned
by the same cycle (it runs under the feed's lease, so one process at a time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app import PARTS_KEY, Faults, Seams
from bot.extension.records import RETENTION
from bot.store import keys
from tests.support.cards import card_text
from tests.support.extension import EXTENSION_ENV, call_extension, callout
from tests.support.feed import FeedStack, feed_here, running_feed_stack
from tests.support.stack import bot_server


class Died(Exception):
    """Stands for SIGKILL in-process: nothing after the fault point runs (the crash tests' subprocess kill is the
    same point, PIMBOT_TEST_EXTENSION_KILL_AT)."""


@dataclass(frozen=True)
class DyingFaults(Faults):
    @property
    def extension(self) -> Callable[[str], None] | None:
        def die(point: str) -> None:
            if point == self.extension_kill_at:
                raise Died(point)

        return die


def extension_cards(stack: FeedStack) -> list[str]:
    texts = [card_text(r.card) for r in stack.channel_posts() if r.card]
    return [t for t in texts if "checked by the custom extension" in t or "by rule 'default'" in t]


async def test_a_process_killed_after_storing_a_decision_and_before_telling_the_feed_has_it_posted_once(
    tmp_path: Path,
) -> None:
    async with running_feed_stack(tmp_path, **EXTENSION_ENV) as stack:
        await feed_here(stack)
        assert stack.settings is not None
        dying = Seams(clock=stack.sim.tenant.clock, faults=DyingFaults(extension_kill_at="kept"))
        body = callout()
        async with bot_server(stack.settings, dying) as doomed:
            crashed = FeedStack(stack.sim, stack.connector, [doomed], stack.http, stack.state_db)
            status, _ = await call_extension(crashed, body)
            assert status == 500  # the process "died" after storing, before answering or telling the feed
            found = await doomed.app[PARTS_KEY].store.get(keys.extension_evaluation(body["id"]))
            assert found is not None
        assert extension_cards(stack) == []

        # The surviving process's next feed cycle finds the decision nobody told the feed of, and posts it once.
        await stack.cycle()
        assert len(extension_cards(stack)) == 1, stack.channel_posts()
        # PIM's retry is answered from the stored decision; neither it nor later cycles post it again.
        status, _ = await call_extension(stack, body)
        assert status == 200
        await stack.cycle()
        await stack.cycle()
        assert len(extension_cards(stack)) == 1


async def test_decisions_older_than_the_retention_are_pruned_by_the_feed_cycle(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path, **EXTENSION_ENV) as stack:
        await feed_here(stack)
        store = stack.server.app[PARTS_KEY].store
        old, recent = callout(), callout()
        assert (await call_extension(stack, old))[0] == 200
        stack.sim.tenant.advance(RETENTION.total_seconds() - 60)
        assert (await call_extension(stack, recent))[0] == 200
        await stack.cycle()
        assert await store.get(keys.extension_evaluation(old["id"])) is not None  # within the retention: kept
        stack.sim.tenant.advance(120)
        await stack.cycle()
        assert await store.get(keys.extension_evaluation(old["id"])) is None
        assert await store.get(keys.extension_evaluation(recent["id"])) is not None
        assert [k async for k in store.keys(keys.EXTENSION_LATEST)]  # the recent one's latest note stays
        stack.sim.tenant.advance(RETENTION.total_seconds())
        await stack.cycle()
        assert [k async for k in store.keys(keys.EXTENSION_EVALUATIONS)] == []
        assert [k async for k in store.keys(keys.EXTENSION_LATEST)] == []
