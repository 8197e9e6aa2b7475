"""Plain-text versions of the cards: the cards' `fallbackText`, notification previews, logs-free transcripts.

The same facts as the cards, one line per group, no markup beyond “quotes”.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from cards.times import Tz
from cards.wording import (
    explain,
    format_duration,
    format_time,
    help_intro_shared,
    missing_inputs_phrase,
    unconfirmed_write,
)
from core.models import Access, ActiveAssignment, Eligibility, PimRequest
from core.outcomes import (
    Activated,
    AwaitingApproval,
    Deactivated,
    Failed,
    NeedsInput,
    Outcome,
    Refused,
    StatusView,
    Unconfirmed,
)

__all__ = [
    "ADMIN_EXAMPLES",
    "CHANNEL_EXAMPLES",
    "EXAMPLES",
    "GROUP_CHAT_EXAMPLES",
    "SUGGESTED_DURATION",
    "approvers_phrase",
    "help_text",
    "outcome_line",
    "sorted_view",
    "summary_text",
    "typed_command",
]

# (command, what it does) — shown by the help card, in this order.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("activate Exchange-Admins 2h", "Become a member of Exchange-Admins for 2 hours."),
    ('activate "Teams Admins" 90m because INC-4711 rollout', "Quote names with spaces; say why after “because”."),
    ("activate Exchange-Admins, Teams Admins 1h for patch window", "Several groups at once, with one reason."),
    ("activate Exchange-Admins as owner 30m", "Owner instead of member."),
    ("activate Security-Operators 1h reason: incident ticket INC-4711", "“reason:” works too."),
    (
        "activate Exchange-Admins 2h tomorrow 9:00",
        "Later, in your time zone: also “at 14:00”, “on Monday 08:30”, “at 2026-12-24T08:00”.",
    ),
    ("activate Exchange-Admins 1h for patch window ticket CHG-0042", "Add a ticket number when the policy asks."),
    ("deactivate Exchange-Admins", "End your access early."),
    ("status", "What you can activate, what is active, scheduled or waiting for approval."),
    ("cancel Exchange-Admins", "Withdraw your request that waits for approval, or one scheduled for later."),
    ("pending", "Approvers: the requests waiting for your decision, with Approve and Deny."),
    ("history", "Your PIM requests of the last 30 days: what, when, how it ended, who approved."),
    ("help", "This overview."),
)
# The admin commands, listed in the 1:1 help of the bot's admins (BOT_ADMINS, BOT_ADMIN_GROUP): typed in a channel.
ADMIN_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "feed here",
        "Post PIM assignment changes in that channel; “feed off” stops it, “feed status” says where it goes.",
    ),
    (
        "approvals here Security-Operators",
        "Post that group's approval requests in that channel; “approvals off Security-Operators” stops it.",
    ),
    ("approvals status", "Which groups' approval requests are posted in that team."),
    (
        "audit export 2026-11-01 2026-11-30",
        "Here in our chat: a CSV of the monitored groups' activations, approvals and admin changes, as a file.",
    ),
)
# What works in a Teams channel (help shown there, and the welcome when the bot is added to a team): the admin
# commands and help. Commands about the user's own access continue in the 1:1 chat, so they are not offered here.
CHANNEL_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "feed here",
        "Admins: post PIM assignment changes in this channel (“feed off” stops it, “feed status” shows where it goes).",
    ),
    ("approvals here Security-Operators", "Admins: post that group's approval requests in this channel."),
    ("approvals status", "Which groups' approval requests are posted in this team."),
    ("help", "This overview."),
)
# In a group chat only help is answered there: the admin commands need a channel.
GROUP_CHAT_EXAMPLES: tuple[tuple[str, str], ...] = (("help", "This overview."),)


# The duration a suggestion offers when the user named none: long enough for a task, well inside PIM's usual limits.
SUGGESTED_DURATION = timedelta(hours=1)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def typed_command(verb: str, group: str = "", duration: timedelta | None = None, *, owner: bool = False) -> str:
    """A command as the user would type it, e.g. `activate "Teams Admins" as owner 1h`: a name that is not one plain
    word is quoted (the parser reads it whole, whatever words it holds)."""
    parts = [verb]
    if group:
        parts.append(group if _PLAIN_NAME.fullmatch(group) else f'"{group}"')
    if owner:
        parts.append("as owner")
    if duration is not None:
        parts.append(_typed_duration(duration))
    return " ".join(parts)


def _typed_duration(duration: timedelta) -> str:
    """Like "1h", "90m", "1h30m": the short forms the help card teaches."""
    minutes = max(1, round(duration / timedelta(minutes=1)))
    hours, rest = divmod(minutes, 60)
    if not hours or (hours < 2 and rest):
        return f"{minutes}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


def _who(name: str, access: Access) -> str:
    return f"{name} ({access.value})"


def approvers_phrase(approvers: Sequence[str]) -> str:
    """Like "Bob Builder, PIM-Approvers", or "an approver" when there are none."""
    return ", ".join(a for a in approvers if a) or "an approver"


def outcome_line(outcome: Outcome, tz: Tz) -> str:
    """One line per group, e.g. "Exchange-Admins (member): active until Sun 22 Nov, 16:05 (Europe/Berlin)."."""
    match outcome:
        case Activated() if outcome.scheduled:
            return (
                f"{_who(outcome.group.display_name, outcome.access)}: scheduled from {format_time(outcome.start, tz)} "
                f"until {format_time(outcome.end, tz)}."
            )
        case Activated():
            return f"{_who(outcome.group.display_name, outcome.access)}: active until {format_time(outcome.end, tz)}."
        case AwaitingApproval():
            return (
                f"{_who(outcome.group.display_name, outcome.access)}: submitted, waits for approval by "
                f"{approvers_phrase(outcome.approvers)}."
            )
        case NeedsInput():
            wanted = missing_inputs_phrase(justification=outcome.need_justification, ticket=outcome.need_ticket)
            return f"{_who(outcome.group.display_name, outcome.access)}: needs {wanted}."
        case Refused():
            why = explain(outcome.error, tz, group_name=outcome.group_name, access=outcome.access)
            return f"{_who(outcome.group_name, outcome.access)}: {why}"
        case Failed():
            return f"{_who(outcome.group_name, outcome.access)}: {explain(outcome.error, tz)}"
        case Deactivated():
            return f"{_who(outcome.group.display_name, outcome.access)}: deactivated."
        case Unconfirmed():
            why = unconfirmed_write(outcome.write.kind, outcome.access, outcome.group.display_name)
            return f"{_who(outcome.group.display_name, outcome.access)}: {why}"


def sorted_view(
    view: StatusView,
) -> tuple[list[ActiveAssignment], list[PimRequest], list[Eligibility]]:
    """Active, pending and eligible entries by group name, then access: the same order whatever Graph returned."""

    def name_of(group_id: str) -> str:
        return view.group_names.get(group_id, group_id)

    active = sorted(view.active, key=lambda a: (a.group.display_name.casefold(), a.access.value, a.group.id))
    pending = sorted(view.pending, key=lambda p: (name_of(p.group_id).casefold(), p.access.value, p.id))
    eligible = sorted(view.eligible, key=lambda e: (e.group.display_name.casefold(), e.access.value, e.group.id))
    return active, pending, eligible


def _pending_line(request: PimRequest, view: StatusView, tz: Tz) -> str:
    name = view.group_names.get(request.group_id, request.group_id)
    duration = f" for {format_duration(request.duration)}" if request.duration else ""
    return f"{_who(name, request.access)}{duration}"


def summary_text(subject: Sequence[Outcome] | NeedsInput | StatusView, tz: Tz) -> str:
    """The plain-text fallback of the activation, deactivation, needs-input or status card for `subject`."""
    if isinstance(subject, NeedsInput):
        wanted = missing_inputs_phrase(justification=subject.need_justification, ticket=subject.need_ticket)
        return (
            f"{_who(subject.group.display_name, subject.access)}: the PIM policy asks for {wanted} before it activates."
        )
    if isinstance(subject, StatusView):
        active, pending, eligible = sorted_view(subject)
        lines = []
        if active:
            lines.append(
                "Active: "
                + "; ".join(
                    f"{_who(a.group.display_name, a.access)} "
                    + (f"until {format_time(a.end, tz, reference=subject.now)}" if a.end else "permanent")
                    for a in active
                )
            )
        else:
            lines.append("Active: nothing right now.")
        if subject.scheduled:
            lines.append(
                "Scheduled: "
                + "; ".join(
                    f"{_who(subject.group_names.get(r.group_id, r.group_id), r.access)} from "
                    + (format_time(r.start, tz, reference=subject.now) if r.start else "later")
                    for r in subject.scheduled
                )
            )
        if pending:
            lines.append("Waiting for approval: " + "; ".join(_pending_line(p, subject, tz) for p in pending))
        if eligible:
            lines.append("Eligible: " + "; ".join(_who(e.group.display_name, e.access) for e in eligible))
        else:
            lines.append("Eligible: no groups.")
        return "\n".join(lines)
    return "\n".join(outcome_line(o, tz) for o in subject) or "Nothing to report."


def help_text(reason: str | None = None, where: str = "personal", *, admin: bool = False) -> str:
    """The help card's plain-text fallback; `where` is the conversation type it is shown in, `admin` whether the
    reader may use the admin commands."""
    head = f"{reason} " if reason else ""
    if where == "personal":
        admins = " Admins, in a channel: “feed here”, “approvals here <group>”." if admin else ""
        return f"{head}Try: “activate Exchange-Admins 2h”, “deactivate Exchange-Admins”, “status” or “help”.{admins}"
    return f"{head}{help_intro_shared(where)}"
