"""The admin feed's cards (issue 5): one compact card per PIM change, a digest for a burst, and `feed status`.

- `feed_event_card`: who, what, group, member/owner, start–end (or "permanent"), by whom, justification and ticket when
  known, and a button to the group's PIM assignments in the Entra admin center. A permanent direct active assignment
  carries a visible warning. Element ids: `heading`, `subject`, `warning` (only then), `facts`, and the root action
  `open-pim`.
- `feed_digest_card` / `digest_cards`: a burst (more than N events for one channel in one cycle) as a Table (1.5) of
  who / what / group / until, a summary line of counts per kind, and "and 430 more" when the rows do not fit. Cards stay
  under `DIGEST_MAX_BYTES`, below the 28 KB a card must fit in to be reposted through any path (teams-platform.md §5.1;
  a bot message may be ~100 KB). Element ids: `heading`, `summary`, `table` with rows `row-{i}` (`row-header` first),
  `more` (only when rows were left out).
- `feed_status_card`: the reply to `feed status` from a `FeedStatusView`. Element ids: `heading`, `facts`, `error`
  (only with an error), `groups`.

Names come from `names` (object id → display name, users and groups alike); an id missing there is shown as
"unknown user (1a2b3c4d…)" rather than a bare GUID. Times are in the channel's time zone (None → UTC, and it says so).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from adaptivecards.elements import TextBlock

from cards.common import card, facts, heading, text
from cards.elements import ActionOpenUrl, CardElement, JsonDict, Table, TableCell, TableRow, to_json
from cards.times import Tz
from cards.wording import access_label, and_list, format_duration, format_time
from core.feed import EndReason, EventKind, FeedEvent
from core.models import Access, Ticket

__all__ = [
    "DIGEST_MAX_BYTES",
    "FeedStatusView",
    "card_bytes",
    "digest_cards",
    "event_line",
    "event_what",
    "feed_digest_card",
    "feed_event_card",
    "feed_status_card",
    "pim_group_url",
]

# Under the 28 KB (28 * 1024) Incoming Webhook / Workflows limit with room for the activity envelope around the card.
DIGEST_MAX_BYTES = 26_000
MAX_STATUS_GROUPS = 20  # group names listed by `feed status`; the rest are counted

ENTRA = "https://entra.microsoft.com"


def pim_group_url(group_id: str) -> str:
    """The group's PIM assignments blade in the Entra admin center.

    Microsoft documents no deep links into PIM. This is the blade the portal itself opens for a group's PIM
    assignments (Microsoft_Azure_PIMCommon ResourceMenuBlade, provider "aadgroup"), as used in public scripts and
    tools; if the portal ever stops honouring it, it lands on PIM's start page, from which the group is two clicks
    away. `resourceType` "Security" is what those links use for every PIM-enabled group."""
    gid = quote(group_id, safe="")
    return (
        f"{ENTRA}/#view/Microsoft_Azure_PIMCommon/ResourceMenuBlade/~/members/resourceId/{gid}"
        "/resourceType/Security/provider/aadgroup"
    )


# ---- words ---------------------------------------------------------------------------------------------------


def _short_id(object_id: str) -> str:
    return f"{object_id[:8]}…" if len(object_id) > 8 else object_id


def _user(object_id: str, names: Mapping[str, str]) -> str:
    return names.get(object_id) or f"unknown user ({_short_id(object_id)})"


def _group(object_id: str, names: Mapping[str, str]) -> str:
    return names.get(object_id) or f"unknown group ({_short_id(object_id)})"


_ENDED = {EndReason.EXPIRED: "expired", EndReason.DEACTIVATED: "deactivated", EndReason.REMOVED: "removed"}

# The summary line's words per kind, as "3 became eligible, 1 activated".
_KIND_WORDS = {
    EventKind.ELIGIBLE_CREATED: "became eligible",
    EventKind.ELIGIBLE_EXTENDED: "eligibility extended",
    EventKind.ELIGIBLE_RENEWED: "eligibility renewed",
    EventKind.ELIGIBLE_REMOVED: "eligibility ended",
    EventKind.ELIGIBLE_EXPIRING: "eligibility expiring",
    EventKind.ACTIVE_ACTIVATED: "activated",
    EventKind.ACTIVE_ASSIGNED: "assigned active by an admin",
    EventKind.ACTIVE_ENDED: "active access ended",
    EventKind.APPROVAL_DECIDED: "approval decided",
    EventKind.EXTENSION_EVALUATED: "checked by the custom extension",
}
_OUTCOME_WORDS = {"Approved": "passed on to approval", "AutoApproved": "approved automatically", "Denied": "denied"}


def event_what(event: FeedEvent, names: Mapping[str, str]) -> str:
    """What happened, in a few words: "became eligible", "membership ended — expired", "approval: denied by Bob"."""
    reason = _ENDED.get(event.reason) if event.reason is not None else None
    match event.kind:
        case EventKind.ELIGIBLE_REMOVED:
            return f"eligibility ended — {reason}" if reason else "eligibility ended"
        case EventKind.ELIGIBLE_EXPIRING:
            return "eligibility expires soon"
        case EventKind.ACTIVE_ASSIGNED:
            return "assigned active permanently by an admin" if event.warning else "assigned active by an admin"
        case EventKind.ACTIVE_ENDED:
            what = "ownership" if event.access is Access.OWNER else "membership"
            return f"{what} ended — {reason}" if reason else f"{what} ended"
        case EventKind.EXTENSION_EVALUATED:
            outcome = _OUTCOME_WORDS.get(event.decision or "", event.decision or "decided")
            return f"activation {outcome} by rule '{event.rule}'" if event.rule else f"activation {outcome}"
        case EventKind.APPROVAL_DECIDED:
            decision = (event.decision or "decided").lower()
            if decision == "expired":
                return "approval: expired, nobody decided in time"
            by = f" by {_user(event.by, names)}" if event.by and decision in ("approved", "denied") else ""
            return f"approval: {decision}{by}"
        case _:
            return _KIND_WORDS[event.kind]


def _period(event: FeedEvent, tz: Tz) -> str | None:
    """Like "Sun 22 Nov, 14:05 (Europe/Berlin) – Sat 22 May 2027, 14:05 (Europe/Berlin)", "permanent", or None."""
    ref = event.observed_at or event.start
    start = format_time(event.start, tz, reference=ref) if event.start is not None else None
    if event.kind is EventKind.ELIGIBLE_EXPIRING and event.end is not None:
        return f"ends {format_time(event.end, tz, reference=ref)}"
    if event.end is not None:
        end = format_time(event.end, tz, reference=ref)
        return f"{start} – {end}" if start else f"until {end}"
    if event.permanent:
        return f"from {start}, permanent" if start else "permanent"
    return f"from {start}" if start else None


def _until(event: FeedEvent, tz: Tz) -> str:
    """The digest's short time column: when it ends (or ended), "permanent", or "–"."""
    ref = event.observed_at or event.start
    if event.end is not None:
        return format_time(event.end, tz, reference=ref)
    return "permanent" if event.permanent else "–"


