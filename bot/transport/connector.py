"""Outbound Bot Connector calls on one shared aiohttp session, instead of botbuilder's per-turn ConnectorClient.

Why: botbuilder 4.17.1 builds a new msrest ConnectorClient (and a UserTokenClient) for every inbound activity; their
retry-policy construction alone costs most of a turn's ~28 ms of CPU, and msrest then sends the reply through blocking
`requests` in a thread pool. `FastBotFrameworkAuthentication` keeps botbuilder's inbound JWT validation untouched and
only swaps the connector factory for `AiohttpConnectorFactory`: its `AiohttpConnectorClient`s speak the same v3 REST API
asynchronously on the app's aiohttp session, one per (service URL, audience). Their duck-typed `conversations` offers
the operations CloudAdapter and our code call (reply, send, update, delete, create conversation, get member).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from botbuilder.schema import (
    Activity,
    ConversationParameters,
    ConversationResourceResponse,
    ResourceResponse,
)
from botbuilder.schema.teams import TeamsChannelAccount
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)

from bot.jsontext import json_bytes
from bot.observe import metrics
from bot.transport.sendlimit import ConversationLimiter
from bot.transport.wire import to_json

__all__ = ["ConnectorError", "FastBotFrameworkAuthentication", "AiohttpConnectorClient", "AiohttpConnectorFactory"]

log = logging.getLogger(__name__)

TokenSource = Callable[[str], Awaitable[str | None]]  # audience -> bearer token (None: anonymous/dev mode)

_RETRYABLE = {412, 429, 502, 503, 504}
MAX_RETRY_AFTER = 60.0  # seconds: a Retry-After longer than this is not waited for in a send; the send fails


class ConnectorError(Exception):
    def __init__(self, status: int, body: str, method: str, path: str) -> None:
        super().__init__(f"Bot Connector {method} {path} answered {status}: {body[:300]}")
        self.status, self.body = status, body


class _Conversations:
    def __init__(self, client: AiohttpConnectorClient) -> None:
        self._c = client

    async def reply_to_activity(self, conversation_id: str, activity_id: str, activity: Activity) -> ResourceResponse:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        body = await self._c.request("POST", path, to_json(activity), conversation_id=conversation_id)
        return ResourceResponse(id=body.get("id"))

    async def send_to_conversation(self, conversation_id: str, activity: Activity) -> ResourceResponse:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities"
        body = await self._c.request("POST", path, to_json(activity), conversation_id=conversation_id)
        return ResourceResponse(id=body.get("id"))

    async def update_activity(self, conversation_id: str, activity_id: str, activity: Activity) -> ResourceResponse:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        body = await self._c.request("PUT", path, to_json(activity), conversation_id=conversation_id)
        return ResourceResponse(id=body.get("id"))

    async def delete_activity(self, conversation_id: str, activity_id: str) -> None:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        await self._c.request("DELETE", path, None)  # counts against the app's cap only (Teams lists no thread limit)

    async def create_conversation(self, parameters: ConversationParameters) -> ConversationResourceResponse:
        payload = to_json(parameters)
        # A new post in a channel counts against the channel (Teams limits "create conversation" per thread too);
        # a new 1:1 chat has no conversation yet to count against, only the app's cap.
        channel = ((payload.get("channelData") or {}).get("channel") or {}).get("id")
        body = await self._c.request("POST", "v3/conversations", payload, conversation_id=channel or None)
        return ConversationResourceResponse().deserialize(body)

    async def get_conversation_member(self, conversation_id: str, member_id: str) -> TeamsChannelAccount:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/members/{quote(member_id, safe='')}"
        return TeamsChannelAccount().deserialize(await self._c.request("GET", path, None))


class AiohttpConnectorClient:
    """The subset of botframework's ConnectorClient the bot uses, on a shared aiohttp session.

    Every call waits its turn in `limiter` (one per process, shared by every client): Teams' per-app cap over all
    conversations, and for sends and updates their conversation's limits too. 412/429/502/503/504 are retried,
    `attempts` times at most: after Retry-After when Teams gives one (a 429 holds the whole conversation that long),
    else after exponential backoff with jitter. The limiter's clock and sleep are the ones the retries use, so tests
    run minutes of backoff in no time."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        service_url: str,
        audience: str,
        token: TokenSource,
        attempts: int = 3,
        limiter: ConversationLimiter | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self._session = session
        self.service_url = service_url.rstrip("/") + "/"
        self._audience = audience
        self._token = token
        self._attempts = attempts
        self.limiter = limiter if limiter is not None else ConversationLimiter()
        self.conversations = _Conversations(self)

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None, *, conversation_id: str | None = None
    ) -> dict[str, Any]:
        """One Bot Connector call; it counts against the app's cap, and against the limits of `conversation_id` when
        given (sends and updates)."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        bearer = await self._token(self._audience)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        url = self.service_url + path
        data = json_bytes(body) if body is not None else None  # once, for every attempt
        operation = metrics.connector_operation(method, path)
        for attempt in range(1, self._attempts + 1):
            await self.limiter.acquire(conversation_id)
            try:
                async with self._session.request(method, url, data=data, headers=headers) as resp:
                    text = await resp.text()
            except Exception:  # no answer (refused, reset, timed out): the call did not reach Teams
                metrics.CONNECTOR_FAILURES.labels(operation).inc()
                raise
            metrics.child(metrics.CONNECTOR_REQUESTS, operation, str(resp.status)).inc()
            if resp.status < 300:
                return _json_object(text)
            if resp.status == 429:
                metrics.CONNECTOR_THROTTLED.labels(operation).inc()
            retry_after = _retry_after(resp.headers.get("Retry-After"), now=datetime.now(UTC))
            if resp.status not in _RETRYABLE:
                metrics.CONNECTOR_FAILURES.labels(operation).inc()
                raise ConnectorError(resp.status, text, method, path)
            if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                log.error(
                    "Bot Connector %s %s answered %s with Retry-After %.0fs; not waiting that long, giving up",
                    method,
                    path,
                    resp.status,
                    retry_after,
                )
                metrics.CONNECTOR_FAILURES.labels(operation).inc()
                raise ConnectorError(resp.status, text, method, path)
            if attempt == self._attempts:
                log.error(
                    "Bot Connector %s %s still answered %s after %d attempts; giving up",
                    method,
                    path,
                    resp.status,
                    attempt,
                )
                metrics.CONNECTOR_FAILURES.labels(operation).inc()
                raise ConnectorError(resp.status, text, method, path)
            delay = retry_after if retry_after is not None else _backoff(attempt)
            log.warning("Bot Connector %s %s answered %s; retrying in %.2fs", method, path, resp.status, delay)
            if resp.status == 429 and conversation_id is not None:
                self.limiter.hold(conversation_id, delay)  # the other sends to this conversation wait too
            await self.limiter.sleep(delay)
        raise AssertionError("unreachable")


def _json_object(text: str) -> dict[str, Any]:
    """A success's body as a JSON object; {} when empty or not an object (a 201 with no body, a bare id)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def _backoff(attempt: int) -> float:
    backoff: float = min(0.25 * 2 ** (attempt - 1), 4.0)
    return backoff * (0.5 + random.random())  # exponential backoff with jitter


