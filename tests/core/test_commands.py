"""The chat command language: what people type (mention already removed) → the command the bot acts on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.commands import (
    MAX_TEXT,
    Activate,
    ApprovalChannel,
    Cancel,
    Command,
    Deactivate,
    Help,
    Status,
    format_duration,
    parse,
    parse_duration,
)
from core.models import Access, Ticket

OWNER, MEMBER = Access.OWNER, Access.MEMBER


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def activate(
    *groups: str,
    access: Access | None = None,
    duration: timedelta | None = None,
    because: str | None = None,
    ticket: str | None = None,
) -> Activate:
    return Activate(tuple(groups), access, duration, because, Ticket(ticket) if ticket else None)


# ---- what parses ------------------------------------------------------------------------------------------------

ACTIVATIONS: list[tuple[str, Command]] = [
    # the examples
    ("activate Exchange-Admins 2h", activate("Exchange-Admins", duration=hours(2))),
    (
        'activate "Teams Admins" 90m because INC-4711',
        activate("Teams Admins", duration=minutes(90), because="INC-4711"),
    ),
    (
        'activate Exchange-Admins, "Teams Admins" 1h30m for patch window ticket CHG-0042',
        activate("Exchange-Admins", "Teams Admins", duration=minutes(90), because="patch window", ticket="CHG-0042"),
    ),
    (
        "activate exchange admins as owner 1.5h reason: quarterly audit",
        activate("exchange admins", access=OWNER, duration=minutes(90), because="quarterly audit"),
    ),
    ("activate Exchange-Admins", activate("Exchange-Admins")),  # no duration: the policy's maximum
    # every duration form the issue names
    ("activate Exchange-Admins 90m", activate("Exchange-Admins", duration=minutes(90))),
    ("activate Exchange-Admins 1h30m", activate("Exchange-Admins", duration=minutes(90))),
    ("activate Exchange-Admins 1.5h", activate("Exchange-Admins", duration=minutes(90))),
    ("activate Exchange-Admins 2 hours", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins PT2H", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins for 2 hours", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins for 2h", activate("Exchange-Admins", duration=hours(2))),
    # spacing, case, punctuation
    ("   activate    Exchange-Admins    2h   ", activate("Exchange-Admins", duration=hours(2))),
    ("activate\u00a0Exchange-Admins\u00a02h", activate("Exchange-Admins", duration=hours(2))),
    ("ACTIVATE Exchange-Admins 2H", activate("Exchange-Admins", duration=hours(2))),
    ("Activate: Exchange-Admins", activate("Exchange-Admins")),
    ("activate! Exchange-Admins", activate("Exchange-Admins")),
    ("activate Exchange-Admins 2h.", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins 2h!", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins 2h?", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins!", activate("Exchange-Admins")),
    ("activate Exchange-Admins, 2h", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins,, Teams", activate("Exchange-Admins", "Teams")),
    # quotes: straight, curly (phones), guillemets, low-high, single
    ('activate "Teams Admins" 2h', activate("Teams Admins", duration=hours(2))),
    ("activate \u201cTeams Admins\u201d 2h", activate("Teams Admins", duration=hours(2))),
    ("activate \u201eTeams Admins\u201c 2h", activate("Teams Admins", duration=hours(2))),
    ("activate \u00abTeams Admins\u00bb 2h", activate("Teams Admins", duration=hours(2))),
    ("activate 'Teams Admins' 2h", activate("Teams Admins", duration=hours(2))),
    ("activate \u2018Teams Admins\u2019 2h", activate("Teams Admins", duration=hours(2))),
    ('activate "Teams Admins', activate("Teams Admins")),  # an unclosed quote is forgiven
    # keywords inside quotes belong to the name
    ('activate "for team" 2h', activate("for team", duration=hours(2))),
    ('activate "as owner team"', activate("as owner team")),
    ('activate "Ops ticket 42"', activate("Ops ticket 42")),
    # several groups: one duration, justification and ticket for all
    (
        'activate "Teams Admins", Exchange-Admins as owner 45m because INC-1 ticket INC-1',
        activate(
            "Teams Admins", "Exchange-Admins", access=OWNER, duration=minutes(45), because="INC-1", ticket="INC-1"
        ),
    ),
    ('deactivate "Teams Admins", Exchange-Admins', Deactivate(("Teams Admins", "Exchange-Admins"))),
    # the same group twice is asked once (the resolver would map both spellings to one group)
    ("activate Exchange-Admins, exchange-admins, EXCHANGE-ADMINS", activate("Exchange-Admins")),
    ("activate Exchange-Admins, exchange admins, exchange_admins 1h", activate("Exchange-Admins", duration=hours(1))),
    # access
    ("activate Exchange-Admins as owner", activate("Exchange-Admins", access=OWNER)),
    ("activate Exchange-Admins as an owner", activate("Exchange-Admins", access=OWNER)),
    ("activate Exchange-Admins AS OWNERS", activate("Exchange-Admins", access=OWNER)),
    ("activate Exchange-Admins as member", activate("Exchange-Admins", access=MEMBER)),
    ("activate Exchange-Admins 2h as owner", activate("Exchange-Admins", access=OWNER, duration=hours(2))),
    # justification: because / reason: / reason / justification: / for
    (
        "activate Exchange-Admins 2h because I need it for the patch window",
        activate("Exchange-Admins", duration=hours(2), because="I need it for the patch window"),
    ),
    ("activate Exchange-Admins reason: audit", activate("Exchange-Admins", because="audit")),
    ("activate Exchange-Admins reason:audit", activate("Exchange-Admins", because="audit")),
    ("activate Exchange-Admins 2h REASON : audit", activate("Exchange-Admins", duration=hours(2), because="audit")),
    ("activate Exchange-Admins reason audit", activate("Exchange-Admins", because="audit")),
    ("activate Exchange-Admins justification: audit", activate("Exchange-Admins", because="audit")),
    ("activate Exchange-Admins 2h because: audit", activate("Exchange-Admins", duration=hours(2), because="audit")),
    ("activate Exchange-Admins for patching", activate("Exchange-Admins", because="patching")),
    (
        'activate Exchange-Admins 2h because "quoted reason"',
        activate("Exchange-Admins", duration=hours(2), because="quoted reason"),
    ),
    (
        'activate "Teams Admins" as owner because "as member inside"',
        activate("Teams Admins", access=OWNER, because="as member inside"),
    ),
    (
        "activate Exchange-Admins because fixing the prod server for 2 hours",
        activate("Exchange-Admins", because="fixing the prod server for 2 hours"),
    ),
    # `for` + a duration, then the reason
    (
        "activate Exchange-Admins for 2h patch window",
        activate("Exchange-Admins", duration=hours(2), because="patch window"),
    ),
    (
        "activate Exchange-Admins for 2 hours because patch",
        activate("Exchange-Admins", duration=hours(2), because="patch"),
    ),
    ("activate Exchange-Admins for 2h, because patch", activate("Exchange-Admins", duration=hours(2), because="patch")),
    (
        "activate Exchange-Admins for 2h for patching",
        activate("Exchange-Admins", duration=hours(2), because="patching"),
    ),
    (
        "activate Exchange-Admins for 1 hour and 30 minutes because release",
        activate("Exchange-Admins", duration=minutes(90), because="release"),
    ),
    ("activate Exchange-Admins for 2h,", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins, for 2h", activate("Exchange-Admins", duration=hours(2))),
    # a keyword with nothing after it: no justification (the service asks when the policy needs one)
    ("activate Exchange-Admins 2h because", activate("Exchange-Admins", duration=hours(2))),
    ("activate Exchange-Admins reason:", activate("Exchange-Admins")),
    # tickets
    ("activate Exchange-Admins ticket INC-4711", activate("Exchange-Admins", ticket="INC-4711")),
    ("activate Exchange-Admins 2h ticket: INC-4711", activate("Exchange-Admins", duration=hours(2), ticket="INC-4711")),
    ("activate Exchange-Admins 2h ticket #4711", activate("Exchange-Admins", duration=hours(2), ticket="4711")),
    ("activate Exchange-Admins 2h ticket no. 4711", activate("Exchange-Admins", duration=hours(2), ticket="4711")),
    ("activate Exchange-Admins 2h ticket INC-4711.", activate("Exchange-Admins", duration=hours(2), ticket="INC-4711")),
    (
        "activate Exchange-Admins ticket INC-4711 because patch",
        activate("Exchange-Admins", because="patch", ticket="INC-4711"),
    ),
    (
        "activate Exchange-Admins because patch, ticket INC-4711",
        activate("Exchange-Admins", because="patch", ticket="INC-4711"),
    ),
    # a ticket is its own clause: before the justification or after it, never cut out of its middle
    (
        "activate Exchange-Admins 2h because patching ticket INC-4711 today",
        activate("Exchange-Admins", duration=hours(2), because="patching ticket INC-4711 today"),
    ),
    (
        "activate Exchange-Admins 1h because the ticket INC-4711 is urgent",
        activate("Exchange-Admins", duration=hours(1), because="the ticket INC-4711 is urgent"),
    ),
    (
        "activate Exchange-Admins 1h because the ticket INC-1 is urgent, ticket INC-1.",
        activate("Exchange-Admins", duration=hours(1), because="the ticket INC-1 is urgent", ticket="INC-1"),
    ),
    (
        "activate Exchange-Admins ticket INC-4711 2h for the ticket queue",
        activate("Exchange-Admins", duration=hours(2), because="the ticket queue", ticket="INC-4711"),
    ),
    (
        'activate Exchange-Admins 1h because "ticket INC-1 broke" ticket INC-2',
        activate("Exchange-Admins", duration=hours(1), because="ticket INC-1 broke", ticket="INC-2"),
    ),
    # other verbs
    ("enable Exchange-Admins", activate("Exchange-Admins")),
    ("elevate Exchange-Admins 1h", activate("Exchange-Admins", duration=hours(1))),
    ("activation Exchange-Admins", activate("Exchange-Admins")),
]

OTHER_COMMANDS: list[tuple[str, Command]] = [
    ("deactivate Exchange-Admins", Deactivate(("Exchange-Admins",))),
    ("release Exchange-Admins", Deactivate(("Exchange-Admins",))),
    ("DEACTIVATE exchange admins as owner", Deactivate(("exchange admins",), OWNER)),
    ("deactivate Exchange-Admins.", Deactivate(("Exchange-Admins",))),
    ("deactivate Exchange-Admins, exchange-admins", Deactivate(("Exchange-Admins",))),
    ("status", Status()),
    ("Status", Status()),
    ("status?", Status()),
    ("status please", Status()),
    ("list", Status()),
    ("mine", Status()),
    ("help", Help()),
    ("help me", Help()),
    ("?", Help()),
    ("usage", Help()),
    ("hi", Help()),
    ("Hello!", Help()),
    ("", Help()),
    ("   ", Help()),
]


@pytest.mark.parametrize(
    ("text", "expected"), ACTIVATIONS + OTHER_COMMANDS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_parse(text: str, expected: Command) -> None:
    assert parse(text) == expected


# ---- what is refused, kindly ------------------------------------------------------------------------------------

REFUSALS: list[tuple[str, str]] = [
    ("open the pod bay doors", "open"),  # the unknown word is named
    ("activate", "Which group?"),
    ("deactivate", "Which group?"),
    ("activate 2h", "Which group?"),
    ("activate PT2H", "Which group?"),
    ('activate "" 2h', "Which group?"),
    ("activate , , 2h", "Which group?"),
    # bare numbers: which unit?
    ("activate Exchange-Admins 2", "“2h”"),
    ("activate Exchange-Admins 30", "“30m”"),
    # garbage durations
    ("activate Exchange-Admins 2x", "couldn't read the duration"),
    ("activate Exchange-Admins PT2X", "couldn't read the duration"),
    ("activate Exchange-Admins P2H", "couldn't read the duration"),
    ("activate Exchange-Admins -2h", "couldn't read the duration"),
    ("activate Exchange-Admins 1e400h", "couldn't read the duration"),
    ("activate Exchange-Admins 2h30m15s", "couldn't read the duration"),
    ("activate Exchange-Admins 99999999999999999999h", "couldn't read the duration"),
    ("activate Exchange-Admins P99999999999D", "couldn't read the duration"),
    ("activate Exchange-Admins PT99999999999999999999H", "couldn't read the duration"),
    ("activate Exchange-Admins " + "9" * 400 + "h", "couldn't read the duration"),
    # two durations
    ("activate Exchange-Admins 2h for 2 hours", "two durations"),
    # too long
    ("activate " + "x" * MAX_TEXT, "too long"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSALS, ids=lambda v: v[:60])
def test_unreadable_text_gets_help_with_a_kind_reason(text: str, reason: str) -> None:
    command = parse(text)

    assert isinstance(command, Help)
    assert command.reason is not None and reason in command.reason


# ---- slips: what the user seems to have wanted --------------------------------------------------------------------

SLIPS: list[tuple[str, Help]] = [
    ("asdf", Help("I didn't understand “asdf”.")),
    ("thanks", Help(thanks=True)),
    ("Thank you!", Help(thanks=True)),
    ("thx.", Help(thanks=True)),
    # the command without its group: what was given is kept for the answer's buttons
    ("activate 1h", Help("Which group? For example: “activate Exchange-Admins 2h”.", Activate((), duration=hours(1)))),
    (
        "activate as owner 2h because audit",
        Help(
            "Which group? For example: “activate Exchange-Admins 2h”.",
            Activate((), OWNER, hours(2), "audit"),
        ),
    ),
    ("deactivate", Help("Which group? For example: “deactivate Exchange-Admins”.", Deactivate(()))),
    ("cancel", Help("Which request? For example: “cancel Exchange-Admins”.", Cancel(""))),
    # a mistyped verb: the command it would have been, and the text corrected
    (
        "actvate Exchange-Admins 2h",
        Help(
            "I didn't understand “actvate”.",
            activate("Exchange-Admins", duration=hours(2)),
            "activate Exchange-Admins 2h",
        ),
    ),
    ("stauts", Help("I didn't understand “stauts”.", Status(), "status")),
    ("deactvate", Help("I didn't understand “deactvate”.", Deactivate(()), "deactivate")),
    ("please", Help("I didn't understand “please”.")),  # not "release": aliases are no typo targets
    ("ok", Help("I didn't understand “ok”.")),
]


@pytest.mark.parametrize(("text", "expected"), SLIPS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_slip_says_what_the_user_seems_to_have_wanted(text: str, expected: Help) -> None:
    command = parse(text)
    assert command == expected
    assert isinstance(command, Help) and command.slip


@pytest.mark.parametrize("text", ["help", "", "hi", "?"])
def test_asking_for_help_is_no_slip(text: str) -> None:
    command = parse(text)
    assert isinstance(command, Help) and not command.slip


def test_a_long_but_acceptable_message_still_parses() -> None:
    justification = "x" * (MAX_TEXT - len("activate Exchange-Admins because "))

    assert parse(f"activate Exchange-Admins because {justification}") == activate(
        "Exchange-Admins", because=justification
    )


def test_the_reason_quotes_a_long_unknown_word_shortened() -> None:
    command = parse("w" * 500)

    assert isinstance(command, Help) and command.reason is not None
    assert len(command.reason) < 80


@pytest.mark.parametrize(
    "name",
    ["Project42", "PAW1", "Prod2", "Tier0-Admins"],
)
def test_group_names_that_end_in_a_digit_are_not_mistaken_for_durations(name: str) -> None:
    assert parse(f"activate {name}") == activate(name)


# ---- never an exception -----------------------------------------------------------------------------------------

NASTY = [
    "activate Exchange-Admins 2 hour\u017f",  # long s: case-folds to "s" under re.IGNORECASE
    "activate Exchange-Admins 2 m\u0131n",  # dotless i
    "activate Exchange-Admins 2 \u212a",  # Kelvin sign folds to "k"
    "activate Exchange-Admins 1h\u00b2",  # superscript two: isdigit() but not int()
    "activate Exchange-Admins 1h\u0662",  # Arabic-Indic digit
    "activate Exchange-Admins \uff12h",  # fullwidth digit
    "activate Exchange-Admins 1:\u0663\u0660",
    "activate \x00\x01\x02",
    "activate " + '"' * 501,
    "activate " + "for " * 500,
    "activate " + "ticket 1 " * 200,
    "activate " + "as owner " * 200,
    "activate " + ", " * 900,
    "activate " + "1h " * 600,
    "activate X " + "P" * 1000,
    "activate X 0.5.5h",
    "activate X 1,5,5h",
    "activate X PT.5H",
    "activate X PT1.H",
    "\u202eactivate X",
    "activate \ud800",  # a lone surrogate
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_parse_never_raises(text: str) -> None:
    assert isinstance(parse(text), Activate | Deactivate | Status | Help)


# ---- durations ----------------------------------------------------------------------------------------------------

DURATIONS: list[tuple[str, timedelta | None]] = [
    ("2h", hours(2)),
    ("2H", hours(2)),
    ("2 h", hours(2)),
    ("2hr", hours(2)),
    ("2 hrs", hours(2)),
    ("2hours", hours(2)),
    ("1 hour", hours(1)),
    ("2 Std", hours(2)),
    ("90m", minutes(90)),
    ("90 min", minutes(90)),
    ("90 mins", minutes(90)),
    ("1 minute", minutes(1)),
    ("45 minutes", minutes(45)),
    ("1h30m", minutes(90)),
    ("1h 30m", minutes(90)),
    ("1h30", minutes(90)),
    ("1h 30", minutes(90)),
    ("1 hour and 30 minutes", minutes(90)),
    ("1.5h", minutes(90)),
    ("1,5h", minutes(90)),
    ("0.25h", minutes(15)),
    ("1d", timedelta(days=1)),
    ("2 days", timedelta(days=2)),
    ("1:30", minutes(90)),
    ("25:00", hours(25)),
    ("PT2H", hours(2)),
    ("pt2h", hours(2)),
    ("PT90M", minutes(90)),
    ("PT1H30M", minutes(90)),
    ("PT1.5H", minutes(90)),
    ("PT3600S", hours(1)),
    ("P1D", timedelta(days=1)),
    ("P1DT2H", timedelta(days=1, hours=2)),
    ("  2h  ", hours(2)),
    ("0h", timedelta(0)),  # readable; the service refuses it as under five minutes
    # not durations
    ("", None),
    ("   ", None),
    ("2", None),
    ("h", None),
    ("2x", None),
    ("P", None),
    ("PT", None),
    ("T2H", None),
    ("PT2X", None),
    ("2h30m15s", None),
    ("-2h", None),
    ("h2", None),
    ("2h 2x", None),
    ("Exchange-Admins", None),
    ("99999999999999999999h", None),
    ("P99999999999D", None),
    ("9" * 400 + "h", None),
    ("1h\u00b2", None),
    ("2 hour\u017f", None),
    ("2 m\u0131n", None),
]


@pytest.mark.parametrize(("text", "expected"), DURATIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_parse_duration(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


FORMATTED = [
    (minutes(45), "45 min"),
    (hours(2), "2 h"),
    (minutes(90), "1 h 30 min"),
    (timedelta(days=1, hours=2), "1 d 2 h"),
    (timedelta(days=1, minutes=5), "1 d 5 min"),
    (timedelta(days=3), "3 d"),
    (timedelta(0), "0 min"),
    (timedelta(seconds=89), "1 min"),
    (timedelta(seconds=91), "2 min"),
    (minutes(-5), "-5 min"),  # e.g. "ends in" a little after the end
    (-timedelta(days=1, minutes=30), "-1 d 30 min"),
]


@pytest.mark.parametrize(("duration", "text"), FORMATTED, ids=[t for _, t in FORMATTED])
def test_format_duration(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@pytest.mark.parametrize("duration", [minutes(5), minutes(90), hours(8), timedelta(days=1, hours=2, minutes=3)])
def test_formatted_durations_read_back(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


def test_cancel_and_pending_parse() -> None:
    from core.commands import Cancel, Pending

    assert parse("cancel Security-Operators") == Cancel("Security-Operators")
    assert parse('cancel "Teams Admins".') == Cancel("Teams Admins")
    assert parse("pending") == Pending()
    assert isinstance(parse("cancel"), Help)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approvals here Exchange-Admins", ApprovalChannel("here", "Exchange-Admins")),
        ('Approvals here "Teams Admins".', ApprovalChannel("here", "Teams Admins")),
        ("approvals on exchange admins", ApprovalChannel("here", "exchange admins")),
        ("approvals off Exchange-Admins!", ApprovalChannel("off", "Exchange-Admins")),
        ("approvals status", ApprovalChannel("status")),
        ("approvals list please", ApprovalChannel("status")),
        ("approvals", ApprovalChannel("")),
    ],
)
def test_approvals_channel_commands(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["approvals here", "approvals off  ", "approvals sideways Exchange-Admins"])
def test_approvals_channel_commands_without_a_group_or_with_an_unknown_word_explain_themselves(text: str) -> None:
    command = parse(text)
    assert isinstance(command, Help) and command.reason and "approvals" in command.reason


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("feed here", "here"),
        ("Feed HERE.", "here"),
        ("feed on", "here"),
        ("feed off", "off"),
        ("feed stop", "off"),
        ("feed status", "status"),
        ("feed", "status"),
    ],
)
def test_feed_commands_parse(text: str, action: str) -> None:
    from core.commands import Feed, FeedAction

    assert parse(text) == Feed(FeedAction(action))


def test_an_unknown_feed_word_gets_the_usage() -> None:
    help_ = parse("feed everywhere")
    assert isinstance(help_, Help) and help_.reason and "feed here" in help_.reason
