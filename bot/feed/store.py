"""The feed's records: one frozen dataclass per kind of state, each with one codec (`to_json` / `from_json`).

Every record lives under one key of bot.store.keys (the feed's section) and is written by one conditional write of
its own: the store has no transactions (Azure Blob Storage, the next backend, has none), so no step of the cycle
writes two keys at once (bot.feed.desk says why each step is safe on its own).

`epoch` ties what the cycle keeps to one start of the feed: `feed here` on a feed that was off (or on FEED_CHANNEL)
gives the channel a new epoch, and a snapshot or an audit watermark of another epoch is not used (the first cycle
then takes a fresh baseline). So starting the feed is one write, of the channel, instead of three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.store import Json
from core.feed import EndReason, EventKind, FeedEvent, GroupState, ScheduleItem, ScheduleKind
from core.models import Access, Ticket
from core.witnesses import Account

__all__ = [
    "POSTED_KEEP",
    "AuditMark",
    "Discovered",
    "FeedChannel",
    "FeedHealth",
    "FeedSnapshot",
    "OutboxEntry",
    "PostedMarks",
    "account_from_json",
    "account_to_json",
    "event_from_json",
    "event_to_json",
]

POSTED_KEEP = 5000  # ids remembered after posting (far more than one cycle can produce twice)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ---- the channel setting (`feed/channel`) -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedChannel:
    """THE feed channel: where posts go, set by `feed here` or FEED_CHANNEL. `reference`: the channel's own
    conversation reference (bot.activity.reference_of's JSON, `channel_of_reference`)."""

    reference: Json
    channel_id: str
    name: str = ""
    time_zone: str | None = None
    locale: str | None = None  # with the zone: of the admin who set the channel (the feed is written their way)
    set_by: str = ""
    on: bool = True
    set_at: datetime | None = None
    epoch: str = ""  # this start of the feed (module doc); "" for FEED_CHANNEL until `feed here`

    @property
    def label(self) -> str:
        return self.name or self.channel_id

    @property
    def tenant_id(self) -> str:
        conversation = self.reference.get("conversation") or {}
        return str(self.reference.get("tenantId") or conversation.get("tenantId") or "")

    @property
    def service_url(self) -> str:
        return str(self.reference.get("serviceUrl") or "")

    @property
    def bot(self) -> Json:
        return dict(self.reference.get("bot") or {})

    def to_json(self) -> Json:
        return {
            "reference": self.reference,
            "channelId": self.channel_id,
            "name": self.name,
            "timeZone": self.time_zone,
            "locale": self.locale,
            "setBy": self.set_by,
            "on": self.on,
            "setAt": _time(self.set_at),
            "epoch": self.epoch,
        }

    @classmethod
    def from_json(cls, value: Json) -> FeedChannel:
        return cls(
            reference=dict(value["reference"]),
            channel_id=str(value["channelId"]),
            name=str(value["name"]),
            time_zone=value["timeZone"],
            locale=value["locale"],
            set_by=str(value["setBy"]),
            on=bool(value["on"]),
            set_at=_parse(value["setAt"]),
            epoch=str(value["epoch"]),
        )


def channel_of_reference(reference: Mapping[str, Any]) -> Json:
    """The channel's own reference from a reference to a message thread in it: posting to `19:…@thread.tacv2`
    starts a new post; `…;messageid=…` would reply in the thread the command was typed in."""
    ref = {k: v for k, v in reference.items() if k != "activityId"}
    conversation = dict(ref.get("conversation") or {})
    conversation["id"] = str(conversation.get("id") or "").split(";", 1)[0]
    ref["conversation"] = conversation
    return ref


# ---- the snapshot of the monitored groups (`feed/snapshot`) ---------------------------------------------------------


@dataclass(frozen=True)
class FeedSnapshot:
    """The monitored groups' assignments at the last poll, of one epoch of the feed."""

    groups: Mapping[str, GroupState] = field(default_factory=dict)
    epoch: str = ""

    def to_json(self) -> Json:
        return {"groups": {gid: _state_to_json(s) for gid, s in self.groups.items()}, "epoch": self.epoch}

    @classmethod
    def from_json(cls, value: Json) -> FeedSnapshot:
        return cls({gid: _state_from_json(s) for gid, s in value["groups"].items()}, str(value["epoch"]))


def _state_to_json(s: GroupState) -> Json:
    items = [
        [
            i.kind.value,
            i.id,
            i.group_id,
            i.principal_id,
            i.access.value,
            _time(i.start),
            _time(i.end),
            i.member_type,
            i.activated,
            i.schedule_id,
        ]
        for i in s.items
    ]
    return {"groupId": s.group_id, "readAt": s.read_at.isoformat(), "items": items}


def _state_from_json(value: Json) -> GroupState:
    return GroupState(
        group_id=str(value["groupId"]),
        read_at=datetime.fromisoformat(value["readAt"]),
        items=tuple(
            ScheduleItem(
                kind=ScheduleKind(kind),
                id=str(iid),
                group_id=str(gid),
                principal_id=str(pid),
                access=Access(access),
                start=_parse(start),
                end=_parse(end),
                member_type=str(member_type),
                activated=bool(activated),
                schedule_id=schedule_id,
            )
            for kind, iid, gid, pid, access, start, end, member_type, activated, schedule_id in value["items"]
        ),
    )


# ---- an outbox entry (`feed/outbox/{stamp}-{n}`) ------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEntry:
    """Events to post: one card, or a digest of several cards. `sent`: the activity ids of the cards the connector
    accepted so far; `sending`: since when the next card is being posted (a restart that finds it set cannot know
    whether the connector accepted that post, and says so before posting it again)."""

    events: tuple[FeedEvent, ...]
    digest: bool = False
    sent: tuple[str, ...] = ()
    sending: datetime | None = None

    def to_json(self) -> Json:
        return {
            "events": [event_to_json(e) for e in self.events],
            "digest": self.digest,
            "sent": list(self.sent),
            "sending": _time(self.sending),
        }

    @classmethod
    def from_json(cls, value: Json) -> OutboxEntry:
        return cls(
            events=tuple(event_from_json(e) for e in value["events"]),
            digest=bool(value["digest"]),
            sent=tuple(str(i) for i in value["sent"]),
            sending=_parse(value["sending"]),
        )

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.events)


