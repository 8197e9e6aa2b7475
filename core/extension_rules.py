"""The rules file of PIM's custom extension (issue 15 point 2): what the bot answers PIM about an activation, per group
and access, read from TOML with the standard library and checked whole at start.

    timezone = "Europe/Berlin"            # optional: the default zone of every `hours`/`days` below (else UTC)

    [[rule]]
    name = "office hours"                 # required, unique: every decision names its rule
    group = "Finance-Prod"                # the group's object id, its display name, or "*" (every group)
    access = "member"                     # "member", "owner" or "any" (the default)
    deny_outside = { days = "mon-fri", hours = "07:00-19:00" }

    [[rule]]
    name = "ticket"
    group = "Finance-Prod"
    require_ticket = { pattern = "^(INC|CHG)[0-9]{7}$", form = "INC0012345 or CHG0012345" }

    [[rule]]
    name = "on call"
    group = "Network-Admins"
    [rule.auto_approve]
    on_shift = "<team id>"                # a Teams Shifts schedule: the requester has a shared shift now
    schedule = "Ops Rotation"             # how the decision names it ("you are on call in Ops Rotation")
    acts_as = "<user id>"                 # optional: MS-APP-ACTS-AS for the app-only read (default: the requester)
    member_of = "<group id>"              # or (also) a member of this Entra group, nested groups included
    member_of_name = "On-call engineers"
    max_duration = "4h"                   # optional: only requests up to this long
    days = ["sat", "sun"]                 # optional: only on these days, within these hours
    hours = "00:00-24:00"

The rules that apply to a request (its group and access) are taken in file order, and the first that decides wins:
`deny_outside` denies outside its days and hours; `require_ticket` denies a request without a ticket number that
matches its pattern (the reason says the expected form); `auto_approve` approves automatically when its conditions
all hold (on shift now, or a member; within its duration, days and hours). A rule that does not decide lets the next
one look. When none decides, the answer is `Approved` by rule "default": PIM's normal approval (if the policy has
one) follows. A `hours` window whose end is before its start runs past midnight (`22:00-06:00`); its days are the
days it starts on.

Checked at start (`parse_rules`): every error is reported with the line it is on (tomllib reports lines for syntax
errors only; for the others the line is found from the rule's `[[rule]]` header and the key's `key =` line in it).
"""

from __future__ import annotations

import functools
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.commands import parse_duration
from core.extension import DEFAULT, NO_OBJECTION, Evaluation, Outcome, decided
from core.models import Access, PimRequest

__all__ = [
    "ANY_GROUP",
    "AutoApprove",
    "DenyOutside",
    "Facts",
    "RequireTicket",
    "Rule",
    "RuleSet",
    "RulesError",
    "Window",
    "evaluate",
    "parse_rules",
]

ANY_GROUP = "*"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_KINDS = ("deny_outside", "require_ticket", "auto_approve")


