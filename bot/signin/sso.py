"""User tokens through Teams SSO: the Azure Bot's OAuth connection and the Bot Framework token service.

Flow (teams-platform.md §4.2, §4.3):
1. A PIM write asks `SsoTokenProvider.token_for` for the user's token. The provider reads it from the token service
   (`UserTokenClient.get_user_token`), checks that it is the acting user's (`core.binding.require_binding`: token
   `oid`/`tid` == activity `aadObjectId`/tenant) and hands it over; with no token it raises `SignInRequired`.
2. The bot then keeps the command that needed the token (bot.signin.state.PendingCommands) and sends an OAuthCard
   (`oauth_card`) built from `UserTokenClient.get_sign_in_resource`; for an Action.Execute click it answers with a
   loginRequest instead.
3. The Teams client either exchanges its SSO token silently (`signin/tokenExchange`, or the re-sent click's
   `value.authentication`) → `exchange`; or, after the button sign-in, sends the magic code (`signin/verifyState`, or
   the re-sent click's `value.state`) → `redeem`.
4. The kept command is taken once and run again (bot.signin.rounds): the user does not retype it.

Why the token client is per turn: botbuilder puts a `UserTokenClient` on each turn
(`turn_state[CloudAdapterBase.USER_TOKEN_CLIENT_KEY]`), authenticated for the bot that turn is addressed to. So the
provider is built per turn (`SsoSignIn.provider`) and handed to `PimService.with_tokens`; core stays free of
botbuilder.

Deduplication (two Teams clients, two bot instances, or a retry send the same `signin/tokenExchange`): as in
botbuilder's `TeamsSSOTokenExchangeMiddleware`, an item keyed by channel, conversation and exchange id is created only
if it does not exist (`put_if(…, None)` on the store that instances share); every later claim gets a Conflict. Unlike
the middleware, the claim is taken *before* the exchange, so duplicates never reach the token service ("exactly one
exchange"); a failed exchange drops its claim, so a retry (or the next client) can try again and gets its own 412. A
duplicate arriving while the first is still exchanging is answered 200 even if that first exchange then fails: the
first client shows the sign-in button.

Storage key (bot.store.keys): `token_exchange` (a claimed token exchange).

Tokens are never logged or stored by the bot: they live in the token service.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.cloud_adapter_base import CloudAdapterBase
from botbuilder.schema import ActionTypes, CardAction, OAuthCard
from botframework.connector.token_api.models import TokenExchangeRequest

from bot.observe import metrics
from bot.store import Conflict, Store
from bot.store import keys as keyspace
from bot.transport.activity import channel_of, conversation_id_of
from bot.turn import Turn
from core.binding import require_binding
from core.errors import DirectoryUnavailable, IdentityMismatch, SignInRequired
from core.models import Actor
from core.ports import Clock

__all__ = ["ExchangeResult", "SsoSignIn", "SsoTokenProvider"]

log = logging.getLogger(__name__)

SIGN_IN_TEXT = "Please sign in, so I can act as you in Entra PIM."
SIGN_IN_BUTTON = "Sign in"


def _token_of(response: Any) -> str:
    # exchange_token answers 400 with an ErrorResponse (no `token` attribute) and 404 with an empty TokenResponse.
    token = getattr(response, "token", None)
    return token if isinstance(token, str) else ""


class SsoTokenProvider:
    """`core.ports.UserTokenProvider` for one turn: the acting user's token from the Bot Framework token service."""

    def __init__(self, client: Any, connection_name: str, channel_id: str, actor: Actor) -> None:
        self._client = client
        self._connection_name = connection_name
        self._channel_id = channel_id
        self._actor = actor

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        if user_object_id.lower() != self._actor.object_id or self._client is None:
            # This provider only serves the turn's own user; anything else is a bug, and refused as such.
            raise IdentityMismatch("oid")
        try:
            response = await self._client.get_user_token(
                self._actor.channel_user_id, self._connection_name, self._channel_id, None
            )
        except Exception as e:  # msrest raises its own error kinds for HTTP and network failures
            raise DirectoryUnavailable(f"token service: {type(e).__name__}") from e
        token = _token_of(response)
        if not token:
            raise SignInRequired()
        require_binding(token, user_object_id, tenant_id)
        return token

    async def refresh(self, user_object_id: str, tenant_id: str) -> None:
        """Nothing to forget: the bot keeps no user token. The token service refreshes the token it holds once that
        has expired, so the next `token_for` asks it again."""


