"""bot.transport.wire.activity_of gives exactly the objects msrest's `Activity().deserialize(body)` gives (issue 16:
the inbound path without msrest's cost), on Teams-shaped activities and on odd ones, and refuses what msrest refuses."""

from __future__ import annotations

import copy
from datetime import datetime
from enum import Enum
from typing import Any

import pytest
from botbuilder.schema import Activity
from hypothesis import given, settings
from hypothesis import strategies as st
from msrest.serialization import Model

from bot.transport import wire
from bot.transport.activity import reference_of, tenant_of
from bot.transport.wire import activity_of
from devtools.teams import activities as act
from devtools.teams.activities import ALICE

SERVICE = "https://smba.trafficmanager.net/emea/"


def dump(value: Any) -> Any:
    """Everything that can differ between two deserialised objects: classes, every attribute, value types."""
    if isinstance(value, Model):
        return (type(value).__name__, {k: dump(v) for k, v in sorted(vars(value).items())})
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    if isinstance(value, dict):
        return ("dict", {k: dump(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", [dump(v) for v in value])
    if isinstance(value, Enum):
        return ("enum", repr(value))
    return (type(value).__name__, value)


def same(body: dict[str, Any]) -> None:
    expected = Activity().deserialize(copy.deepcopy(body))
    got = activity_of(copy.deepcopy(body))
    assert dump(got) == dump(expected)


TEAMS = [
    act.message(SERVICE, "activate Exchange-Admins 1h"),
    act.message(SERVICE, "status", time_zone=None),
    act.channel_message(SERVICE, "approvals here Exchange-Admins"),
    act.group_chat_message(SERVICE, "status"),
    act.card_submit(SERVICE, {"verb": "activate", "group": "g"}, "1:reply"),
    act.card_execute(SERVICE, "approve", {"requestId": "r1"}, "1:reply"),
    act.installation(SERVICE),
    act.bot_added(SERVICE),
    act.team_installation(SERVICE),
]


@pytest.mark.parametrize("body", TEAMS, ids=range(len(TEAMS)))
def test_teams_activities_come_out_as_msrest_makes_them(body: dict[str, Any]) -> None:
    same(body)


def with_(**extra: Any) -> dict[str, Any]:
    body = act.message(SERVICE, "status", ALICE)
    body.update(extra)
    return body


ODD = [
    with_(timestamp="2026-12-07T12:00:00.1234567Z", localTimestamp="2026-12-07T13:00:00.123+01:00"),
    with_(timestamp="2026-12-07T12:00:00Z", localTimezone="Europe/Berlin", expiration="2026-12-08T00:00:00Z"),
    with_(unknownTopLevel={"a": [1, 2.5, None, True]}, another=None),
    with_(channelData={"tenant": {"id": "t"}, "nested": {"x": [None, {"y": 1e10}], "flag": False}}),
    with_(value=[1, "two", {"three": 3}], valueType="x", importance="high", deliveryMode="normal"),
    with_(attachments=[{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"body": []}}]),
    with_(attachments=[None, {"contentType": "x", "extra": 1}]),
    with_(entities=[{"type": "mention", "mentioned": {"id": "28:b", "name": "PIM"}, "text": "<at>PIM</at>"}]),
    with_(membersAdded=[{"id": "29:x", "name": "X", "aadObjectId": "o", "role": "user", "extra": [1]}]),
    with_(suggestedActions={"to": ["a", "b"], "actions": [{"type": "imBack", "title": "t", "value": "v"}]}),
    with_(textHighlights=[{"text": "a", "occurrence": 2}], listenFor=["a"], semanticAction={"id": "s", "state": "x"}),
    with_(reactionsAdded=[{"type": "like"}], relatesTo={"activityId": "1", "conversation": {"id": "c"}}),
    # Not plainly JSON of the expected type: msrest converts or refuses, and activity_of does the same through it.
    with_(text=5, locale=None),
    with_(textHighlights=[{"text": "a", "occurrence": "2"}]),
    with_(timestamp="not a time"),
    with_(timestamp=12),
    with_(entities={"not": "a list"}),
    with_(attachments=["a string"]),
    with_(historyDisclosed="yes"),
]


def assert_as_msrest(body: dict[str, Any]) -> None:
    """activity_of(body) is the Activity msrest's deserialize makes of it, or fails with the exception msrest raises."""
    try:
        expected = Activity().deserialize(copy.deepcopy(body))
    except Exception as e:
        with pytest.raises(type(e)):
            activity_of(copy.deepcopy(body))
        return
    assert dump(activity_of(copy.deepcopy(body))) == dump(expected)


@pytest.mark.parametrize("body", ODD, ids=range(len(ODD)))
def test_odd_activities_come_out_as_msrest_makes_them_or_fail_as_it_fails(body: dict[str, Any]) -> None:
    assert_as_msrest(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
KEYS = st.sampled_from(
    ["id", "text", "timestamp", "entities", "attachments", "channelData", "from", "value", "membersAdded", "x"]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=4))
def test_any_json_in_any_member_comes_out_as_msrest_makes_it(members: dict[str, Any]) -> None:
    body = act.message(SERVICE, "status", ALICE)
    body.update(members)
    assert_as_msrest(body)


def test_the_schema_is_as_plain_as_the_fast_path_assumes() -> None:
    """No flattened or escaped keys, no polymorphism, no read-only or constant attributes, no typed extra properties,
    and only the value kinds activity_of reads: a botbuilder upgrade that breaks one of these fails here."""
    kinds = {"str", "bool", "int", "iso-8601", "object"}
    reachable, todo = {}, ["Activity"]
    while todo:
        name = todo.pop()
        if name not in reachable:
            reachable[name] = wire._MODELS[name]
            todo += [s["type"].strip("[]{}") for s in reachable[name]._attribute_map.values()]
            todo = [t for t in todo if t not in kinds]
    assert {"Activity", "ChannelAccount", "ConversationAccount", "Entity", "Attachment"} <= set(reachable)
    for name, cls in reachable.items():
        assert not getattr(cls, "_subtype_map", None) and not getattr(cls, "_validation", None), name
        for attr, spec in cls._attribute_map.items():
            assert "." not in spec["key"] and "\\" not in spec["key"] and attr != "additional_properties", name
            inner = spec["type"].strip("[]{}")
            assert inner in kinds or inner in wire._MODELS, (name, spec["type"])


TEAMS_TIMES = st.builds(
    lambda when, digits, zone: (
        when.strftime("%Y-%m-%dT%H:%M:%S")
        + ("." + f"{when.microsecond:06d}{when.second % 10}"[:digits] if digits else "")
        + zone
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(0, 9),
    st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "-08:00", "+05:30", "+14:00", "-12:00", "+99:99", "+1:00"]),
)


@settings(max_examples=300, deadline=None)
@given(TEAMS_TIMES, TEAMS_TIMES)
def test_timestamps_in_teams_form_and_near_it_come_out_as_msrest_reads_them(stamp: str, local: str) -> None:
    """The fast reading of Teams' timestamp form (7 fraction digits, "Z" or an offset) gives msrest's datetime and zone
    object, at the ends of the calendar too, and what msrest refuses is still refused."""
    body = act.message(SERVICE, "status", ALICE)
    body.update(timestamp=stamp, localTimestamp=local)
    assert_as_msrest(body)


def _botbuilders_reference(activity: Activity) -> dict[str, Any]:
    """What reference_of gave before it built the JSON itself: botbuilder's reference written by wire.to_json (which
    keeps the members msrest's own serialize() drops, such as the conversation's tenantId), plus the tenant."""
    from botbuilder.core import TurnContext

    data: dict[str, Any] = wire.to_json(TurnContext.get_conversation_reference(activity))
    return data | {"tenantId": tenant_of(activity)}


REFERENCED = [
    *TEAMS,
    act.message(SERVICE, "status") | {"channelId": "webchat"},
    act.message(SERVICE, "status") | {"channelId": "directline"},
    act.message(SERVICE, "status") | {"locale": None, "from": {"id": "29:x"}},
    act.message(SERVICE, "status") | {"conversation": {"id": "a:1", "properties": {"nested": {"k": [1, 2]}}}},
    {"type": "message", "id": "1"},
]


@pytest.mark.parametrize("body", REFERENCED, ids=range(len(REFERENCED)))
def test_a_conversation_reference_is_what_botbuilder_makes_of_the_activity(body: dict[str, Any]) -> None:
    activity = activity_of(copy.deepcopy(body))
    got, expected = reference_of(activity), _botbuilders_reference(activity)
    assert list(got.items()) == list(expected.items())  # the same keys in the same order: the same bytes stored
