"""Every card state against its golden JSON. Regenerate after an intended change: UPDATE_GOLDEN=1 pytest tests/cards."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from tests.support.card_samples import GOLDEN

GOLDEN_DIR = Path(__file__).with_name("golden")


def serialize(card: dict[str, object]) -> str:
    return json.dumps(card, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_card_matches_golden_file(name: str) -> None:
    text = serialize(GOLDEN[name]())
    path = GOLDEN_DIR / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run UPDATE_GOLDEN=1 pytest tests/cards to create it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
        pytest.fail(f"card {name} differs from its golden file (UPDATE_GOLDEN=1 if intended):\n{diff}")


def test_every_golden_file_has_a_case() -> None:
    on_disk = {p.stem for p in GOLDEN_DIR.glob("*.json")}
    assert on_disk == set(GOLDEN), f"stale golden files: {sorted(on_disk - set(GOLDEN))}"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_cards_are_deterministic(name: str) -> None:
    assert serialize(GOLDEN[name]()) == serialize(GOLDEN[name]())
