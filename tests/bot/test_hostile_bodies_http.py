"""Hostile bodies in development mode (BOT_ALLOW_ANONYMOUS, no token to check first): refused with 400 before they
are parsed or acted on, never a 5xx, never a traceback outside the logs (issue 10, points 2 and 8)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.transport.routes import errors_middleware
from devtools.teams import activities as act
from tests.support.bodies import assert_no_traceback, nested_member
from tests.support.stack import Stack


async def post_raw(stack: Stack, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    async with stack.http.post(stack.server.make_url("/api/messages"), data=body, headers=headers) as r:
        return r.status, await r.text()


async def test_a_body_nested_beyond_64_levels_is_refused_400_without_a_traceback(
    stack: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    activity = act.message(stack.service_url, "help")
    for depth in (65, 990, 100_000):
        assert (await post_raw(stack, nested_member(activity, depth)))[0] == 400
    assert (await post_raw(stack, b"[" * 5000))[0] == 400  # not even an object
    assert (await post_raw(stack, b'{"type": "message", "x": "' + b"[" * 5000))[0] == 400  # an unclosed string
    assert stack.connector.sent == []
    assert (await post_raw(stack, nested_member(activity, 64)))[0] == 201
    assert_no_traceback(capfd, caplog)


@pytest.mark.parametrize("name", ["foo/bar", None, 5, "task/fetch"])
async def test_unknown_or_malformed_invoke_names_get_a_neutral_200_or_400(stack: Stack, name: Any) -> None:
    activity = act.card_execute(stack.service_url, "activate", {"pim": 1}, reply_to="a-1")
    activity["name"] = name
    status, body = await stack.post(activity)
    if isinstance(name, str) or name is None:
        assert (status, body) == (200, None)
    else:  # not a string: refused as a malformed activity
        assert status == 400 and body["error"]["message"] == "the activity's name has the wrong type"
    assert stack.connector.sent == []


@pytest.mark.parametrize(
    "service_url",
    ["file:///etc/passwd", "ftp://example.com/", "not a url", "http://", "https:///path", "javascript:alert(1)", " "],
)
async def test_a_service_url_that_is_not_an_http_url_is_refused_400_and_nothing_is_sent(
    stack: Stack, service_url: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    status, _ = await stack.post(dict(act.message(stack.service_url, "help"), serviceUrl=service_url))
    assert status == 400
    assert stack.connector.sent == []
    assert_no_traceback(capfd, caplog)


async def test_an_unexpected_error_in_a_route_is_logged_not_printed_and_answered_500(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("a defect")

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/broken")
        assert response.status == 500
        assert json.loads(await response.text()) == {"error": {"code": "500", "message": "internal error"}}
    _, err = capfd.readouterr()
    assert "Traceback" not in err and "a defect" not in err
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and "a defect" in str(record.exc_info[1])  # the redacting handler's to format


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ('"\\ud800"', 400),  # a lone surrogate: valid JSON text, no Unicode string (it cannot be stored or sent)
        ('"x\\udfff"', 400),
        ("NaN", 400),  # Python's json reads these; JSON has none of them
        ("-Infinity", 400),
        ("1e999", 400),
        ("1" * 5000, 400),  # beyond Python's integer-from-text limit
        ('"\\ud83d\\ude00"', 201),  # a surrogate pair, as .NET escapes an emoji: joined by the parser, fine
        ("1e308", 201),
    ],
)
async def test_json_that_python_reads_but_nobody_sends_is_refused_400(
    stack: Stack, raw: str, status: int, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    activity = act.message(stack.service_url, "help")
    body = json.dumps({**activity, "text": "help", "extra": "@@"}).replace('"@@"', raw).encode()
    assert (await post_raw(stack, body))[0] == status
    assert len(stack.connector.sent) == (1 if status == 201 else 0)
    assert_no_traceback(capfd, caplog)


@pytest.mark.parametrize(
    ("member", "value"),
    [("id", {}), ("replyToId", 5), ("serviceUrl", ["http://x/"]), ("channelId", True), ("name", 1), ("text", [])]
    + [(f"{account}.id", bad) for account in ("from", "recipient", "conversation") for bad in ({}, 7)]
    + [("from", "alice"), ("conversation", [1])],
)
async def test_addressing_members_of_the_wrong_type_are_refused_400(stack: Stack, member: str, value: Any) -> None:
    activity = act.message(stack.service_url, "help")
    *parents, last = member.split(".")
    target = activity
    for key in parents:
        target = target[key]
    target[last] = value
    status, _ = await stack.post(activity)
    assert status == 400
    assert stack.connector.sent == []


def _conversation_update(stack: Stack, members: Any) -> dict[str, Any]:
    activity = act.installation(stack.service_url)
    activity.update(type="conversationUpdate", membersAdded=members)
    return activity


@pytest.mark.parametrize(
    "activity",
    [
        lambda s: {k: v for k, v in act.message(s.service_url, "help").items() if k != "recipient"},
        lambda s: dict(act.message(s.service_url, "help"), recipient=None),
        lambda s: _conversation_update(s, [None]),
        lambda s: _conversation_update(s, [{"id": act.BOT_ID}, 5]),
        lambda s: _conversation_update(s, [{"id": 5}]),
        lambda s: _conversation_update(s, "everyone"),
        lambda s: dict(_conversation_update(s, []), membersRemoved=[[]]),
    ],
)
async def test_an_activity_without_a_recipient_or_with_malformed_members_is_refused_400(
    stack: Stack, activity: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    status, _ = await stack.post(activity(stack))
    assert status == 400
    assert stack.connector.sent == []
    assert_no_traceback(capfd, caplog)


async def test_a_well_formed_conversation_update_is_still_read(stack: Stack) -> None:
    status, _ = await stack.post(_conversation_update(stack, [{"id": act.BOT_ID}, {"id": act.ALICE.mri}]))
    assert status == 201
