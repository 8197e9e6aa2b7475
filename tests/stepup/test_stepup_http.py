"""Step-up sign-in end to end: POST /api/messages → sign-in card → the bot's start page → the simulated Entra
sign-in page → the bot's callback → the command retried and the result posted proactively. No browser: aiohttp."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cards.wording import PIM_ACTIVATE_URL
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB
from simtenant import seed
from simtenant.observe import Fault
from simtenant.seed import FINANCE_PROD, PRIVILEGED_ROLE_ADMINS
from tests.fakes.signin_page import walk_sign_in
from tests.support.stepup import ACTIVATE_MFA_GROUP, StepUpStack


async def test_mfa_step_up_then_automatic_retry(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    card = stack.connector.messages()[-1].card
    assert card is not None and "multi-factor" in str(card)
    link = stack.sign_in_link()
    assert not stack.activations(PRIVILEGED_ROLE_ADMINS)
    status, page = await stack.sign_in(link, ALICE.oid)
    assert status == 200 and "close this window" in page
    messages = await stack.connector.wait_for(2)
    assert "Active" in str(messages[-1].card), messages[-1].body
    (done,) = stack.activations(PRIVILEGED_ROLE_ADMINS)
    assert done.principal_id == ALICE.oid
    # Replaying the callback changes nothing.
    url, fields = stack.last_callback
    async with stack.http.post(url, data=fields) as r:
        assert r.status == 400
    assert len(stack.activations(PRIVILEGED_ROLE_ADMINS)) == 1


def asked_claims(authorize_url: str) -> Any:
    """The claims request the sign-in page was opened with (what Entra is asked to put in the token)."""
    return json.loads(parse_qs(urlsplit(authorize_url).query)["claims"][0])


@pytest.mark.parametrize("wrapped", [False, True], ids=["clean", "unknownerror-wrapped"])
async def test_authentication_context_step_up_asks_for_the_context_and_ends_active(
    stack: StepUpStack, wrapped: bool
) -> None:
    stack.sim.tenant.settings.wrapped_errors = wrapped  # PIM's refusal in either form real tenants send
    await stack.say("activate Finance-Prod 30m because x")
    card = stack.connector.messages()[-1].card
    assert "authentication context “Sensitive admin actions”" in json.dumps(card, ensure_ascii=False)
    walk = await walk_sign_in(stack.http, stack.sign_in_link(), ALICE.oid)
    # The sign-in asked Entra for the authentication context (not for MFA), so the token carries acrs c1.
    assert asked_claims(walk.authorize_url)["access_token"]["acrs"]["value"] == "c1"
    assert walk.status == 200
    messages = await stack.connector.wait_for(2)
    assert "Active" in str(messages[-1].card)
    [done] = stack.activations(FINANCE_PROD)
    assert done.principal_id == ALICE.oid


async def test_an_unreadable_refusal_still_asks_for_the_policys_context(stack: StepUpStack) -> None:
    # A form of the refusal nobody has documented: the bot builds the claims request from the group's policy.
    fault = {
        "method": "POST",
        "path": "assignmentScheduleRequests$",
        "status": 400,
        "code": "UnknownError",
        "message": "RoleAssignmentRequestAcrsValidationFailed: authentication context required",
    }
    stack.sim.tenant.faults.add(Fault.from_json(fault))
    await stack.say("activate Finance-Prod 30m because x")
    walk = await walk_sign_in(stack.http, stack.sign_in_link(), ALICE.oid)
    assert asked_claims(walk.authorize_url)["access_token"]["acrs"] == {"essential": True, "value": "c1"}
    await stack.connector.wait_for(2)
    assert len(stack.activations(FINANCE_PROD)) == 1


async def test_the_context_is_named_by_its_id_when_the_app_may_not_read_it(stack: StepUpStack) -> None:
    app = stack.sim.tenant.apps[stack.sim.client_id.lower()]
    stack.sim.tenant.apps[stack.sim.client_id.lower()] = replace(
        app, roles=app.roles - {"AuthenticationContext.Read.All"}
    )
    await stack.say("activate Finance-Prod 30m because x")
    card = json.dumps(stack.connector.messages()[-1].card, ensure_ascii=False)
    assert "authentication context c1" in card and "Sensitive admin actions" not in card


def is_step_up_card(card: dict[str, Any] | None) -> bool:
    return any(a.get("type") == "Action.OpenUrl" and "/auth/stepup/" in a.get("url", "") for a in _actions(card))


def _actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if str(node.get("type", "")).startswith("Action.") else []
        return own + [a for v in node.values() for a in _actions(v)]
    if isinstance(node, list):
        return [a for v in node for a in _actions(v)]
    return []


async def test_mfa_still_refused_after_the_step_up_is_explained_once_and_never_loops(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    assert is_step_up_card(stack.connector.messages()[-1].card)
    # The person signs in but the sign-in does no MFA (Entra documents no claims request for amr): PIM refuses again.
    status, _ = await stack.sign_in(stack.sign_in_link(), ALICE.oid, mfa=False)
    assert status == 200
    messages = await stack.connector.wait_for(2)
    refusal = messages[-1].card
    text = json.dumps(refusal, ensure_ascii=False)
    assert "You signed in again, but PIM still refused" in text and "multi-factor" in text
    assert "authentication context with an authentication strength" in text  # what the admin can change
    [portal] = [a for a in _actions(refusal) if a["type"] == "Action.OpenUrl"]
    assert portal["url"] == PIM_ACTIVATE_URL and not is_step_up_card(refusal)
    assert not stack.activations(PRIVILEGED_ROLE_ADMINS)
    # Asking again gets the same plain answer, not another sign-in.
    await stack.say("activate Privileged-Role-Admins 30m because x")
    again = stack.connector.messages()[-1].card
    assert "You signed in again" in json.dumps(again) and not is_step_up_card(again)
    assert len(stack.connector.messages()) == 3
    # Once that sign-in's token has expired, the refusal is of another token: a new sign-in is a first try again.
    stack.sim.tenant.clock.advance(timedelta(hours=1))
    await stack.say("activate Privileged-Role-Admins 30m because x")
    assert is_step_up_card(stack.connector.messages()[-1].card)


async def test_a_context_still_refused_after_the_step_up_is_explained_not_asked_again(stack: StepUpStack) -> None:
    await stack.say("activate Finance-Prod 30m because x")
    status, _ = await stack.sign_in(stack.sign_in_link(), ALICE.oid, mfa=False)  # no MFA: no acrs c1 either
    assert status == 200
    messages = await stack.connector.wait_for(2)
    text = json.dumps(messages[-1].card, ensure_ascii=False)
    assert "did not satisfy the Conditional Access authentication context “Sensitive admin actions”" in text
    assert not is_step_up_card(messages[-1].card) and not stack.activations(FINANCE_PROD)


async def test_a_new_requirement_after_a_step_up_gets_its_own_sign_in(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    await stack.sign_in(stack.sign_in_link(), ALICE.oid)  # with MFA: activated
    await stack.connector.wait_for(2)
    # Finance-Prod wants the authentication context, which that sign-in did not ask for: a new step-up, not a refusal.
    await stack.say("activate Finance-Prod 30m because x")
    assert is_step_up_card(stack.connector.messages()[-1].card)


async def test_signing_in_as_someone_else_is_refused(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    status, page = await stack.sign_in(stack.sign_in_link(), BOB.oid)
    assert status == 403 and "different account" in page
    assert not stack.activations(PRIVILEGED_ROLE_ADMINS)
    assert len(stack.connector.messages()) == 1  # only the sign-in card


async def test_expired_or_unknown_link(stack: StepUpStack) -> None:
    async with stack.http.get(stack.server.make_url("/auth/stepup/start?state=nope")) as r:
        assert r.status == 400


async def test_a_sign_in_link_opened_while_entra_is_unreachable_says_so_and_still_works_later(
    stack: StepUpStack,
) -> None:
    """Entra's metadata cannot be read when the link is opened (the step-up's msal client is built then): a kind page
    that says so (503, as the outage is not the user's doing, never a traceback), and the link is not used up; once
    Entra answers, the same link signs in."""
    await stack.say(ACTIVATE_MFA_GROUP)
    link = stack.sign_in_link()
    outage = {"path": "/.well-known/openid-configuration$", "status": 503, "times": None}
    async with stack.http.post(f"{stack.sim.control_url}/faults", json=outage) as r:
        assert r.status in (200, 201), await r.text()
    async with stack.http.get(link, allow_redirects=False) as r:
        page = await r.text()
        assert r.status == 503 and r.headers.get("Retry-After") == "60"
        assert "cannot reach" in page and "Traceback" not in page
    stack.sim.tenant.faults.clear()
    status, page = await stack.sign_in(link, ALICE.oid)
    assert status == 200 and "close this window" in page
    await stack.connector.wait_for(2)
    assert len(stack.activations(PRIVILEGED_ROLE_ADMINS)) == 1


async def test_kept_token_serves_only_its_user(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    await stack.sign_in(stack.sign_in_link(), ALICE.oid)
    await stack.connector.wait_for(2)
    # Bob asks for the same group: Alice's kept token is never used for him (nothing is written for him).
    async with stack.http.post(
        stack.server.make_url("/api/messages"),
        json=act.message(stack.connector.url, "activate Privileged-Role-Admins 30m because y", BOB),
    ) as r:
        assert r.status in (200, 201)
    last = stack.connector.messages()[-1].card
    assert last is not None and "Active" not in str(last.get("body", [])[0])
    assert [r.principal_id for r in stack.activations(PRIVILEGED_ROLE_ADMINS)] == [ALICE.oid]


# -- login_hint: the user's UPN as Graph knows it (read app-only, kept an hour), or no hint at all: never
# `login_hint=` with nothing after it --


async def authorize_query(stack: StepUpStack) -> dict[str, list[str]]:
    """Ask for an MFA group, follow the sign-in card's link to the bot's start page: the query it sends Entra."""
    await stack.say(ACTIVATE_MFA_GROUP)
    async with stack.http.get(stack.sign_in_link(), allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return parse_qs(urlsplit(r.headers["Location"]).query, keep_blank_values=True)


def upn_reads(stack: StepUpStack) -> int:
    return int(stack.sim.tenant.stats.by_route["GET users/{id}"])


async def test_the_sign_in_suggests_the_users_upn_read_from_graph_once(stack: StepUpStack) -> None:
    query = await authorize_query(stack)
    assert query["login_hint"] == ["alice@contoso.test"]
    assert upn_reads(stack) == 1
    query = await authorize_query(stack)  # a second step-up within the hour: the UPN is not read again
    assert query["login_hint"] == ["alice@contoso.test"]
    assert upn_reads(stack) == 1


async def test_no_hint_at_all_when_graph_will_not_say(stack: StepUpStack) -> None:
    app = stack.sim.tenant.apps[stack.sim.client_id.lower()]
    app.roles = frozenset(r for r in seed.APP_ROLES if r not in ("User.Read.All", "User.ReadBasic.All"))
    query = await authorize_query(stack)
    assert "login_hint" not in query and "claims" in query  # the sign-in itself goes ahead
    await stack.say(ACTIVATE_MFA_GROUP)
    status, _ = await stack.sign_in(stack.sign_in_link(), ALICE.oid)
    assert status == 200


@pytest.mark.parametrize("status", [404, 503])
async def test_no_hint_at_all_when_graph_does_not_know_the_user_or_fails(stack: StepUpStack, status: int) -> None:
    fault = {"method": "GET", "path": f"/v1.0/users/{ALICE.oid}$", "status": status, "times": None}
    async with stack.http.post(f"{stack.sim.control_url}/faults", json=fault) as r:
        assert r.status in (200, 201), await r.text()
    query = await authorize_query(stack)
    assert "login_hint" not in query and "claims" in query
