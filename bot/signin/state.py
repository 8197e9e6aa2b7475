"""What a sign-in keeps while the user is away signing in: typed records, one codec each, taken exactly once.

* `PendingCommand` (`signin/pending/{oid}`): the command a sign-in interrupted, the latest one per user; resumed once
  the user has signed in (Teams SSO or the step-up page), never after `PENDING_TTL`.
* `SignInCard` (`signin/card/{oid}`): the last sign-in card sent to the user, replaced by "You're signed in" once they
  are, so its button is not offered again.
* `StepUpLink` (`stepup/state/{state}`): a step-up sign-in link handed out and not opened yet.
* `StepUpFlow` (`stepup/flow/{state}`): a step-up sign-in under way at Entra (msal's auth code flow).

Each is taken once by `take`: read, then deleted under the etag read. Of two takers (verifyState and tokenExchange of
one sign-in, a link opened twice, two bot processes) exactly one gets the record; the other finds it gone or changed
and gets None. A record that cannot be read raises ValueError (a bug, or a hand-edited store), never a half record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from bot.store import ANY, Conflict, Json, Store
from bot.store import keys as keyspace
from bot.turn import UserInput
from core.models import Actor
from core.ports import Clock

__all__ = [
    "PENDING_TTL",
    "PendingCommand",
    "PendingCommands",
    "SignInCard",
    "SignInCards",
    "StepUpFlow",
    "StepUpLink",
    "take",
]

log = logging.getLogger(__name__)

PENDING_TTL: Final = timedelta(
    minutes=15
)  # OAuthPrompt's default timeout: an old intent is not resumed out of the blue


async def take(store: Store, key: str) -> Json | None:
    """The value under `key`, deleted as it is read; None when there is none or another taker was first."""
    found = await store.get(key)
    if found is None:
        return None
    try:
        deleted = await store.delete(key, found.etag)
    except Conflict:
        return None  # replaced by a newer one meanwhile, which stays for its own taker
    return found.value if deleted else None  # not deleted: another taker was first


def _text(value: Json, name: str) -> str | None:
    field = value.get(name)
    if field is not None and not isinstance(field, str):
        raise ValueError(f"{name} is not a text")
    return field


def _time(value: Json) -> datetime:
    try:
        return datetime.fromisoformat(str(value["at"]))
    except KeyError:
        raise ValueError("no time") from None


def _actor_json(actor: Actor) -> Json:
    return {
        "oid": actor.object_id,
        "tid": actor.tenant_id,
        "name": actor.name,
        "channelUserId": actor.channel_user_id,
        "timeZone": actor.time_zone,
        "locale": actor.locale,
    }


def _actor(value: Json) -> Actor:
    oid, tid = _text(value, "oid"), _text(value, "tid")
    if not oid or not tid:
        raise ValueError("no user")
    return Actor(
        object_id=oid,
        tenant_id=tid,
        name=_text(value, "name") or "",
        time_zone=_text(value, "timeZone"),
        channel_user_id=_text(value, "channelUserId") or "",
        locale=_text(value, "locale"),
    )


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command that waits for the user's sign-in, the conversation it came from, and how the user reads times (so
    the answer after the sign-in reads like the answer before it)."""

    input: UserInput
    reference: Mapping[str, Any]
    at: datetime
    time_zone: str | None = None
    locale: str | None = None

    def to_json(self) -> Json:
        return {
            "text": self.input.text,
            "data": dict(self.input.data) if self.input.data is not None else None,
            "reference": dict(self.reference),
            "at": self.at.isoformat(),
            "timeZone": self.time_zone,
            "locale": self.locale,
        }

    @classmethod
    def from_json(cls, value: Json) -> PendingCommand:
        data, reference = value.get("data"), value.get("reference")
        if data is not None and not isinstance(data, dict):
            raise ValueError("data is not an object")
        if not isinstance(reference, dict):
            raise ValueError("no conversation reference")
        return cls(
            UserInput(_text(value, "text"), data),
            reference,
            _time(value),
            _text(value, "timeZone"),
            _text(value, "locale"),
        )

    def actor_style(self, actor: Actor) -> Actor:
        """`actor` with the time zone and locale the command was sent with, where the resuming activity has none."""
        return replace(actor, time_zone=actor.time_zone or self.time_zone, locale=actor.locale or self.locale)


