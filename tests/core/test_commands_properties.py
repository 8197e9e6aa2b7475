"""Properties of the command language over arbitrary text (hypothesis; skipped where it is not installed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.commands import Activate, Command, Deactivate, Help, format_duration, parse, parse_duration
from core.models import Ticket

pytest.importorskip("hypothesis")

from hypothesis import example, given, settings  # noqa: E402  (imported once known to be installed)
from hypothesis import strategies as st  # noqa: E402

# Words the parser reacts to, so random text reaches its inner branches and not only "I didn't understand".
KEYWORDS = [
    "activate", "deactivate", "status", "help", "as owner", "as member", "because", "reason:", "for", "ticket",
    "INC-4711", "#", ",", '"', "\u201c", "\u201d", "'", "2h", "90m", "1h30", "1.5h", "PT2H", "P1D", "2 hours",
    "and", "1:30", "0", "99999999999999999999", "\u00a0", ".", "!", "?", ":",
]  # fmt: skip
chatty_text = st.lists(st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=12)), max_size=25).map(" ".join)


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=300), chatty_text, chatty_text.map(lambda t: "activate " + t)))
def test_parse_never_raises_and_always_gives_a_command(text: str) -> None:
    command = parse(text)

    assert isinstance(command, Command)  # every kind: "approvals", "feed off", "cancel x" are commands too
    if isinstance(command, Help) and isinstance(command.meant, Activate | Deactivate):
        assert command.slip  # a command without its group is a slip, never run
    if isinstance(command, Activate | Deactivate):
        assert command.groups and all(g.strip() for g in command.groups)
    if isinstance(command, Activate) and command.duration is not None:
        assert command.duration >= timedelta(0)


def _as_parsed(text: str) -> str:
    """The text as parse() reads it: spaces normalised, curly quotes straight."""
    text = " ".join(text.replace("\u00a0", " ").split())
    for q in "\u201c\u201d\u201e\u00ab\u00bb":
        text = text.replace(q, '"')
    return text.replace("\u2018", "'").replace("\u2019", "'")


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(chatty_text, chatty_text.map(lambda t: "activate " + t)))
@example("activate Exchange-Admins 1h because the ticket INC-4711 is urgent")
@example("activate Exchange-Admins because as owner, ticket: #7 for 2h now")
def test_a_justification_is_always_a_piece_of_the_message_never_a_patchwork(text: str) -> None:
    # Nothing (a ticket, a duration, "as owner") is ever cut out of the middle of a justification.
    command = parse(text)

    if isinstance(command, Activate) and command.justification is not None:
        assert command.justification in _as_parsed(text)


_PLAIN_WORDS = st.lists(
    st.sampled_from(["the", "is", "urgent", "patch", "window", "rollout", "INC-4711", "#7", "now", "x", "tickets"]),
    min_size=1,
    max_size=6,
).map(" ".join)


@settings(max_examples=200, deadline=None, database=None)
@given(_PLAIN_WORDS, st.integers(min_value=1, max_value=99999), _PLAIN_WORDS, st.sampled_from(["", ".", ","]))
def test_a_ticket_is_taken_at_the_end_of_a_justification_and_left_in_its_middle(
    before: str, number: int, after: str, stop: str
) -> None:
    at_end = parse(f"activate Exchange-Admins 1h because {before}{stop} ticket INC-{number}")
    inside = parse(f"activate Exchange-Admins 1h because {before} ticket INC-{number} {after}")

    assert isinstance(at_end, Activate) and isinstance(inside, Activate)
    assert (at_end.justification, at_end.ticket) == ((before + stop).rstrip(","), Ticket(f"INC-{number}"))
    assert (inside.justification, inside.ticket) == (f"{before} ticket INC-{number} {after}", None)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=40))
def test_parse_duration_never_raises(text: str) -> None:
    duration = parse_duration(text)

    assert duration is None or duration >= timedelta(0)


@settings(database=None)
@given(st.integers(min_value=0, max_value=60 * 24 * 365))
def test_every_whole_minute_duration_reads_back_from_its_formatted_text(total_minutes: int) -> None:
    duration = timedelta(minutes=total_minutes)

    assert parse_duration(format_duration(duration)) == duration
