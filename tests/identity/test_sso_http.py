"""Teams SSO user tokens through POST /api/messages: sign-in asked only when a write needs the user's token, the
command resumed after the sign-in without retyping, exchanges and resumptions exactly once (two bot instances share
one SQLite file), the OAuth-card fallback with a magic code, Action.Execute's loginRequest, the oid/tid binding and
logout."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from cards.actions import DATA_VERSION
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, DEMO_TENANT
from simtenant.wire import request_json
from tests.support.chat import self_activations
from tests.support.sso import ask_to_activate, cards_sent, invoke, oauth_cards, texts_sent, token_exchange
from tests.support.stack import CONNECTION, SSO_BOT_API, Stack

EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


# ---- (1) first command without a token: OAuth card, nothing written; silent exchange resumes it ------------------


async def test_first_activation_asks_to_sign_in_then_the_exchange_resumes_it_without_retyping(sso: Stack) -> None:
    card = await ask_to_activate(sso)

    assert card["connectionName"] == CONNECTION
    assert card["tokenExchangeResource"]["uri"] == SSO_BOT_API
    assert card["buttons"][0]["type"] == "signin" and card["buttons"][0]["value"].startswith(sso.token_service.url)
    assert self_activations(sso) == [] and cards_sent(sso) == []

    status, body = await sso.post(await token_exchange(sso))

    assert status == 200, body
    [activation] = self_activations(sso)
    assert activation["principalId"] == ALICE.oid and activation["groupId"] == EXCHANGE
    assert activation["scheduleInfo"]["expiration"]["duration"] == "PT1H"
    [result] = cards_sent(sso)
    assert "Exchange-Admins" in json.dumps(result)
    assert sso.token_service.exchanges == 1


async def test_a_signed_in_user_is_not_asked_again(sso: Stack) -> None:
    await ask_to_activate(sso)
    await sso.post(await token_exchange(sso))
    status, _ = await sso.post(act.message(sso.service_url, "deactivate Exchange-Admins"))
    assert status == 201
    assert len(oauth_cards(sso)) == 1  # no second sign-in card
    assert len(cards_sent(sso)) == 2


async def test_a_day_later_the_token_service_refreshes_and_no_new_sign_in_is_asked(sso: Stack) -> None:
    await ask_to_activate(sso)
    await sso.post(await token_exchange(sso))
    sso.sim.tenant.advance(24 * 3600)  # Alice's token, and her activation, have long expired

    status, _ = await sso.post(act.message(sso.service_url, "activate Exchange-Admins 1h"))

    assert status == 201
    assert len(self_activations(sso)) == 2 and len(oauth_cards(sso)) == 1
    assert sso.token_service.refreshes == 1


async def test_a_token_graph_refuses_is_asked_for_once_more_then_the_refusal_is_told(sso: Stack) -> None:
    # Bound to Alice (right oid and tid) but not the tenant's: Graph answers 401. The token service has nothing newer,
    # so after one more GetToken the bot stops there: one refused write, no sign-in loop.
    stale = jwt({"oid": ALICE.oid, "tid": DEMO_TENANT, "exp": 4102444800})
    sso.token_service.put_token(ALICE.mri, stale)

    status, _ = await sso.post(act.message(sso.service_url, "activate Exchange-Admins 1h"))

    assert status == 201
    assert self_activations(sso) == [] and oauth_cards(sso) == []
    refused = [e for e in sso.sim.tenant.log.recent() if e["status"] == 401]
    assert len(refused) == 1
    assert [op for op, user in sso.token_service.calls if user == ALICE.mri].count("GetToken") == 2
    [result] = cards_sent(sso)
    assert "Not activated" in json.dumps(result)


# ---- (2) duplicates: one exchange, one activation -------------------------------------------------------------------


async def test_the_same_exchange_twice_and_on_two_instances_exchanges_and_activates_once(sso: Stack) -> None:
    await ask_to_activate(sso)
    exchange = await token_exchange(sso)

    answers = [await sso.post(exchange, instance=0), await sso.post(exchange, instance=0),
               await sso.post(exchange, instance=1)]  # fmt: skip

    assert [status for status, _ in answers] == [200, 200, 200]
    assert sso.token_service.exchanges == 1
    assert len(self_activations(sso)) == 1 and len(cards_sent(sso)) == 1


@pytest.mark.parametrize("exchange_id", ["x" * 2000, "line\nbreak"], ids=["2000-characters", "newline"])
async def test_an_exchange_id_no_store_could_key_as_it_is_is_still_exchanged_once(sso: Stack, exchange_id: str) -> None:
    await ask_to_activate(sso)
    exchange = await token_exchange(sso, exchange_id=exchange_id)

    answers = [await sso.post(exchange, instance=0), await sso.post(exchange, instance=1)]

    assert [status for status, _ in answers] == [200, 200]
    assert sso.token_service.exchanges == 1
    assert len(self_activations(sso)) == 1


async def test_a_pending_command_runs_once_even_when_both_sign_in_paths_arrive(sso: Stack) -> None:
    await ask_to_activate(sso)
    status, _ = await sso.post(await token_exchange(sso), instance=0)
    code = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)
    status2, _ = await sso.post(invoke(sso, "signin/verifyState", {"state": code}), instance=1)

    assert (status, status2) == (200, 200)
    assert len(self_activations(sso)) == 1
    assert "You're signed in." in texts_sent(sso)


# ---- (3) failed exchange → 412, then the button and the magic code -------------------------------------------------


async def test_a_failed_exchange_answers_412_and_the_magic_code_resumes_the_command(sso: Stack) -> None:
    await ask_to_activate(sso)
    sso.token_service.fail_exchanges = 1
    exchange = await token_exchange(sso)

    status, body = await sso.post(exchange)

    assert status == 412
    assert body["id"] == exchange["value"]["id"] and body["connectionName"] == CONNECTION and body["failureDetail"]
    assert self_activations(sso) == []

    code = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)
    status, _ = await sso.post(invoke(sso, "signin/verifyState", {"state": code}))

    assert status == 200
    assert len(self_activations(sso)) == 1 and len(cards_sent(sso)) == 1


async def test_an_invalid_sso_token_is_not_exchanged(sso: Stack) -> None:
    await ask_to_activate(sso)
    exchange = await token_exchange(sso)
    exchange["value"]["token"] = jwt({"oid": ALICE.oid, "tid": DEMO_TENANT, "aud": SSO_BOT_API})  # unsigned

    status, _ = await sso.post(exchange)

    assert status == 412 and self_activations(sso) == []


async def test_a_wrong_magic_code_completes_nothing(sso: Stack) -> None:
    await ask_to_activate(sso)
    await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)
    status, _ = await sso.post(invoke(sso, "signin/verifyState", {"state": "000000x"}))
    assert status == 200 and self_activations(sso) == []
    assert any("did not complete" in t for t in texts_sent(sso))


# ---- (4) Action.Execute: loginRequest, then the click's action completes ------------------------------------------


def activate_click(sso: Stack) -> dict[str, Any]:
    data = {"pim": DATA_VERSION, "verb": "activate", "groupId": EXCHANGE, "groupName": "Exchange-Admins",
            "access": "member", "durationMinutes": 60}  # fmt: skip
    return act.card_execute(sso.service_url, "activate", data, reply_to="activity-1")


async def test_a_card_click_without_a_token_gets_a_login_request_and_completes_after_sign_in(sso: Stack) -> None:
    status, body = await sso.post(activate_click(sso))

    assert status == 200 and body["statusCode"] == 401
    assert body["type"] == "application/vnd.microsoft.activity.loginRequest"
    assert (
        body["value"]["connectionName"] == CONNECTION and body["value"]["tokenExchangeResource"]["uri"] == SSO_BOT_API
    )
    assert body["value"]["buttons"][0]["type"] == "signin"
    assert self_activations(sso) == []

    # The client re-sends the same click with the SSO token (value.authentication).
    again = activate_click(sso)
    again["value"]["authentication"] = {
        "id": str(uuid.uuid4()), "connectionName": CONNECTION, "token": await sso.token_service.sso_token(ALICE.oid)
    }  # fmt: skip
    status, body = await sso.post(again)

    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert "Exchange-Admins" in json.dumps(body["value"])
    assert len(self_activations(sso)) == 1


async def test_a_card_click_completes_after_the_button_sign_in_magic_code(sso: Stack) -> None:
    status, body = await sso.post(activate_click(sso))
    assert body["statusCode"] == 401
    again = activate_click(sso)
    again["value"]["state"] = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)

    status, body = await sso.post(again)

    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert len(self_activations(sso)) == 1


async def test_a_card_click_with_a_wrong_magic_code_gets_invalid_auth_code_and_the_right_one_still_works(
    sso: Stack,
) -> None:
    """Teams docs, "Add third party authentication to Adaptive Cards Universal Actions" (learn.microsoft.com/
    microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/
    authentication-flow-in-universal-action-for-adaptive-cards): an incorrect `state` is answered
    {"statusCode": 401, "type": "application/vnd.microsoft.error.invalidAuthCode"}; the client may prompt again."""
    status, body = await sso.post(activate_click(sso))
    assert body["statusCode"] == 401
    code = await sso.token_service.button_sign_in(ALICE.mri, ALICE.oid)
    wrong = activate_click(sso)
    wrong["value"]["state"] = "000000x"  # not a code the token service handed out

    status, body = await sso.post(wrong)

    assert status == 200
    assert body == {"statusCode": 401, "type": "application/vnd.microsoft.error.invalidAuthCode"}
    assert self_activations(sso) == []
    right = activate_click(sso)
    right["value"]["state"] = code
    status, body = await sso.post(right)
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert len(self_activations(sso)) == 1


async def test_a_card_click_with_a_bad_sso_token_gets_precondition_failed(sso: Stack) -> None:
    again = activate_click(sso)
    again["value"]["authentication"] = {"id": "x", "connectionName": CONNECTION, "token": "not-a-token"}
    status, body = await sso.post(again)
    assert status == 200 and body["statusCode"] == 412
    assert body["type"] == "application/vnd.microsoft.error.preconditionFailed"
    assert self_activations(sso) == []


# ---- (5) binding: someone else's token, another tenant's token ---------------------------------------------------


async def test_a_token_of_another_user_writes_nothing_and_the_user_is_told(sso: Stack, caplog: Any) -> None:
    bobs = await sso.token_service.graph_token(BOB.oid)
    sso.token_service.put_token(ALICE.mri, bobs)

    status, _ = await sso.post(act.message(sso.service_url, "activate Exchange-Admins 1h"))

    assert status == 201
    assert self_activations(sso) == [] and oauth_cards(sso) == []
    assert any("belongs to a different account" in t and "nothing was changed" in t for t in texts_sent(sso))
    assert any("token's oid does not match" in r.getMessage() for r in caplog.records)
    assert bobs not in caplog.text


async def test_a_token_of_another_tenant_writes_nothing(sso: Stack, caplog: Any) -> None:
    foreign = jwt({"oid": ALICE.oid, "tid": "11111111-2222-3333-4444-555555555555"})
    sso.token_service.put_token(ALICE.mri, foreign)

    status, _ = await sso.post(act.message(sso.service_url, "activate Exchange-Admins 1h"))
    click_status, body = await sso.post(activate_click(sso))

    assert (status, click_status) == (201, 200)
    assert "belongs to a different account" in body["value"]
    assert self_activations(sso) == []
    assert any("token's tid does not match" in r.getMessage() for r in caplog.records)
    assert foreign not in caplog.text


# ---- (6) logout -----------------------------------------------------------------------------------------------------


async def test_logout_signs_out_and_the_next_command_asks_to_sign_in_again(sso: Stack) -> None:
    await ask_to_activate(sso)
    await sso.post(await token_exchange(sso))
    assert sso.token_service.has_token(ALICE.mri)

    status, _ = await sso.post(act.message(sso.service_url, "logout"))

    assert status == 201
    assert not sso.token_service.has_token(ALICE.mri)
    assert any("signed out" in t for t in texts_sent(sso))
    sso.sim.tenant.advance(600)  # past the five minutes before a deactivation is allowed: a write is needed
    await sso.post(act.message(sso.service_url, "deactivate Exchange-Admins"))
    assert len(oauth_cards(sso)) == 2
    assert len([r for r in request_json_all(sso) if r["action"] == "selfDeactivate"]) == 0


def request_json_all(sso: Stack) -> list[dict[str, Any]]:
    return [request_json(x) for x in sso.sim.tenant.requests_for("assignment")]


async def test_signin_failure_from_the_client_is_logged_and_answered_200(sso: Stack, caplog: Any) -> None:
    status, _ = await sso.post(invoke(sso, "signin/failure", {"code": "resourcematchfailed", "message": "mismatch"}))
    assert status == 200
    assert any("resourcematchfailed" in r.getMessage() for r in caplog.records)
