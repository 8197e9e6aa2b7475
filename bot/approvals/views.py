"""What an approval record looks like to people: the approval card's view of it, and the lines and texts that say
how it ended. Pure functions of the record (bot.approvals.records)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.approvals.records import CLOSED_CANCELLED, CLOSED_EXPIRED, ApprovalRequest
from cards import explain, format_time
from cards.approval import ApprovalView, approval_card
from cards.cancel import WaitingRequest
from cards.times import Tz
from cards.wording import access_label, decided_by_you
from core.errors import AlreadyDecided
from core.models import Actor, Decision, Group, PimRequest, TimeStyle
from core.service import APPROVAL_WINDOW

__all__ = [
    "CLOSED_NOTICE",
    "Rendered",
    "already",
    "approval_card_of",
    "closed_line",
    "decided_notice",
    "outcome_text",
    "view_of",
    "waiting_in_pim",
    "waiting_of",
]

CLOSED_NOTICE = "This request is closed; nothing was changed."


def view_of(record: ApprovalRequest) -> ApprovalView:
    created = record.asked_at
    assert created is not None
    decided = record.decision
    return ApprovalView(
        request_id=record.request_id,
        requester_name=record.requester_name or "Someone",
        requester_id=record.requester_id,
        group_name=record.group_name,
        access=record.access,
        duration=record.duration,
        requested_at=created,
        expires_at=record.expires or created + timedelta(hours=24),
        justification=record.justification,
        ticket=record.ticket,
        reason_required=record.reason_required,
        decision=decided.decision if decided else None,
        decided_by_name=decided.by_name if decided else "",
        decided_at=decided.at if decided else None,
        decided_reason=decided.reason if decided else "",
        closed=closed_line(record),
        active_until=record.active_until,
        screened=record.screened,
    )


def approval_card_of(record: ApprovalRequest, tz: Tz, *, actionable: bool, notice: str | None = None) -> dict[str, Any]:
    """The approval card of the record for one reader (`tz`), with the record's refresh list."""
    return approval_card(view_of(record), tz, actionable=actionable, refresh_user_ids=record.refresh_ids, notice=notice)


def closed_line(record: ApprovalRequest, tz: Tz = None) -> str:
    """The state line of a request closed without a decision (empty if it was not)."""
    closed = record.closed
    if closed is None or not closed.kind:
        return ""
    when = f" at {format_time(closed.at, tz)}" if closed.at is not None else ""
    if closed.kind == CLOSED_CANCELLED:
        return f"Cancelled by the requester{when}."
    if closed.kind == CLOSED_EXPIRED:
        return "Expired: nobody decided within 24 hours."
    return f"Closed by PIM{when} ({closed.status or 'failed'}); no decision is needed any more."


def outcome_text(record: ApprovalRequest) -> str:
    """What the requester is told once their request is decided or closed."""
    view, tz = view_of(record), record.requester_style
    subject = f"Your request for {access_label(view.access).lower()} access to {view.group_name}"
    who = f" by {view.decided_by_name}" if view.decided_by_name else ""
    if view.decision is None:
        kind = record.closed.kind if record.closed else ""
        if kind == CLOSED_CANCELLED:
            return f"{subject} was cancelled; the approvers' cards say so."
        if kind == CLOSED_EXPIRED:
            return f"{subject} expired: nobody decided within 24 hours. Send it again if you still need the access."
        return f"{subject} was closed by PIM without a decision. Send it again if you still need the access."
    if view.decision is Decision.APPROVE:
        until = f" It is active until {format_time(view.active_until, tz)}." if view.active_until else ""
        reason = f" ({view.decided_reason})" if view.decided_reason else ""
        return f"{subject} was approved{who}{reason}.{until or ' It becomes active shortly.'}"
    reason = f": {view.decided_reason}" if view.decided_reason else "."
    return f"{subject} was denied{who}{reason}"


def already(record: ApprovalRequest) -> AlreadyDecided:
    d = record.decision
    assert d is not None
    return AlreadyDecided(d.decision, d.by, d.at, by_name=d.by_name)


def decided_notice(record: ApprovalRequest, actor: Actor, tz: Tz) -> str:
    """Who decided: "You approved …" when it was the clicker (also after a lost answer), else "already … by …"."""
    decided = record.decision
    assert decided is not None
    if decided.by.casefold() != actor.object_id.casefold():
        return explain(already(record), tz)
    return decided_by_you(decided.decision, record.group_name, record.requester_name or "Someone")


def waiting_of(record: ApprovalRequest) -> WaitingRequest:
    view = view_of(record)
    return WaitingRequest(
        view.request_id, view.group_name, view.access, view.duration or None, view.requested_at, view.expires_at
    )


def waiting_in_pim(group: Group, request: PimRequest) -> WaitingRequest:
    if not request.status.is_pending and request.start is not None:  # scheduled for later, nothing to approve
        return WaitingRequest(
            request.id, group.display_name, request.access, request.duration, request.created, None, request.start
        )
    expires = request.created + APPROVAL_WINDOW if request.created is not None else None
    return WaitingRequest(request.id, group.display_name, request.access, request.duration, request.created, expires)


class Rendered:
    """One card per way of writing times: the copies of a request differ only in their readers' zones and locales."""

    def __init__(self, render: Callable[[TimeStyle], dict[str, Any]]) -> None:
        self._render = render
        self._cards: dict[TimeStyle, dict[str, Any]] = {}

    def of(self, style: TimeStyle) -> dict[str, Any]:
        if style not in self._cards:
            self._cards[style] = self._render(style)
        return self._cards[style]
