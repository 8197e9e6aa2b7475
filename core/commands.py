"""The chat command language: `parse(text) -> Command`.

Forgiving by design. Examples that parse:

    activate Exchange-Admins 2h
    activate "Teams Admins" 90m because INC-4711
    activate Exchange-Admins, "Teams Admins" 1h30m for patch window ticket CHG-0042
    activate exchange admins as owner 1.5h reason: quarterly audit
    activate Exchange-Admins for 2 hours          (``for`` followed only by a duration is the duration)
    activate Exchange-Admins 2h at 14:00          (scheduled: also `tomorrow 9:00`, `on Monday 08:30`,
                                                   `at 2026-12-24T08:00`; core.schedule, in the user's time zone)
    deactivate Exchange-Admins
    cancel Exchange-Admins                        (withdraw one's own request that waits for approval)
    pending                                       (an approver's open requests)
    approvals here Exchange-Admins                (admins, in a channel: the group's approvals go to this channel)
    approvals off Exchange-Admins / approvals status
    feed here / feed off / feed status            (admins, in a channel: the admin feed, issue 5)
    history / history 2                           (one's own PIM-for-Groups requests of the last 30 days, by page)
    audit export 2026-11-01 2026-11-30 [group …]  (admins: a CSV of the monitored groups' PIM events, in the 1:1 chat)
    status / help

Anything else is a `Help` carrying a kind reason. The parser knows nothing about which groups exist; names are
resolved against the user's eligibilities by the service (`core.names`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from core.models import Access, Ticket
from core.names import normalise
from core.schedule import StartAt, StartUnreadable, find_start, leading_start

__all__ = [
    "Activate",
    "ApprovalChannel",
    "AuditExport",
    "Cancel",
    "Command",
    "Deactivate",
    "Feed",
    "FeedAction",
    "Help",
    "History",
    "Pending",
    "Status",
    "format_duration",
    "parse",
    "parse_duration",
]

MAX_TEXT = 2000  # Teams messages can be long; a command never is. Longer input is refused, not parsed.


@dataclass(frozen=True, slots=True)
class Activate:
    groups: tuple[str, ...]
    access: Access | None = None  # None: member, or owner when that is the only eligibility
    duration: timedelta | None = None  # None: the policy's maximum
    justification: str | None = None
    ticket: Ticket | None = None
    start: StartAt | None = None  # None: now; else a scheduled activation (core.schedule places it)


@dataclass(frozen=True, slots=True)
class Deactivate:
    groups: tuple[str, ...]
    access: Access | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel one's own request that waits for approval."""

    group: str


@dataclass(frozen=True, slots=True)
class Pending:
    """An approver's open requests, as approval cards."""


@dataclass(frozen=True, slots=True)
class ApprovalChannel:
    """An admin command about a group's approvals channel, typed in that channel: `approvals here <group>` (this
    channel gets the group's approval cards), `approvals off <group>`, `approvals status`. `action` is "" for a bare
    `approvals`: the channel's status in a channel, the approver's open requests (`pending`) elsewhere."""

    action: str  # "here" | "off" | "status" | ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    pass


class FeedAction(StrEnum):
    HERE = "here"  # post the admin feed in this channel
    OFF = "off"  # stop posting it
    STATUS = "status"  # where it goes, what it monitors, how it is doing


@dataclass(frozen=True, slots=True)
class Feed:
    """The admin feed's commands (issue 5), typed in a channel with the bot @mentioned."""

    action: FeedAction


@dataclass(frozen=True, slots=True)
class History:
    """One's own PIM-for-Groups requests of the last 30 days, newest first, one page of them (1 = the newest)."""

    page: int = 1


@dataclass(frozen=True, slots=True)
class AuditExport:
    """`audit export <from> <to> [group …]` (admins): a CSV of the monitored groups' PIM events from the day `start`
    to the day `end`, both included (dates in UTC), delivered as a file in the admin's 1:1 chat. `groups` empty: all
    monitored groups."""

    start: date
    end: date
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Help:
    """The usage, or, for a slip, what went wrong and what the user seems to have wanted."""

    reason: str | None = None  # why the usage is shown: an unknown word, a duration we could not read, …
    # A slip's best guess at the command meant: a mistyped verb's command ("actvate X 2h" → Activate), or the command
    # without the group it needs ("activate 1h" → Activate((), duration=1h)), so the answer can offer the user's own.
    meant: Command | None = None
    correction: str | None = None  # the text with its mistyped verb corrected: "activate Exchange-Admins 2h"
    thanks: bool = False  # a thank-you: nothing to do, and no reason to show the whole usage

    @property
    def slip(self) -> bool:
        """Not a request for the usage (`help`, a greeting, nothing) but text that was no command."""
        return self.reason is not None or self.thanks