class RulesError(ValueError):
    """The rules file cannot be used; `problems` has one line per error, each naming its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Window:
    """Days of the week (0 = Monday) and a time of day from `start` to `end` minutes (end may be 1440: midnight) in
    `zone`."""

    days: frozenset[int]
    start: int
    end: int
    zone: str

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(zoneinfo.ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        if self.start <= self.end:
            return local.weekday() in self.days and self.start <= minute < self.end
        # past midnight: the part after midnight belongs to the day before
        if minute >= self.start:
            return local.weekday() in self.days
        return minute < self.end and (local.weekday() - 1) % 7 in self.days

    def describe(self) -> str:
        days = _describe_days(self.days)
        hours = f"{_hhmm(self.start)}–{_hhmm(self.end)}"
        return f"{days} {hours} ({self.zone})" if (self.start, self.end) != (0, 1440) else f"{days} ({self.zone})"


@dataclass(frozen=True, slots=True)
class DenyOutside:
    window: Window


@dataclass(frozen=True, slots=True)
class RequireTicket:
    pattern: re.Pattern[str]
    form: str


@dataclass(frozen=True, slots=True)
class AutoApprove:
    on_shift: str = ""  # a team id
    schedule: str = ""
    acts_as: str = ""
    member_of: str = ""  # a group id
    member_of_name: str = ""
    max_duration: timedelta | None = None
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    line: int
    group: str  # an object id (lower case), a display name, or ANY_GROUP
    access: Access | None  # None: any
    check: DenyOutside | RequireTicket | AutoApprove

    @property
    def by_name(self) -> bool:
        return self.group != ANY_GROUP and not _GUID.match(self.group)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    source: str = ""

    @property
    def names_groups(self) -> bool:
        """Whether a rule names its group by display name (the group's name is then looked up per request)."""
        return any(r.by_name for r in self.rules)


class Facts(Protocol):
    """What rules ask the directory (graph/): a Teams Shifts schedule, a group's members, a group's name."""

    async def on_shift(self, team_id: str, user_id: str, at: datetime, acts_as: str) -> bool: ...

    async def member_of(self, group_id: str, user_id: str) -> bool: ...

    async def group_name(self, group_id: str) -> str: ...


# ---- evaluation ----------------------------------------------------------------------------------------------------


async def evaluate(
    rules: RuleSet, request: PimRequest, now: datetime, facts: Facts, progress: list[str] | None = None
) -> Evaluation:
    """The answer to PIM about `request` at `now` (module doc). `progress` gets each rule's name as it starts
    deciding (the endpoint says which rule a deadline caught)."""
    group_name: str | None = None
    notes: list[str] = []
    for rule in rules.rules:
        if rule.access is not None and rule.access is not request.access:
            continue
        if rule.group == ANY_GROUP:
            pass
        elif rule.by_name:
            if group_name is None:
                if progress is not None:
                    progress.append(rule.name)
                group_name = await facts.group_name(request.group_id)
            if rule.group.casefold() != group_name.casefold():
                continue
        elif rule.group != request.group_id.lower():
            continue
        if progress is not None:
            progress.append(rule.name)
        found = await _decide(rule, request, now, facts, notes)
        if found is not None:
            return found
    return decided(request, Outcome.APPROVED, DEFAULT, tuple(notes) or (NO_OBJECTION,))


async def _decide(rule: Rule, request: PimRequest, now: datetime, facts: Facts, notes: list[str]) -> Evaluation | None:
    check = rule.check
    if isinstance(check, DenyOutside):
        if check.window.contains(now):
            return None
        local = now.astimezone(zoneinfo.ZoneInfo(check.window.zone))
        reason = (
            f"Activation is allowed only {check.window.describe()}; it is now {_DAY_NAMES[local.weekday()]} "
            f"{local:%H:%M} there (rule '{rule.name}')."
        )
        return decided(request, Outcome.DENIED, rule.name, (reason,))
    if isinstance(check, RequireTicket):
        number = request.ticket.number.strip() if request.ticket is not None else ""
        if number and check.pattern.fullmatch(number):
            notes.append(f"Ticket {number} has the expected form (rule '{rule.name}').")
            return None
        got = f"got '{number[:60]}'" if number else "none was given"
        reason = f"A ticket number of the form {check.form} is required; {got} (rule '{rule.name}')."
        return decided(request, Outcome.DENIED, rule.name, (reason,))
    return await _auto_approve(rule, check, request, now, facts)


async def _auto_approve(
    rule: Rule, check: AutoApprove, request: PimRequest, now: datetime, facts: Facts
) -> Evaluation | None:
    if check.max_duration is not None:
        asked = request.duration or (request.end - request.start if request.end and request.start else None)
        if asked is None or asked > check.max_duration:
            return None
    if check.window is not None and not check.window.contains(now):
        return None
    user = request.principal_id
    if check.on_shift and await facts.on_shift(check.on_shift, user, now, check.acts_as or user):
        reason = f"Approved automatically: you are on call in {check.schedule or 'the Shifts schedule'}."
        return decided(request, Outcome.AUTO_APPROVED, rule.name, (reason,))
    if check.member_of and await facts.member_of(check.member_of, user):
        reason = f"Approved automatically: you are a member of {check.member_of_name or 'the on-call group'}."
        return decided(request, Outcome.AUTO_APPROVED, rule.name, (reason,))
    return None


# ---- parsing -------------------------------------------------------------------------------------------------------


@dataclass
class _Lines:
    """Where things are in the file's text: each `[[rule]]` header, and a key's line within a rule."""

    text: list[str]
    headers: list[int] = field(default_factory=list)  # 0-based line index of each [[rule]] header

    @classmethod
    def of(cls, source: str) -> _Lines:
        lines = source.splitlines()
        header = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
        return cls(lines, [i for i, line in enumerate(lines) if header.match(line)])

    def rule(self, index: int) -> int:
        """The 1-based line of rule `index`'s header (1 when rules are not written as [[rule]] tables)."""
        return self.headers[index] + 1 if index < len(self.headers) else 1

    def key(self, index: int, *path: str) -> int:
        """The 1-based line of `path` (a key, or a table then a key) in rule `index`; its header when not found."""
        if index >= len(self.headers):
            return self._anywhere(path[-1])
        start = self.headers[index]
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.text)
        at = start
        for part in path:
            found = self._find(part, at, end)
            if found is None:
                return at + 1
            at = found
        return at + 1

    def _find(self, key: str, start: int, end: int) -> int | None:
        assignment = re.compile(rf"(^|[\s{{,.\[]){re.escape(key)}\s*(=|\])")
        for i in range(start, end):
            if assignment.search(self.text[i].split("#", 1)[0]):
                return i
        return None

    def _anywhere(self, key: str) -> int:
        found = self._find(key, 0, len(self.text))
        return found + 1 if found is not None else 1


