"""Graph failures as `core.errors` kinds, chosen in one place.

`directory_error` is the one translation of a failed call (a refusal, a throttle, an outage, a lost connection);
`translating()` applies it to a block and `translated(call, when)` to one call, with a table for the statuses that
call knows better (404 → `RequestNotFound`, 404 → "no members"). `answer_lost` says when a write may have been
carried out although no answer came: the caller must then look before it says anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from core.errors import DirectoryError, DirectoryUnavailable, PermissionDenied, Throttled, TokenRejected
from graph.errors import GraphError, GraphTransportError

__all__ = ["Failure", "answer_lost", "directory_error", "translated", "translating"]

T = TypeVar("T")
U = TypeVar("U")

Failure = GraphError | GraphTransportError  # what a Graph call raises (graph.client)

# Answers after which a write may or may not have been carried out.
_OUTCOME_UNKNOWN = frozenset({502, 503, 504})


def directory_error(err: Failure) -> DirectoryError:
    """The kind of a failed read (or of a write Graph did not refuse on policy grounds)."""
    if isinstance(err, GraphTransportError):
        return DirectoryUnavailable(err.detail)
    detail = f"{err.status} {err.effective_code}: {err.message}".strip()
    if err.status == 401 and not err.claims:  # a claims challenge is a step-up, handled by the write's refusal
        return TokenRejected(detail, request_id=err.request_id)
    if err.status in (401, 403):
        return PermissionDenied(detail, request_id=err.request_id)
    if err.status == 429:
        return Throttled(err.retry_after, request_id=err.request_id)
    return DirectoryUnavailable(detail, request_id=err.request_id)


def answer_lost(err: Failure) -> bool:
    """True when the request may have been carried out: Graph answered 502/503/504, or the connection was lost after
    the request went out."""
    if isinstance(err, GraphTransportError):
        return err.maybe_sent
    return err.status in _OUTCOME_UNKNOWN


@contextmanager
def translating() -> Iterator[None]:
    """A Graph failure inside the block is raised as its `core.errors` kind (`directory_error`)."""
    try:
        yield
    except (GraphError, GraphTransportError) as err:
        raise directory_error(err) from err


async def translated(
    call: Awaitable[T],
    when: Mapping[int, Callable[[GraphError], U | Exception]],
    *,
    otherwise: Callable[[GraphError], U | Exception] | None = None,
) -> T | U:
    """The answer of `call`. A refusal whose status `when` names (else any refusal, with `otherwise`) gives what its
    function returns: an answer in place of Graph's (404 → nobody) or an exception to raise (404 →
    `RequestNotFound`). Any other failure is raised as its kind (`directory_error`)."""
    try:
        return await call
    except GraphError as err:
        special = when.get(err.status, otherwise)
        if special is None:
            raise directory_error(err) from err
        outcome = special(err)
        if isinstance(outcome, Exception):
            raise outcome from err
        return outcome
    except GraphTransportError as err:
        raise directory_error(err) from err
