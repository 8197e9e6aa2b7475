"""The sign-in round trips of a turn: a command that needs the user's token (Teams SSO) or a stronger one (step-up)
is kept, the user is sent a sign-in card, and once they have signed in the command runs again through `Resume`, the
router's callback — the user does not retype it.

* Teams SSO: `ask` keeps the command and sends the OAuthCard (or `login_request` answers a click's invoke with a
  loginRequest); the client's `signin/tokenExchange` / `signin/verifyState` (`complete`) or the re-sent click
  (`complete_click`) puts the user's token in the token service; the kept command then runs in that same turn.
* Step-up: an activation refused for want of MFA or an authentication context (`step_up_of`) keeps the command and
  sends a card with the step-up page's link (`ask_step_up`, `begin_step_up`); the page (bot.signin.stepup) calls
  `after_step_up`, which runs the command in a proactive turn of its conversation (bot.transport.ProactiveAdapter).
* Either way the last sign-in card sent to the user is retired ("You're signed in") once they are signed in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from botbuilder.core import CardFactory, InvokeResponse, TurnContext
from botbuilder.schema import TokenExchangeInvokeResponse

import cards
from bot.signin.sso import ExchangeResult, SsoSignIn
from bot.signin.state import PendingCommand, PendingCommands, SignInCard, SignInCards
from bot.signin.stepup import Carried, StepUp
from bot.store import Store
from bot.transport import ProactiveAdapter
from bot.transport.activity import channel_of, sign_in_value
from bot.turn import Turn, UserInput, invoke_answer, invoke_done
from cards import wording
from cards.elements import JsonDict
from core.errors import IdentityMismatch, StepUpInsufficient, StepUpRequired
from core.models import Actor
from core.outcomes import Outcome, Refused
from core.ports import Clock
from core.service import PimService

__all__ = ["MISMATCH", "Resume", "SignIns"]

log = logging.getLogger(__name__)

Resume = Callable[[TurnContext, Actor, UserInput], Awaitable[None]]
"""The router's way to run a kept command again: in the turn of `context`, for `actor`, as if they had just sent it
(bot.handler.PimBot's dispatch)."""

MISMATCH = (
    "I did not do that: the sign-in I received belongs to a different account than the one you use in Teams, "
    "so nothing was changed. Type `logout`, then try again and sign in as yourself."
)
SIGNED_IN = "You're signed in."
SIGN_IN_FAILED = "That sign-in did not complete, so nothing was changed. Send your request again to get a new sign-in."
SIGNED_OUT = "You're signed out. I'll ask you to sign in again the next time I need to act as you."
NO_SIGN_IN = "There is nothing to sign out of: this bot uses the simulated tenant's tokens."
LOGIN_REQUEST = "application/vnd.microsoft.activity.loginRequest"
PRECONDITION_FAILED = "application/vnd.microsoft.error.preconditionFailed"
INVALID_AUTH_CODE = "application/vnd.microsoft.error.invalidAuthCode"


class SignIns:
    """The round trips (module doc). `sso` None: user tokens come from the service's own provider (the simulated
    tenant) and nobody is asked to sign in; `step_up` None: no step-up page (PUBLIC_BASE_URL unset)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        service: PimService,
        proactive: ProactiveAdapter,
        resume: Resume,
        *,
        sso: SsoSignIn | None = None,
        step_up: StepUp | None = None,
    ) -> None:
        self._clock = clock
        self._service = service
        self._proactive = proactive
        self._resume = resume
        self._sso = sso
        self._step_up = step_up
        self._pending = PendingCommands(store, clock)
        self._cards = SignInCards(store)
        if step_up is not None:
            step_up.attach(self.after_step_up)

    def service_for(self, context: TurnContext, actor: Actor) -> PimService:
        """The PimService acting as `actor` in this turn: with Teams SSO, their token from the turn's token service
        (a kept step-up token first)."""
        if self._sso is None:
            return self._service
        provider = self._sso.provider(context, actor, channel_of(context.activity))
        if self._step_up is not None:  # a kept step-up token first, for this user only
            return self._service.with_tokens(self._step_up.tokens(provider))
        return self._service.with_tokens(provider)

    # ---- Teams SSO ------------------------------------------------------------------------------------------------

    async def ask(self, turn: Turn, said: UserInput) -> None:
        """Keep the command for after the sign-in, then send the OAuthCard (silent SSO in Teams, else its button).
        Only in the user's 1:1 chat: the router never asks elsewhere."""
        if self._sso is None:
            log.error("a token provider asked for a sign-in, but SSO is not configured (activity %s)", turn.activity.id)
            await turn.send_text(wording.SORRY)
            return
        await self._pending.remember(turn.actor, self._pending_command(turn, said))
        card = await self._sso.oauth_card(turn)
        await self._remember_card(turn, await turn.send_attachment(CardFactory.oauth_card(card)))

    async def login_request(self, turn: Turn) -> InvokeResponse:
        """The answer to a click that needs a sign-in: Teams shows the sign-in and sends the click again."""
        assert self._sso is not None  # only SSO providers ask for a sign-in
        oauth = await self._sso.oauth_card(turn)
        return invoke_answer(401, LOGIN_REQUEST, oauth.serialize())

    async def complete(self, turn: Turn) -> InvokeResponse:
        """`signin/tokenExchange` (silent SSO) or `signin/verifyState` (button + magic code), then the waiting
        command runs. A failed exchange answers 412 with a TokenExchangeInvokeResponse: Teams then shows the button."""
        activity, actor = turn.activity, turn.actor
        value = sign_in_value(activity)
        if self._sso is None or value is None:
            log.warning("ignored %s (activity %s): no SSO configured or no value", activity.name, activity.id)
            return invoke_done()
        if activity.name == "signin/tokenExchange":
            result = await self._sso.exchange(turn, value.exchange_id, value.token)
            if result is ExchangeResult.DUPLICATE:
                return invoke_done()
            if result is ExchangeResult.FAILED:
                body = TokenExchangeInvokeResponse(
                    id=value.exchange_id,
                    connection_name=self._sso.connection_name,
                    failure_detail="The bot is unable to exchange token. Proceed with regular login.",
                )
                return InvokeResponse(status=412, body=body.serialize())
        elif not await self._sso.redeem(turn, value.state):
            # invalidAuthCode is documented for an Action.Execute's `state` only, not for signin/verifyState
            # (botbuilder's OAuthPrompt answers it 404 without a word): the user is told instead.
            await turn.send_text(SIGN_IN_FAILED)
            return invoke_done()
        await self.retire_card(actor)
        await self._resume_here(turn)
        return invoke_done()

    async def complete_click(self, turn: Turn) -> InvokeResponse | None:
        """A click re-sent after a loginRequest (teams-platform.md §4.3) carries the SSO token or a magic code: the
        answer when that sign-in failed, None when the click may go on (signed in, or nothing to complete)."""
        value = sign_in_value(turn.activity)
        if value is None or self._sso is None:
            return None
        if value.token:
            result = await self._sso.exchange(turn, "", value.token)
            if result is not ExchangeResult.EXCHANGED:
                failed = {"code": "412", "message": "The bot could not use that sign-in."}
                return invoke_answer(412, PRECONDITION_FAILED, failed)
        elif not await self._sso.redeem(turn, value.state):
            # The magic code was wrong: the Teams docs' answer for an incorrect `state`, with no value
            # (authentication-flow-in-universal-action-for-adaptive-cards); the client may prompt again.
            return invoke_answer(401, INVALID_AUTH_CODE)
        await self.retire_card(turn.actor)
        return None

    async def sign_out(self, turn: Turn) -> None:
        if self._sso is None:
            await turn.send_text(NO_SIGN_IN)
            return
        await self._sso.sign_out(turn)
        await turn.send_text(SIGNED_OUT)

    async def _resume_here(self, turn: Turn) -> None:
        """Run the command that waited for this sign-in, once. It runs in the conversation the sign-in came from,
        which is where the sign-in card was sent (the command's own conversation)."""
        pending = await self._pending.take(turn.actor)
        if pending is None:
            await turn.send_text(SIGNED_IN)
            return
        log.info("resuming a command of %s after sign-in (activity %s)", turn.actor.object_id, turn.activity.id)
        await self._resume(turn.context, pending.actor_style(turn.actor), pending.input)

    # ---- step-up ------------------------------------------------------------------------------------------------

    def settle(self, actor: Actor, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """A step-up refusal for a requirement the user's completed step-up sign-in already answered becomes
        `StepUpInsufficient`: PIM refused that sign-in's token, so offering another would loop."""
        if self._step_up is None:
            return list(outcomes)
        settled: list[Outcome] = []
        for o in outcomes:
            if isinstance(o, Refused) and isinstance(o.error, StepUpRequired):
                if self._step_up.completed_for(actor, o.error):
                    log.warning("PIM refused %s again after a completed step-up sign-in", actor.object_id)
                    o = replace(o, error=StepUpInsufficient(o.error))
            settled.append(o)
        return settled

    def step_up_of(self, outcomes: Sequence[Outcome]) -> Refused | None:
        """The first refusal that a step-up sign-in can cure, if step-up is on."""
        if self._step_up is None:
            return None
        return next((o for o in outcomes if isinstance(o, Refused) and isinstance(o.error, StepUpRequired)), None)

    async def begin_step_up(self, turn: Turn, refused: Refused, said: UserInput) -> str:
        """Keep the command and hand out a step-up link; the link, for the step-up card."""
        assert self._step_up is not None and isinstance(refused.error, StepUpRequired)
        await self._pending.remember(turn.actor, self._pending_command(turn, said))
        hint = await self._service.sign_in_hint(turn.actor.object_id)
        return await self._step_up.begin(turn.actor, refused.error, login_hint=hint)

    def step_up_card(self, refused: Refused, url: str) -> JsonDict:
        assert isinstance(refused.error, StepUpRequired)
        return cards.step_up_card(refused.error, refused.group_name, url)

    async def ask_step_up(self, turn: Turn, refused: Refused, said: UserInput) -> None:
        """The step-up card as a message of its own."""
        url = await self.begin_step_up(turn, refused, said)
        await self._remember_card(turn, await turn.send_card(self.step_up_card(refused, url)))

    async def shown_in_place(self, turn: Turn) -> None:
        """The answer to the clicked card (an invoke) was the step-up card: that activity is now the sign-in card."""
        await self._remember_card(turn, turn.activity.reply_to_id)

    async def after_step_up(self, actor: Actor) -> Carried:
        """The step-up page signed `actor` in: the step-up card gives way to "signed in", and the command that waited
        runs in its own conversation (a proactive turn). Raising there is reported, not botbuilder's on_turn_error:
        the page then tells the person it could not carry on."""
        await self.retire_card(actor)
        pending = await self._pending.take(actor)
        if pending is None:
            return Carried.NOTHING_WAITING
        actor = pending.actor_style(actor)

        async def run(context: TurnContext) -> None:
            log.info("resuming a command of %s after step-up sign-in", actor.object_id)
            await self._resume(context, actor, pending.input)

        try:
            await self._proactive.continue_as(pending.reference, run)
        except Exception:
            log.exception("could not resume the command of %s after step-up", actor.object_id)
            return Carried.NOT_CARRIED_ON
        return Carried.CARRIED_ON

    # ---- the sign-in card -----------------------------------------------------------------------------------------

    async def _remember_card(self, turn: Turn, activity_id: str | None) -> None:
        """The sign-in card just shown in this turn's conversation, to retire once the user has signed in."""
        if activity_id:
            await self._cards.remember(turn.actor, SignInCard(activity_id, turn.reference))

    async def retire_card(self, actor: Actor) -> None:
        """The user has signed in (Teams SSO, or the step-up page): their last sign-in card becomes "You're signed
        in", so its button is not offered again. Its trouble never costs the sign-in its command."""
        shown = await self._cards.take(actor)
        if shown is None:
            return
        try:
            await self._proactive.update_card(shown.reference, shown.activity_id, cards.signed_in_card(actor.name))
        except Exception:
            log.warning("could not retire the sign-in card %s", shown.activity_id, exc_info=True)

    def _pending_command(self, turn: Turn, said: UserInput) -> PendingCommand:
        return PendingCommand(said, turn.reference, self._clock.now(), turn.actor.time_zone, turn.actor.locale)


def log_mismatch(context: TurnContext, actor: Actor | None, error: IdentityMismatch) -> None:
    """Which claim of a delegated token differed from the Teams user, never the token or the identity it names."""
    log.warning(
        "refused a PIM write: the delegated token's %s does not match user %s in tenant %s (activity %s)",
        error.claim,
        actor.object_id if actor else "?",
        actor.tenant_id if actor else "?",
        context.activity.id,
    )
