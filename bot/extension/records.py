"""The decisions the bot answered PIM, one per request id (`pim-extension/evaluation/{request id}`): what makes a
retry of the same request get the same answer, and the admin feed hear of it once. Each is created once
(`put_if` with no etag: of racing retries one creates it) with the feed event still to post (`untold`), which is
removed once the event is queued in the feed's outbox: a process killed in between leaves it, and the next feed cycle
queues it (bot.extension.upkeep; the outbox posts an event id once, so telling twice posts once).

Both kinds are pruned after RETENTION (bot.extension.upkeep), one prefix listing each.

Beside it, the last decision about each person's activation of each group (`pim-extension/latest/{oid}/{group}/
{access}`, with when it was made): PIM calls the extension while the bot's own activation write is in flight, and
the write's answer does not say what the extension said (a denial is a refusal naming CustomExtensionRule at most;
an auto-approval looks like any activation), so the person's turn reads it there to tell them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from bot.store import ANY, Conflict, Json, Store, keys
from cards.wording import extension_passed
from core.extension import Evaluation, Outcome
from core.models import Access

__all__ = ["RETENTION", "ExtensionRecords", "evaluation_from_json", "evaluation_to_json"]

# How long a decision is kept. PIM retries a call at most 5 times, each after at most 60 s (timeoutInMilliseconds
# 1000-60000, maximumRetries 0-5: pim-custom-extension.md), so its last retry comes within minutes; the person's own
# activation turn reads the latest note within its Graph timeout. A day covers both with a wide margin (a clock
# skewed by hours, a retry schedule that is not documented) and bounds what the store holds to a day of activations.
RETENTION = timedelta(hours=24)


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "request_id": evaluation.request_id,
        "evaluation_id": evaluation.evaluation_id,
        "outcome": evaluation.outcome.value,
        "rule": evaluation.rule,
        "reasons": list(evaluation.reasons),
        "principal_id": evaluation.principal_id,
        "group_id": evaluation.group_id,
        "access": evaluation.access.value,
        "action": evaluation.action,
    }


def evaluation_from_json(value: dict[str, Any]) -> Evaluation:
    return Evaluation(
        request_id=str(value["request_id"]),
        evaluation_id=str(value["evaluation_id"]),
        outcome=Outcome(value["outcome"]),
        rule=str(value["rule"]),
        reasons=tuple(str(r) for r in value.get("reasons", [])),
        principal_id=str(value.get("principal_id", "")),
        group_id=str(value.get("group_id", "")),
        access=Access(value.get("access", Access.MEMBER.value)),
        action=str(value.get("action", "")),
    )


class ExtensionRecords:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, request_id: str) -> Evaluation | None:
        found = await self._store.get(keys.extension_evaluation(request_id))
        return evaluation_from_json(found.value) if found is not None else None

    async def keep(self, evaluation: Evaluation, at: datetime, untold: Json | None = None) -> Evaluation:
        """Store `evaluation` (made `at`, with `untold`: the feed event still to queue) unless one is stored for its
        request already; the one stored (`evaluation` itself when this call stored it: only then is it news)."""
        key = keys.extension_evaluation(evaluation.request_id)
        value: Json = evaluation_to_json(evaluation) | {"at": at.isoformat()}
        if untold is not None:
            value["untold"] = untold
        try:
            await self._store.put_if(key, value, None)
        except Conflict:
            found = await self._store.get(key)
            if found is not None:
                return evaluation_from_json(found.value)
            raise
        return evaluation

    async def screening(self, request_id: str) -> str:
        """The approval card's line for a request this extension passed on to approval ("" if it did not decide it,
        or did not pass it on): bot.approvals.records shows it to the approvers."""
        evaluation = await self.get(request_id)
        if evaluation is None or evaluation.outcome is not Outcome.APPROVED:
            return ""
        return extension_passed(evaluation.rule, evaluation.reasons, fallback=evaluation.by_fallback)

    async def keep_latest(self, evaluation: Evaluation, at: datetime) -> None:
        """Note `evaluation` as the last one about its person, group and access (replacing the one before)."""
        key = keys.extension_latest(evaluation.principal_id, evaluation.group_id, evaluation.access.value)
        await self._store.put_if(key, {"evaluation": evaluation_to_json(evaluation), "at": at.isoformat()}, ANY)

    async def latest(self, principal_id: str, group_id: str, access: str, since: datetime) -> Evaluation | None:
        """The last decision about this person's activation of this group, if made at `since` or later."""
        found = await self._store.get(keys.extension_latest(principal_id, group_id, access))
        if found is None:
            return None
        try:
            at = datetime.fromisoformat(str(found.value["at"]))
            evaluation = evaluation_from_json(found.value["evaluation"])
        except (KeyError, ValueError, TypeError):
            return None
        return evaluation if at >= since else None

    async def told(self, request_id: str) -> None:
        """The feed event of this decision is queued: drop it from the record (a later feed cycle need not)."""

        def drop(value: Json) -> Json | None:
            return {k: v for k, v in value.items() if k != "untold"} if "untold" in value else None

        await self._store.update(keys.extension_evaluation(request_id), drop)

    async def untold(self) -> AsyncIterator[tuple[str, Json]]:
        """(request id, feed event) of every decision stored whose event was never queued (its process died)."""
        async for _, found in self._store.items(keys.EXTENSION_EVALUATIONS):
            event = found.value.get("untold")
            if isinstance(event, dict):
                yield str(found.value.get("request_id", "")), event

    async def prune(self, before: datetime) -> int:
        """Delete the decisions and latest notes made before `before` (a record without a readable time too: one
        written before times were kept); how many. Each is deleted at the version read (a note replaced meanwhile
        by a newer decision stays)."""
        pruned = 0
        for prefix in (keys.EXTENSION_EVALUATIONS, keys.EXTENSION_LATEST):
            async for key, found in self._store.items(prefix):
                at = _at(found.value)
                if at is None or at < before:
                    try:
                        pruned += await self._store.delete(key, found.etag)
                    except Conflict:
                        continue
        return pruned


def _at(value: Json) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value["at"]))
    except (KeyError, ValueError, TypeError):
        return None
