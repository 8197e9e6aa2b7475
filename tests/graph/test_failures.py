"""graph.failures: every Graph failure becomes a core.errors kind in one place; a call's table answers the few
statuses it knows better."""

from __future__ import annotations

import pytest

from core.errors import (
    DirectoryUnavailable,
    PermissionDenied,
    PimError,
    RequestNotFound,
    Throttled,
    TokenRejected,
)
from graph.errors import GraphError, GraphTransportError
from graph.failures import answer_lost, directory_error, translated, translating

LOST = GraphTransportError("read timeout", maybe_sent=True, timeout=True)
NOT_SENT = GraphTransportError("connect failed", maybe_sent=False, timeout=False)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (GraphError(401, "InvalidAuthenticationToken", "expired"), TokenRejected),
        (GraphError(403, "Authorization_RequestDenied", "no"), PermissionDenied),
        (GraphError(401, "", "", claims='{"access_token":{}}'), PermissionDenied),  # a challenge: not the token
        (GraphError(429, "TooManyRequests", "", retry_after=7), Throttled),
        (GraphError(503, "ServiceUnavailable", ""), DirectoryUnavailable),
        (NOT_SENT, DirectoryUnavailable),
    ],
)
def test_each_failure_has_one_kind(failure: GraphError | GraphTransportError, kind: type[PimError]) -> None:
    assert type(directory_error(failure)) is kind


def test_an_answer_is_lost_after_502_to_504_or_a_connection_lost_after_sending() -> None:
    assert [answer_lost(GraphError(status, "", "")) for status in (500, 502, 503, 504, 409)] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert (answer_lost(LOST), answer_lost(NOT_SENT)) == (True, False)


async def fails(error: Exception) -> dict[str, str]:
    raise error


async def test_a_table_gives_an_answer_or_an_error_for_the_statuses_it_names() -> None:
    table = {404: lambda err: RequestNotFound("r1"), 410: lambda err: None}

    assert await translated(fails(GraphError(410, "Gone", "")), table) is None
    with pytest.raises(RequestNotFound) as caught:
        await translated(fails(GraphError(404, "NotFound", "")), table)
    assert isinstance(caught.value.__cause__, GraphError)
    with pytest.raises(Throttled):
        await translated(fails(GraphError(429, "TooManyRequests", "")), table)
    with pytest.raises(DirectoryUnavailable):
        await translated(fails(LOST), table)


async def test_otherwise_answers_every_refusal_the_table_does_not_name() -> None:
    assert await translated(fails(GraphError(403, "", "")), {}, otherwise=lambda err: None) is None
    with pytest.raises(DirectoryUnavailable):
        await translated(fails(NOT_SENT), {}, otherwise=lambda err: None)


def test_a_block_raises_the_kind() -> None:
    with pytest.raises(PermissionDenied), translating():
        raise GraphError(403, "Forbidden", "")
