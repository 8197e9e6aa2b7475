"""The command text of a message (bot.transport.activity.command_text): mentions and HTML stripped in one linear pass
over a bounded text, whatever the message holds (issue 10, point 1). Work is counted, never timed: the characters the
stripper pulls from its input, and the Python lines the whole call executes (sys.settrace)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.transport.activity import MAX_MARKUP, command_text, strip_markup
from core.commands import MAX_TEXT, Help, parse

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402  (imported once known to be installed)
from hypothesis import strategies as st  # noqa: E402

BOT = "28:bot-id"


def message(text: str, entities: list[dict[str, Any]] | None = None) -> Activity:
    """As bot/transport/routes.py builds it from the JSON body."""
    body = {"type": "message", "text": text, "recipient": {"id": BOT, "name": "PIM Bot"}}
    return Activity().deserialize(body if entities is None else {**body, "entities": entities})


def mention(text: Any = "<at>PIM Bot</at>", mentioned: Any = None) -> dict[str, Any]:
    return {
        "type": "mention",
        "text": text,
        "mentioned": {"id": BOT, "name": "PIM Bot"} if mentioned is None else mentioned,
    }


# ---- behaviour on messages as Teams sends them: unchanged --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<at>PIM Bot</at> activate Exchange-Admins 2h", "activate Exchange-Admins 2h"),
        ("<at>PIM Bot</at>&nbsp;status", "status"),
        ('<p><at id="0">PIM Bot</at> activate "Teams Admins" 1h</p>', 'activate "Teams Admins" 1h'),
        ("<div><div>activate A &amp; B 1h because &quot;x&quot;</div></div>", 'activate A & B 1h because "x"'),
        ("activate X<br>1h", "activate X 1h"),
        ("<AT>PIM Bot</AT> help", "help"),
        ("<at>PIM Bot</at> <at>Bob Builder</at> pending", "pending"),
        ("a <> b", "a <> b"),  # not a tag
        ("activate X because load < 5", "activate X because load < 5"),  # a lone "<" stays
        ("activate X because a < b <i>now</i>", "activate X because a < b now"),  # even before a tag
        ("<<at>PIM Bot</at> status", "< status"),
        ("<at>unclosed mention", "unclosed mention"),
        ("activate X\x00 1h because a\x07b\x1bc", "activate X 1h because abc"),  # control characters go
        ("activate\tX\n1h", "activate X 1h"),
        ("", ""),
    ],
)
def test_mentions_html_and_control_characters_are_stripped(text: str, expected: str) -> None:
    assert command_text(message(text, [mention()])) == expected
    assert command_text(message(text)) == expected


def _previous_command_text(text: str) -> str:
    """The regex version this replaces, as the reference on messages without hostile markup: without botbuilder's
    remove_mention_text (it only removed the bot's name where `<at>` blocks go anyway) and without stray "<" (the regex
    swallowed "a < b <i>" whole; now the "<" that opens no tag stays)."""
    text = re.sub(r"<at[^>]*>.*?</at>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ").replace("&amp;", "&").replace("&quot;", '"')
    return " ".join(text.split())


_pieces = st.sampled_from(
    [
        "<at>PIM Bot</at>", '<at id="1">Bob</at>', "<p>", "</p>", "<br/>", "<div>", "</div>", "&nbsp;", "&amp;",
        "&quot;", "activate", "Exchange-Admins", '"Teams Admins"', "2h", "because", "INC-4711", " ", "\n", ">",
        "x", ",",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(_pieces, max_size=30).map("".join))
def test_teams_shaped_messages_read_as_before(text: str) -> None:
    assert command_text(message(text, [mention()])) == _previous_command_text(text)


# ---- hostile input: bounded, linear work -------------------------------------------------------------------------

# The worst inputs of each old pattern (`<at[^>]*>.*?</at>`, `<[^>]+>`) and of the mention handling.
WORST: dict[str, Callable[[int], str]] = {
    "unclosed <at>": lambda n: "<at>" * (n // 4),
    "<at> then only >": lambda n: "<at>x" + ">" * n,
    "many <": lambda n: "<" * n,
    "< then no >": lambda n: "<" + "a" * n,
    "nested <at>": lambda n: "<at>" * (n // 9) + "</at>" * (n // 9),
    "long attribute run": lambda n: "<at" + " a=b" * (n // 4),
    "tags in an unclosed mention": lambda n: "<at>" + "<b>" * (n // 3),
    "closing tags only": lambda n: "</at>" * (n // 5),
    "entities": lambda n: "&nbsp;&amp;" * (n // 11),
    "<at < at": lambda n: "<at <at " * (n // 8),
}


def _examined(text: str) -> int:
    """How many characters strip_markup pulls from its input (it gets an iterator: it cannot look back)."""
    pulled = 0

    def chars() -> Iterator[str]:
        nonlocal pulled
        for ch in text:
            pulled += 1
            yield ch

    strip_markup(chars())
    return pulled


@dataclass
class Work:
    lines: int = 0  # Python lines executed, in every frame: the work of pure-Python code
    regex_calls: int = 0  # calls into `re`: a regex's work is done in C, invisible to line counting


def _work(call: Callable[[], object]) -> Work:
    work = Work()

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            work.lines += 1
        return tracer

    def profiler(frame: FrameType, event: str, arg: object) -> None:
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), re.Pattern):
            work.regex_calls += 1  # a compiled pattern's search, match, sub, …
        elif event == "call" and frame.f_code.co_filename == re.__file__:
            work.regex_calls += 1  # re.sub, re.match, … (and re.compile)

    sys.settrace(tracer)
    sys.setprofile(profiler)
    try:
        call()
    finally:
        sys.setprofile(None)
        sys.settrace(None)
    return work


@pytest.mark.parametrize("shape", list(WORST))
def test_stripping_examines_each_character_once(shape: str) -> None:
    text = WORST[shape](MAX_MARKUP)
    assert _examined(text) == len(text)


@pytest.mark.parametrize("shape", list(WORST))
def test_command_text_work_grows_linearly_with_the_worst_inputs(shape: str) -> None:
    small, large = WORST[shape](MAX_MARKUP // 4), WORST[shape](MAX_MARKUP // 2)
    small_message, large_message = message(small, [mention(small)]), message(large, [mention(large)])
    work_small = _work(lambda: command_text(small_message))
    work_large = _work(lambda: command_text(large_message))
    # No regex runs on the text; twice the text, at most about twice the work (a quadratic pass would be four times),
    # and a few Python steps a character.
    assert work_small.regex_calls == work_large.regex_calls == 0
    assert work_large.lines <= 2.2 * work_small.lines + 50, (work_small, work_large)
    assert work_large.lines <= 12 * len(large) + 200, (work_large, len(large))


@pytest.mark.parametrize("shape", list(WORST))
def test_a_message_far_beyond_a_command_is_refused_without_being_scanned(shape: str) -> None:
    huge = WORST[shape](257 * 1024)  # the size that blocked the event loop for 78.6 s
    activity = message(huge, [mention(huge)])
    text = ""

    def read() -> None:
        nonlocal text
        text = command_text(activity)

    # No pass over the text at all, neither in Python nor by a regex: only linear string methods touch it.
    work = _work(read)
    assert work.lines < 100 and work.regex_calls == 0, work
    command = parse(text)
    assert isinstance(command, Help) and command.reason and "too long" in command.reason


def test_the_bound_leaves_room_for_any_command_with_teams_markup() -> None:
    command = "activate Exchange-Admins 2h because " + "x" * (MAX_TEXT - 40)
    wrapped = "<p>" + "<at>PIM Bot</at>&nbsp;" + command.replace(" ", "&nbsp;") + "</p>"
    assert len(wrapped) <= MAX_MARKUP
    assert command_text(message(wrapped, [mention()])) == command


# ---- malformed mention entities (issue 10, point 8) --------------------------------------------------------------


@pytest.mark.parametrize(
    "entity",
    [
        mention(mentioned="bot"),
        {"type": "mention", "text": "<at>PIM Bot</at>"},
        mention(text=5),
        mention(text=None, mentioned={"id": BOT, "name": 3}),
        mention(text=["<at>"]),
        mention(mentioned={"id": ["x"], "name": {}}),
        mention(text="<at>(a+)+$</at>"),
        mention(text="<at>[</at>"),
        {"type": None},
        {"type": 5, "mentioned": 5},
        {},
    ],
)
def test_malformed_mention_entities_do_not_matter(entity: dict[str, Any]) -> None:
    assert command_text(message("<at>PIM Bot</at> status", [entity])) == "status"
