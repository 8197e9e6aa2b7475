"""The worker of access about to end over many users (issue 16: no memory growth under mixed load): a cycle reads
what its users hold a few hundred at a time and acts on each part before reading the next, so what it keeps at once
does not grow with the number of people who ever wrote to the bot."""

from __future__ import annotations

import tracemalloc

from bot.conversations import UserRecord
from bot.store import keys as keyspace
from bot.transport.activity import reference_of
from bot.transport.wire import activity_of
from core.models import TimeStyle
from devtools.teams import activities as act
from devtools.teams.activities import DEMO_TENANT, TeamsUser
from tests.support.chat import say
from tests.support.stack import Stack, ending_cycle
from tests.support.state import StateFile

MINUTE = 60.0


async def _known_users(stack: Stack, first: int, count: int) -> None:
    """`count` more people the bot can write to, each holding nothing, stored as a second process sharing the state
    file would: their references made by the bot's own `reference_of` from the message each once sent."""
    people = [TeamsUser(f"eeeeeeee-0000-4000-8000-{n:012d}", f"Person {n}") for n in range(first, first + count)]
    state = StateFile(stack.state_db)
    try:
        await state.write({
            keyspace.user_ref(person.oid): UserRecord(
                reference_of(activity_of(act.message(stack.service_url, "help", person))), DEMO_TENANT,
                TimeStyle("Europe/Berlin", "en-US"),
            ).to_json()
            for person in people
        })  # fmt: skip
    finally:
        state.close()


async def _peak_of_a_cycle(stack: Stack) -> int:
    """Bytes the process allocated at most during one cycle, above what it held before (tracemalloc)."""
    stack.sim.tenant.advance(MINUTE)
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    await ending_cycle(stack)
    return tracemalloc.get_traced_memory()[1] - before


async def test_a_cycle_over_six_times_the_users_needs_no_more_memory_at_once(stack: Stack) -> None:
    """The cycle's peak over 2,400 known users is under 1.5 times its peak over 400 (read whole, it was ~4×: a
    30-minute `python -m bench --only memory --soak-seconds 1800`, a new user every few turns, grew RSS by 9.5 MB per
    10 minutes, stepping up at each cycle), and Alice's card still comes."""
    await say(stack, "activate Exchange-Admins 1h")
    await _known_users(stack, 0, 400)
    await ending_cycle(stack)  # the first cycle also reads eligibilities (hourly); the ones measured do not
    tracemalloc.start()
    try:
        few = await _peak_of_a_cycle(stack)
        await _known_users(stack, 400, 2_000)
        many = await _peak_of_a_cycle(stack)
    finally:
        tracemalloc.stop()
    assert many < 1.5 * few, (few, many)
    stack.sim.tenant.advance(49 * MINUTE)  # 9 minutes left: within the warning
    sent = len(stack.connector.messages())
    await stack.sim_control("POST", "/stats/reset")
    assert await ending_cycle(stack) == 1
    stats = await stack.sim_control("GET", "/stats")
    reads = {k: v for k, v in stats["by_route"].items() if "assignmentScheduleInstances" in k}
    assert list(reads.values()) == [2_401], stats  # every user read, in every part
    assert stats["by_route"]["POST $batch"] == 121, stats  # ⌈2,401 / 20⌉ round trips, as before (and the policy)
    [card] = [r.card for r in stack.connector.messages()[sent:] if r.card]
    assert "Exchange-Admins ends soon" in str(card)
