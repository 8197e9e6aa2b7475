"""Approvers are reached whether or not they ever typed to the bot (issue 9).

`Reach.approvers` gives each approver's personal-chat reference, or why there is none:

* a reference stored from any activity of theirs: a message, or the install event Teams sends when the app is added
  for them (by themselves, by a Teams admin's setup policy, or by this bot);
* else the bot's app is installed for them through Graph (`core.reach.AppInstaller`, app-only; already installed is
  fine) and their 1:1 chat opened through the Bot Connector (`ProactiveAdapter.open_personal_chat`, a
  `create_conversation`) with the user's Entra object id,
  which Teams accepts once the app is installed for them (teams-platform.md §6; MicrosoftDocs/msteams-docs#11125).
  Where Teams refuses that (403 BotNotInConversationRoster, e.g. while an install settles), the chat Graph shows for
  the installation is used (`…/installedApps/{id}/chat`, as gravitational/teleport's msteams plugin does).

Teams then tells the bot of the installation, as of any other: the conversation is stored from it, but the welcome
(help) card is left out, since the approval card on its way is that person's first message (`installed_by_bot`). The
reference is stored, so the next request finds it; a reference Teams sent meanwhile with the install event (it
names the user's Teams id too) is kept rather than overwritten. A reference made here carries the bot and service URL
of the conversation it starts from, `origin` (the turn at hand, or a stored reference: one tenant, one region), and
the user by object id: their Teams id (`29:…`, for `refresh.userIds`) is known only once an activity of theirs
arrived.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.conversations import Conversations
from bot.transport import ProactiveAdapter, Reference
from bot.transport.connector import ConnectorError
from core.models import Actor
from core.reach import AppInstaller, Installed, Unreached

__all__ = ["Reach", "personal_reference", "teams_user_id"]

log = logging.getLogger(__name__)

OPEN_AT_ONCE = 8  # Bot Connector create_conversation calls in flight at once (each also counts against its limits)
EXPECT_INSTALL_EVENT = 120.0  # seconds an install the bot made waits for Teams' install event (see installed_by_bot)


class Reach:
    def __init__(
        self, conversations: Conversations, installer: AppInstaller | None, proactive: ProactiveAdapter
    ) -> None:
        self._conversations = conversations
        self._installer = installer
        self._proactive = proactive
        self._open_slots = asyncio.Semaphore(OPEN_AT_ONCE)
        self._installing: dict[str, float] = {}  # user id -> until when their install event is expected
        self._clock = time.monotonic

    async def approvers(
        self, origin: Reference, user_ids: Sequence[str], tenant_id: str
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Unreached]]:
        """(reference by user id, reason by user id) for every one of `user_ids`; a chat opened now starts from the
        conversation of `origin`."""
        references: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for user_id in user_ids:
            reference = await self._conversations.user_reference(user_id)
            if reference is None:
                missing.append(user_id)
            else:
                references[user_id] = reference
        if not missing:
            return references, {}
        if self._installer is None:
            return references, dict.fromkeys(missing, Unreached.NOT_INSTALLED)
        reached, unreached = await self._install_and_open(origin, missing, tenant_id)
        return references | reached, unreached

    async def _install_and_open(
        self, origin: Reference, user_ids: list[str], tenant_id: str
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Unreached]]:
        assert self._installer is not None
        bot_id = self._proactive.app_id or str(_bot(origin).get("id") or "").removeprefix("28:")
        until = self._clock() + EXPECT_INSTALL_EVENT
        self._installing.update((u.lower(), until) for u in user_ids)  # before: Teams may tell the bot at once
        installed = await self._installer.install(user_ids, bot_id)
        for user_id in user_ids:
            if not (isinstance(done := installed.get(user_id), Installed) and done.now):
                self._installing.pop(user_id.lower(), None)  # no install, no event
        unreached = {u: a for u in user_ids if isinstance(a := installed.get(u, Unreached.UNAVAILABLE), Unreached)}
        present = [u for u in user_ids if u not in unreached]
        opened = await asyncio.gather(*(self._open_personal_chat(origin, u, tenant_id) for u in present))
        chats = {u: chat for u, chat in zip(present, opened, strict=True) if isinstance(chat, str)}
        if len(chats) < len(present):
            chats |= await self._installer.personal_chats([u for u in present if u not in chats], bot_id)
        reached: dict[str, dict[str, Any]] = {}
        for user_id in present:
            if not chats.get(user_id):
                unreached[user_id] = Unreached.NO_CHAT
                continue
            reached[user_id] = await self._remember(origin, user_id, chats[user_id], tenant_id)
            now = installed[user_id]
            log.info(
                "reached %s in Teams (%s)",
                user_id,
                "installed now" if isinstance(now, Installed) and now.now else "had the app",
            )
        return reached, unreached

    def installed_by_bot(self, user_id: str) -> bool:
        """Whether the app was installed for this user by this bot a moment ago (Teams' install event is on its way):
        the approval card it sends is then their first message, with no welcome card before it. Once per install."""
        now = self._clock()
        for user, until in list(self._installing.items()):
            if until < now:
                del self._installing[user]
        return self._installing.pop(user_id.lower(), None) is not None

    async def _remember(self, origin: Reference, user_id: str, conversation_id: str, tenant_id: str) -> dict[str, Any]:
        reference = personal_reference(origin, conversation_id, user_id, tenant_id)
        try:
            stored = await self._conversations.user_reference(user_id)
            if stored is not None:  # the install event arrived meanwhile: it names the user's Teams id too
                return stored
            await self._conversations.remember(Actor(user_id, tenant_id), reference, "personal")
        except Exception:  # the card still goes out; the next request opens the chat again
            log.warning("could not store the personal chat of %s", user_id, exc_info=True)
        return reference

    async def open_chat(self, origin: Reference, user_id: str, tenant_id: str) -> dict[str, Any] | Unreached:
        """One user's personal chat, opened now whatever reference is stored (the caller found it refused, or has
        none): through the Bot Connector when Teams lets the bot (the user has the app), else after installing the app
        for them. For someone who is using the bot elsewhere (a channel) and is to be answered privately."""
        opened = await self._open_personal_chat(origin, user_id, tenant_id)
        if isinstance(opened, str):
            return await self._remember(origin, user_id, opened, tenant_id)
        if opened is Unreached.UNAVAILABLE or self._installer is None:
            return opened if opened is Unreached.UNAVAILABLE else Unreached.NOT_INSTALLED
        reached, unreached = await self._install_and_open(origin, [user_id], tenant_id)
        return reached.get(user_id) or unreached.get(user_id, Unreached.NO_CHAT)

    async def _open_personal_chat(self, origin: Reference, user_id: str, tenant_id: str) -> str | Unreached:
        """A 1:1 conversation with the user through the Bot Connector; NO_CHAT when Teams refuses it (403/404, the
        user does not have the app), UNAVAILABLE when it did not answer."""
        service_url = str(origin.get("serviceUrl") or "")
        async with self._open_slots:
            try:
                opened = await self._proactive.open_personal_chat(user_id, tenant_id, service_url, _bot(origin))
            except Exception as e:  # refused (403 BotNotInConversationRoster) or no answer: Graph's chat is next
                log.info("the Bot Connector opened no chat with %s: %s", user_id, e)
                refused = isinstance(e, ConnectorError) and e.status in (403, 404)
                return Unreached.NO_CHAT if refused else Unreached.UNAVAILABLE
        return opened or Unreached.NO_CHAT


def _bot(origin: Reference) -> Mapping[str, Any]:
    bot = origin.get("bot")
    return bot if isinstance(bot, Mapping) else {}


def personal_reference(origin: Reference, conversation_id: str, user_id: str, tenant_id: str) -> dict[str, Any]:
    """A conversation reference (as `bot.activity.reference_of` writes them) for a personal chat opened without an
    activity of the user's, with the bot and service URL of `origin`."""
    bot = _bot(origin)
    return {
        "bot": {"id": str(bot.get("id") or ""), "name": str(bot.get("name") or "")},
        "user": {"id": user_id, "aadObjectId": user_id},
        "conversation": {"conversationType": "personal", "id": conversation_id, "tenantId": tenant_id},
        "channelId": str(origin.get("channelId") or "msteams"),
        "serviceUrl": str(origin.get("serviceUrl") or ""),
        "tenantId": tenant_id,
        "openedByBot": True,  # the user is named by object id only (see teams_user_id)
    }


def teams_user_id(reference: Reference) -> str:
    """The user's Teams id in a stored reference (for `refresh.userIds`), or "" when it names them only by object id
    (a chat the bot opened before any activity of theirs arrived)."""
    if reference.get("openedByBot"):
        return ""
    return str((reference.get("user") or {}).get("id") or "")
