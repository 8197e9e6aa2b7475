"""A small async client for the Microsoft 365 Agents Playground's HTTP + WebSocket API (0.2.28).

What a Teams user does, without a browser: send a message (always as the Playground's currentUser), click an
Action.Submit (`/_conversation/v1/submit`) or an Action.Execute (`/_conversation/v1/invoke`, which answers with the
bot's invoke response). The bot's messages come back over `/_ws_conversation/v1/conversations/stream`; a reader task
pumps them into a queue and `next_card()` waits on it with a timeout (no fixed sleeps).

The Playground buffers bot messages while no WebSocket client is connected and flushes them to the *first* client;
`sync()` drains that history up to a marker reply, so a test only ever sees replies to what it sent.
Reference: /work/shared/reference/local-clients.md §3.3.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from devtools.stack import DEMO_USERS, PLAYGROUND_BOT_ID

CARD = "application/vnd.microsoft.card.adaptive"
PERSONAL = "personal-chat-alice"  # devtools.stack.write_playground_config
BOT_ID = PLAYGROUND_BOT_ID


@dataclass
class BotMessage:
    conversation_id: str
    message_id: str
    text: str
    card: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)


class PlaygroundClient:
    def __init__(
        self,
        base_url: str,
        http: aiohttp.ClientSession,
        *,
        me: str = DEMO_USERS[0].id,
        bot_name: str = "PIM Bot",
        diagnostics: Callable[[], str] = lambda: "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.me = me
        self.bot_name = bot_name
        self.diagnostics = diagnostics  # e.g. the bot log's tail, added to timeout messages
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        self._ws = await self.http.ws_connect(f"{self.base_url}/_ws_conversation/v1/conversations/stream", heartbeat=20)
        self._reader = asyncio.create_task(self._pump(self._ws))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        if self._ws is not None:
            await self._ws.close()

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                try:
                    await self.events.put(json.loads(frame.data))
                except ValueError:
                    continue
            elif frame.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                break
        await self.events.put({"action": "_closed"})

    # ---- user actions --------------------------------------------------------------------------------------

    async def say(self, text: str, conversation: str = PERSONAL, *, mention: bool = False) -> dict[str, Any]:
        """Send `text` as the current user. With mention=True the bot is @mentioned (needed in channels and group
        chats, where the Playground forwards nothing to the bot otherwise). Returns {messageId, postConversationId?}."""
        body: dict[str, Any] = {"from": {"id": self.me}, "text": text, "textFormat": "plain"}
        if mention:
            tag = f"<at>{self.bot_name}</at>"
            body["text"] = f"{tag} {text}"
            body["mentions"] = [{"mentioned": {"id": BOT_ID, "name": self.bot_name}, "text": tag}]
        return await self._post_json(f"/_conversation/v1/conversations/{conversation}/messages", body)

    async def submit(self, reply_to: str, value: dict[str, Any], conversation: str = PERSONAL) -> None:
        """Click an Action.Submit: the bot gets a message whose value is the action's data merged with the inputs."""
        body = {"conversation": {"id": conversation}, "from": {"id": self.me}, "replyToId": reply_to, "value": value}
        await self._post_json("/_conversation/v1/submit", body)

    async def invoke(
        self, reply_to: str, verb: str, data: dict[str, Any], conversation: str = PERSONAL
    ) -> dict[str, Any]:
        """Click an Action.Execute; returns the bot's invoke response ({type, value})."""
        body = {
            "name": "adaptiveCard/action",
            "conversation": {"id": conversation},
            "from": {"id": self.me},
            "replyToId": reply_to,
            "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
        }
        result: dict[str, Any] = await self._post_json("/_conversation/v1/invoke", body)
        return result

    async def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.base_url}{path}", json=body) as r:
            text = await r.text()
            assert r.status == 200, f"POST {path} -> {r.status}: {text}\n{self.diagnostics()}"
            return json.loads(text) if text else None

    # ---- bot replies ---------------------------------------------------------------------------------------

    async def next_message(self, within: float = 20, conversation: str | None = PERSONAL) -> BotMessage:
        """The bot's next message (typing indicators skipped) in `conversation` (None: any)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            try:
                event = await asyncio.wait_for(self.events.get(), max(remaining, 0))
            except TimeoutError:
                raise AssertionError(
                    f"no bot message in {conversation or 'any conversation'} within {within:.0f}s\n{self.diagnostics()}"
                ) from None
            if event.get("action") == "_closed":
                raise AssertionError(f"the Playground closed the WebSocket\n{self.diagnostics()}")
            if event.get("action") != "createMessage":
                continue
            conv = str(event.get("actionConversationId") or "")
            if conversation is not None and conv != conversation:
                continue
            message = event.get("message") or {}
            cards = [a.get("content") for a in message.get("attachments") or [] if a.get("contentType") == CARD]
            card = cards[0] if cards else None
            return BotMessage(conv, str(message.get("messageId")), message.get("text") or "", card, event)

    async def next_card(self, within: float = 20, conversation: str | None = PERSONAL) -> BotMessage:
        """The bot's next message, which must carry an Adaptive Card (a text-only reply fails with its text)."""
        message = await self.next_message(within, conversation)
        assert message.card is not None, (
            f"the bot answered with text, not a card: {message.text!r}\n" + self.diagnostics()
        )
        return message

    def drain(self) -> list[dict[str, Any]]:
        """Drop whatever is queued now (without waiting)."""
        dropped = []
        while not self.events.empty():
            dropped.append(self.events.get_nowait())
        return dropped

    async def sync(self, within: float = 30) -> None:
        """Drain everything up to the reply to a unique marker message, buffered history included.

        The bot answers an unknown word with its help card quoting that word, so the marker's reply is recognisable
        and everything before it is old.
        """
        marker = f"sync-{uuid.uuid4().hex[:10]}"
        await self.say(marker)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            message = await self.next_message(max(deadline - loop.time(), 0.1))
            if marker in json.dumps(message.card or {}, ensure_ascii=False):
                return