Command = Activate | Deactivate | Cancel | Pending | ApprovalChannel | Status | Feed | History | AuditExport | Help

_VERBS = {
    "activate": "activate",
    "activation": "activate",
    "elevate": "activate",
    "enable": "activate",
    "deactivate": "deactivate",
    "release": "deactivate",
    "status": "status",
    "list": "status",
    "mine": "status",
    "cancel": "cancel",
    "withdraw": "cancel",
    "pending": "pending",
    "feed": "feed",
    "history": "history",
    "audit": "audit",
    "approvals": "pending",
    "help": "help",
    "?": "help",
    "usage": "help",
    "hi": "help",
    "hello": "help",
}

# The verbs a mistyped first word is compared with ("actvate" → activate); not their aliases, so that "please" is not
# taken for "release".
_TYPO_TARGETS = ("activate", "deactivate", "status", "cancel", "pending", "history", "help")
_THANKS = {"thanks", "thank", "thx", "ty", "cheers", "thankyou", "danke", "merci"}

_UNIT = {
    "d": 1440, "day": 1440, "days": 1440,
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60, "std": 60,
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
}  # fmt: skip
_NUMBER = r"\d+(?:[.,]\d+)?"
# re.ASCII: under Unicode IGNORECASE "ſ" matches "s", "ı" matches "i" and "K" (Kelvin) matches "k", so a unit could
# match yet miss the _UNIT lookup; and \d would accept digits int() and float() read differently from ours.
_PART = re.compile(
    rf"({_NUMBER})\s*(days?|d|hours?|hrs?|h|std|minutes?|mins?|m)(?![a-z])\s*(?:and\s+)?", re.IGNORECASE | re.ASCII
)
_ISO = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+)S)?)?", re.IGNORECASE | re.ASCII)
_CLOCK = re.compile(r"(\d{1,2}):([0-5]\d)", re.ASCII)
_TICKET = re.compile(r"\bticket\s*(?:[:#]|no\.?|number)?\s*([A-Za-z]{0,10}[-#]?\d[\w\-/.]*)", re.IGNORECASE)
# "reason:audit", "because: x", and a keyword at the very end ("… 2h because") with nothing after it.
_REASON = re.compile(r"\b(because|reason|justification|for)\b(?:\s*:\s*|\s+|$)", re.IGNORECASE)
_LEADING_REASON = re.compile(r"^(?:because|reason|justification|for)\b\s*:?\s*", re.IGNORECASE)
_AS_ACCESS = re.compile(r"\bas\s+(an?\s+)?(owner|member)s?\b", re.IGNORECASE)
# Only what a person meant as a duration: "2x", "-2h", "1e400h", "PT2X", "P2H" — not a name like "Project42".
_LOOKS_LIKE_DURATION = re.compile(r"^(-?\d[\w.,:]*|PT?\d[\w.,]*)$", re.IGNORECASE)
_TRAILING_PUNCTUATION = " .!?,;"


def parse_duration(text: str) -> timedelta | None:
    """`2h`, `90m`, `1h30m`, `1h 30`, `1.5h`, `2 hours`, `1 hour and 30 minutes`, `1:30`, `PT2H` → timedelta.

    Anything else → None, including absurd numbers that do not fit a timedelta."""
    try:
        return _parse_duration(text.strip())
    except OverflowError:  # "99999999999999999999h", "P99999999999D": no one means that
        return None


def _parse_duration(s: str) -> timedelta | None:
    if not s:
        return None
    if (m := _ISO.fullmatch(s)) and s.upper() != "P" and s.upper() != "PT":
        days, hours, minutes, seconds = m.groups()
        return timedelta(
            days=int(days or 0), hours=float(hours or 0), minutes=float(minutes or 0), seconds=int(seconds or 0)
        )
    if m := _CLOCK.fullmatch(s):
        return timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))
    total = 0.0
    pos = 0
    last_unit = 0
    for m in _PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1).replace(",", ".")) * _UNIT[m.group(2).lower()]
        last_unit = _UNIT[m.group(2).lower()]
        pos = m.end()
    rest = s[pos:].strip()
    if pos and rest.isascii() and rest.isdigit() and last_unit == 60:  # "1h30" means 1 h 30 min
        total += int(rest)
        rest = ""
    if not pos or rest:
        return None
    return timedelta(minutes=total)