def _ticket(ticket: Ticket) -> str:
    return f"{ticket.number} ({ticket.system})" if ticket.system else ticket.number


def _access(event: FeedEvent) -> str:
    label = access_label(event.access)
    return f"{label} (through another group)" if event.member_type == "group" else label


def event_line(event: FeedEvent, names: Mapping[str, str], tz: Tz) -> str:
    """One plain line: "Alice Admin: became eligible — Exchange-Admins (member), … – …"."""
    who = _user(event.principal_id, names)
    line = f"{who}: {event_what(event, names)} — {_group(event.group_id, names)} ({event.access.value})"
    period = _period(event, tz)
    return f"{line}, {period}." if period else f"{line}."


# ---- one event -------------------------------------------------------------------------------------------------


def feed_event_card(event: FeedEvent, names: Mapping[str, str], tz: Tz) -> JsonDict:
    who = _user(event.principal_id, names)
    group = _group(event.group_id, names)
    body: list[CardElement] = [
        heading("heading", f"{who} · {event_what(event, names)}"),
        text("subject", f"{group} · {_access(event)}", spacing="None", subtle=True),
    ]
    if event.warning:
        body.append(
            text(
                "warning",
                "⚠ Permanent active access assigned directly: it bypasses just-in-time activation and never "
                "expires. Check that it is intended.",
                weight="Bolder",
                color="Attention",
            )
        )
    pairs = [("User", who), ("Group", group), ("Access", _access(event))]
    period = _period(event, tz)
    if period:
        pairs.append(("When", period))
    if event.previous_end is not None and event.kind in (EventKind.ELIGIBLE_EXTENDED, EventKind.ELIGIBLE_RENEWED):
        pairs.append(("Previously until", format_time(event.previous_end, tz, reference=event.observed_at)))
    if event.by and event.kind is not EventKind.APPROVAL_DECIDED:
        pairs.append(("By", _user(event.by, names)))
    elif event.by:
        pairs.append(("Decided by", _user(event.by, names)))
    if event.justification:
        pairs.append(("Justification", event.justification))
    if event.ticket is not None:
        pairs.append(("Ticket", _ticket(event.ticket)))
    if event.kind is EventKind.EXTENSION_EVALUATED:
        pairs.append(("Outcome", f"{event.decision} (rule '{event.rule}')"))
        pairs.extend(("Reason", reason) for reason in event.reasons)
    body.append(facts("facts", pairs))
    result = card(body, event_line(event, names, tz))
    result["actions"] = [to_json(ActionOpenUrl(id="open-pim", title="Open in PIM", url=pim_group_url(event.group_id)))]
    return result


