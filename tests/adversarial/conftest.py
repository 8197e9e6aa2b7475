"""The adversarial suite (issue 10, point 9). `pytest tests/adversarial --long`: many more cases (minutes).

For the HTTP body fuzzer, the bot is served in a background thread, so that hypothesis drives it from plain
(synchronous) tests with a case budget chosen at run time: about a thousand cases in the normal run, twenty times as
many with --long. Every case is checked for no 5xx, no traceback (stderr or logs) and, unauthenticated, nothing sent;
the figures (cases, statuses seen) are printed at the end of the run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.adversarial import FIGURES, budget, dev, figures, prod

__all__ = ["budget", "dev", "figures", "prod"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", default=False, help="adversarial suite: many more fuzz cases (minutes)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, counts in FIGURES.items():
        items = sorted(counts.items())
        statuses = ", ".join(f"{k.removeprefix('status ')}: {v}" for k, v in items if k.startswith("status "))
        others = ", ".join(f"{k}: {v}" for k, v in items if k != "cases" and not k.startswith("status "))
        said = "; ".join(part for part in (f"statuses {statuses}" if statuses else "", others) if part)
        terminalreporter.write_line(f"adversarial {name}: {counts['cases']} cases; {said}")
