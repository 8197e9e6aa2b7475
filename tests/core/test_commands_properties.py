"""Properties of the command language over arbitrary text (hypothesis; skipped where it is not installed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.commands import Activate, Deactivate, Help, Status, format_duration, parse, parse_duration

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402  (imported once known to be installed)
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

    assert isinstance(command, Activate | Deactivate | Status | Help)
    if isinstance(command, Activate | Deactivate):
        assert command.groups and all(g.strip() for g in command.groups)
    if isinstance(command, Activate) and command.duration is not None:
        assert command.duration >= timedelta(0)


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
