"""Hostile bodies in development mode (BOT_ALLOW_ANONYMOUS, no token to check first): refused with 400 before they
are parsed or acted on, never a 5xx, never a traceback outside the logs (issue 10, points 2 and 8)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.routes import errors_middleware
from tests.auth.test_hostile_bodies import assert_no_traceback, nested
from tests.bot.conftest import Stack
from tests.fakes import activities as act


async def post_raw(stack: Stack, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    async with stack.http.post(stack.server.make_url("/api/messages"), data=body, headers=headers) as r:
        return r.status, await r.text()


async def test_a_body_nested_beyond_64_levels_is_refused_400_without_a_traceback(
    stack: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    activity = act.message(stack.service_url, "help")
    for depth in (65, 990, 100_000):
        assert (await post_raw(stack, nested(activity, depth)))[0] == 400
    assert (await post_raw(stack, b"[" * 5000))[0] == 400  # not even an object
    assert (await post_raw(stack, b'{"type": "message", "x": "' + b"[" * 5000))[0] == 400  # an unclosed string
    assert stack.connector.sent == []
    assert (await post_raw(stack, nested(activity, 64)))[0] == 201
    assert_no_traceback(capfd, caplog)


@pytest.mark.parametrize("name", ["foo/bar", None, 5, "task/fetch"])
async def test_unknown_or_malformed_invoke_names_get_a_neutral_200(stack: Stack, name: Any) -> None:
    activity = act.card_execute(stack.service_url, "activate", {"pim": 1}, reply_to="a-1")
    activity["name"] = name
    status, body = await stack.post(activity)
    assert (status, body) == (200, None)
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
