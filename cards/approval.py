"""The approval card an approver receives when an activation needs approval, in its three views.

- approver view (`actionable=True`): the request's facts, a reason input, Approve and Deny (Action.Execute with an
  Action.Submit fallback, in an ActionSet), and `refresh` for the reachable approvers (teams-platform.md §5.2), so
  approvers get the buttons and anyone else who sees a copy gets the read-only view;
- read-only, still open (`actionable=False`, no decision): the facts and "waiting for an approver";
- the channel copy (`channel=True`, posted to the group's approvals channel): the read-only view for everyone, with
  `refresh` for the reachable approvers, whose clients fetch the approver view (a `refresh` invoke) on display;
- decided (a decision in the view): the facts and "Approved by Bob Builder at 14:02 — reason"; no buttons, no refresh.

Element ids: `heading`, `facts`, `state`, `notice` (why the clicker got this view), `reason`, `actions`, `approve`,
`deny` (+ `-submit` twins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cards.actions import REASON_INPUT, REASON_MAX, Verb, activate_button, decision_data, execute_button
from cards.common import REQUEST_EXPIRES, actions, card, facts, heading, request_footnote, text
from cards.elements import ActionExecute, CardElement, InputText, JsonDict, to_json
from cards.times import Tz
from cards.wording import access_label, format_duration, format_time
from core.models import Access, Decision, Group, Ticket

__all__ = ["MAX_REFRESH_USERS", "ApprovalView", "approval_card", "expiry_warning_card"]

MAX_REFRESH_USERS = 60  # Teams honours refresh.userIds for at most 60 users (teams-platform.md §5.2)


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """What an approval card shows, from the bot's stored record of the request."""

    request_id: str
    requester_name: str
    group_name: str
    access: Access
    duration: timedelta
    requested_at: datetime
    expires_at: datetime
    justification: str | None = None
    ticket: str | None = None
    reason_required: bool = False
    decision: Decision | None = None
    decided_by_name: str = ""
    decided_at: datetime | None = None
    decided_reason: str = ""
    closed: str = ""  # closed without a decision: "Cancelled by the requester at …", "Expired: …"
    requester_id: str = ""  # Entra object id: the card @mentions the requester (Teams resolves it in a card mention)
    active_until: datetime | None = None  # approved: when the access ends, as PIM scheduled it (None: not known)
    screened: str = ""  # PIM's custom extension passed the request on to approval: what it said


def _mention(name: str, object_id: str) -> tuple[str, JsonDict] | None:
    """`<at>Name</at>` and its msteams entity (teams-platform.md §5: the id may be an Entra object id)."""
    shown = name.replace("<", "").replace(">", "").strip()
    if not object_id or not shown:
        return None
    tag = f"<at>{shown}</at>"
    return tag, {"type": "mention", "text": tag, "mentioned": {"id": object_id, "name": shown}}


def decision_line(view: ApprovalView, tz: Tz) -> str:
    """Like "Approved by Bob Builder at Sun 22 Nov, 14:02 (UTC) — ok for the patch window"."""
    verb = "Approved" if view.decision is Decision.APPROVE else "Denied"
    who = f" by {view.decided_by_name}" if view.decided_by_name else ""
    when = f" at {format_time(view.decided_at, tz)}" if view.decided_at is not None else ""
    reason = f" — {view.decided_reason}" if view.decided_reason else ""
    return f"{verb}{who}{when}{reason}"


def _times(view: ApprovalView, tz: Tz) -> list[tuple[str, str]]:
    """When it was asked, and the one time that matters now: while it waits, when the request lapses unless someone
    decides; once approved, when the access ends. A decided or closed request no longer expires."""
    times = [("Requested at", format_time(view.requested_at, tz))]
    if view.decision is Decision.APPROVE:
        if view.active_until is not None:
            times.append(("Active until", format_time(view.active_until, tz, reference=view.requested_at)))
    elif view.decision is None and not view.closed:
        times.append((REQUEST_EXPIRES, format_time(view.expires_at, tz, reference=view.requested_at)))
    return times