def format_duration(d: timedelta) -> str:
    """Compact, human: `2 h`, `1 h 30 min`, `45 min`, `1 d 2 h`; negative (a time already passed) as `-5 min`."""
    minutes = int(round(d.total_seconds() / 60))
    if minutes < 0:
        return "-" + format_duration(timedelta(minutes=-minutes))
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins else ""]
    return " ".join(p for p in parts if p) or "0 min"


def parse(text: str) -> Command:
    """Turn a chat message (bot mention already removed) into a command. Never raises."""
    text = " ".join(text.replace("\u00a0", " ").split())
    if not text:
        return Help()
    if len(text) > MAX_TEXT:
        return Help(f"That message is too long for a command ({len(text)} characters).")
    text = _normalise_quotes(text)
    head, _, rest = text.partition(" ")
    verb = _VERBS.get(head.lower()) or _VERBS.get(head.lower().rstrip(":,.!?"))
    if verb is None:
        return _slip(head, rest)
    if verb == "status":
        return Status()
    if verb == "help":
        return Help()
    if verb == "pending" and head.lower().rstrip(":,.!?") == "approvals":
        return _parse_approval_channel(rest)
    if verb == "pending":
        return Pending()
    if verb == "feed":
        return _parse_feed(rest)
    if verb == "history":
        return _parse_history(rest)
    if verb == "audit":
        return _parse_audit(rest)
    if verb == "cancel":
        group = rest.strip().rstrip(_TRAILING_PUNCTUATION).strip().strip('"').strip()
        if not group:
            return Help("Which request? For example: “cancel Exchange-Admins”.", meant=Cancel(""))
        return Cancel(group)
    try:
        if verb == "activate":
            return _parse_activate(rest)
        return _parse_deactivate(rest)
    except _Unreadable as e:
        return Help(str(e))


_CHANNEL_ACTIONS = {"here": "here", "on": "here", "off": "off", "status": "status", "list": "status"}


def _parse_approval_channel(rest: str) -> Command:
    word, _, group = rest.strip().partition(" ")
    if not word:
        return ApprovalChannel("")
    action = _CHANNEL_ACTIONS.get(word.lower().rstrip(":,.!?"))
    if action is None:
        return Help(f"I didn't understand “approvals {_shorten(word)}”. Try “approvals here Exchange-Admins”.")
    group = group.strip().rstrip(_TRAILING_PUNCTUATION).strip().strip('"').strip()
    if action != "status" and not group:
        return Help(f"Which group? For example: “approvals {action} Exchange-Admins”.")
    return ApprovalChannel(action, group if action != "status" else "")


def _slip(head: str, rest: str) -> Help:
    """Text that starts with no known verb: a thank-you, a mistyped verb (with the command it would make), or words
    the bot does not know."""
    word = head.lower().rstrip(":,.!?")
    if word in _THANKS:
        return Help(thanks=True)
    reason = f"I didn't understand “{_shorten(head)}”."
    close = difflib.get_close_matches(word, _TYPO_TARGETS, n=1, cutoff=0.75) if len(word) >= 4 else []
    if not close:
        return Help(reason)
    correction = f"{close[0]} {rest}".strip()
    meant = parse(correction)
    if isinstance(meant, Help):  # the corrected verb still lacks something: what that slip guessed
        return Help(reason, meant.meant, correction)
    return Help(reason, meant, correction)


class _Unreadable(Exception):
    pass


_FEED_WORDS = {"here": FeedAction.HERE, "on": FeedAction.HERE, "off": FeedAction.OFF, "stop": FeedAction.OFF}


def _parse_feed(rest: str) -> Command:
    word = rest.strip().rstrip(_TRAILING_PUNCTUATION).lower()
    if word in ("", "status", "?"):
        return Feed(FeedAction.STATUS)
    action = _FEED_WORDS.get(word)
    if action is None:
        return Help(
            f"I didn't understand “feed {_shorten(rest.strip())}”. Try “feed here”, “feed off” or “feed status”."
        )
    return Feed(action)


