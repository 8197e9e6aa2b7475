"""The adversarial suite (issue 10, point 9). `pytest tests/adversarial --long`: many more cases (minutes)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", default=False, help="adversarial suite: many more fuzz cases (minutes)"
    )
