"""Bodies for the HTTP fuzzer: Teams-shaped activities (messages, channel posts with a mention, card clicks, sign-in
invokes, installs) any path of which can get a value of the wrong type, be deleted, or nest deep; raw JSON tokens
Python's json module reads but nobody sends (NaN, 1e999, lone surrogates, 5,000-digit numbers); control characters.

A case is a (template, mutations) pair; `render` makes the bytes."""

from __future__ import annotations

import copy
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

from devtools.teams import activities as act

EXCHANGE = "bbbbbbbb-0000-4000-8000-000000000001"
REQUEST = "cccccccc-0000-4000-8000-000000000001"

TEXTS = [
    "help",
    "status",
    "activate Exchange-Admins 1h because fuzzing",
    'activate "Teams Admins" 90m',
    "activate Security-Operators 1h because fuzzing",
    "deactivate Exchange-Admins",
    "pending",
    "cancel Security-Operators",
    "approvals status",
    "approvals here Security-Operators",
    "feed status",
    "logout",
    "",
]
ACTIVATE = {"pim": 1, "groupId": EXCHANGE, "groupName": "Exchange-Admins", "access": "member", "durationMinutes": 60}
DEACTIVATE = {"pim": 1, "groupId": EXCHANGE, "groupName": "Exchange-Admins", "access": "member"}
DECIDE = {"pim": 1, "requestId": REQUEST, "reason": "ok"}
# Raw JSON text put where a placeholder string stands: what json.loads accepts (or chokes on) beyond JSON values.
RAW = [
    "NaN",
    "-Infinity",
    "1e999",
    "-0",
    "1" * 5000,
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"\\u0000\\u001b[31m"',
    "[" * 65 + "]" * 65,
    '{"a":' * 65 + "null" + "}" * 65,
]


def templates(service_url: str) -> list[dict[str, Any]]:
    """One activity of each kind Teams sends this bot."""
    invoke = act.card_execute
    sign_in = [
        ("signin/verifyState", {"state": "123456"}),
        ("signin/tokenExchange", {"id": "x", "connectionName": "graph-sso", "token": "eyJhbGciOi.eyJzdWIi.c2ln"}),
        ("signin/failure", {"code": "resourcematchfailed", "message": "x"}),
    ]
    out = [act.message(service_url, text) for text in TEXTS]
    out += [act.channel_message(service_url, text) for text in ("help", "feed status", "approvals status")]
    out += [
        invoke(service_url, "activate", ACTIVATE, "a-1"),
        invoke(service_url, "deactivate", DEACTIVATE, "a-1"),
        invoke(service_url, "approve", DECIDE, "a-1"),
        invoke(service_url, "refresh", DECIDE, "a-1"),
        invoke(service_url, "cancel", DECIDE, "a-1"),
        act.card_submit(service_url, {**ACTIVATE, "verb": "activate"}, "a-1"),
        act.installation(service_url),
    ]
    for name, value in sign_in:
        out.append({**invoke(service_url, "activate", {}, "a-1"), "name": name, "value": value})
    conversation_update = act.installation(service_url)
    conversation_update.update(type="conversationUpdate", membersAdded=[{"id": act.BOT_ID}])
    out.append(conversation_update)
    return out


_conversations = itertools.count(1)


def in_a_new_conversation(template: dict[str, Any]) -> dict[str, Any]:
    """`template` in a conversation of its own: Teams' per-conversation send limits (bot.transport.sendlimit) would
    otherwise make hundreds of cases in one chat wait, as they should."""
    activity = copy.deepcopy(template)
    n = next(_conversations)
    conversation = activity["conversation"]
    if conversation.get("conversationType") == "channel":
        conversation["id"] = f"19:fuzz-{n}@thread.tacv2;messageid=1"
        activity["channelData"].update(teamsChannelId=f"19:fuzz-{n}@thread.tacv2", channel={"id": f"19:fuzz-{n}"})
    else:
        conversation["id"] = f"{conversation['id']}-fuzz-{n}"
    return activity


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `value` (dict keys, list indexes), containers included, the root excluded."""
    found: list[tuple[Any, ...]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\x1b[2J", "<at>", "<at>" * 50, "https://", "file:///etc/passwd", "𝔘ñí©ødé"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
raw_tokens = st.sampled_from(range(len(RAW))).map(lambda i: f"@@RAW{i}@@")


@dataclass(frozen=True)
class Mutation:
    """Set the value at `at` (the `at`-th path of the template, modulo their number), or delete it."""

    at: int
    value: Any = None
    delete: bool = False


mutations = st.lists(
    st.builds(
        Mutation,
        at=st.integers(min_value=0, max_value=10_000),
        value=st.one_of(json_values, raw_tokens),
        delete=st.booleans(),
    ),
    min_size=1,
    max_size=3,
)


def mutate(template: dict[str, Any], changes: list[Mutation]) -> dict[str, Any]:
    activity = copy.deepcopy(template)
    for change in changes:
        every = paths(activity)
        if not every:
            break
        *parents, last = every[change.at % len(every)]
        container = activity
        for key in parents:
            container = container[key]
        if change.delete:
            del container[last]
        else:
            container[last] = change.value
    return activity


def render(activity: Any) -> bytes:
    text = json.dumps(activity, ensure_ascii=False)
    for i, raw in enumerate(RAW):
        text = text.replace(f'"@@RAW{i}@@"', raw)
    return text.encode("utf-8", "surrogatepass")


def nested(activity: dict[str, Any], path_index: int, depth: int, kind: str) -> bytes:
    """`activity` with the value at one of its paths replaced by arrays or objects nested `depth` deep."""
    placeholder = "@@DEEP@@"
    every = paths(activity)
    deep = mutate(activity, [Mutation(path_index % len(every), placeholder)])
    value = "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "null" + "}" * depth
    return json.dumps(deep).replace(f'"{placeholder}"', value).encode()


def service_url_ok(activity: Any) -> bool:
    """Whether the activity still carries an http(s) URL as its serviceUrl (if not, nothing may be sent)."""
    url = activity.get("serviceUrl") if isinstance(activity, dict) else None
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def nested_member(activity: dict[str, Any], depth: int) -> bytes:
    """`activity` with an extra member nested so deep that the whole body is `depth` levels (the activity is one)."""
    body = json.dumps({**activity, "extra": None})
    return body.replace('"extra": null', '"extra": ' + "[" * (depth - 1) + "]" * (depth - 1)).encode()


def assert_no_traceback(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
