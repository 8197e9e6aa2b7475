"""bot.conversations.Conversations remembers what it last wrote for a bounded number of conversations: an unchanged
record of a recent chat is not written again, and a process that has seen more users than that does not keep them
all in memory (issue 16: no growth over a sustained load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.conversations import WRITTEN_KEPT, Conversations
from bot.store import keys
from bot.store.sqlite import SqliteStore
from core.models import Actor


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