class AiohttpConnectorFactory(ConnectorFactory):
    """Caches one client per (service URL, audience); all of them share one `ConversationLimiter`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: TokenSource,
        default_audience: str,
        limiter: ConversationLimiter | None = None,
    ) -> None:
        self._session = session
        self._token = token
        self._default_audience = default_audience
        self.limiter = limiter if limiter is not None else ConversationLimiter()
        self._clients: dict[tuple[str, str], AiohttpConnectorClient] = {}

    async def create(self, service_url: str, audience: str | None = None) -> AiohttpConnectorClient:
        key = (service_url, audience or self._default_audience)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = AiohttpConnectorClient(
                self._session, service_url, key[1], self._token, limiter=self.limiter
            )
        return client


class FastBotFrameworkAuthentication(BotFrameworkAuthentication):
    """Delegates authentication to botbuilder; replaces only the outbound connector and caches the token client."""

    def __init__(
        self,
        inner: BotFrameworkAuthentication,
        session: aiohttp.ClientSession,
        token: TokenSource,
        default_audience: str = "https://api.botframework.com",
        limiter: ConversationLimiter | None = None,
    ) -> None:
        self._inner = inner
        self._factory = AiohttpConnectorFactory(session, token, default_audience, limiter)
        self._token, self._default_audience = token, default_audience
        self._user_token_clients: dict[str, UserTokenClient] = {}

    @property
    def limiter(self) -> ConversationLimiter:
        """The process's Teams send limiter: every outbound send and update waits its turn here."""
        return self._factory.limiter

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._factory
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._factory

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        # The token client's msrest credentials take the bot's token synchronously, on the loop: make sure a fresh
        # one is kept in memory first (free while it is; fetched in a worker thread when near expiry —
        # bot/transport/credentials.py).
        try:
            await self._token(self._default_audience)
        except Exception as e:  # the token service call will try again, and fail there if it must
            log.warning("could not refresh the bot's token before the turn: %s", type(e).__name__)
        # Built lazily and once per app id: the stock path builds an msrest client (and its retry policy) per turn.
        app_id = str(claims_identity.claims.get("aud") or claims_identity.claims.get("appid") or "")
        client = self._user_token_clients.get(app_id)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._user_token_clients[app_id] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
