"""The reply to `history`: the user's PIM-for-Groups requests of the last 30 days, newest first, one page at a time.

Element ids: `heading`, `intro`; `empty` when there is nothing; per request i a container `item-{i}` holding
`item-{i}-title` (group · access · what), `item-{i}-detail` (when, outcome, approver) and, when there is one,
`item-{i}-reason` (the justification); `approvers-note` when the audit log could not name approvers; `pages` (the
page's position) and the ActionSet `paging` with `newer` / `older` (Action.Execute: the click's answer replaces
this card with that page).
"""

from __future__ import annotations

from cards.actions import run_button
from cards.common import actions, card, container, heading, text
from cards.elements import CardElement, JsonDict
from cards.times import Tz
from cards.wording import access_label, format_time
from core.commands import MAX_HISTORY_PAGE
from core.history import HISTORY_DAYS, ApproverState, HistoryItem, HistoryPage

__all__ = ["history_card", "history_outcome", "history_what"]

_WHAT = {
    "selfactivate": "activation",
    "selfdeactivate": "deactivation",
    "selfextend": "extension asked",
    "selfrenew": "renewal asked",
    "adminassign": "assigned by an admin",
    "adminremove": "removed by an admin",
    "adminupdate": "changed by an admin",
    "adminextend": "extended by an admin",
    "adminrenew": "renewed by an admin",
}
# Graph's request statuses (graph-pim-groups.md §2), as a person says them.
_STATUS = {
    "provisioned": "done",
    "granted": "granted",
    "scheduled": "scheduled",
    "schedulecreated": "scheduled",
    "pendingschedulecreation": "being scheduled",
    "pendingprovisioning": "being carried out",
    "pendingapproval": "waiting for approval",
    "pendingadmindecision": "waiting for an admin",
    "denied": "denied",
    "canceled": "cancelled",
    "failed": "failed",
    "revoked": "ended",
}


def history_what(item: HistoryItem) -> str:
    """What the request was: "activation", "deactivation", "eligibility assigned by an admin", …"""
    what = _WHAT.get(item.action.casefold(), item.action or "request")
    if item.eligibility and item.action.casefold().startswith("admin"):
        return f"eligibility {what}"
    return what


def history_outcome(item: HistoryItem) -> str:
    """How it ended, with the approver when the log names one: "approved by Bob Builder, done"."""
    status = _STATUS.get(item.status.casefold(), item.status or "unknown")
    if item.decision == "approved":
        by = f" by {item.approver_name}" if item.approver_name else ""
        return f"approved{by}, {status}" if status not in ("granted",) else f"approved{by}"
    if item.decision == "denied":
        return f"denied by {item.approver_name}" if item.approver_name else "denied"
    if item.decision == "expired":
        return "expired: nobody decided in time"
    return status


def history_card(page: HistoryPage, tz: Tz) -> JsonDict:
    body: list[CardElement] = [heading("heading", "Your PIM requests")]
    since = format_time(page.since, tz)
    if not page.items:
        body.append(text("empty", f"You made no PIM group requests in the last {HISTORY_DAYS} days.", subtle=True))
        return card(body, f"You made no PIM group requests in the last {HISTORY_DAYS} days.")
    intro = f"{page.total} request{'s' if page.total != 1 else ''} since {since}, newest first."
    body.append(text("intro", intro, subtle=True, spacing="None"))
    lines: list[str] = []
    for i, item in enumerate(page.items):
        title = f"{item.group.display_name} · {access_label(item.access)} · {history_what(item)}"
        when = format_time(item.created, tz) if item.created else "time unknown"
        detail = f"{when} — {history_outcome(item)}"
        rows = [text(f"item-{i}-title", title, weight="Bolder"), text(f"item-{i}-detail", detail, spacing="None")]
        if item.justification:
            rows.append(text(f"item-{i}-reason", f"“{item.justification}”", subtle=True, spacing="None"))
        body.append(container(f"item-{i}", rows, separator=i > 0, spacing="Small"))
        lines.append(f"{title}: {detail}")
    if page.approvers is not ApproverState.READ:
        note = (
            "Approvers are not shown: I may not read PIM's audit log (AuditLog.Read.All)."
            if page.approvers is ApproverState.REFUSED
            else "Approvers are not shown: PIM's audit log could not be read just now."
        )
        body.append(text("approvers-note", note, subtle=True, size="Small"))
    if page.pages > 1:
        body.append(text("pages", f"Page {page.number} of {page.pages}", subtle=True, size="Small"))
        buttons: list[JsonDict] = []
        if page.number > 1:
            newer = "history" if page.number == 2 else f"history {page.number - 1}"
            buttons.append(run_button("newer", "Newer", newer))
        if page.number < min(page.pages, MAX_HISTORY_PAGE):
            buttons.append(run_button("older", "Older", f"history {page.number + 1}"))
        body.append(actions("paging", buttons))
    return card(body, f"Your PIM requests (page {page.number} of {page.pages}): " + "; ".join(lines))
