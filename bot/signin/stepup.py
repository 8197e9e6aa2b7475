"""Step-up sign-in: when PIM wants MFA or a Conditional Access authentication context the user's token lacks.

Flow (teams-platform.md §4.6, graph-pim-groups.md §8):
1. An activation ends in `StepUpRequired` (MfaRule, or RoleAssignmentRequestAcrsValidationFailed with the claims
   request read from the refusal or built from the policy's authentication-context rule). bot.signin.rounds keeps
   the command where Teams SSO keeps its own (`signin/pending/{oid}`, taken once) and `begin` stores the link's
   record `stepup/state/{state}` (bot.signin.state.StepUpLink: the user, the claims, the requirement); the card's
   Action.OpenUrl goes to `{PUBLIC_BASE_URL}/auth/stepup/start?state=…`.
2. `GET /auth/stepup/start`: the request is taken (single use, 15 minutes), msal `initiate_auth_code_flow` runs with
   the claims challenge, `login_hint` and `prompt=login`, `response_mode=form_post` (msal's recommendation: the code
   never sits in a URL); the flow is stored as `stepup/flow/{flow state}` and the browser is sent (302) to Entra.
3. `POST|GET /auth/stepup/callback`: the flow is taken (single use, ETag-guarded), msal
   `acquire_token_by_auth_code_flow` redeems the code; the token must be the user's (`require_binding`: oid/tid),
   or nothing is kept and the page says so. It is kept in memory for that user only, until it expires (never
   logged, never stored, and msal's own cache is disabled for this client), with the requirement it answered (carried
   from step 1 through `stepup/state` and `stepup/flow`); then `AfterSignIn` (bot.signin.rounds) retires the step-up
   card and runs the pending command again in its conversation (a proactive turn); the page says what became of it.
4. PIM refusing that kept token again for the same requirement (`completed_for`): the bot says so plainly
   (`StepUpInsufficient`) instead of sending another sign-in that would end the same way. Without a kept token (it
   expired, or another bot process served the sign-in) a new step-up is offered: that is a first try, not a loop.

MFA (MfaRule carries no claims): Microsoft documents claims requests for authentication contexts and client
capabilities, not for `amr` (https://learn.microsoft.com/entra/identity-platform/claims-challenge). The bot still asks
for `{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}` with `prompt=login` — a fresh sign-in in which
the tenant's own MFA settings may apply — but it cannot be sure the token will show `mfa`: point 4 ends the attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import msal
from aiohttp import web

from bot.observe import metrics
from bot.pages import Outcome, Page, redirect, respond
from bot.signin.state import StepUpFlow, StepUpLink, take
from bot.store import ANY, Store
from bot.store import keys as keyspace
from cards import wording
from core.binding import require_binding
from core.errors import IdentityMismatch, StepUpRequired
from core.models import Actor
from core.ports import Clock, UserTokenProvider

__all__ = ["AfterSignIn", "Carried", "KeptTokens", "StepUp", "StepUpPreferringTokens", "requirement_of"]

log = logging.getLogger(__name__)

REQUEST_TTL = timedelta(minutes=15)
MFA_CLAIMS = json.dumps({"access_token": {"amr": {"essential": True, "values": ["mfa"]}}}, separators=(",", ":"))
START_PATH = "/auth/stepup/start"
CALLBACK_PATH = "/auth/stepup/callback"


class _NoCache(msal.TokenCache):
    """msal keeps nothing: step-up tokens live only in KeptTokens (memory, one user each)."""

    def add(self, event: Any, now: Any = None) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Kept:
    token: str
    expires: datetime
    answers: str  # the requirement the step-up sign-in was for (`requirement_of`)


class KeptTokens:
    """Step-up tokens in memory, one per user object id, until they expire (by the bot's clock), each with the
    requirement its sign-in answered."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, _Kept] = {}

    def keep(self, object_id: str, token: str, lifetime_seconds: float, answers: str = "") -> None:
        now = self._clock.now()
        # The expired tokens go first: one is otherwise dropped only when its own user is looked up again, and each
        # user who stepped up once and did not come back kept a JWT in memory for the life of the process. A step-up
        # sign-in is rare (a person completing MFA), so a walk over the tokens of the last hour or so costs nothing.
        self._tokens = {oid: k for oid, k in self._tokens.items() if now < k.expires}
        self._tokens[object_id.lower()] = _Kept(token, now + timedelta(seconds=lifetime_seconds - 60), answers)

    def get(self, object_id: str) -> str | None:
        kept = self._kept(object_id)
        return kept.token if kept else None

    def answers(self, object_id: str) -> str | None:
        """The requirement the user's kept token was signed in for; None without a kept token."""
        kept = self._kept(object_id)
        return kept.answers if kept else None

    def _kept(self, object_id: str) -> _Kept | None:
        kept = self._tokens.get(object_id.lower())
        if kept is not None and self._clock.now() >= kept.expires:
            del self._tokens[object_id.lower()]
            return None
        return kept

    def drop(self, object_id: str) -> None:
        self._tokens.pop(object_id.lower(), None)

    def __len__(self) -> int:
        """Tokens held (expired ones not yet dropped included)."""
        return len(self._tokens)


class StepUpPreferringTokens:
    """A UserTokenProvider that hands out the user's kept step-up token if there is one, else asks `inner`."""

    def __init__(self, inner: UserTokenProvider, kept: KeptTokens) -> None:
        self._inner = inner
        self._kept = kept

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        token = self._kept.get(user_object_id)
        if token is not None:
            require_binding(token, user_object_id, tenant_id)
            return token
        return await self._inner.token_for(user_object_id, tenant_id)

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        # The refused token may be the kept step-up token or the inner one: both go, a fresh one comes from `inner`.
        self._kept.drop(user_object_id)
        await self._inner.refresh(user_object_id, tenant_id)


class Carried(Enum):
    """What became of the command that waited for a step-up sign-in (the page says so)."""

    NOTHING_WAITING = "nothing waiting"
    CARRIED_ON = "carried on"
    NOT_CARRIED_ON = "not carried on"  # it raised


# What the bot does once `actor` has signed in on the step-up page (bot.signin.rounds: retire the step-up card, run
# the waiting command); what became of that command.
AfterSignIn = Callable[[Actor], Awaitable[Carried]]

_DONE = {
    Carried.NOTHING_WAITING: wording.SIGNED_IN_NOTHING_WAITING,
    Carried.CARRIED_ON: wording.SIGNED_IN_CARRIED_ON,
    Carried.NOT_CARRIED_ON: wording.SIGNED_IN_NOT_CARRIED_ON,
}


_EXPIRED = Page(400, Outcome.EXPIRED, wording.LINK_EXPIRED, (wording.LINK_EXPIRED_TEXT,), wording.SEND_AGAIN)
# At the start the link was not used up: the same link works once Entra answers. At the callback the link is spent.
_UNREACHABLE_AT_START = Page(
    503,
    Outcome.UNAVAILABLE,
    wording.ENTRA_UNREACHABLE,
    (wording.ENTRA_UNREACHABLE_TEXT,),
    wording.ENTRA_UNREACHABLE_RETRY_LINK,
)
_UNREACHABLE_AT_CALLBACK = replace(_UNREACHABLE_AT_START, next_step=wording.ENTRA_UNREACHABLE_RETRY_REQUEST)
_INCOMPLETE = Page(
    400, Outcome.REFUSED, wording.SIGN_IN_INCOMPLETE, (wording.SIGN_IN_INCOMPLETE_TEXT,), wording.SEND_AGAIN
)
_WRONG_ACCOUNT = Page(
    403, Outcome.REFUSED, wording.WRONG_ACCOUNT, (wording.WRONG_ACCOUNT_TEXT,), wording.WRONG_ACCOUNT_NEXT
)


def _signed_in(name: str, done: str) -> Page:
    """The token is the Teams user's own (checked), so the page may name them; `done`: what became of the request."""
    text = (wording.signed_in_as(name), done) if name else (done,)
    return Page(200, Outcome.DONE, wording.SIGNED_IN, text, wording.BACK_TO_TEAMS)


class StepUp:
    """The step-up sign-in: its links, its two pages, and the tokens it got (module doc)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        public_base_url: str,
        scopes: list[str],
        msal_app: Callable[[], Awaitable[msal.ConfidentialClientApplication]],
    ) -> None:
        self._store = store
        self._clock = clock
        self._base = public_base_url.rstrip("/")
        self._scopes = scopes
        self._msal_app = msal_app
        self.kept = KeptTokens(clock)
        self._after: AfterSignIn | None = None

    def attach(self, after: AfterSignIn) -> None:
        """What the bot does after a completed step-up sign-in (bot.signin.rounds gives it: the bot is built after
        these pages, which the app routes from the start)."""
        self._after = after

    def tokens(self, inner: UserTokenProvider) -> StepUpPreferringTokens:
        return StepUpPreferringTokens(inner, self.kept)

    def completed_for(self, actor: Actor, error: StepUpRequired) -> bool:
        """Whether the token PIM just refused for `actor` is the one a completed step-up sign-in for this very
        requirement produced (a kept token is always the one used): another sign-in would be refused the same way."""
        return self.kept.answers(actor.object_id) == requirement_of(error)

    async def begin(self, actor: Actor, error: StepUpRequired, login_hint: str | None = None) -> str:
        """Store a step-up link's record; the link for the sign-in card. `login_hint`: the user's UPN, or None (Entra
        is then sent no hint at all, never an empty one)."""
        state = secrets.token_urlsafe(24)
        link = StepUpLink(
            actor, error.claims or MFA_CLAIMS, requirement_of(error), login_hint or None, self._clock.now()
        )
        await self._store.put_if(keyspace.stepup_state(state), link.to_json(), None)
        metrics.STEP_UPS.labels("started").inc()
        return f"{self._base}{START_PATH}?{urlencode({'state': state})}"

    def _fresh(self, at: datetime) -> bool:
        return self._clock.now() - at <= REQUEST_TTL

    async def _entra(self) -> msal.ConfidentialClientApplication | None:
        """The msal client, or None when Entra cannot be reached to build it (its metadata is read then)."""
        try:
            return await self._msal_app()
        except Exception as e:  # msal raises ValueError/RuntimeError, requests its own errors: all mean unreachable
            log.warning("step-up sign-in: Microsoft Entra cannot be reached (%s)", type(e).__name__)
            return None

    async def start(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "")
        # Entra first: a link opened during an outage is not used up, the same link works once Entra answers.
        app = await self._entra()
        if app is None:
            return respond(_UNREACHABLE_AT_START)
        taken = await take(self._store, keyspace.stepup_state(state)) if state else None
        link = StepUpLink.from_json(taken) if taken is not None else None  # unreadable: raises (an error page)
        if link is None or not self._fresh(link.at):
            return respond(_EXPIRED)
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow,
            self._scopes,
            redirect_uri=f"{self._base}{CALLBACK_PATH}",
            claims_challenge=link.claims,
            login_hint=link.login_hint,
            prompt="login",
            response_mode="form_post",
        )
        under_way = StepUpFlow(link.actor, link.requirement, flow, self._clock.now())
        await self._store.put_if(keyspace.stepup_flow(str(flow["state"])), under_way.to_json(), ANY)
        redirect(flow["auth_uri"])

    async def callback(self, request: web.Request) -> web.StreamResponse:
        params = dict(await request.post()) if request.method == "POST" else dict(request.query)
        response = {k: str(v) for k, v in params.items()}
        state = response.get("state", "")
        app = await self._entra()
        if app is None:
            return _ended(_UNREACHABLE_AT_CALLBACK)
        taken = await take(self._store, keyspace.stepup_flow(state)) if state else None
        under_way = StepUpFlow.from_json(taken) if taken is not None else None  # unreadable: raises (an error page)
        if under_way is None or not self._fresh(under_way.at):
            return _ended(_EXPIRED)
        actor = under_way.actor
        try:
            result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, dict(under_way.flow), response)
        except Exception as e:  # msal raises on state/nonce mismatch
            log.warning("step-up sign-in of %s failed: %s", actor.object_id, type(e).__name__)
            result = {}
        token = result.get("access_token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            log.warning("step-up sign-in of %s got no token: %s", actor.object_id, result.get("error"))
            return _ended(_INCOMPLETE)
        try:
            require_binding(token, actor.object_id, actor.tenant_id)
        except IdentityMismatch as e:
            log.warning("refused a step-up sign-in for %s: the token's %s differs", actor.object_id, e.claim)
            return _ended(_WRONG_ACCOUNT)
        lifetime = float(result.get("expires_in") or 3600)
        self.kept.keep(actor.object_id, token, lifetime, answers=under_way.requirement)
        carried = await self._after(actor) if self._after is not None else Carried.NOTHING_WAITING
        return _ended(_signed_in(actor.name, _DONE[carried]))


def _ended(page: Page) -> web.StreamResponse:
    """The step-up's last page, counted by its outcome (done, refused, expired, unavailable)."""
    metrics.STEP_UPS.labels(page.outcome.value).inc()
    return respond(page)


def requirement_of(error: StepUpRequired) -> str:
    """What a step-up answers, to tell a repeated refusal from a new one: `acrs:c1`, `mfa`, or `claims`."""
    if error.authentication_context:
        return f"acrs:{error.authentication_context}"
    return "mfa" if error.mfa else "claims"


def build_step_up_msal(
    client_id: str, secret: str, authority: str, http_client: Any, timeout: float
) -> msal.ConfidentialClientApplication:
    """Blocking (msal fetches the authority's metadata): call it in a thread."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=authority,
        instance_discovery=False,
        http_client=http_client,
        timeout=timeout,
        token_cache=_NoCache(),
        # "cp1": this client can handle claims challenges. PIM is reported to refuse an authentication-context token
        # whose client did not declare it (the access token's xms_cc claim, graph-pim-groups.md §8.2).
        client_capabilities=["cp1"],
    )
