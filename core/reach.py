"""Reaching someone in Teams who never wrote to the bot (issue 9): the port that installs the bot's app for them (and
finds their personal chat with it), and every reason it can fail, which the requester is told per approver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

__all__ = ["AppInstaller", "Installed", "Unreached"]


class Unreached(Enum):
    """Why an approver was not sent the card in Teams."""

    NOT_INSTALLED = "not-installed"  # no chat known and no way to install the app here
    NOT_ALLOWED = "not-allowed"  # Graph refused to install the app for people (a missing application permission)
    NOT_IN_CATALOG = "not-in-catalog"  # the bot's app is not in the organisation's Teams app catalog
    NOT_FOUND = "not-found"  # Graph found no such user to install the app for (or no such app)
    NO_CHAT = "no-chat"  # the app is there, but no personal chat with it could be opened
    UNAVAILABLE = "unavailable"  # Graph or Teams did not answer (timeouts, 5xx, throttling)
    UNDELIVERED = "undelivered"  # Teams refused the card (the user blocked or removed the bot)


@dataclass(frozen=True, slots=True)
class Installed:
    """The bot's app is installed for the user: by this call (`now`), or it was already."""

    now: bool = False


class AppInstaller(Protocol):
    async def install(self, user_ids: Sequence[str], bot_id: str) -> Mapping[str, Installed | Unreached]:
        """Install the app whose bot is `bot_id` for every user who lacks it (already installed is fine); an answer
        for every user id, never an exception."""
        ...

    async def personal_chats(self, user_ids: Sequence[str], bot_id: str) -> Mapping[str, str]:
        """The personal chat of each user with the app, where the directory shows it (users left out otherwise)."""
        ...
