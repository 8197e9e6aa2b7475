"""What the bot remembers of its sign-in cards, on a botbuilder Storage (and, transitionally, bot.conversations' methods
under their old names).

Keys:
  signin/card/{oid}             the last sign-in card (Teams SSO's OAuth card, or the step-up card) sent to a user:
                                replaced by "You're signed in" once they are, so its button is not offered again
(`ref/…`, the conversation references, and `pim/known-groups` are kept by bot.conversations; the approvals' records —
requests, their card copies, the cards showing them, served groups, approvals channels — by bot.approvals.records;
`reconcile/{id}`, the follow-ups of writes whose answer was lost, by bot.reconcile; `delivery/{hash}`, the activities
acted on, by bot.transport.deliveries.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botbuilder.core import Storage

from bot.conversations import Conversations
from core.models import Actor, TimeStyle

__all__ = ["Records"]


class Records:
    def __init__(self, storage: Storage, conversations: Conversations) -> None:
        self._storage = storage
        self.conversations = conversations

    # Transitional, for callers not yet holding bot.conversations.Conversations (issue 12 moves them): its methods,
    # under their old names.
    async def remember_conversation(self, actor: Actor | None, reference: dict[str, Any], kind: str) -> None:
        await self.conversations.remember(actor, reference, kind)

    async def user_reference(self, object_id: str) -> dict[str, Any] | None:
        return await self.conversations.user_reference(object_id)

    async def user_styles(self, object_ids: Sequence[str]) -> dict[str, TimeStyle]:
        return await self.conversations.user_styles(object_ids)

    async def forget_user_reference(self, object_id: str) -> None:
        await self.conversations.forget_user(object_id)

    async def conversation_reference(self, conversation_id: str) -> dict[str, Any] | None:
        return await self.conversations.reference(conversation_id)

    async def some_reference(self) -> dict[str, Any] | None:
        return await self.conversations.some_reference()

    # ---- sign-in cards -----------------------------------------------------------------------------------------------

    async def remember_sign_in_card(self, object_id: str, activity_id: str, reference: Mapping[str, Any]) -> None:
        """The sign-in card just sent to the user (the latest one replaces an earlier one's entry)."""
        entry = {"activityId": activity_id, "reference": dict(reference)}
        await self._storage.write({f"signin/card/{object_id.lower()}": entry})

    async def take_sign_in_card(self, object_id: str) -> dict[str, Any] | None:
        """The user's last sign-in card (its activity id and conversation reference), forgotten as it is taken."""
        key = f"signin/card/{object_id.lower()}"
        item = await self._item(key)
        if item is not None:
            await self._storage.delete([key])
        return item

    async def _item(self, key: str) -> dict[str, Any] | None:
        item = (await self._storage.read([key])).get(key)
        return dict(item) if item is not None else None
