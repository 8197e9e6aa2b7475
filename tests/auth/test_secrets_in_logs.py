"""A full authenticated scenario at DEBUG: neither a client secret nor any token value reaches the logs, in the plain
format nor in LOG_FORMAT=json (bot.observe.logs, whose extra fields are the turn's and Graph's ids)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app import PARTS_KEY, install_log_redaction
from bot.observe.logs import JsonFormatter
from devtools.teams import activities as act
from settings import load_settings
from tests.support.stack import CONNECTION, Stack


@contextmanager
def json_lines() -> Iterator[io.StringIO]:
    """Every record, as LOG_FORMAT=json writes it (no redacting filter: like the plain scan, it must find nothing
    without one); each line checked to be one JSON object."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


async def test_no_secret_and_no_token_appears_in_debug_logs(prod: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: botbuilder, msal, urllib3, aiohttp, httpx and ours
    # The bot keeps its app-only Graph token between calls (graph.auth.AppTokenSource): dropped here, so msal is asked
    # for it within the scan and its own logging is scanned too.
    prod.server.app[PARTS_KEY].graph._app_auth._kept = None
    with json_lines() as as_json:
        await _signed_scenario(prod)
    assert prod.ids.login.issued and prod.minted
    logged = caplog.text + "\n".join(
        str(r.args) + (r.exc_text or "") + str(getattr(r, "stack_info", "")) for r in caplog.records
    )
    logged += as_json.getvalue()
    assert '"activity_id"' in as_json.getvalue() and '"graph_request_id"' in as_json.getvalue()
    secrets = {"bot client secret": prod.app_secret, "graph client secret": prod.sim.client_secret}
    for name, value in secrets.items():
        assert value not in logged, f"the {name} was logged"
    for token in prod.ids.login.issued + prod.minted:
        header, payload, signature = token.split(".")
        assert token not in logged and signature not in logged and payload not in logged, "a token was logged"
    names = {r.name for r in caplog.records}
    # msal's own logging was scanned: the token it fetched (msal.token_cache), a cache hit (msal.application)
    assert {"bot.transport.signing_keys", "bot.transport.routes"} <= names and names & {
        "msal.application",
        "msal.token_cache",
    }
    assert "refused activity" in caplog.text  # the refusals themselves are logged (without the token)


async def _signed_scenario(prod: Stack) -> None:
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


async def test_no_secret_and_no_token_appears_in_debug_logs_of_an_authenticated_sso_scenario(
    prod_sso: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-in card, silent exchange, activation, the magic-code fallback, a refused bot token, logout — with the
    root logger at DEBUG (botbuilder, msrest, msal, urllib3, requests, aiohttp, httpx and ours)."""
    caplog.set_level(logging.DEBUG)
    service = prod_sso.token_service
    assert service is not None
    tenant_tokens = prod_sso.sim.tenant.tokens
    graph_tokens: list[str] = []  # app-only and delegated Graph tokens the simulated tenant issued

    def recording(issue: Callable[..., str]) -> Callable[..., str]:
        def issue_and_record(*args: Any, **kwargs: Any) -> str:
            token = issue(*args, **kwargs)
            graph_tokens.append(token)
            return token

        return issue_and_record

    monkeypatch.setattr(tenant_tokens, "issue_app_token", recording(tenant_tokens.issue_app_token))
    monkeypatch.setattr(tenant_tokens, "issue_user_token", recording(tenant_tokens.issue_user_token))
    sso_tokens: list[str] = []

    async def exchange_invoke(user: act.TeamsUser) -> dict[str, Any]:
        sso_tokens.append(await service.sso_token(user.oid))
        activity = act.message(prod_sso.service_url, "", user)
        value = {"id": str(uuid.uuid4()), "connectionName": CONNECTION, "token": sso_tokens[-1]}
        activity.update(type="invoke", name="signin/tokenExchange", value=value)
        activity.pop("text")
        return activity

    # Alice: sign-in card, silent exchange, the activation resumes; then status.
    activate = act.message(prod_sso.service_url, "activate Exchange-Admins 1h because INC-4711")
    assert (await prod_sso.post(activate))[0] == 201
    assert (await prod_sso.post(await exchange_invoke(act.ALICE)))[0] == 200
    assert (await prod_sso.post(act.message(prod_sso.service_url, "status")))[0] == 201
    # Bob: the exchange fails, the magic code resumes.
    assert (await prod_sso.post(act.message(prod_sso.service_url, "activate Exchange-Admins 1h", act.BOB)))[0] == 201
    service.fail_exchanges = 1
    assert (await prod_sso.post(await exchange_invoke(act.BOB)))[0] == 412
    code = await service.button_sign_in(act.BOB.mri, act.BOB.oid)
    verify = act.message(prod_sso.service_url, "", act.BOB)
    verify.update(type="invoke", name="signin/verifyState", value={"state": code})
    verify.pop("text")
    assert (await prod_sso.post(verify))[0] == 200
    # A refused channel token, logout, then a bot token the token service refuses (redeeming a magic code).
    status_activity = act.message(prod_sso.service_url, "status")
    expired = f"Bearer {prod_sso.token(status_activity, issued_ago=7200)}"
    assert (await prod_sso.post(status_activity, authorization=expired))[0] == 401
    assert (await prod_sso.post(act.message(prod_sso.service_url, "logout")))[0] == 201
    service.verify_bearer = lambda token: (_ for _ in ()).throw(PermissionError("revoked"))
    verify = act.message(prod_sso.service_url, "")
    code = await service.button_sign_in(act.ALICE.mri, act.ALICE.oid)
    verify.update(type="invoke", name="signin/verifyState", value={"state": code})
    verify.pop("text")
    assert (await prod_sso.post(verify))[0] == 200

    assert service.refused, service.calls
    user_tokens = list(service.tokens.values())
    assert graph_tokens and sso_tokens and prod_sso.ids.login.issued and prod_sso.minted
    logged = caplog.text + "\n".join(
        str(r.args) + (r.exc_text or "") + str(getattr(r, "stack_info", "")) for r in caplog.records
    )
    secrets = {"bot client secret": prod_sso.app_secret, "graph client secret": prod_sso.sim.client_secret}
    for name, value in secrets.items():
        assert value not in logged, f"the {name} was logged"
    kinds = {
        "bot token": prod_sso.ids.login.issued,
        "channel token": prod_sso.minted,
        "SSO token": sso_tokens,
        "user or app-only Graph token": graph_tokens + user_tokens,
    }
    for kind, values in kinds.items():
        for token in values:
            parts = [token, *(p for p in token.split(".") if len(p) > 16)]
            leaked = [p for p in parts if p in logged]
            assert not leaked, f"a {kind} (or a part of it) was logged"
    names = {r.name for r in caplog.records}
    assert {"msal.application", "bot.signin.sso"} & names and any(n.startswith("msrest") for n in names), names


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_redacting_filter_removes_jwts_bearer_values_and_secrets_from_messages_and_tracebacks(
    prod: Stack, log_format: str
) -> None:
    stream = io.StringIO()
    logger = logging.getLogger(f"redaction-test-{log_format}")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        install_log_redaction(load_settings(prod.env), logger)
        jwt_value = prod.token(act.message(prod.service_url, "x"))
        logger.warning("sending %s", {"Authorization": f"Bearer {jwt_value}"})
        logger.warning("body token=%s secret=%s", jwt_value, prod.app_secret)
        logger.warning("Authorization: Bearer opaque-token-value_123")
        try:
            raise RuntimeError(f"failed with {prod.sim.client_secret} and {jwt_value}")
        except RuntimeError:
            logger.exception("it broke")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    header, payload, signature = jwt_value.split(".")
    for value in (jwt_value, payload, signature, prod.app_secret, prod.sim.client_secret, "opaque-token-value_123"):
        assert value not in text
    assert text.count("[redacted]") >= 6 and "it broke" in text and "RuntimeError" in text
    if log_format == "json":
        *_, broke = [json.loads(line) for line in text.splitlines()]
        assert broke["message"] == "it broke" and "[redacted]" in broke["exception"]
