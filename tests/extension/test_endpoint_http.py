"""PIM's custom-extension call to the bot over HTTP (bot.extension.contract): tokens from the simulated tenant's
Entra, checked against its published keys; every foreign or broken token a 401 with nothing evaluated or stored;
bodies that are not the request object a 400 naming the field; a retry answered as the first call was."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from bot.store import keys
from core.extension import evaluation_id
from tests.support.extension import APP_ID_URI, call_extension, callout, expired_token, forged_token, pim_token
from tests.support.stack import Stack


async def stored(stack: Stack, request_id: str) -> Any:
    from app import PARTS_KEY

    found = await stack.server.app[PARTS_KEY].store.get(keys.extension_evaluation(request_id))
    return found.value if found is not None else None


async def test_a_call_with_pims_token_is_answered_in_the_documented_shape(extension_stack: Stack) -> None:
    body = callout()
    status, answer = await call_extension(extension_stack, body)
    assert status == 200
    assert answer == {
        "evaluationId": evaluation_id(body["id"]),
        "evaluationOutcome": "Approved",
        "reason": ["No rule of the Teams bot objects; PIM's normal approval applies."],
    }
    assert (await stored(extension_stack, body["id"]))["rule"] == "default"


async def test_v2_tokens_with_azp_and_the_client_id_as_audience_are_accepted(extension_stack: Stack) -> None:
    client_id = APP_ID_URI.rsplit("/", 1)[1]
    # v2 issuer: the tenant's authority + /v2.0, as its OpenID metadata says
    token = pim_token(extension_stack, version="2.0", audience=client_id, authority=extension_stack.sim.authority_host)
    status, answer = await call_extension(extension_stack, callout(), token)
    assert status == 200 and answer["evaluationOutcome"] == "Approved"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("missing", "no bearer token"),
        ("forged", "signature does not verify"),
        ("wrong_aud", "another API"),
        ("wrong_app", "another app"),
        ("wrong_iss", "another tenant"),
        ("expired", "expired"),
        ("not_jwt", "not a JWT"),
        ("hs256", "not RS256"),
        ("unknown_kid", "signing key is not in"),
    ],
)
async def test_a_foreign_or_broken_token_is_refused_with_401_and_nothing_is_evaluated(
    extension_stack: Stack, bad: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    stack = extension_stack
    tokens = stack.sim.tenant.tokens
    token: str | None = {
        "missing": lambda: None,
        "forged": lambda: forged_token(stack),
        "wrong_aud": lambda: pim_token(stack, audience="api://bot.contoso.test/another-api"),
        "wrong_app": lambda: pim_token(stack, app_id=str(uuid.uuid4())),  # any app of the tenant can get a token
        "wrong_iss": lambda: _reissued(stack, iss="https://sts.windows.net/11111111-2222-3333-4444-555555555555/"),
        "expired": lambda: expired_token(stack),
        "not_jwt": lambda: "not-a-token",
        "hs256": lambda: tokens.issue_user_token(tokens_user(stack), "x", ["User.Read"], audience=APP_ID_URI),
        "unknown_kid": lambda: _reissued(stack, kid="no-such-key"),
    }[bad]()
    body = callout()
    status, answer = await call_extension(stack, body, token)
    assert status == 401, answer
    assert why in answer["error"]
    assert await stored(stack, body["id"]) is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[" * 30_000 + b"]" * 30_000, "not JSON"),  # deeper than Python's parser goes: a 400, not a 500
        (b"\xff\xfe{}", "not JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"data": {"id": "x"}}', "'id'"),
        (b'{"id": "r1", "principalId": "p", "groupId": "g", "accessId": "admin"}', "'accessId'"),
        (b'{"id": "r1", "principalId": "p", "groupId": "g", "accessId": "member", "scheduleInfo": 3}', "scheduleInfo"),
        (b'{"id": "", "principalId": "p", "groupId": "g", "accessId": "member"}', "'id'"),
    ],
)
async def test_a_body_that_is_not_the_request_object_is_a_400_that_says_which_field(
    extension_stack: Stack, body: bytes, says: str
) -> None:
    status, answer = await call_extension(extension_stack, None, raw=body)
    assert status == 400 and says in answer["error"], answer


async def test_a_retry_of_the_same_request_gets_the_same_answer_and_is_stored_once(extension_stack: Stack) -> None:
    body = callout()
    answers = [await call_extension(extension_stack, body) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][1]["evaluationId"] == evaluation_id(body["id"])


async def test_without_the_setting_the_endpoint_is_off(stack: Stack) -> None:
    status, answer = await call_extension(stack, callout(), None)
    assert status == 404 and "not configured" in answer["error"]


def tokens_user(stack: Stack) -> Any:
    from simtenant.seed import ALICE

    return stack.sim.tenant.user(ALICE)


def _reissued(stack: Stack, *, iss: str | None = None, kid: str | None = None) -> str:
    """PIM's token with one thing changed, signed with the tenant's real key."""
    import jwt

    tokens = stack.sim.tenant.tokens
    claims = jwt.decode(pim_token(stack), options={"verify_signature": False})
    if iss is not None:
        claims["iss"] = iss
    return jwt.encode(claims, tokens.signing_key, algorithm="RS256", headers={"kid": kid or tokens.signing_kid})


ODD_VALUES: list[Any] = [None, 0, -1, 1.5e308, True, "", " ", "x" * 5000, [], {}, ["a"], {"a": 1}, "\u0000", "\ud800x"]


async def test_wrong_types_at_every_field_are_answered_never_with_a_5xx(extension_stack: Stack) -> None:
    """Each field of the request object (and of its scheduleInfo and ticketInfo) given each odd value: a 400 naming
    what is wrong, or an answer when the field is one the rules may do without; never a 5xx."""
    base = callout(ticket="INC0000001")
    paths = [(k,) for k in base] + [("scheduleInfo", k) for k in base["scheduleInfo"]]
    paths += [("scheduleInfo", "expiration", k) for k in base["scheduleInfo"]["expiration"]]
    paths += [("ticketInfo", k) for k in base["ticketInfo"]]
    statuses: dict[int, int] = {}
    for path in paths:
        for value in ODD_VALUES:
            body = json.loads(json.dumps(base))
            body["id"] = str(uuid.uuid4()) if path != ("id",) else body["id"]
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            raw = json.dumps(body).encode("utf-8", "surrogatepass")
            status, answer = await call_extension(extension_stack, None, raw=raw)
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (200, 400), (path, value, status, answer)
            assert ("error" in answer) if status == 400 else ("evaluationOutcome" in answer), answer
    assert statuses[400] and statuses[200]