# ---- a burst ---------------------------------------------------------------------------------------------------


def card_bytes(result: Mapping[str, object]) -> int:
    """A card's size as sent: UTF-8 JSON (the measure tests/support/renderer.py checks against 28 KB)."""
    return len(json.dumps(result, ensure_ascii=False).encode("utf-8"))


def _count_line(events: Sequence[FeedEvent]) -> str:
    """Like "500 changes: 480 became eligible, 18 activated and 2 approval decided"."""
    counts = Counter(e.kind for e in events)
    parts = [f"{counts[k]} {_KIND_WORDS[k]}" for k in EventKind if counts[k]]
    warnings = sum(1 for e in events if e.warning)
    noun = "change" if len(events) == 1 else "changes"
    line = f"{len(events)} {noun}: {and_list(parts)}."
    if warnings:
        line += f" ⚠ {warnings} permanent active {'assignment' if warnings == 1 else 'assignments'} (listed first)."
    return line


MAX_CELL = 80  # characters in a digest cell: one row can never outgrow a card


def _cell(value: str, *, bold: bool = False, color: str | None = None) -> TableCell:
    value = value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"
    block = TextBlock(text=value, wrap=True)
    if bold:
        block.weight = "Bolder"
    if color:
        block.color = color
    return TableCell(items=[block])


def _row(event: FeedEvent, names: Mapping[str, str], tz: Tz, i: int) -> TableRow:
    group = f"{_group(event.group_id, names)} · {access_label(event.access)}"
    color = "Attention" if event.warning else None
    return TableRow(
        id=f"row-{i}",
        cells=[
            _cell(_user(event.principal_id, names)),
            _cell(event_what(event, names), color=color),
            _cell(group),
            _cell(_until(event, tz)),
        ],
    )


def _digest(
    shown: Sequence[FeedEvent],
    burst: Sequence[FeedEvent],
    names: Mapping[str, str],
    tz: Tz,
    *,
    first: int,
    more: int,
    part: tuple[int, int] | None,
) -> JsonDict:
    title = "PIM changes" if part is None else f"PIM changes ({part[0]} of {part[1]})"
    body: list[CardElement] = [heading("heading", title), text("summary", _count_line(burst))]
    header = TableRow(id="row-header", cells=[_cell(h, bold=True) for h in ("Who", "What", "Group", "Until")])
    rows = [header] + [_row(e, names, tz, first + i) for i, e in enumerate(shown)]
    table = Table(
        id="table",
        columns=[{"width": 3}, {"width": 3}, {"width": 3}, {"width": 2}],
        rows=rows,  # firstRowAsHeader defaults to true (and the renderer drops it when sent): the header row
    )
    body.append(table)
    if more:
        body.append(text("more", f"and {more} more", subtle=True))
    fallback = _count_line(burst)
    if part is not None:
        fallback = f"{title}: {fallback}"
    return card(body, fallback)


def _fit(
    events: Sequence[FeedEvent],
    burst: Sequence[FeedEvent],
    names: Mapping[str, str],
    tz: Tz,
    *,
    first: int,
    part: tuple[int, int] | None,
    max_bytes: int,
) -> int:
    """How many of `events` fit in one digest card of at most `max_bytes` (the rest counted as "and N more")."""
    lo, hi = 0, len(events)
    while lo < hi:  # the largest n whose card fits; size grows with n
        n = (lo + hi + 1) // 2
        made = _digest(events[:n], burst, names, tz, first=first, more=len(events) - n, part=part)
        if card_bytes(made) <= max_bytes:
            lo = n
        else:
            hi = n - 1
    return lo


def _warnings_first(events: Sequence[FeedEvent]) -> list[FeedEvent]:
    """Permanent active assignments first (they must never hide in "and N more"), otherwise in the order given."""
    return sorted(events, key=lambda e: not e.warning)