class ExchangeResult(Enum):
    EXCHANGED = "exchanged"
    DUPLICATE = "duplicate"  # another instance or an earlier delivery claimed this exchange
    FAILED = "failed"  # the token service would not exchange (consent needed, bad token): fall back to the button


class SsoSignIn:
    """Everything the bot does with the OAuth connection: per-turn token providers, the sign-in card, exchange and
    magic codes, sign-out."""

    def __init__(self, store: Store, connection_name: str, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.connection_name = connection_name

    @staticmethod
    def _client(turn_context: TurnContext) -> Any:
        return turn_context.turn_state.get(CloudAdapterBase.USER_TOKEN_CLIENT_KEY)

    def provider(self, turn_context: TurnContext, actor: Actor, channel_id: str) -> SsoTokenProvider:
        return SsoTokenProvider(self._client(turn_context), self.connection_name, channel_id, actor)

    # ---- the sign-in card ---------------------------------------------------------------------------------------

    async def oauth_card(self, turn: Turn) -> OAuthCard:
        """An OAuthCard with the sign-in link (button fallback) and the token exchange resource (silent SSO)."""
        metrics.SIGN_INS.labels("asked").inc()
        resource = await self._client(turn.context).get_sign_in_resource(self.connection_name, turn.activity, None)
        exchange = resource.token_exchange_resource
        return OAuthCard(
            text=SIGN_IN_TEXT,
            connection_name=self.connection_name,
            buttons=[CardAction(type=ActionTypes.signin, title=SIGN_IN_BUTTON, value=resource.sign_in_link)],
            # A plain dict: OAuthCard types it "object", which msrest would not serialise from a model.
            token_exchange_resource=exchange.serialize() if exchange is not None else None,
        )

    # ---- completing a sign-in -----------------------------------------------------------------------------------

    async def exchange(self, turn: Turn, exchange_id: str, token: str) -> ExchangeResult:
        """Exchange the Teams client's SSO token for the connection's token, once per exchange id (module doc); an
        empty `exchange_id` (a re-sent click's token) is not deduplicated."""
        channel_id = channel_of(turn.activity)
        key = keyspace.token_exchange(channel_id, conversation_id_of(turn.activity), exchange_id)
        if exchange_id:
            try:
                await self._store.put_if(key, {"at": self._clock.now().isoformat()}, None)
            except Conflict:
                log.info("token exchange %s already handled elsewhere", exchange_id)
                return ExchangeResult.DUPLICATE
        try:
            response = await self._client(turn.context).exchange_token(
                turn.actor.channel_user_id, self.connection_name, channel_id, TokenExchangeRequest(token=token)
            )
            exchanged = bool(_token_of(response))
        except Exception as e:
            log.warning("token exchange failed: %s", type(e).__name__)
            exchanged = False
        if not exchanged:
            metrics.SIGN_INS.labels("exchange_failed").inc()
            if exchange_id:
                await self._store.delete(key)
            return ExchangeResult.FAILED
        metrics.SIGN_INS.labels("exchanged").inc()
        return ExchangeResult.EXCHANGED

    async def redeem(self, turn: Turn, magic_code: str) -> bool:
        """The button sign-in's magic code → the user's token is now in the token service."""
        try:
            response = await self._client(turn.context).get_user_token(
                turn.actor.channel_user_id, self.connection_name, channel_of(turn.activity), magic_code
            )
        except Exception as e:
            log.warning("magic code redemption failed: %s", type(e).__name__)
            response = None
        redeemed = response is not None and bool(_token_of(response))
        metrics.SIGN_INS.labels("code_redeemed" if redeemed else "code_failed").inc()
        return redeemed

    async def sign_out(self, turn: Turn) -> None:
        client = self._client(turn.context)
        await client.sign_out_user(turn.actor.channel_user_id, self.connection_name, channel_of(turn.activity))