class _Problems:
    """The problems found so far, each "{file} line N: …"."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[str] = []

    def __call__(self, line: int, text: str) -> None:
        self.found.append(f"{self.name} line {line}: {text}")


def parse_rules(source: str, name: str = "rules file") -> RuleSet:
    """The rules in `source` (the file's text; `name` for the messages). RulesError lists every problem, each as
    "{name} line N: …"."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as e:
        raise RulesError([f"{name} {_syntax(str(e))}"]) from e
    lines = _Lines.of(source)
    problem = _Problems(name)

    default_zone = "UTC"
    for key in data:
        if key not in ("rule", "timezone"):
            problem(lines._anywhere(key), f"unknown setting '{key}' (a rules file has 'timezone' and [[rule]] tables)")
    if "timezone" in data:
        zone = _zone(data["timezone"])
        if zone is None:
            problem(lines._anywhere("timezone"), f"timezone {data['timezone']!r} is not a time zone like Europe/Berlin")
        else:
            default_zone = zone
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problem(lines._anywhere("rule"), "'rule' must be a list of [[rule]] tables")
        raw_rules = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        at = functools.partial(lines.key, index)
        rule = _rule(raw, index, at, lines.rule(index), default_zone, problem)
        if rule is None:
            continue
        if rule.name.casefold() in seen:
            problem(at("name"), f"rule name '{rule.name}' is used twice (also line {seen[rule.name.casefold()]})")
            continue
        seen[rule.name.casefold()] = at("name")
        rules.append(rule)
    if problem.found:
        raise RulesError(problem.found)
    return RuleSet(tuple(rules), source)


def _syntax(message: str) -> str:
    """tomllib's "Invalid value (at line 3, column 9)" as "line 3: invalid TOML: Invalid value (column 9)"."""
    m = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if m is None:
        return f"line 1: invalid TOML: {message}"
    what = message[: m.start()].strip()
    return f"line {m.group(1)}: invalid TOML: {what} (column {m.group(2)})"


Problem = _Problems


def _rule(raw: Any, index: int, at: Callable[..., int], header: int, zone: str, problem: Problem) -> Rule | None:
    if not isinstance(raw, Mapping):
        problem(header, "a rule must be a table")
        return None
    before = len(problem.found)
    name = raw.get("name")
    label = f"rule {index + 1}"
    if not isinstance(name, str) or not name.strip():
        problem(header, f'{label} has no name (name = "…": every decision names its rule)')
        name = ""
    else:
        name = name.strip()
        label = f"rule '{name}'"
    unknown = sorted(set(raw) - {"name", "group", "access", *_KINDS})
    for key in unknown:
        problem(
            at(key), f"{label}: unknown key '{key}' (a rule has name, group, access and one of {', '.join(_KINDS)})"
        )
    group = raw.get("group")
    if not isinstance(group, str) or not group.strip():
        problem(header, f'{label}: group is missing (the group\'s object id, its display name, or "*")')
        group = ""
    group = group.strip()
    if _GUID.match(group):
        group = group.lower()
    access_raw = raw.get("access", "any")
    access: Access | None = None
    if not isinstance(access_raw, str) or access_raw.casefold() not in ("member", "owner", "any"):
        problem(at("access"), f'{label}: access must be "member", "owner" or "any", not {access_raw!r}')
    elif access_raw.casefold() != "any":
        access = Access(access_raw.casefold())
    kinds = [k for k in _KINDS if k in raw]
    if len(kinds) != 1:
        what = "none" if not kinds else ", ".join(kinds)
        problem(
            at(kinds[1]) if len(kinds) > 1 else header,
            f"{label} must have exactly one of {', '.join(_KINDS)} (it has {what})",
        )
        return None
    kind = kinds[0]
    table = raw[kind]
    if not isinstance(table, Mapping):
        problem(at(kind), f"{label}: {kind} must be a table")
        return None
    check: DenyOutside | RequireTicket | AutoApprove | None
    if kind == "deny_outside":
        check = _deny_outside(table, label, lambda key: at(kind, key), zone, problem)
    elif kind == "require_ticket":
        check = _require_ticket(table, label, lambda key: at(kind, key), problem)
    else:
        check = _auto_approve_rule(table, label, lambda key: at(kind, key), zone, problem)
    if check is None or len(problem.found) != before or not name or not group:
        return None
    return Rule(name, header, group, access, check)


def _unknown(table: Mapping[str, Any], known: Sequence[str], label: str, what: str, at: Callable[[str], int],
             problem: Problem) -> None:  # fmt: skip
    for key in sorted(set(table) - set(known)):
        problem(at(key), f"{label}: unknown key '{key}' in {what} (it has {', '.join(known)})")


def _deny_outside(
    table: Mapping[str, Any], label: str, at: Callable[[str], int], zone: str, problem: Problem
) -> DenyOutside | None:
    _unknown(table, ("days", "hours", "timezone"), label, "deny_outside", at, problem)
    if "days" not in table and "hours" not in table:
        problem(at("days"), f"{label}: deny_outside needs days, hours or both")
        return None
    window = _window(table, label, at, zone, problem)
    return DenyOutside(window) if window is not None else None


def _require_ticket(
    table: Mapping[str, Any], label: str, at: Callable[[str], int], problem: Problem
) -> RequireTicket | None:
    _unknown(table, ("pattern", "form"), label, "require_ticket", at, problem)
    pattern = table.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        problem(at("pattern"), f"{label}: require_ticket needs a pattern (a regular expression the ticket matches)")
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        problem(at("pattern"), f"{label}: pattern {pattern!r} is not a regular expression ({e})")
        return None
    form = table.get("form", pattern)
    if not isinstance(form, str) or not form.strip():
        problem(at("form"), f'{label}: form must be text saying what a ticket number looks like, e.g. "INC0012345"')
        return None
    return RequireTicket(compiled, form.strip())


def _auto_approve_rule(
    table: Mapping[str, Any], label: str, at: Callable[[str], int], zone: str, problem: Problem
) -> AutoApprove | None:
    known = ("on_shift", "schedule", "acts_as", "member_of", "member_of_name", "max_duration", "days", "hours",
             "timezone")  # fmt: skip
    _unknown(table, known, label, "auto_approve", at, problem)
    texts: dict[str, str] = {}
    for key in ("on_shift", "schedule", "acts_as", "member_of", "member_of_name", "max_duration"):
        value = table.get(key, "")
        if not isinstance(value, str):
            problem(at(key), f"{label}: {key} must be text")
            return None
        texts[key] = value.strip()
    for key in ("on_shift", "acts_as", "member_of"):
        if texts[key] and not _GUID.match(texts[key]):
            what = {"on_shift": "the team's id", "acts_as": "a user's object id", "member_of": "the group's object id"}
            problem(at(key), f"{label}: {key} must be {what[key]} (a GUID), not {texts[key]!r}")
    if not texts["on_shift"] and not texts["member_of"]:
        problem(at("on_shift"), f"{label}: auto_approve needs on_shift (a team's id), member_of (a group's id) or both")
    max_duration: timedelta | None = None
    if texts["max_duration"]:
        max_duration = parse_duration(texts["max_duration"])
        if max_duration is None or max_duration <= timedelta(0):
            problem(at("max_duration"), f"{label}: max_duration {texts['max_duration']!r} is not a duration like 4h")
    window = None
    if "days" in table or "hours" in table or "timezone" in table:
        window = _window(table, label, at, zone, problem)
    return AutoApprove(
        on_shift=texts["on_shift"].lower(),
        schedule=texts["schedule"],
        acts_as=texts["acts_as"].lower(),
        member_of=texts["member_of"].lower(),
        member_of_name=texts["member_of_name"],
        max_duration=max_duration,
        window=window,
    )


def _window(
    table: Mapping[str, Any], label: str, at: Callable[[str], int], zone: str, problem: Problem
) -> Window | None:
    ok = True
    days = frozenset(range(7))
    if "days" in table:
        parsed = _days(table["days"])
        if parsed is None:
            problem(at("days"), f'{label}: days must be like "mon-fri" or ["sat", "sun"], not {table["days"]!r}')
            ok = False
        else:
            days = parsed
    start, end = 0, 1440
    if "hours" in table:
        hours = table["hours"]
        m = _HOURS.match(hours) if isinstance(hours, str) else None
        start = int(m.group(1)) * 60 + int(m.group(2)) if m else -1
        end = int(m.group(3)) * 60 + int(m.group(4)) if m else -1
        if m is None or not (0 <= start < 1440 and 0 < end <= 1440) or int(m.group(2)) > 59 or int(m.group(4)) > 59:
            problem(at("hours"), f'{label}: hours must be like "08:00-18:00", not {hours!r}')
            ok = False
        elif start == end:
            problem(at("hours"), f"{label}: hours {hours!r} is an empty window")
            ok = False
    if "timezone" in table:
        found = _zone(table["timezone"])
        if found is None:
            problem(at("timezone"), f"{label}: timezone {table['timezone']!r} is not a time zone like Europe/Berlin")
            ok = False
        else:
            zone = found
    return Window(days, start, end, zone) if ok else None


def _days(value: Any) -> frozenset[int] | None:
    items: list[str]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        return None
    days: set[int] = set()
    for item in items:
        first, _, last = item.casefold().partition("-")
        a, b = _day(first), _day(last) if last else _day(first)
        if a is None or b is None:
            return None
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days) if days else None


def _day(text: str) -> int | None:
    text = text.strip()[:3]
    return _DAYS.index(text) if text in _DAYS else None


def _zone(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return value.strip()


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    if days == frozenset(range(7)):
        return "every day"
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{_DAY_NAMES[ordered[0]]}–{_DAY_NAMES[ordered[-1]]}"
    return ", ".join(_DAY_NAMES[d] for d in ordered)