# ---- what was posted (`feed/posted`) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedMarks:
    """The ids of the last POSTED_KEEP events posted (an entry whose ids are all here is never posted again), and
    how many were posted in all (`feed status`)."""

    ids: tuple[str, ...] = ()
    total: int = 0

    def with_posted(self, ids: Iterable[str]) -> PostedMarks:
        known = set(self.ids)
        new = [i for i in dict.fromkeys(ids) if i not in known]
        return PostedMarks((self.ids + tuple(new))[-POSTED_KEEP:], self.total + len(new))

    def to_json(self) -> Json:
        return {"ids": list(self.ids), "total": self.total}

    @classmethod
    def from_json(cls, value: Json) -> PostedMarks:
        return cls(tuple(str(i) for i in value["ids"]), int(value["total"]))


# ---- the PIM audit log's watermark (`feed/audit`) -----------------------------------------------------------------


@dataclass(frozen=True)
class AuditMark:
    """Where the next read of PIM's audit log starts (`watermark`), the instant its outcomes are news from
    (`floor`: older ones are not posted on their own), whether the last read was allowed (`readable`), and the
    outcome kinds the log has shown in a shape the reader knows (`confirmed`), for one epoch of the feed."""

    epoch: str = ""
    watermark: datetime | None = None
    floor: datetime | None = None
    readable: bool = True
    confirmed: frozenset[str] = frozenset()

    def to_json(self) -> Json:
        return {
            "epoch": self.epoch,
            "watermark": _time(self.watermark),
            "from": _time(self.floor),
            "readable": self.readable,
            "confirmed": sorted(self.confirmed),
        }

    @classmethod
    def from_json(cls, value: Json) -> AuditMark:
        return cls(
            epoch=str(value["epoch"]),
            watermark=_parse(value["watermark"]),
            floor=_parse(value["from"]),
            readable=bool(value["readable"]),
            confirmed=frozenset(str(k) for k in value["confirmed"]),
        )