def approval_card(
    view: ApprovalView,
    tz: Tz,
    *,
    actionable: bool,
    refresh_user_ids: Sequence[str] = (),
    notice: str | None = None,
    channel: bool = False,
) -> JsonDict:
    access = access_label(view.access)
    mention = _mention(view.requester_name, view.requester_id)
    pairs = [
        ("Requested by", mention[0] if mention else view.requester_name),
        ("Group", view.group_name),
        ("Access", access),
        ("Duration", format_duration(view.duration)),
        ("Justification", view.justification or "None given"),
    ]
    if view.ticket:
        pairs.append(("Ticket", view.ticket))
    pairs += _times(view, tz)
    title = f"{view.requester_name} asks for {access.lower()} access to {view.group_name}"
    body: list[CardElement] = [heading("heading", title), facts("facts", pairs)]
    if view.screened:
        body.append(text("screened", view.screened, subtle=True))
    if notice:
        body.append(text("notice", notice, color="Attention", weight="Bolder"))
    decided = view.decision is not None
    if view.closed and not decided:
        body.append(text("state", view.closed, weight="Bolder", color="Warning"))
    elif decided:
        color = "Good" if view.decision is Decision.APPROVE else "Attention"
        body.append(text("state", decision_line(view, tz), weight="Bolder", color=color))
    elif not actionable or channel:
        body.append(text("state", "Waiting for an approver to decide.", subtle=True))
    else:
        reason = InputText(
            id=REASON_INPUT,
            label="Reason" + ("" if view.reason_required else " (optional)"),
            placeholder="e.g. ok for the patch window",
            is_multiline=True,
            max_length=REASON_MAX,
        )
        if view.reason_required:
            reason.is_required = True
            reason.error_message = "The PIM policy asks approvers for a reason."
        body.append(reason)
        data = decision_data(view.request_id)
        body.append(
            actions(
                "actions",
                [
                    execute_button("approve", "Approve", Verb.APPROVE, data, style="positive"),
                    execute_button("deny", "Deny", Verb.DENY, data, style="destructive"),
                ],
            )
        )
    body.append(request_footnote("request-id", view.request_id))
    state = decision_line(view, tz) if decided else (view.closed or "waiting for approval")
    result = card(body, f"{title}: {state}.")
    if mention:
        result["msteams"] = {**result.get("msteams", {}), "entities": [mention[1]]}
    if (actionable or channel) and not decided and not view.closed and refresh_user_ids:
        # Refresh.action is an Action.Execute with no fallback: clients without Action.Execute never refresh.
        result["refresh"] = {
            "action": to_json(
                ActionExecute(id="refresh", verb=Verb.REFRESH.value, data=decision_data(view.request_id))
            ),
            "userIds": list(refresh_user_ids)[:MAX_REFRESH_USERS],
        }
    return result


def expiry_warning_card(
    group: Group,
    access: Access,
    request_id: str,
    expires_at: datetime,
    tz: Tz,
    *,
    duration: timedelta | None,
    justification: str | None = None,
    ticket: Ticket | None = None,
) -> JsonDict:
    """To the requester, an hour before an unapproved request expires: a one-click re-submit of the same request.

    Element ids: `heading`, `message`, `facts`, `note`, `actions`, `resubmit` (+ `-submit` twin)."""
    subject = f"Your request for {access_label(access).lower()} access to {group.display_name}"
    body: list[CardElement] = [
        heading("heading", "Approval request expires soon"),
        text("message", f"{subject} is still waiting for approval and expires at {format_time(expires_at, tz)}."),
        text(
            "note",
            "Send it again creates a new request with the same group, access, duration, reason and ticket. PIM accepts "
            "it only once this request has expired or been cancelled (type “cancel "
            f"{group.display_name}” to cancel it now).",
            subtle=True,
            spacing="Small",
        ),
        actions(
            "actions",
            [
                activate_button(
                    "resubmit", "Send it again", group, access, duration, justification=justification, ticket=ticket
                )
            ],
        ),
        request_footnote("request-id", request_id),
    ]
    return card(body, f"{subject} expires at {format_time(expires_at, tz)} unless someone approves it.")