def feed_digest_card(
    events: Sequence[FeedEvent],
    names: Mapping[str, str],
    tz: Tz,
    *,
    max_bytes: int = DIGEST_MAX_BYTES,
) -> JsonDict:
    """One card for a burst: counts per kind, then as many rows as fit under `max_bytes` (permanent active
    assignments first, then in the order given), then "and N more"."""
    events = _warnings_first(events)
    shown = _fit(events, events, names, tz, first=0, part=None, max_bytes=max_bytes)
    return _digest(events[:shown], events, names, tz, first=0, more=len(events) - shown, part=None)


def digest_cards(
    events: Sequence[FeedEvent],
    names: Mapping[str, str],
    tz: Tz,
    *,
    max_bytes: int = DIGEST_MAX_BYTES,
    max_cards: int = 5,
) -> list[JsonDict]:
    """A burst as up to `max_cards` digest cards, each under `max_bytes`, rows split by size in event order.

    Every card carries the whole burst's summary line; the last one says "and N more" if even `max_cards` cards
    cannot list every event (500 eligibilities → a handful of cards, not 500 and not 13)."""
    if not events:
        return []
    events = _warnings_first(events)
    cuts: list[tuple[int, int]] = []  # (first, count) per card
    first = 0
    while first < len(events) and len(cuts) < max_cards:
        widest = (max_cards, max_cards)  # the longest "(n of m)" the title can get: sizes only shrink afterwards
        # At least one row a card, so the split always ends (cells are capped, so one row always fits).
        n = max(1, _fit(events[first:], events, names, tz, first=first, part=widest, max_bytes=max_bytes))
        cuts.append((first, n))
        first += n
    total = len(cuts)
    cards: list[JsonDict] = []
    for index, (start, n) in enumerate(cuts):
        last = index == total - 1
        more = len(events) - (start + n) if last else 0
        part = None if total == 1 else (index + 1, total)
        cards.append(_digest(events[start : start + n], events, names, tz, first=start, more=more, part=part))
    return cards


# ---- feed status -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatusView:
    """What `feed status` shows for one channel, as the feed poller knows it."""

    channel_name: str
    group_names: tuple[str, ...]  # the monitored groups, display names (sorted by the caller or not: shown as given)
    poll_interval: timedelta
    now: datetime
    last_success: datetime | None = None  # the end of the last cycle that completed
    last_error: str | None = None  # a short, user-safe description of the last failed cycle
    last_error_at: datetime | None = None
    events_posted: int = 0
    discovering: bool = False  # True: PIM groups are also discovered from the PIM audit log (FEED_DISCOVER)
    discovered: int = 0  # how many groups discovery has found so far (some may also be configured)
    discovery_problem: str | None = None  # a short, user-safe description of the last failed audit log read
    # (discovery's, or the approval outcomes' when FEED_DISCOVER is off)


def feed_status_card(view: FeedStatusView, tz: Tz) -> JsonDict:
    count = len(view.group_names)
    groups_line = f"{count} {'group' if count == 1 else 'groups'}"
    if view.discovering:
        found = f"{view.discovered} {'group' if view.discovered == 1 else 'groups'} found"
        groups_line += f" (discovering from the PIM audit log: {found})"
    last = format_time(view.last_success, tz, reference=view.now) if view.last_success else "not yet"
    pairs = [
        ("Channel", view.channel_name),
        ("Monitored", groups_line),
        ("Poll interval", f"every {format_duration(view.poll_interval)}"),
        ("Last successful poll", last),
        ("Events posted", str(view.events_posted)),
    ]
    body: list[CardElement] = [heading("heading", "PIM feed status"), facts("facts", pairs)]
    if view.last_error:
        when = f" ({format_time(view.last_error_at, tz, reference=view.now)})" if view.last_error_at else ""
        body.append(text("error", f"Last error{when}: {view.last_error}", color="Attention", weight="Bolder"))
    listed = list(view.group_names[:MAX_STATUS_GROUPS])
    rest = count - len(listed)
    if not listed:
        names_line = "No groups are monitored yet."
    else:
        names_line = ", ".join(listed) + (f" and {rest} more" if rest else "")
    body.append(text("groups", names_line, subtle=True))
    if view.discovery_problem:
        body.append(text("discovery-error", view.discovery_problem, color="Attention", weight="Bolder"))
    fallback = f"PIM feed in {view.channel_name}: {groups_line}, every {format_duration(view.poll_interval)}, " + (
        f"last successful poll {last}, {view.events_posted} events posted."
    )
    if view.last_error:
        fallback += f" Last error: {view.last_error}"
    if view.discovery_problem:
        fallback += f" {view.discovery_problem}"
    return card(body, fallback)
