"""Step-up sign-in with PRODUCTION settings (issue 3, points 3 and 5): signed activities, Teams SSO through the token
service stand-in, the bot served over HTTPS at PUBLIC_BASE_URL. PIM refuses the SSO token (MfaRule, or an
authentication context); the step-up card's link is followed as a browser would (aiohttp trusting the test CA) through
the simulated tenant's sign-in pages (with the MFA step); the callback retries the command and the result reaches the
recording connector with the bot's valid bearer. Also the card-click path: an Action.Execute click for an MFA group
answers with the step-up card, and the click's action completes after the sign-in, exactly once; and a step-up sign-in
that did no MFA is answered plainly, the next click too, never with another sign-in."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant.seed import FINANCE_PROD, PRIVILEGED_ROLE_ADMINS
from simtenant.wire import request_json
from tests.fakes.signin_page import walk_sign_in
from tests.support.sso import invoke, oauth_cards, tokens
from tests.support.stack import CONNECTION, Stack


def provisioned(prod: Stack, group_id: str) -> list[Any]:
    return [
        r
        for r in prod.sim.tenant.requests_for("assignment", group_id=group_id)
        if r.action == "selfActivate" and r.status == "Provisioned"
    ]


def step_up_link(card: dict[str, Any] | None, prod: Stack) -> str:
    assert card is not None
    [action] = [a for a in card.get("actions", []) if a.get("type") == "Action.OpenUrl"]
    url = str(action["url"])
    assert url.startswith(f"https://127.0.0.1:{prod.server.port}/auth/stepup/start?state="), url
    return url


async def sign_in_with_ssl(prod: Stack, link: str, user_id: str, *, mfa: bool = True) -> tuple[int, str]:
    """Follow the step-up link as a browser would (HTTPS throughout); the callback page's status and text."""
    walk = await walk_sign_in(prod.http, link, user_id, mfa=mfa)
    assert walk.authorize_url.startswith("https://")
    # form_post to the bot, over TLS
    assert walk.callback_url == f"https://127.0.0.1:{prod.server.port}/auth/stepup/callback"
    return walk.status, walk.page


async def sso_exchange(prod: Stack) -> None:
    """Teams' silent SSO answer to the OAuth card: the command that waited for it resumes in this turn."""
    token = await tokens(prod).sso_token(ALICE.oid)
    value = {"id": str(uuid.uuid4()), "connectionName": CONNECTION, "token": token}
    status, body = await prod.post(invoke(prod, "signin/tokenExchange", value))
    assert status == 200, body


def assert_every_outbound_call_carried_the_bots_valid_bearer(prod: Stack) -> None:
    assert prod.connector.refused == [] and tokens(prod).refused == []
    assert all(r.authorization and r.authorization.startswith("Bearer ") for r in prod.connector.sent)
    for r in prod.connector.sent:
        claims = prod.ids.login.verify(str(r.authorization).split(" ", 1)[1])
        assert claims["appid"] == prod.app_id


async def test_sso_then_mfa_step_up_over_https_retries_and_posts_active_with_a_valid_bot_bearer(
    prod_stepup: Stack,
) -> None:
    prod = prod_stepup
    status, _ = await prod.post(
        act.message(prod.service_url, "activate Privileged-Role-Admins 30m because maintenance")
    )
    assert status == 201
    assert len(oauth_cards(prod)) == 1  # no token yet: Teams SSO first
    await sso_exchange(prod)

    card = prod.connector.messages()[-1].card  # PIM refused the SSO token (MfaRule): the step-up card
    assert card is not None and "multi-factor" in json.dumps(card)
    link = step_up_link(card, prod)
    assert provisioned(prod, PRIVILEGED_ROLE_ADMINS) == []
    sent = len(prod.connector.messages())

    status, page = await sign_in_with_ssl(prod, link, ALICE.oid)

    assert status == 200 and "close this window" in page
    messages = await prod.connector.wait_for(sent + 1)
    assert "Active" in json.dumps(messages[-1].card), messages[-1].body
    [done] = provisioned(prod, PRIVILEGED_ROLE_ADMINS)
    assert done.principal_id == ALICE.oid
    assert_every_outbound_call_carried_the_bots_valid_bearer(prod)
    # The link was single use.
    async with prod.http.get(link, allow_redirects=False) as r:
        assert r.status == 400
    assert len(provisioned(prod, PRIVILEGED_ROLE_ADMINS)) == 1


