"""Fast JSON for botbuilder's msrest models: outbound activities to JSON, inbound activity bodies to `Activity`.

msrest's `Model.serialize()` validates and walks every attribute through a generic Serializer: about 0.85 ms for one
card reply here, twice per turn (typing + card), a large share of a turn's CPU. botbuilder's schema models are plain
(no flattened keys, no polymorphism on the way out), so a direct walk of `_attribute_map` gives the same JSON in a
fraction of the time. tests/bot/test_wire.py checks it against msrest on real activities.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from enum import Enum
from typing import Any

from botbuilder.schema import Activity
from msrest.serialization import Deserializer, Model

__all__ = ["SentCard", "activity_of", "sent_once", "to_json"]


class SentCard(dict[str, Any]):
    """A card's JSON as it is attached to an outgoing activity. Cards are built fresh for every message and never
    changed afterwards, so the deep copy botbuilder's TurnContext makes of every outgoing activity (about 7% of a
    turn's CPU for one card) can share it instead of copying it. They are JSON already (cards.elements.to_json makes
    every card of plain dicts, lists, strings, numbers and booleans, and refuses anything else), so `to_json` passes
    them on as they are instead of walking a copy of them: 20-40 µs per card (tests/bot/test_wire.py checks that this
    gives msrest's JSON)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SentCard:
        return self


class _SentOnce(Activity):
    """An activity built for one send and dropped after it (`sent_once`)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Activity:
        clone = Activity.__new__(Activity)
        clone.__dict__.update(self.__dict__)
        return clone


def sent_once(activity: Activity) -> Activity:
    """`activity`, for a TurnContext to send and nobody to keep: its copy costs a few µs instead of 30-60.

    botbuilder's TurnContext.send_activities deep-copies every activity it sends, so that addressing the copy (channel,
    conversation, from, recipient, reply-to: attributes set, nothing inside them changed) leaves the caller's activity
    as it was. An activity built for one send is never looked at again by its caller, so its copy may share its parts:
    the copy is a plain `Activity` with the same attributes (what everything after the copy sees, as before)."""
    once = _SentOnce.__new__(_SentOnce)
    once.__dict__.update(activity.__dict__)
    return once


# Values that are their own JSON form: returned without a call per leaf (a card has a hundred of them).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """JSON-ready form of an msrest model (or of any value inside one), as msrest's serialize() would produce."""
    if type(value) in _PLAIN or type(value) is SentCard:
        return value
    if isinstance(value, Model):
        out: dict[str, Any] = {}
        attribute_map: dict[str, dict[str, Any]] = type(value)._attribute_map
        for attr, spec in attribute_map.items():
            item = getattr(value, attr, None)
            if item is None:
                continue
            out[spec["key"]] = _typed(item, spec["type"])
        extra = getattr(value, "additional_properties", None)
        if isinstance(extra, dict):
            for key, item in extra.items():
                out.setdefault(key, to_json(item))
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: v if type(v) in _PLAIN else to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _PLAIN else to_json(v) for v in value]
    if isinstance(value, datetime):
        return _iso8601(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(item: Any, kind: Any) -> Any:
    if kind == "iso-8601" and isinstance(item, datetime):
        return _iso8601(item)
    return to_json(item)


def _iso8601(value: datetime) -> str:
    # As msrest writes it: UTC, "Z", milliseconds at least ("2026-11-22T21:25:31.500Z", "…:31.000Z").
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    fraction = str(value.microsecond).rjust(6, "0").rstrip("0").ljust(3, "0")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + "." + fraction + "Z"


# ---- inbound: JSON → botbuilder's models, without msrest's generic Deserializer --------------------------------------


class _Unusual(Exception):
    """A value the fast path does not read the way msrest would for certain: the whole activity goes to msrest."""


def activity_of(body: dict[str, Any]) -> Activity:
    """botbuilder's `Activity` for a parsed activity body, as `Activity().deserialize(body)` gives it.

    msrest's Deserializer rebuilds its table of every model class on each call and walks each attribute through key
    extractors and a copy of its description: about 0.15 ms per Teams message, on every turn. The schema reachable from
    Activity is plain (no flattened keys, no polymorphism, no enums, no read-only or constant attributes:
    tests/bot/test_wire.py checks it), so a direct walk of `_attribute_map` gives the same objects: every attribute
    passed to the model's constructor (None when absent), unknown keys in `additional_properties`, `object` values
    copied, timestamps parsed by msrest's own parser. Whatever is not plainly JSON of the expected type (a number where
    a string is expected, an account that is not an object, a timestamp msrest refuses) is left to msrest, which
    converts or refuses it as before."""
    try:
        return _model(Activity, body)
    except _Unusual:
        return Activity().deserialize(body)


def _model(cls: type[Model], data: Any) -> Any:
    if type(data) is not dict:
        raise _Unusual
    attributes: dict[str, dict[str, Any]] = cls._attribute_map
    kwargs: dict[str, Any] = {}
    known = _known_keys(cls)
    for attr, spec in attributes.items():
        if attr == "additional_properties" and spec["key"] == "":
            continue
        raw = data.get(spec["key"])
        kwargs[attr] = None if raw is None else _value(raw, spec["type"])
    obj = cls(**kwargs)
    extra = {key: data[key] for key in data.keys() - known}
    if extra:
        obj.additional_properties = extra
    return obj


def _value(raw: Any, kind: str) -> Any:
    if kind == "str":
        if type(raw) is not str:
            raise _Unusual
        return raw
    if kind == "object":
        return _copied(raw)
    if kind == "iso-8601":
        if type(raw) is not str:
            raise _Unusual
        return _timestamp(raw)
    if kind in ("bool", "int"):
        if type(raw) is not (bool if kind == "bool" else int):
            raise _Unusual
        return raw
    if kind.startswith("[") and kind.endswith("]"):
        if type(raw) is not list:
            raise _Unusual
        inner = kind[1:-1]
        return [None if item is None else _value(item, inner) for item in raw]
    if kind.startswith("{") and kind.endswith("}"):
        if type(raw) is not dict:
            raise _Unusual
        inner = kind[1:-1]
        return {key: None if item is None else _value(item, inner) for key, item in raw.items()}
    model = _MODELS.get(kind)
    if model is None:
        raise _Unusual
    return _model(model, raw)


# The form Teams and the Bot Framework write timestamps in ("2026-12-07T12:00:00.1234567Z", "…00.123+01:00"): read
# directly, as msrest's parser reads it (fraction cut to microseconds; the zone object is msrest's own, kept per
# zone); any other form goes through msrest's parser, which costs ~8 µs a call (a regex, a character loop, isodate).
_TEAMS_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6})\d*)?(Z|[+-]\d\d:\d\d)")
_ZONES: dict[str, tzinfo] = {}


