"""What the bot remembers, on a botbuilder Storage: sent cards, requests waiting for approval.

Keys:
  card/{activity id}            a card the bot sent: kind, conversation, the PIM request ids it shows, and the card
                                itself when it shows a request waiting for approval (made read-only once it settles)
  request-card/{pim request id} the last kept card showing that request (found again for a request recorded later)
  request/{pim request id}      a request waiting for a decision (submitted by the bot, or found in PIM by the
                                approval poller), with the cards showing it
  approvals/group/{group id}    a group whose approval requests the bot relays (the poller looks there for requests
                                nobody recorded)
  approvals/channel/{group id}  the approvals channel of a group, set by an admin with `approvals here <group>`
  signin/card/{oid}             the last sign-in card (Teams SSO's OAuth card, or the step-up card) sent to a user:
                                replaced by "You're signed in" once they are, so its button is not offered again
(`ref/…`, the conversation references, and `pim/known-groups` are kept by bot.conversations; `reconcile/{id}`, the
follow-ups of writes whose answer was lost, by bot.reconcile; `delivery/{hash}`, the activities acted on, by
bot.transport.deliveries.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botbuilder.core import Storage

from bot.conversations import Conversations
from bot.storage import StorageConflict
from core.models import Actor, TimeStyle
from core.outcomes import AwaitingApproval

__all__ = ["Records"]

log = logging.getLogger(__name__)

_CREATE_ONLY = "create-only"  # an e_tag no stored item has (stored ones are uuid hex): create, or conflict


class Records:
    def __init__(self, storage: Storage, conversations: Conversations) -> None:
        self._storage = storage
        self.conversations = conversations
        self._served: set[str] = set()  # approvals/group/* keys written by this process

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

    async def remember_card(
        self,
        activity_id: str | None,
        conversation_id: str,
        kind: str,
        request_ids: list[str],
        now: datetime,
        card: dict[str, Any] | None = None,
    ) -> None:
        if not activity_id:
            return
        item: dict[str, Any] = {
            "kind": kind,
            "conversationId": conversation_id,
            "requestIds": request_ids,
            "sentAt": now.isoformat(),
        }
        changes: dict[str, Any] = {f"card/{activity_id}": item}
        if card is not None:
            item["card"] = card
            # Which card shows each request, for a request whose record is written later (found by the poller)
            for request_id in request_ids:
                changes[f"request-card/{request_id}"] = {"conversationId": conversation_id, "activityId": activity_id}
        await self._storage.write(changes)

    async def request_card(self, request_id: str) -> tuple[str, str] | None:
        """The (conversation id, activity id) of the last card kept by `remember_card` that shows the request."""
        item = await self._item(f"request-card/{request_id}")
        if item is None:
            return None
        return str(item.get("conversationId") or ""), str(item.get("activityId") or "")

    async def card(self, activity_id: str) -> dict[str, Any] | None:
        return await self._item(f"card/{activity_id}")

    async def update_card(
        self, activity_id: str, change: Callable[[dict[str, Any]], dict[str, Any]], attempts: int = 10
    ) -> dict[str, Any] | None:
        """Apply `change` to a stored card item with compare-and-swap (two requests on one card may settle at once);
        the item written, or None if there is none."""
        key = f"card/{activity_id}"
        for _ in range(attempts):
            item = await self._item(key)
            if item is None:
                return None
            updated = change(dict(item))
            try:
                await self._storage.write({key: updated})
            except StorageConflict:
                continue
            return updated
        raise RuntimeError(f"{key} kept changing; gave up after {attempts} attempts")

    async def remember_pending(
        self,
        actor: Actor,
        outcome: AwaitingApproval,
        card: tuple[str, str] | None,
        now: datetime,
        *,
        fan_out: Mapping[str, str] | None = None,
        found: bool = False,
    ) -> dict[str, Any] | None:
        """A request that waits for approval, with the requester's card showing it (updated when it is decided). Only
        if no record of it exists yet (of two writers, the turn that made it and a poller that found it in PIM, one
        wins): the record written, with its e_tag, or None. `fan_out` marks its approval cards as still to be sent
        by the process it names (bot.approvals); `found`: the bot did not make it, the poller found it in PIM."""
        request = outcome.request
        record: dict[str, Any] = {
            "requestId": request.id,
            "status": request.status.value,
            "groupId": outcome.group.id,
            "groupName": outcome.group.display_name,
            "access": outcome.access.value,
            "requesterId": actor.object_id,
            "requesterName": actor.name,
            "requesterTimeZone": actor.time_zone,
            "requesterLocale": actor.locale,
            "tenantId": actor.tenant_id,
            "durationMinutes": int(outcome.duration.total_seconds() // 60),
            "justification": request.justification,
            "ticket": request.ticket.number if request.ticket else None,
            "approvers": list(outcome.approvers),
            "expires": outcome.expires.isoformat(),
            "createdAt": now.isoformat(),
            "cards": [{"conversationId": card[0], "activityId": card[1]}] if card else [],
        }
        if fan_out:
            record["fanOut"] = dict(fan_out)
        if found:
            record["found"] = True
        try:
            # An e_tag no stored item has: the write creates the record, or fails because it exists.
            await self._storage.write({f"request/{request.id}": {**record, "e_tag": _CREATE_ONLY}})
        except StorageConflict:
            return None
        return await self.pending(request.id)

    async def pending(self, request_id: str) -> dict[str, Any] | None:
        """The stored request with its `e_tag` (pass the dict back to `save_pending` for a compare-and-swap)."""
        return await self._item(f"request/{request_id}")

    async def save_pending(self, record: dict[str, Any]) -> None:
        """Write a request record read with `pending`: only if nobody wrote it since (the record's `e_tag`).
        Raises bot.storage.StorageConflict otherwise, and nothing is written: the claim of an approval decision."""
        if not record.get("e_tag"):
            raise ValueError("save_pending needs a record read with pending() (it carries the e_tag)")
        await self._storage.write({f"request/{record['requestId']}": record})

    async def update_pending(
        self, request_id: str, change: Callable[[dict[str, Any]], dict[str, Any]], attempts: int = 10
    ) -> dict[str, Any] | None:
        """Apply `change` to the stored record with compare-and-swap, retrying on conflicts; the record written."""
        for _ in range(attempts):
            record = await self.pending(request_id)
            if record is None:
                return None
            updated = change(dict(record))
            try:
                await self.save_pending(updated)
            except StorageConflict:  # someone wrote in between: read again
                continue
            return updated
        raise RuntimeError(f"request/{request_id} kept changing; gave up after {attempts} attempts")

    async def serve_group(self, group_id: str) -> None:
        """Remember, durably, that the bot relays approvals of this group (`approvals/group/{id}`): the approval poller
        looks there for requests nobody recorded. Written once per group and process; a failure is logged, not
        raised (this is a safety net, never a reason to refuse an activation)."""
        key = f"approvals/group/{group_id.lower()}"
        if key in self._served:
            return
        try:
            await self._storage.write({key: {"groupId": group_id}})
        except Exception:
            log.warning("could not remember that group %s has approvals", group_id, exc_info=True)
            return
        self._served.add(key)

    async def served_group_ids(self) -> list[str]:
        """The groups `serve_group` remembered."""
        return [k.removeprefix("approvals/group/") for k in await self._keys("approvals/group/") or []]

    async def request_ids(self) -> list[str]:
        """The ids of every stored request record (the poller and `pending` filter them)."""
        keys = await self._keys("request/")
        if keys is None:
            log.warning("the storage cannot list keys; outside decisions are not polled")
            return []
        return [k.removeprefix("request/") for k in keys]

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

    # ---- approvals channels (`approvals here <group>`) ---------------------------------------------------------------

    async def set_approval_channel(self, group_id: str, entry: dict[str, Any]) -> None:
        """Make a channel (`entry`: its channel id, team, conversation reference, who set it and when) the group's
        approvals channel, replacing any earlier one."""
        await self._storage.write({f"approvals/channel/{group_id.lower()}": entry})

    async def approval_channel(self, group_id: str) -> dict[str, Any] | None:
        return await self._item(f"approvals/channel/{group_id.lower()}")

    async def forget_approval_channel(self, group_id: str) -> None:
        await self._storage.delete([f"approvals/channel/{group_id.lower()}"])

    async def approval_channels(self) -> list[dict[str, Any]]:
        """Every approvals channel set in Teams (none when the storage cannot list keys)."""
        found = [await self._item(key) for key in await self._keys("approvals/channel/") or []]
        return [item for item in found if item is not None]

    async def _keys(self, prefix: str) -> list[str] | None:
        """The stored keys starting with `prefix`; None when the storage cannot list keys."""
        keys_with_prefix = getattr(self._storage, "keys_with_prefix", None)
        if keys_with_prefix is None:
            return None
        keys: list[str] = await keys_with_prefix(prefix)
        return keys

    async def _item(self, key: str) -> dict[str, Any] | None:
        item = (await self._storage.read([key])).get(key)
        return dict(item) if item is not None else None
