"""bot.conversations.Conversations remembers what it last wrote for a bounded number of conversations: an unchanged
record of a recent chat is not written again, and a process that has seen more users than that does not keep them
all in memory (issue 16: no growth over a sustained load)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest

from bot.conversations import WRITTEN_KEPT, Conversations
from bot.store import keys
from bot.store.sqlite import SqliteStore
from bot.transport.activity import actor_of, conversation_kind, reference_of
from bot.transport.wire import activity_of
from core.models import Actor
from devtools.teams.activities import TeamsUser, message


@pytest.fixture
def store() -> Iterator[SqliteStore]:
    s = SqliteStore(":memory:")
    yield s
    s.close()


def person(n: int) -> tuple[Actor, dict[str, object]]:
    oid = f"eeeeeeee-0000-4000-8000-{n:012d}"
    reference = {"conversation": {"id": f"a:personal-{n}"}, "user": {"id": f"29:{n}", "aadObjectId": oid}}
    return Actor(oid, "tenant"), reference


async def etag(store: SqliteStore, n: int) -> str | None:
    found = await store.get(keys.conversation_ref(f"a:personal-{n}"))
    return found.etag if found is not None else None


async def test_an_unchanged_recent_chat_is_not_written_again_and_an_old_one_is_forgotten(store: SqliteStore) -> None:
    conversations = Conversations(store)
    for n in range(WRITTEN_KEPT + 1):
        await conversations.remember(*person(n), "personal")
    first, recent = await etag(store, 0), await etag(store, WRITTEN_KEPT)

    await conversations.remember(*person(WRITTEN_KEPT), "personal")  # seen a moment ago: nothing written
    await conversations.remember(*person(0), "personal")  # the oldest went out of memory: written again

    assert await etag(store, WRITTEN_KEPT) == recent
    assert await etag(store, 0) != first
    assert len(conversations._written) == WRITTEN_KEPT  # bounded, however many users wrote


async def test_a_remembered_conversation_costs_little_memory(store: SqliteStore) -> None:
    """What is remembered per conversation, for WRITTEN_KEPT of them: each new user's first message fills one place.
    Each kept its records, whose references hold the activity's parsed JSON: 2.3 KB a conversation, 9 MB at the cap,
    which the memory soak (a new user every 0.3 s) filled in its first 20 minutes; 0.4 KB with a digest, keyed by the
    conversation's and the user's ids; 0.2 KB keyed by their hash."""
    conversations = Conversations(store)
    bodies = [
        json.dumps(
            message("https://smba.trafficmanager.net/emea/", "help", TeamsUser(f"{n:08d}-1111-4000-8000-c", "N"))
        )
        for n in range(1500)
    ]

    async def first_message(body: str) -> None:  # as a turn has it: parsed from the request, dropped after
        activity = activity_of(json.loads(body))
        await conversations.remember(actor_of(activity), reference_of(activity), conversation_kind(activity))

    for body in bodies[:500]:  # the store's and the cache's first allocations
        await first_message(body)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for body in bodies[500:]:
            await first_message(body)
        per_conversation = (tracemalloc.get_traced_memory()[0] - before) / 1000
    finally:
        tracemalloc.stop()
    assert len(conversations._written) == 1500
    assert per_conversation < 260, per_conversation  # 405 keyed by the ids (a dict resize counts in both)


async def test_a_changed_reference_or_time_style_is_written_again(store: SqliteStore) -> None:
    conversations = Conversations(store)
    actor, reference = person(1)
    await conversations.remember(actor, reference, "personal")
    first = await etag(store, 1)
    await conversations.remember(actor, dict(reference), "personal")  # equal, another dict: nothing written
    assert await etag(store, 1) == first
    moved = reference | {"serviceUrl": "https://smba.trafficmanager.net/amer/"}
    await conversations.remember(actor, moved, "personal")
    second = await etag(store, 1)
    assert second != first
    user = await conversations.user(actor.object_id)
    assert user is not None and user.reference["serviceUrl"] == "https://smba.trafficmanager.net/amer/"
    await conversations.remember(Actor(actor.object_id, "tenant", time_zone="Asia/Tokyo"), moved, "personal")
    user = await conversations.user(actor.object_id)
    assert user is not None and user.style.zone == "Asia/Tokyo"


async def test_a_reference_with_an_integer_past_64_bits_is_still_kept(store: SqliteStore) -> None:
    """JSON has no integer limit and Teams' references are free-form: what the fuzzing of POST /api/messages sends (an
    integer past 64 bits in the activity) is kept and recognised as unchanged the next time, as any other value."""
    conversations = Conversations(store)
    actor, reference = person(1)
    reference["bot"] = {"id": "28:bot", "n": 2**70}
    await conversations.remember(actor, reference, "personal")
    first = await etag(store, 1)
    await conversations.remember(actor, reference, "personal")
    assert first is not None and await etag(store, 1) == first
    found = await store.get(keys.conversation_ref("a:personal-1"))
    assert found is not None and found.value["reference"]["bot"]["n"] == 2**70
