"""Where the bot can speak again: the conversation references it keeps, and the groups seen for after a restart.

Teams gives a bot a conversation reference with every activity; a proactive message (an approval card, a follow-up,
a reminder) needs one stored. Two records, each a frozen dataclass with one codec, on the state store (bot.store):

* `ConversationRecord` under `ref/conversation/{id}`: the reference and kind ("personal", "groupChat", "channel") of
  every conversation the bot is in;
* `UserRecord` under `ref/user/{oid}`: a user's personal chat, with how they read times (an approval card written
  in their time zone and language), found by their Entra object id — the user → reference index.

`KnownGroupsRecord` keeps graph.known's groups (`pim/known-groups`), merged with `Store.update` so processes sharing
the store add to each other's.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.jsontext import json_bytes
from bot.store import ANY, Json, Store
from bot.store import keys as keyspace
from core.models import Access, Actor, Group, TimeStyle

__all__ = ["WRITTEN_KEPT", "ConversationRecord", "Conversations", "KnownGroupsRecord", "UserRecord"]

WRITTEN_KEPT = 4096  # conversations whose last written record a process remembers (to skip rewriting it unchanged)


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """A conversation the bot is in: its reference (without the activity id, which changes with every message) and
    its kind."""

    reference: dict[str, Any]
    kind: str

    def to_json(self) -> Json:
        return {"reference": self.reference, "kind": self.kind}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ConversationRecord:
        return cls(dict(value.get("reference") or {}), str(value.get("kind") or ""))


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user's personal chat with the bot, with their tenant and how they read times."""

    reference: dict[str, Any]
    tenant_id: str
    style: TimeStyle

    def to_json(self) -> Json:
        return {
            "reference": self.reference,
            "tenantId": self.tenant_id,
            "timeZone": self.style.zone,
            "locale": self.style.locale,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> UserRecord:
        return cls(
            dict(value.get("reference") or {}),
            str(value.get("tenantId") or ""),
            TimeStyle(value.get("timeZone"), value.get("locale")),
        )


class Conversations:
    """The conversation references the bot keeps (module doc)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # What this process last wrote per (conversation, user), so a busy chat does not rewrite an unchanged record.
        # The most recent WRITTEN_KEPT only: every new user would otherwise stay in memory for the life of the process.
        # A digest of the records, not the records: their references hold the activity's parsed JSON (2.3 KB a
        # conversation, 9 MB at the cap; about 0.4 KB with the digest). Keyed by the hash of (conversation, user), not
        # by the ids (0.1 KB then): a collision finds the other chat's digest, which differs from this chat's records
        # (they name the conversation and the user), so it is written, as a chat not remembered is.
        self._written: dict[int, bytes] = {}

    async def remember(self, actor: Actor | None, reference: Mapping[str, Any], kind: str) -> None:
        """Keep the reference of the conversation an activity came from; for a personal chat also as `actor`'s, with
        how they read times (for the cards the bot sends them later)."""
        conversation_id = str((reference.get("conversation") or {}).get("id") or "")
        if not conversation_id:
            return
        stable = {k: v for k, v in reference.items() if k != "activityId"}
        conversation = ConversationRecord(stable, kind)
        user = None
        if actor is not None and kind == "personal":
            user = UserRecord(stable, actor.tenant_id, actor.time_style)
        cache_key = hash((conversation_id, actor.object_id.lower() if actor is not None else ""))
        written = _digest(conversation, user)
        if self._written.get(cache_key) == written:
            self._written[cache_key] = self._written.pop(cache_key)  # most recently seen last: kept longest
            return
        await self._store.put_if(keyspace.conversation_ref(conversation_id), conversation.to_json(), ANY)
        if actor is not None and user is not None:
            await self._store.put_if(keyspace.user_ref(actor.object_id), user.to_json(), ANY)
        self._written[cache_key] = written
        if len(self._written) > WRITTEN_KEPT:
            del self._written[next(iter(self._written))]  # the least recently seen: its next activity writes again

    async def user(self, object_id: str) -> UserRecord | None:
        found = await self._store.get(keyspace.user_ref(object_id))
        return UserRecord.from_json(found.value) if found is not None else None

    async def user_reference(self, object_id: str) -> dict[str, Any] | None:
        """The reference of the user's personal chat, if the bot has one."""
        user = await self.user(object_id)
        return dict(user.reference) if user is not None else None

    async def user_styles(self, object_ids: Sequence[str]) -> dict[str, TimeStyle]:
        """How each user reads times, as their last activity in their personal chat said (UTC and the default style
        for a user the bot knows nothing of)."""
        users = await asyncio.gather(*(self.user(oid) for oid in object_ids))
        return {
            oid: user.style if user is not None else TimeStyle() for oid, user in zip(object_ids, users, strict=True)
        }

    async def forget_user(self, object_id: str) -> None:
        """Drop a user's personal-chat reference that Teams refuses (the app removed, the chat gone), so it is not
        used again and the next activity from that chat stores it afresh."""
        oid = object_id.lower()
        await self._store.delete(keyspace.user_ref(oid))
        # Its chats are no longer known to be written; which entries are theirs the hashed keys do not tell, and a
        # refused chat is rare: every chat's next activity writes its records again.
        self._written.clear()

    async def reference(self, conversation_id: str) -> dict[str, Any] | None:
        """The reference of a conversation the bot is in, if it has one."""
        found = await self._store.get(keyspace.conversation_ref(conversation_id))
        return dict(ConversationRecord.from_json(found.value).reference) if found is not None else None

    async def some_reference(self) -> dict[str, Any] | None:
        """Any stored personal-chat reference: the service URL and bot account to start a proactive turn with when
        nobody in particular is to be addressed."""
        async for _, found in self._store.items(keyspace.USER_REFS, limit=1):
            return dict(UserRecord.from_json(found.value).reference)
        return None


def _digest(conversation: ConversationRecord, user: UserRecord | None) -> bytes:
    """16 bytes that differ when the records written would (keys sorted: the same JSON in another order is the
    same record)."""
    records = [conversation.to_json(), user.to_json() if user is not None else None]
    return hashlib.blake2b(json_bytes(records, sort_keys=True), digest_size=16).digest()


class KnownGroupsRecord:
    """graph.known's store (`KnownGroupsStore`): one record, `{"groups": [[id, name, access], …]}`, earliest seen
    first."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def load(self) -> list[tuple[Group, Access]]:
        found = await self._store.get(keyspace.KNOWN_GROUPS)
        return _known_groups(found.value if found is not None else None)

    async def save(self, groups: Sequence[tuple[Group, Access]], limit: int) -> None:
        """Merged into what is kept (processes on one store add to each other's), the `limit` latest; not written
        when nothing changes."""

        def merge(value: Json) -> Json | None:
            kept = {(g.id.casefold(), a): g for g, a in _known_groups(value)}
            merged = dict(kept)
            merged.update({(g.id.casefold(), a): g for g, a in groups})
            rows = [[g.id, g.display_name, a.value] for (_, a), g in list(merged.items())[-limit:]]
            if merged == kept and len(rows) == len(kept):
                return None
            return {"groups": rows}

        await self._store.update(keyspace.KNOWN_GROUPS, merge, create={"groups": []})


def _known_groups(value: Mapping[str, Any] | None) -> list[tuple[Group, Access]]:
    out: list[tuple[Group, Access]] = []
    for row in (value or {}).get("groups") or []:
        try:
            group_id, name, access = row
            out.append((Group(str(group_id), str(name)), Access(access)))
        except (TypeError, ValueError):
            continue  # a row this version cannot read: one round trip more for that group, nothing worse
    return out