class PendingCommands:
    """The commands waiting for a sign-in (Teams SSO, or the step-up page), one per user, each taken once."""

    def __init__(self, store: Store, clock: Clock, *, ttl: timedelta = PENDING_TTL) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl

    async def remember(self, actor: Actor, pending: PendingCommand) -> None:
        """Keep the command that needed a sign-in; a newer one replaces an older one (the user's latest intent)."""
        await self._store.put_if(keyspace.pending_command(actor.object_id), pending.to_json(), ANY)

    async def take(self, actor: Actor) -> PendingCommand | None:
        """The waiting command, exactly once across retries and processes; None if there is none, another taker was
        first, or it is older than the TTL."""
        value = await take(self._store, keyspace.pending_command(actor.object_id))
        if value is None:
            return None
        try:
            pending = PendingCommand.from_json(value)
        except ValueError as e:
            log.warning("dropped an unreadable pending command of %s: %s", actor.object_id, e)
            return None
        if self._clock.now() - pending.at > self._ttl:
            log.info("not resuming a command of %s from %s: too old", actor.object_id, pending.at.isoformat())
            return None
        return pending


@dataclass(frozen=True, slots=True)
class SignInCard:
    """A sign-in card the bot sent (Teams SSO's OAuthCard or the step-up card): its activity and conversation."""

    activity_id: str
    reference: Mapping[str, Any]

    def to_json(self) -> Json:
        return {"activityId": self.activity_id, "reference": dict(self.reference)}

    @classmethod
    def from_json(cls, value: Json) -> SignInCard:
        activity_id, reference = _text(value, "activityId"), value.get("reference")
        if not activity_id or not isinstance(reference, dict):
            raise ValueError("no activity id or reference")
        return cls(activity_id, reference)


class SignInCards:
    """The last sign-in card of each user, until they have signed in."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def remember(self, actor: Actor, card: SignInCard) -> None:
        """The card just sent (it replaces an earlier one's entry: only the latest is retired)."""
        await self._store.put_if(keyspace.sign_in_card(actor.object_id), card.to_json(), ANY)

    async def take(self, actor: Actor) -> SignInCard | None:
        value = await take(self._store, keyspace.sign_in_card(actor.object_id))
        return SignInCard.from_json(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class StepUpLink:
    """A step-up sign-in link handed out: for whom, the claims to ask Entra for, the requirement they answer
    (bot.signin.stepup.requirement_of) and the user's UPN as a login hint (None: no hint at all)."""

    actor: Actor
    claims: str
    requirement: str
    login_hint: str | None
    at: datetime

    def to_json(self) -> Json:
        return {
            **_actor_json(self.actor),
            "claims": self.claims,
            "requirement": self.requirement,
            "loginHint": self.login_hint,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Json) -> StepUpLink:
        return cls(
            _actor(value),
            _text(value, "claims") or "",
            _text(value, "requirement") or "",
            _text(value, "loginHint") or None,
            _time(value),
        )


@dataclass(frozen=True, slots=True)
class StepUpFlow:
    """A step-up sign-in under way at Entra: msal's auth code flow (its own JSON, handed back to msal as it is), for
    whom and the requirement it answers."""

    actor: Actor
    requirement: str
    flow: Json
    at: datetime

    def to_json(self) -> Json:
        return {
            **_actor_json(self.actor),
            "requirement": self.requirement,
            "flow": self.flow,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Json) -> StepUpFlow:
        flow = value.get("flow")
        if not isinstance(flow, dict):
            raise ValueError("no auth code flow")
        return cls(_actor(value), _text(value, "requirement") or "", flow, _time(value))
