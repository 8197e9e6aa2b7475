"""The custom extension's rules file (core.extension_rules): each kind of rule decides as documented and names
itself; every error in a file is named with its line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from core.extension import Outcome
from core.extension_rules import RulesError, evaluate, parse_rules
from core.models import Access, PimRequest, RequestStatus, Ticket

GROUP = "bbbbbbbb-0000-4000-8000-000000000005"
OTHER = "bbbbbbbb-0000-4000-8000-000000000001"
TEAM = "cccccccc-0000-4000-8000-000000000001"
ONCALL = "dddddddd-0000-4000-8000-000000000001"
USER = "aaaaaaaa-0000-4000-8000-000000000003"
MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday
SATURDAY = datetime(2026, 12, 12, 3, 0, tzinfo=UTC)


@dataclass
class Directory:
    """The facts a rule asks for, as a test sets them; `asked` records each question."""

    shifts: set[tuple[str, str]] = field(default_factory=set)  # (team, user) on shift
    members: set[tuple[str, str]] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=lambda: {GROUP: "Finance-Prod", OTHER: "Exchange-Admins"})
    asked: list[str] = field(default_factory=list)

    async def on_shift(self, team_id: str, user_id: str, at: datetime, acts_as: str) -> bool:
        self.asked.append(f"shift {team_id} as {acts_as}")
        return (team_id, user_id) in self.shifts

    async def member_of(self, group_id: str, user_id: str) -> bool:
        self.asked.append(f"member {group_id}")
        return (group_id, user_id) in self.members

    async def group_name(self, group_id: str) -> str:
        self.asked.append(f"name {group_id}")
        return self.names.get(group_id, "")


def request(
    *, group: str = GROUP, access: Access = Access.MEMBER, ticket: str | None = None, hours: float = 2
) -> PimRequest:
    return PimRequest(
        id="req-1", status=RequestStatus.OTHER, action="selfActivate", group_id=group, access=access,
        principal_id=USER, start=MONDAY_NOON, duration=timedelta(hours=hours),
        ticket=Ticket(ticket, "ServiceNow") if ticket else None,
    )  # fmt: skip


RULES = f'''
timezone = "Europe/Berlin"

[[rule]]
name = "office hours"
group = "Finance-Prod"
deny_outside = {{ days = "mon-fri", hours = "07:00-19:00" }}

[[rule]]
name = "ticket"
group = "{GROUP}"
access = "member"
require_ticket = {{ pattern = "^INC[0-9]{{7}}$", form = "INC followed by 7 digits (INC0012345)" }}

[[rule]]
name = "on call"
group = "*"
[rule.auto_approve]
on_shift = "{TEAM}"
schedule = "Ops Rotation"
member_of = "{ONCALL}"
member_of_name = "On-call engineers"
max_duration = "4h"
'''


async def decide(req: PimRequest, now: datetime = MONDAY_NOON, directory: Directory | None = None) -> tuple:
    e = await evaluate(parse_rules(RULES), req, now, directory or Directory())
    return e.outcome, e.rule, e.reasons


async def test_outside_the_hours_a_request_is_denied_saying_when_it_is_allowed() -> None:
    outcome, rule, reasons = await decide(request(ticket="INC0012345"), SATURDAY)
    assert (outcome, rule) == (Outcome.DENIED, "office hours")
    assert "Mon–Fri 07:00–19:00 (Europe/Berlin)" in reasons[0] and "Sat 04:00" in reasons[0]


@pytest.mark.parametrize("ticket", [None, "12345", "INC12345", "inc0012345 "])
async def test_a_missing_or_malformed_ticket_is_denied_naming_the_expected_form(ticket: str | None) -> None:
    outcome, rule, reasons = await decide(request(ticket=ticket))
    assert (outcome, rule) == (Outcome.DENIED, "ticket")
    assert "INC followed by 7 digits (INC0012345)" in reasons[0]


async def test_with_a_good_ticket_and_no_one_on_call_the_request_goes_to_the_approvers() -> None:
    outcome, rule, reasons = await decide(request(ticket="INC0012345"))
    assert (outcome, rule) == (Outcome.APPROVED, "default")
    assert reasons == ("Ticket INC0012345 has the expected form (rule 'ticket').",)


async def test_whoever_is_on_shift_now_is_approved_automatically_naming_the_schedule() -> None:
    directory = Directory(shifts={(TEAM, USER)})
    outcome, rule, reasons = await decide(request(group=OTHER), directory=directory)
    assert (outcome, rule) == (Outcome.AUTO_APPROVED, "on call")
    assert reasons == ("Approved automatically: you are on call in Ops Rotation.",)
    assert directory.asked[-1] == f"shift {TEAM} as {USER}"  # acts as the requester unless told otherwise


async def test_a_member_of_the_on_call_group_is_approved_automatically_too() -> None:
    outcome, _, reasons = await decide(request(group=OTHER), directory=Directory(members={(ONCALL, USER)}))
    assert outcome is Outcome.AUTO_APPROVED and "member of On-call engineers" in reasons[0]


async def test_auto_approval_stops_at_its_maximum_duration() -> None:
    outcome, rule, _ = await decide(request(group=OTHER, hours=5), directory=Directory(shifts={(TEAM, USER)}))
    assert (outcome, rule) == (Outcome.APPROVED, "default")


async def test_the_owner_access_skips_a_member_rule_and_first_rule_that_decides_wins() -> None:
    outcome, rule, _ = await decide(request(access=Access.OWNER), directory=Directory(shifts={(TEAM, USER)}))
    assert (outcome, rule) == (Outcome.AUTO_APPROVED, "on call")  # no ticket asked of owners


async def test_a_window_past_midnight_covers_the_small_hours_of_the_next_day() -> None:
    rules = parse_rules('[[rule]]\nname = "night"\ngroup = "*"\ndeny_outside = { days = "fri", hours = "22:00-06:00" }')
    fri_late, sat_early, sat_late = (datetime(2026, 12, 11, 23, tzinfo=UTC), datetime(2026, 12, 12, 5, tzinfo=UTC),
                                     datetime(2026, 12, 12, 23, tzinfo=UTC))  # fmt: skip
    outcomes = [(await evaluate(rules, request(), t, Directory())).outcome for t in (fri_late, sat_early, sat_late)]
    assert outcomes == [Outcome.APPROVED, Outcome.APPROVED, Outcome.DENIED]


BAD = f'''timezone = "Europe/Berlin"

[[rule]]
name = "ticket"
group = "{GROUP}"
access = "members"
require_ticket = {{ pattern = "^INC[0-9", form = "INC0012345" }}

[[rule]]
name = "on call"
group = "*"
[rule.auto_approve]
on_shift = "ops-team"
max_duration = "4 fortnights"
hours = "25:00-26:00"

[[rule]]
name = "ticket"
group = "*"
deny_outside = {{ days = "someday" }}
'''


def test_every_error_of_a_file_is_named_with_its_line() -> None:
    with pytest.raises(RulesError) as e:
        parse_rules(BAD, "rules.toml")
    lines = [int(m.group(1)) for p in e.value.problems if (m := re.match(r"rules\.toml line (\d+): ", p))]
    assert len(lines) == len(e.value.problems)  # every message names its line
    text = "\n".join(e.value.problems)
    assert "line 6: rule 'ticket': access must be" in text
    assert "line 7: rule 'ticket': pattern '^INC[0-9' is not a regular expression" in text
    assert "line 13: rule 'on call': on_shift must be the team's id" in text
    assert "line 14: rule 'on call': max_duration '4 fortnights'" in text
    assert "line 15: rule 'on call': hours must be like" in text
    assert "line 20: rule 'ticket': days must be like" in text


def test_a_toml_syntax_error_is_named_with_its_line_and_column() -> None:
    with pytest.raises(RulesError) as e:
        parse_rules('[[rule]]\nname = "x"\ngroup = *\n', "rules.toml")
    assert e.value.problems == ["rules.toml line 3: invalid TOML: Invalid value (column 9)"]


def test_a_duplicate_name_and_a_rule_without_a_kind_are_refused_at_their_lines() -> None:
    source = (
        '[[rule]]\nname = "a"\ngroup = "*"\nrequire_ticket = { pattern = "x" }\n\n[[rule]]\nname = "A"\ngroup = "*"\n'
    )
    with pytest.raises(RulesError) as e:
        parse_rules(source, "r.toml")
    assert e.value.problems == [
        "r.toml line 6: rule 'A' must have exactly one of deny_outside, require_ticket, auto_approve (it has none)"
    ]
    source = source + 'require_ticket = { pattern = "y" }\n'
    with pytest.raises(RulesError) as e:
        parse_rules(source, "r.toml")
    assert e.value.problems == ["r.toml line 7: rule name 'A' is used twice (also line 2)"]


def test_an_empty_file_is_no_rules() -> None:
    assert parse_rules("").rules == ()