async def test_authentication_context_step_up_in_production_mode(prod_stepup: Stack) -> None:
    prod = prod_stepup
    tokens(prod).put_token(ALICE.mri, await tokens(prod).graph_token(ALICE.oid))  # already signed in through SSO
    status, _ = await prod.post(act.message(prod.service_url, "activate Finance-Prod 30m because quarter close"))
    assert status == 201
    card = prod.connector.messages()[-1].card
    assert "authentication context “Sensitive admin actions”" in json.dumps(card, ensure_ascii=False)
    sent = len(prod.connector.messages())

    walk = await walk_sign_in(prod.http, step_up_link(card, prod), ALICE.oid)

    assert walk.status == 200
    claims = json.loads(parse_qs(urlsplit(walk.authorize_url).query)["claims"][0])
    assert claims["access_token"]["acrs"] == {"essential": True, "value": "c1"}  # the sign-in asked for the context
    messages = await prod.connector.wait_for(sent + 1)
    assert "Active" in json.dumps(messages[-1].card)
    assert len(provisioned(prod, FINANCE_PROD)) == 1
    assert_every_outbound_call_carried_the_bots_valid_bearer(prod)


def execute_button(card: dict[str, Any], title_starts: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute" and str(node.get("title", "")).startswith(title_starts):
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    [button] = found
    return button


async def test_card_clicks_over_max_then_justification_submit_step_up_and_the_click_completes_once(
    prod_stepup: Stack,
) -> None:
    prod = prod_stepup
    tokens(prod).put_token(ALICE.mri, await tokens(prod).graph_token(ALICE.oid))  # already signed in through SSO
    # No justification in the command: the button cannot carry one, so the policy's card asks for it.
    status, _ = await prod.post(act.message(prod.service_url, "activate Privileged-Role-Admins 3h"))
    assert status == 201
    refusal = prod.connector.messages()[-1].card
    assert refusal is not None and "at most 1 h" in json.dumps(refusal)

    # "Activate for 1 h" (Action.Execute): the policy also wants a justification, so the invoke answers with that card.
    button = execute_button(refusal, "Activate for 1 h")
    status, body = await prod.post(act.card_execute(prod.service_url, button["verb"], button["data"], "activity-1"))
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    needs_input = body["value"]
    assert "needs a justification" in json.dumps(needs_input)

    # The submit with the justification typed in: PIM wants MFA, the invoke answers with the step-up card.
    submit = execute_button(needs_input, "Activate")
    data = {**submit["data"], "justification": "maintenance window"}
    status, body = await prod.post(act.card_execute(prod.service_url, submit["verb"], data, "activity-2"))
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert "multi-factor" in json.dumps(body["value"])
    link = step_up_link(body["value"], prod)
    assert provisioned(prod, PRIVILEGED_ROLE_ADMINS) == []
    sent = len(prod.connector.messages())

    status, page = await sign_in_with_ssl(prod, link, ALICE.oid)

    assert status == 200 and "close this window" in page
    messages = await prod.connector.wait_for(sent + 1)
    assert "Active" in json.dumps(messages[-1].card), messages[-1].body
    [done] = provisioned(prod, PRIVILEGED_ROLE_ADMINS)
    assert done.principal_id == ALICE.oid
    wire = request_json(done)  # the click's action, as clicked: 1 h, the justification typed into the card
    assert wire["justification"] == "maintenance window"
    assert wire["scheduleInfo"]["expiration"]["duration"] == "PT1H"
    assert_every_outbound_call_carried_the_bots_valid_bearer(prod)
    # The link is single use: nothing more is activated.
    async with prod.http.get(link, allow_redirects=False) as r:
        assert r.status == 400
    assert len(provisioned(prod, PRIVILEGED_ROLE_ADMINS)) == 1


async def test_a_click_whose_step_up_did_no_mfa_is_answered_plainly_and_never_asks_to_sign_in_again(
    prod_stepup: Stack,
) -> None:
    prod = prod_stepup
    tokens(prod).put_token(ALICE.mri, await tokens(prod).graph_token(ALICE.oid))  # already signed in through SSO
    status, _ = await prod.post(act.message(prod.service_url, "activate Privileged-Role-Admins 3h because maintenance"))
    assert status == 201
    button = execute_button(prod.connector.messages()[-1].card or {}, "Activate for 1 h")
    status, body = await prod.post(act.card_execute(prod.service_url, button["verb"], button["data"], "activity-1"))
    assert status == 200 and "multi-factor" in json.dumps(body["value"])
    sent = len(prod.connector.messages())

    status, _ = await sign_in_with_ssl(prod, step_up_link(body["value"], prod), ALICE.oid, mfa=False)

    assert status == 200
    messages = await prod.connector.wait_for(sent + 1)
    explained = json.dumps(messages[-1].card, ensure_ascii=False)
    assert "You signed in again, but PIM still refused" in explained and "/auth/stepup/" not in explained
    # The same click again: the plain answer, not another sign-in.
    status, body = await prod.post(act.card_execute(prod.service_url, button["verb"], button["data"], "activity-2"))
    assert status == 200
    again = json.dumps(body["value"], ensure_ascii=False)
    assert "You signed in again" in again and "/auth/stepup/" not in again
    assert provisioned(prod, PRIVILEGED_ROLE_ADMINS) == []
    assert_every_outbound_call_carried_the_bots_valid_bearer(prod)
