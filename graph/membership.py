"""Graph's directory asked "is this user a member?" for many users at once (issue 16): checkMemberGroups calls that
overlap go as one `$batch`.

Every immediate activation is checked once in Graph's directory, app-only (bot.live, issue 14: "is it in effect?").
Alone, a check is the plain `POST /users/{id}/checkMemberGroups` it always was. A check asked while another is on its
way waits for that one to land, then goes with every check that waited meanwhile, as one `$batch` of up to 20 items
(learn.microsoft.com/graph/json-batching: at most 20 requests a batch; each item is authorised, throttled and answered
as the request alone would be, so an item's refusal is that check's alone). Under load that is one round trip for
several checks instead of one each: fewer connections and less CPU per activation, the same answers.

Nobody waits long for it: waiting checks go as soon as any check or batch on its way lands, at once when 20 wait, and
after `patience` seconds in any case; a slow or throttled answer holds the others back by at most that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from core.errors import DirectoryError, DirectoryUnavailable
from graph import wire
from graph.client import MAX_BATCH, BatchRequest, BatchResponse, GraphClient
from graph.errors import GraphError, GraphTransportError
from graph.failures import directory_error, translating

__all__ = ["PATIENCE", "MemberChecks"]

log = logging.getLogger(__name__)

PATIENCE = 0.5  # seconds a check waits for the one on its way before it goes anyway


@dataclass(frozen=True, slots=True)
class _Ask:
    user_id: str
    group_id: str
    answer: asyncio.Future[bool]


class MemberChecks:
    """checkMemberGroups for one group at a time, coalesced while one is on its way (module doc). The answers and the
    errors are those of the plain call: True / False, or the `core.errors` kind of Graph's refusal."""

    def __init__(self, client: GraphClient, *, patience: float = PATIENCE) -> None:
        self._client = client
        self._patience = patience
        self._flying = 0  # checks and batches on their way to Graph
        self._waiting: list[_Ask] = []
        self._timer: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()  # the batches on their way (a task is kept until it ends)

    async def member(self, user_id: str, group_id: str) -> bool:
        """Whether Graph's directory shows `user_id` as a member of `group_id` (transitively), app-only."""
        if not self._flying:  # nothing on its way: the plain call, at once
            self._flying += 1
            try:
                return await self._alone(user_id, group_id)
            finally:
                self._landed()
        loop = asyncio.get_running_loop()
        ask = _Ask(user_id, group_id, loop.create_future())
        self._waiting.append(ask)
        if len(self._waiting) >= MAX_BATCH:
            self._launch()
        elif self._timer is None:
            self._timer = loop.call_later(self._patience, self._launch)
        return await ask.answer

    async def _alone(self, user_id: str, group_id: str) -> bool:
        with translating():
            page = await self._client.post(
                wire.check_member_groups_path(user_id), json={"groupIds": [group_id]}, idempotent=True
            )
        return _shows(page, group_id)

    def _landed(self) -> None:
        """A check or a batch is back: the checks that waited for it go now."""
        self._flying -= 1
        if self._waiting:
            self._launch()

    def _launch(self) -> None:
        """The waiting checks go, as one batch (or as the plain call, when only one still waits)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        asks = [a for a in self._waiting if not a.answer.done()]  # a cancelled caller's check is not sent
        self._waiting = []
        if not asks:
            return
        self._flying += 1
        batch = asyncio.get_running_loop().create_task(self._send(asks))
        self._batches.add(batch)
        batch.add_done_callback(self._sent)

    def _sent(self, batch: asyncio.Task[None]) -> None:
        self._batches.discard(batch)
        self._landed()

    async def _send(self, asks: list[_Ask]) -> None:
        """Each ask answered: its own result or its own error (never one exception object shared between callers)."""
        try:
            if len(asks) == 1:
                [ask] = asks
                try:
                    _answer(ask, await self._alone(ask.user_id, ask.group_id))
                except DirectoryError as e:
                    _fail(ask, e)
                return
            requests = [_item(n, a) for n, a in enumerate(asks)]
            try:
                responses = await self._client.batch(requests)
            except (GraphError, GraphTransportError) as err:
                for ask in asks:
                    _fail(ask, _kind(err))
                return
            for n, ask in enumerate(asks):
                _answer_item(ask, responses.get(str(n)))
        except Exception as e:  # a bug of ours, not Graph's answer: each caller learns the check could not be made
            log.exception("membership checks of %d user(s) failed", len(asks))
            for ask in asks:
                _fail(ask, DirectoryUnavailable(f"the membership check failed: {type(e).__name__}"))
        finally:  # cancelled (the process stops): nobody is left waiting on a batch that will not answer
            for ask in asks:
                if not ask.answer.done():
                    ask.answer.cancel()


def _item(n: int, ask: _Ask) -> BatchRequest:
    """The plain call as a batch item; it only reads, so Graph's 503 on it is retried as the plain call's is."""
    path = wire.check_member_groups_path(ask.user_id)
    return BatchRequest(str(n), "POST", path, {"groupIds": [ask.group_id]}, idempotent=True)


def _kind(err: GraphError | GraphTransportError) -> DirectoryError:
    """A caller's own `core.errors` kind of Graph's failure, caused by it (as `raise … from err` would)."""
    kind = directory_error(err)
    kind.__cause__ = err
    return kind


def _answer_item(ask: _Ask, response: BatchResponse | None) -> None:
    if response is None:
        _fail(ask, _kind(GraphError(502, "MissingBatchResponse", "no response for this item")))
    elif response.error is not None:
        _fail(ask, _kind(response.error))
    else:
        _answer(ask, _shows(response.json(), ask.group_id))


def _answer(ask: _Ask, result: bool) -> None:
    if not ask.answer.done():
        ask.answer.set_result(result)


def _fail(ask: _Ask, error: DirectoryError) -> None:
    if not ask.answer.done():
        ask.answer.set_exception(error)


def _shows(page: object, group_id: str) -> bool:
    """Whether a checkMemberGroups answer (`{"value": [ids]}`) lists the group."""
    listed = wire.parse_member_groups(page) if isinstance(page, dict) else []
    return group_id.casefold() in {g.casefold() for g in listed}
