"""`POST /api/pim/evaluate`: Entra PIM asks the bot, during an activation, whether the request may go on (issue 15).

The contract (token, body, answer, timing) is bot.extension.contract's. The order of the work is what keeps it:
the token is checked before the body is read (401: nothing read, evaluated, stored or posted); the body is parsed
(400 naming the field); an answer already stored for the request id is answered again (PIM retries 0-5 times: the
same evaluationId, outcome and reasons, and nothing posted twice); else the rules decide within the deadline, or
the configured fallback is answered and the log says which rule could not decide and why. The decision is stored
once (created only if absent: of two racing retries one stores it and the other answers what it stored), with the
admin feed's event for it; the call that stored it also notes it as the person's latest (read by their own activation
turn, so before answering) and tells the admin feed (`Teller`, after the answer), then removes the event from the
record. A process killed in between leaves the event stored, and the next feed cycle queues it (bot.extension.upkeep).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from bot.extension.contract import MAX_BODY_BYTES, answer_body
from bot.extension.records import ExtensionRecords
from bot.extension.tokens import CallerCheck, Unauthorized
from bot.store import Json
from core.extension import FALLBACK, Evaluation, Outcome, decided
from core.models import PimRequest
from core.ports import Clock
from graph.wire import CalloutError, parse_callout

__all__ = ["ExtensionEndpoint", "Rules", "Teller"]

log = logging.getLogger(__name__)

_MARGIN = 0.25  # seconds kept for storing and writing the answer after the deadline of the rules


class Rules(Protocol):
    """What decides (bot.extension.rules over core.extension_rules). `progress` gets each rule's name as its
    evaluation starts, so a deadline that passes can say which rule was still deciding."""

    async def evaluate(self, request: PimRequest, progress: list[str]) -> Evaluation: ...


class Teller(Protocol):
    """The admin feed's side (bot.extension.tell): the event of a decision, as stored beside it; queueing it."""

    def event(self, evaluation: Evaluation, request: PimRequest) -> Json: ...

    async def __call__(self, event: Json) -> None: ...


Fault = Callable[[str], None]


class ExtensionEndpoint:
    def __init__(
        self,
        check: CallerCheck,
        rules: Rules,
        records: ExtensionRecords,
        clock: Clock,
        *,
        deadline_seconds: float,
        fallback: Outcome,
        tell: Teller | None = None,
        fault: Fault | None = None,
    ) -> None:
        self._check = check
        self._rules = rules
        self._records = records
        self._clock = clock
        self._deadline = deadline_seconds
        self._fallback = fallback
        self._tell = tell
        self._fault = fault or (lambda _: None)  # the crash tests' kill point ("kept"; app.Faults)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = asyncio.get_running_loop().time()
        try:
            await self._check.claims(request.headers.get("Authorization"))
        except Unauthorized as e:
            log.warning("PIM extension call refused (401): %s", e)
            return _error(401, f"unauthorized: {e}", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        raw = await request.content.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            pim_request = parse_callout(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # JSONDecodeError, CalloutError: ValueErrors
            message = str(e) if isinstance(e, CalloutError) else "the body is not JSON (UTF-8, nested at most 900 deep)"
            log.warning("PIM extension call refused (400): %s", message)
            return _error(400, f"bad request: {message}")
        try:
            stored = await self._records.get(pim_request.id)
        except Exception:  # the store is out: decide anyway; PIM waits for an answer, not for our bookkeeping
            log.exception("PIM extension: could not read the answer kept for request %s", pim_request.id)
            stored = None
        if stored is not None:
            log.info("PIM extension: request %s asked again, answered %s again", pim_request.id, stored.outcome)
            return web.json_response(answer_body(stored))
        remaining = self._deadline - (asyncio.get_running_loop().time() - started) - _MARGIN
        evaluation = await self._decide(pim_request, remaining)
        untold = self._tell.event(evaluation, pim_request) if self._tell is not None else None
        kept = await self._keep(evaluation, untold)
        self._fault("kept")
        if kept is evaluation and untold is not None:
            self._later(self._told(evaluation.request_id, untold))
        log.info(
            "PIM extension: request %s of %s for %s %s: %s by rule %r",
            pim_request.id, pim_request.principal_id, pim_request.access.value, pim_request.group_id,
            kept.outcome, kept.rule,
        )  # fmt: skip
        return web.json_response(answer_body(kept))

    async def _keep(self, evaluation: Evaluation, untold: Json | None) -> Evaluation:
        """Store the decision once (a racing retry's stored one wins) and note it as the person's latest: before the
        answer, since the bot's own activation turn, whose write PIM is holding for this call, reads it as soon as
        the write returns (bot.extension.notices). A store that fails loses the bookkeeping, not the answer."""
        try:
            now = self._clock.now()
            kept = await self._records.keep(evaluation, now, untold)
            if kept is evaluation:
                await self._records.keep_latest(evaluation, now)
        except Exception:
            log.exception("PIM extension: could not keep the answer to request %s", evaluation.request_id)
            return evaluation
        return kept

    async def _told(self, request_id: str, event: Json) -> None:
        """Queue the decision's feed event, then drop it from the record: queue first, so a death in between only
        makes the next feed cycle queue it again, which the outbox posts once (the event id is the request's)."""
        assert self._tell is not None
        await self._tell(event)
        await self._records.told(request_id)

    async def _decide(self, pim_request: PimRequest, seconds: float) -> Evaluation:
        progress: list[str] = []
        try:
            return await asyncio.wait_for(self._rules.evaluate(pim_request, progress), max(seconds, 0.05))
        except TimeoutError:
            why = f"rule {progress[-1]!r} could not decide within {self._deadline:g} s" if progress else "no time left"
        except Exception as e:  # a read a rule needs failed (Graph down, refused): the fallback, as for a timeout
            log.exception("PIM extension: evaluating request %s failed", pim_request.id)
            rule = f"rule {progress[-1]!r}" if progress else "the rules"
            why = f"{rule} could not decide: {type(e).__name__}"
        log.warning("PIM extension: request %s: %s; answered the fallback %s", pim_request.id, why, self._fallback)
        reason = f"The Teams bot could not decide in time ({why}); the configured fallback applies."
        return decided(pim_request, self._fallback, FALLBACK, (reason,))

    def start(self) -> None:
        """At start: fetch the tenant's signing keys in the background (the first call need not wait for them)."""
        self._later(self._check.warm())

    def _later(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("PIM extension: background work (the feed post, the key fetch) failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, seconds: float) -> None:
        """At shutdown: let the feed posts and messages under way finish (at most `seconds`)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=seconds)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)
