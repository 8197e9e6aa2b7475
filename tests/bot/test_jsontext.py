"""bot.jsontext.json_bytes writes the same compact UTF-8 JSON whichever encoder writes it: orjson, or the standard
library for what orjson refuses (integers past 64 bits)."""

from __future__ import annotations

import json

import orjson
import pytest

from bot.jsontext import json_bytes

VALUES = [
    {"text": "Zugriff verlängert bis 14:00 — ✓", "n": [1, 2.5, None, True], "nested": {"b": 1, "a": {"k": "v"}}},
    {"z": 1, "a": [{"y": "é", "x": -3}]},
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("sort_keys", [False, True])
def test_a_value_past_64_bits_is_written_as_orjson_writes_the_rest(value: dict[str, object], sort_keys: bool) -> None:
    big = 2**70
    written = json_bytes(value | {"big": big}, sort_keys=sort_keys)
    expected = orjson.dumps(value | {"big": 0}, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    assert written == expected.replace(b'"big":0', b'"big":' + str(big).encode())
    assert json.loads(written) == value | {"big": big}


def test_a_lone_surrogate_is_written_escaped_and_reads_back() -> None:
    value = {"text": json.loads('"a\\ud800b"'), "n": 2**70, "é": "é"}
    written = json_bytes(value)
    assert json.loads(written) == value
    assert b" " not in written