MAX_HISTORY_PAGE = 50
_HISTORY_PAGE = re.compile(r"(?:page\s*)?#?(\d{1,4})", re.IGNORECASE | re.ASCII)


def _parse_history(rest: str) -> Command:
    """`history`, `history 2`, `history page 2`."""
    rest = rest.strip().rstrip(_TRAILING_PUNCTUATION).strip()
    if not rest:
        return History()
    m = _HISTORY_PAGE.fullmatch(rest)
    if m is None or not 1 <= int(m.group(1)) <= MAX_HISTORY_PAGE:
        return Help(f"I didn't understand “history {_shorten(rest)}”. Try “history” or “history 2” for older requests.")
    return History(int(m.group(1)))


_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_AUDIT_USAGE = (
    "For example: “audit export 2026-11-01 2026-11-30” or “audit export 2026-11-01 2026-11-30 Exchange-Admins”."
)


def _parse_audit(rest: str) -> Command:
    """`audit export <from> <to> [group …]`: two dates (YYYY-MM-DD, the first not after the second), then group
    names, separated by commas or spaces (a name with spaces in quotes)."""
    word, _, rest = rest.strip().partition(" ")
    if word.lower().rstrip(":,.!?") != "export":
        return Help(f"I didn't understand “audit {_shorten(word)}”. {_AUDIT_USAGE}")
    words = rest.split()
    if len(words) < 2:
        return Help(f"From which day to which day? {_AUDIT_USAGE}")
    days: list[date] = []
    for word in words[:2]:
        day = _read_date(word.rstrip(","))
        if day is None:
            return Help(f"“{_shorten(word)}” is not a date I can read: write it as YYYY-MM-DD. {_AUDIT_USAGE}")
        days.append(day)
    if days[0] > days[1]:
        return Help(
            f"The first date ({days[0].isoformat()}) is after the second ({days[1].isoformat()}). {_AUDIT_USAGE}"
        )
    groups = _split_group_words(" ".join(words[2:]))
    return AuditExport(days[0], days[1], groups)


def _read_date(text: str) -> date | None:
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:  # 2026-02-30
        return None


def _split_group_words(text: str) -> tuple[str, ...]:
    """Group names separated by commas or spaces; a quoted name is one name, spaces and all."""
    names: list[str] = []
    for part in re.findall(r'"([^"]*)"|([^\s,"]+)', text):
        name = (part[0] or part[1]).strip()
        if name and normalise(name) not in {normalise(n) for n in names}:
            names.append(name)
    return tuple(names)


def _parse_activate(rest: str) -> Command:
    rest, ticket = _take_ticket(rest)
    rest, justification, reason_duration = _take_reason(rest)
    try:
        rest, start = find_start(rest)
        if start is None and reason_duration is not None and justification:
            # "for 2h at 14:00 because x": the start came after the duration the "for" took, not in a justification
            after, start = leading_start(justification)
            justification = _justification(_LEADING_REASON.sub("", after, count=1)) if start else justification
    except StartUnreadable as e:
        raise _Unreadable(str(e)) from e
    rest, access = _take_access(rest)
    groups_text, duration = _take_duration(rest)
    if reason_duration is not None:
        if duration is not None:
            raise _Unreadable("I found two durations; please give one, e.g. “activate Exchange-Admins 2h”.")
        duration = reason_duration
    groups = _split_groups(groups_text)
    if not groups:
        return Help(
            "Which group? For example: “activate Exchange-Admins 2h”.",
            meant=Activate((), access, duration, justification, ticket, start),
        )
    return Activate(groups, access, duration, justification, ticket, start)


def _parse_deactivate(rest: str) -> Command:
    rest, access = _take_access(rest.rstrip(_TRAILING_PUNCTUATION))
    groups = _split_groups(rest)
    if not groups:
        return Help("Which group? For example: “deactivate Exchange-Admins”.", meant=Deactivate((), access))
    return Deactivate(groups, access)


def _normalise_quotes(text: str) -> str:
    # Teams and phones turn "..." into curly quotes; treat them all as plain double quotes.
    for q in "“”„«»":
        text = text.replace(q, '"')
    return text.replace("‘", "'").replace("’", "'")


def _outside_quotes(text: str, pos: int) -> bool:
    return text.count('"', 0, pos) % 2 == 0


