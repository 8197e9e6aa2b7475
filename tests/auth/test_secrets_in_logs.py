"""A full authenticated scenario at DEBUG: neither a client secret nor any token value reaches the logs."""

from __future__ import annotations

import logging

import pytest

from tests.auth.conftest import ProdStack
from tests.fakes import activities as act


async def test_no_secret_and_no_token_appears_in_debug_logs(prod: ProdStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: botbuilder, msal, urllib3, aiohttp, httpx and ours
    for text in ("activate Exchange-Admins 1h because INC-4711", "status", "deactivate Exchange-Admins"):
        status, _ = await prod.post(act.message(prod.service_url, text))
        assert status == 201
    activity = act.message(prod.service_url, "status")
    for bad in (
        f"Bearer {prod.token(activity, audience='11111111-2222-4333-8444-555555555555')}",
        f"Bearer {prod.token(activity, issued_ago=7200)}",
        f"Bearer {prod.token(activity, key=prod.ids.channel.webchat_key)}",
        "Bearer x.y.z",
    ):
        status, _ = await prod.post(activity, authorization=bad)
        assert status == 401
    prod.connector.verify_bearer = lambda token: (_ for _ in ()).throw(PermissionError("revoked"))
    await prod.post(act.message(prod.service_url, "help"))  # a refused outbound bearer is logged, its value is not

    assert prod.ids.login.issued and prod.minted
    logged = caplog.text + "\n".join(
        str(r.args) + (r.exc_text or "") + str(getattr(r, "stack_info", "")) for r in caplog.records
    )
    secrets = {"bot client secret": prod.app_secret, "graph client secret": prod.sim.client_secret}
    for name, value in secrets.items():
        assert value not in logged, f"the {name} was logged"
    for token in prod.ids.login.issued + prod.minted:
        header, payload, signature = token.split(".")
        assert token not in logged and signature not in logged and payload not in logged, "a token was logged"
    assert {"msal.application", "bot.openid", "bot.routes"} <= {r.name for r in caplog.records}
    assert "refused activity" in caplog.text  # the refusals themselves are logged (without the token)