def _timestamp(raw: str) -> datetime:
    match = _TEAMS_TIME.fullmatch(raw)
    if match is not None:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        tz = _ZONES.get(zone)
        if tz is None:
            tz = Deserializer.deserialize_iso("2000-01-01T00:00:00" + zone).tzinfo
            if len(_ZONES) < 64:  # the world's offsets; anything past that is parsed each time
                _ZONES[zone] = tz
        try:
            value = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second),
                int(fraction.ljust(6, "0")) if fraction else 0, tz,
            )  # fmt: skip
            if 1 <= value.utctimetuple().tm_year <= 9999:
                return value
        except (ValueError, OverflowError):
            pass  # msrest decides, and refuses it as it would
    try:
        parsed: datetime = Deserializer.deserialize_iso(raw)
    except Exception:  # msrest's DeserializationError: msrest itself is to refuse it
        raise _Unusual from None
    return parsed


_SCALARS = frozenset({str, int, float, bool})


def _copied(raw: Any) -> Any:
    """msrest's deserialize_object for JSON values: a deep copy of dicts and lists, scalars as they are."""
    kind = type(raw)
    if raw is None or kind in _SCALARS:
        return raw
    if kind is dict:
        return {key: _copied(value) for key, value in raw.items()}
    if kind is list:
        return [_copied(value) for value in raw]
    raise _Unusual


def _known_keys(cls: type[Model]) -> frozenset[str]:
    keys = _KNOWN.get(cls)
    if keys is None:
        keys = _KNOWN[cls] = frozenset(spec["key"] for spec in cls._attribute_map.values() if spec["key"] != "")
    return keys


_KNOWN: dict[type[Model], frozenset[str]] = {}
_MODELS: dict[str, type[Model]] = {
    name: cls
    for name, cls in Activity._infer_class_models().items()
    if isinstance(cls, type) and issubclass(cls, Model)
}
