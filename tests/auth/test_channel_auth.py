"""Inbound channel authentication and outbound bot tokens, end to end, with production settings.

Every bad token is answered 401 before any logic runs: nothing is sent to the Bot Connector, Graph is not called.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from devtools.teams import activities as act
from tests.fakes.botframework import SigningKey
from tests.support.stack import Stack

FOREIGN_TENANT = "00000000-0000-4000-8000-00000000beef"


async def test_a_signed_activity_is_accepted_and_the_reply_carries_the_bots_own_valid_bearer(prod: Stack) -> None:
    status, _ = await prod.post(act.message(prod.service_url, "help"))
    assert status == 201
    [reply] = prod.connector.messages()
    assert prod.connector.refused == []
    # The connector verified the bearer (signature by the login stand-in's key, audience, issuer, app id).
    assert reply.authorization is not None
    claims = prod.ids.login.verify(reply.authorization.removeprefix("Bearer "))
    assert claims["appid"] == prod.app_id and claims["aud"] == "https://api.botframework.com"
    assert claims["tid"] == prod.sim.tenant_id
    # Client credentials at TO_CHANNEL_FROM_BOT_LOGIN_URL with the bot's own tenant, scope from the setting.
    [request] = prod.ids.login.token_requests
    assert request["tenant"] == prod.sim.tenant_id
    assert request["scope"] == "https://api.botframework.com/.default"
    assert request["grant_type"] == "client_credentials"


async def test_a_full_activation_runs_authenticated_and_reuses_the_cached_keys_and_token(prod: Stack) -> None:
    for text in ("activate Exchange-Admins 1h because INC-4711", "status"):
        status, _ = await prod.post(act.message(prod.service_url, text))
        assert status == 201
    assert prod.connector.refused == []
    assert len(prod.connector.messages()) >= 2
    assert all(r.authorization for r in prod.connector.sent)
    # One metadata fetch and one token for every turn so far (botbuilder's key cache, msal's token cache).
    assert (prod.ids.channel.metadata_requests, prod.ids.channel.key_requests) == (1, 1)
    assert len(prod.ids.login.issued) == 1


def _bad_tokens() -> dict[str, Callable[[Stack, dict[str, Any]], str | None]]:
    forger = SigningKey("forged", ["msteams"])
    return {
        "missing": lambda s, a: None,
        "empty bearer": lambda s, a: "Bearer ",
        "not a bearer scheme": lambda s, a: f"Basic {s.token(a)}",
        "malformed x.y.z": lambda s, a: "Bearer x.y.z",
        "malformed bytes": lambda s, a: "Bearer eyJhbGciOiJSUzI1NiJ9.%%%%.AAAA",
        "not a jwt": lambda s, a: "Bearer not-a-jwt",
        "forged: unpublished key under the channel's kid": lambda s, a: (
            f"Bearer {s.token(a, key=forger, kid=s.ids.channel.teams_key.kid)}"
        ),
        "forged: unknown kid": lambda s, a: f"Bearer {s.token(a, key=forger)}",
        "alg none": lambda s, a: (
            "Bearer "
            + jwt.encode(
                json.loads(json.dumps(jwt.decode(s.token(a), options={"verify_signature": False}))),
                None,
                algorithm="none",
                headers={"kid": s.ids.channel.teams_key.kid},
            )
        ),
        "expired an hour ago": lambda s, a: f"Bearer {s.token(a, issued_ago=7200, lifetime=3600)}",
        "expired six minutes ago (beyond the 5-minute skew)": lambda s, a: (
            f"Bearer {s.token(a, issued_ago=3960, lifetime=3600)}"
        ),
        "not valid yet (nbf in ten minutes)": lambda s, a: (
            f"Bearer {s.token(a, extra={'nbf': jwt.decode(s.token(a), options={'verify_signature': False})['exp']})}"
        ),
        "wrong audience": lambda s, a: f"Bearer {s.token(a, audience='11111111-2222-4333-8444-555555555555')}",
        "wrong issuer": lambda s, a: f"Bearer {s.token(a, issuer='https://api.botframework.evil')}",
        "emulator issuer": lambda s, a: (
            f"Bearer {s.token(a, issuer='https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/')}"
        ),
        "serviceurl mismatch": lambda s, a: (
            f"Bearer {s.ids.channel.activity_token(s.app_id, 'https://smba.trafficmanager.net/evil/')}"
        ),
        "serviceurl missing": lambda s, a: f"Bearer {s.token(a, extra={'serviceurl': None})}",
        "key not endorsed for msteams": lambda s, a: f"Bearer {s.token(a, key=s.ids.channel.webchat_key)}",
    }


BAD = _bad_tokens()


@pytest.mark.parametrize("case", list(BAD))
async def test_each_bad_token_is_refused_401_and_nothing_happens(prod: Stack, case: str) -> None:
    activity = act.message(prod.service_url, "activate Exchange-Admins 1h because INC-4711")
    status, body = await prod.post(activity, authorization=BAD[case](prod, activity))
    assert status == 401, (case, body)
    assert prod.connector.sent == [] and prod.connector.refused == []
    assert prod.graph_calls() == []


async def test_a_token_expired_within_the_five_minute_skew_is_still_accepted(prod: Stack) -> None:
    activity = act.message(prod.service_url, "help")
    token = prod.token(activity, issued_ago=3720, lifetime=3600)  # expired two minutes ago
    status, _ = await prod.post(activity, authorization=f"Bearer {token}")
    assert status == 201 and len(prod.connector.messages()) == 1


async def test_a_signed_invoke_with_a_bad_token_is_refused_too(prod: Stack) -> None:
    activity = act.card_execute(prod.service_url, "activate", {"groupId": "x"}, reply_to="a-1")
    status, _ = await prod.post(activity, authorization=f"Bearer {prod.token(activity, audience='someone-else')}")
    assert status == 401 and prod.graph_calls() == []


async def test_a_validly_signed_message_from_another_tenant_is_ignored_before_any_logic(prod: Stack) -> None:
    status, _ = await prod.post(act.message(prod.service_url, "activate Exchange-Admins 1h", tenant=FOREIGN_TENANT))
    assert status == 201  # accepted by the channel protocol, then dropped: no reply goes to another tenant
    assert prod.connector.sent == [] and prod.graph_calls() == []


async def test_a_validly_signed_card_click_from_another_tenant_gets_a_neutral_200_and_nothing_runs(
    prod: Stack,
) -> None:
    activity = act.card_execute(prod.service_url, "activate", {"groupId": "x", "access": "member"}, reply_to="a-1")
    activity["channelData"] = {"tenant": {"id": FOREIGN_TENANT}}
    activity["conversation"]["tenantId"] = FOREIGN_TENANT
    status, body = await prod.post(activity)
    # An invoke must be answered or Teams shows a generic failure; the answer says nothing about this tenant's groups.
    assert status == 200
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "This action is not available here.",
    }
    assert prod.connector.sent == [] and prod.graph_calls() == []


async def test_body_errors_are_still_400_or_415_with_a_valid_token(prod: Stack) -> None:
    url = prod.server.make_url("/api/messages")
    activity = act.message(prod.service_url, "help")
    auth = {"Authorization": f"Bearer {prod.token(activity)}"}
    async with prod.http.post(url, data=b"{not json", headers={**auth, "Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with prod.http.post(url, data=json.dumps(activity), headers={**auth, "Content-Type": "text/plain"}) as r:
        assert r.status == 415
    assert prod.connector.sent == []


async def test_a_connector_that_refuses_the_bots_token_never_turns_into_a_500(prod: Stack) -> None:
    prod.connector.verify_bearer = lambda token: (_ for _ in ()).throw(PermissionError("revoked"))
    status, _ = await prod.post(act.message(prod.service_url, "help"))
    assert status in (200, 201)
    assert prod.connector.sent == [] and prod.connector.refused


async def test_a_slow_signing_key_host_does_not_stall_other_requests(prod: Stack) -> None:
    # botbuilder's own key refresh is a blocking requests.get on the event loop; bot/transport/openid.py's is not.
    prod.ids.channel.delay_seconds = 1.5
    first = asyncio.create_task(prod.post(act.message(prod.service_url, "help")))
    await asyncio.sleep(0.2)  # the first request is now waiting for the keys
    started = time.monotonic()
    async with prod.http.get(prod.server.make_url("/healthz")) as r:
        assert r.status == 200
    assert time.monotonic() - started < 0.5
    assert not first.done()
    status, _ = await first
    assert status == 201 and prod.ids.channel.metadata_requests == 1


async def test_concurrent_first_requests_fetch_the_signing_keys_once(prod: Stack) -> None:
    prod.ids.channel.delay_seconds = 0.3
    results = await asyncio.gather(*(prod.post(act.message(prod.service_url, "help")) for _ in range(5)))
    assert [status for status, _ in results] == [201] * 5
    assert prod.ids.channel.metadata_requests == 1