# ---- the groups discovery found (`feed/discovered`) ---------------------------------------------------------------


@dataclass(frozen=True)
class Discovered:
    """The PIM groups the audit log named (FEED_DISCOVER), id → display name, and how far the log was read for
    them (all 30 days the first time)."""

    groups: Mapping[str, str] = field(default_factory=dict)
    watermark: datetime | None = None

    def to_json(self) -> Json:
        return {"groups": dict(self.groups), "watermark": _time(self.watermark)}

    @classmethod
    def from_json(cls, value: Json) -> Discovered:
        return cls({str(i): str(n) for i, n in value["groups"].items()}, _parse(value["watermark"]))


# ---- what `feed status` shows (`feed/health`) ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeedHealth:
    """Written by whichever process polls (the lease holder), so every process answers `feed status` the same.
    `audit_problem`: why the last read of the audit log failed ("" when it succeeded)."""

    groups: tuple[str, ...] = ()
    last_success: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    audit_problem: str = ""

    def to_json(self) -> Json:
        return {
            "groups": list(self.groups),
            "lastSuccess": _time(self.last_success),
            "lastError": self.last_error,
            "lastErrorAt": _time(self.last_error_at),
            "auditProblem": self.audit_problem,
        }

    @classmethod
    def from_json(cls, value: Json) -> FeedHealth:
        return cls(
            groups=tuple(str(g) for g in value["groups"]),
            last_success=_parse(value["lastSuccess"]),
            last_error=str(value["lastError"]),
            last_error_at=_parse(value["lastErrorAt"]),
            audit_problem=str(value["auditProblem"]),
        )


# ---- events and the witnesses' accounts of approval outcomes (`feed/outcome/{source}/{id}`) ---------------------


def event_to_json(e: FeedEvent) -> Json:
    return {
        "id": e.id,
        "kind": e.kind.value,
        "groupId": e.group_id,
        "principalId": e.principal_id,
        "access": e.access.value,
        "start": _time(e.start),
        "end": _time(e.end),
        "previousEnd": _time(e.previous_end),
        "by": e.by,
        "justification": e.justification,
        "ticket": [e.ticket.number, e.ticket.system] if e.ticket else None,
        "reason": e.reason.value if e.reason else None,
        "decision": e.decision,
        "memberType": e.member_type,
        "observedAt": _time(e.observed_at),
        "scheduleId": e.schedule_id,
        "rule": e.rule,
        "reasons": list(e.reasons),
    }


def event_from_json(value: Json) -> FeedEvent:
    ticket, reason = value["ticket"], value["reason"]
    return FeedEvent(
        id=str(value["id"]),
        kind=EventKind(value["kind"]),
        group_id=str(value["groupId"]),
        principal_id=str(value["principalId"]),
        access=Access(value["access"]),
        start=_parse(value["start"]),
        end=_parse(value["end"]),
        previous_end=_parse(value["previousEnd"]),
        by=value["by"],
        justification=value["justification"],
        ticket=Ticket(ticket[0], ticket[1]) if ticket else None,
        reason=EndReason(reason) if reason else None,
        decision=value["decision"],
        member_type=str(value["memberType"]),
        observed_at=_parse(value["observedAt"]),
        schedule_id=value["scheduleId"],
        rule=value.get("rule"),  # absent in entries queued before the custom extension
        reasons=tuple(str(r) for r in value.get("reasons") or ()),
    )


def account_to_json(a: Account) -> Json:
    """core.witnesses.Account is the domain's (mutable, `settle` marks it): its codec lives here."""
    return {
        "event": event_to_json(a.event),
        "source": a.source,
        "said": a.said,
        "paired": a.paired,
        "until": _time(a.until),
        "requestNamed": a.request_named,
    }


def account_from_json(value: Json) -> Account:
    return Account(
        event=event_from_json(value["event"]),
        source="log" if value["source"] == "log" else "desk",
        said=bool(value["said"]),
        paired=bool(value["paired"]),
        until=_parse(value["until"]),
        request_named=bool(value["requestNamed"]),
    )
