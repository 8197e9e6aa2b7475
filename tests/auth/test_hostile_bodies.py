"""Hostile bodies with PRODUCTION settings (issue 10, point 2): the token is checked before the body is parsed, a body
nested beyond 64 levels is refused with 400 before json.loads sees it, unknown invoke names get a neutral 200, and no
traceback reaches stderr; nothing is sent and Graph is not called."""

from __future__ import annotations

from typing import Any

import pytest

from bot.transport.routes import VouchedTokens
from devtools.teams import activities as act
from tests.support.bodies import assert_no_traceback, nested_member
from tests.support.stack import Stack

JSON = {"Content-Type": "application/json"}


async def post_raw(prod: Stack, body: bytes, authorization: str | None) -> tuple[int, str]:
    headers = {**JSON, "Authorization": authorization} if authorization else JSON
    async with prod.http.post(prod.server.make_url("/api/messages"), data=body, headers=headers) as r:
        return r.status, await r.text()


async def test_a_deeply_nested_body_without_a_token_is_refused_401_before_it_is_parsed(
    prod: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    body = nested_member(act.message(prod.service_url, "help"), 990)  # ~2 KB: RecursionError in json.loads, then a 500

    for authorization in (None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"):
        assert (await post_raw(prod, body, authorization))[0] == 401
    assert (await post_raw(prod, b"{not json", None))[0] == 401  # the token first: the body was not even read
    assert prod.connector.sent == [] and prod.graph_calls() == []
    assert_no_traceback(capfd, caplog)


async def test_a_signed_body_nested_beyond_64_levels_is_refused_400(
    prod: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    activity = act.message(prod.service_url, "help")
    signed = f"Bearer {prod.token(activity)}"

    for depth in (65, 990, 100_000):
        status, text = await post_raw(prod, nested_member(activity, depth), signed)
        assert status == 400, (depth, text)
    assert prod.connector.sent == []
    assert (await post_raw(prod, nested_member(activity, 64), signed))[0] == 201  # 64 levels are read as any activity
    assert len(prod.connector.messages()) == 1  # the help card
    assert_no_traceback(capfd, caplog)


async def test_brackets_and_quotes_inside_strings_do_not_count_as_nesting(prod: Stack) -> None:
    activity = act.message(prod.service_url, 'help [[[[ {{{{ \\" "' + "[" * 100 + "\\\\")
    status, _ = await prod.post(activity)
    assert status == 201 and len(prod.connector.messages()) == 1


@pytest.mark.parametrize("name", ["foo/bar", None, 5, "", "task/fetch", "composeExtension/query", "x" * 5000])
async def test_unknown_or_malformed_invoke_names_get_a_neutral_200_or_400(
    prod: Stack, name: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    activity = act.card_execute(prod.service_url, "activate", {"pim": 1}, reply_to="a-1")
    if name is None:
        del activity["name"]
    else:
        activity["name"] = name
    status, body = await prod.post(activity)
    if isinstance(name, str) or name is None:
        assert status == 200 and body is None
    else:  # not a string: refused as a malformed activity
        assert status == 400 and body["error"]["message"] == "the activity's name has the wrong type"
    assert prod.connector.sent == [] and prod.graph_calls() == []
    assert_no_traceback(capfd, caplog)


async def test_a_token_vouched_for_before_the_body_is_still_checked_with_each_activity(prod: Stack) -> None:
    first = act.message(prod.service_url, "help")
    token = prod.token(first)
    assert (await prod.post(first, authorization=f"Bearer {token}"))[0] == 201
    # The same bearer, vouched for by the early check, with activities it was not issued for: refused every time.
    elsewhere = dict(act.message(prod.service_url, "help"), serviceUrl="https://smba.trafficmanager.net/evil/")
    other_channel = dict(act.message(prod.service_url, "help"), channelId="webchat")
    for activity in (elsewhere, other_channel, elsewhere):
        assert (await prod.post(activity, authorization=f"Bearer {token}"))[0] == 401
    webchat_only = f"Bearer {prod.token(first, key=prod.ids.channel.webchat_key)}"  # not endorsed for msteams
    for _ in range(2):
        assert (await prod.post(first, authorization=webchat_only))[0] == 401
    assert len(prod.connector.messages()) == 1


def test_vouched_tokens_last_until_they_expire_and_the_oldest_go_first() -> None:
    tokens = VouchedTokens(size=2)
    tokens.remember("Bearer a", 100)
    tokens.remember("Bearer b", 100.5)
    tokens.remember("Bearer c", "100")  # not a time: not remembered
    tokens.remember("Bearer d", True)
    assert tokens.vouches("Bearer a", 99) and not tokens.vouches("Bearer a", 100)
    assert not tokens.vouches("Bearer c", 0) and not tokens.vouches("Bearer d", 0)
    tokens.remember("Bearer e", 200)
    assert not tokens.vouches("Bearer a", 0) and tokens.vouches("Bearer b", 0) and tokens.vouches("Bearer e", 199)