def _first_outside(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    for m in pattern.finditer(text):
        if _outside_quotes(text, m.start()):
            return m
    return None


def _take_ticket(text: str) -> tuple[str, Ticket | None]:
    """`ticket <id>` as a clause of its own: before the justification, or after it at the very end. Inside a
    justification ("because the ticket INC-1 is urgent") it is part of what the person wrote and stays there."""
    reason = _reason_start(text)
    for m in _TICKET.finditer(text):
        at_end = not text[m.end() :].strip(_TRAILING_PUNCTUATION)
        if _outside_quotes(text, m.start()) and (reason is None or m.end() <= reason or at_end):
            return _cut(text, m), Ticket(m.group(1).rstrip(".,;"))
    return text, None


def _reason_start(text: str) -> int | None:
    """Where the justification's keyword starts, as _take_reason finds it (a `for` at the very end is a name's)."""
    for m in _REASON.finditer(text):
        if _outside_quotes(text, m.start()) and (m.group(1).lower() != "for" or text[m.end() :].strip()):
            return m.start()
    return None


def _cut(text: str, m: re.Match[str]) -> str:
    return (text[: m.start()].rstrip() + " " + text[m.end() :].lstrip()).strip()


def _take_reason(text: str) -> tuple[str, str | None, timedelta | None]:
    """Split off the justification. `for 2 hours` (only a duration) is a duration, not a reason."""
    for m in _REASON.finditer(text):
        if not _outside_quotes(text, m.start()):
            continue
        head, tail = text[: m.start()].strip(), text[m.end() :].strip()
        if m.group(1).lower() == "for":
            if not tail:  # "for" as the last word is part of a name, not a keyword
                continue
            if (lead := _leading_duration(tail)) is not None:
                # "for 2 hours", "for 2h patch window", "for 2h because patching"
                duration, after = lead
                return head, _justification(_LEADING_REASON.sub("", after, count=1)), duration
        return head, _justification(tail), None
    return text, None, None


def _leading_duration(text: str) -> tuple[timedelta, str] | None:
    """The longest run of leading words that reads as a duration, and the words after it."""
    words = text.split(" ")
    for n in range(min(len(words), 6), 0, -1):
        d = parse_duration(" ".join(words[:n]).rstrip(_TRAILING_PUNCTUATION))
        if d is not None:
            return d, " ".join(words[n:]).strip()
    return None


def _justification(text: str) -> str | None:
    # The comma of "because patch, ticket INC-1" stays behind when the ticket is cut out.
    return text.strip().strip('"').strip().rstrip(",;:").strip() or None


def _take_access(text: str) -> tuple[str, Access | None]:
    m = _first_outside(_AS_ACCESS, text)
    if m is None:
        return text, None
    return _cut(text, m), Access(m.group(2).lower())


def _take_duration(text: str) -> tuple[str, timedelta | None]:
    """The longest run of trailing words (outside quotes) that reads as a duration."""
    text = text.rstrip(_TRAILING_PUNCTUATION)  # "activate Exchange-Admins 2h."
    words = text.split(" ")
    for i in range(max(0, len(words) - 6), len(words)):
        candidate = " ".join(words[i:])
        if '"' in candidate:
            continue
        d = parse_duration(candidate)
        if d is not None:
            return " ".join(words[:i]).strip().rstrip(","), d
    last = words[-1] if words else ""
    if last and '"' not in last and _LOOKS_LIKE_DURATION.match(last) and any(c.isdigit() for c in last):
        if last.isdigit():
            raise _Unreadable(f"“{last}” needs a unit: “{last}h” for hours or “{last}m” for minutes.")
        raise _Unreadable(f"I couldn't read the duration “{_shorten(last)}”. Try “2h”, “90m”, “1h30m” or “PT2H”.")
    return text, None


def _split_groups(text: str) -> tuple[str, ...]:
    names: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            names.append("".join(current))
            current = []
        else:
            current.append(ch)
    names.append("".join(current))
    cleaned: list[str] = []
    for n in names:
        n = " ".join(n.split()).strip("'").strip().rstrip("!?;:").strip()
        if n.lower().startswith("and "):  # "A, B and C" is not supported as a list word; keep it simple
            n = n[4:]
        # The same key the resolver uses: "Exchange-Admins, exchange admins" is one group, asked once.
        if n and normalise(n) not in {normalise(c) for c in cleaned}:
            cleaned.append(n)
    return tuple(cleaned)


def _shorten(s: str, limit: int = 40) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"
