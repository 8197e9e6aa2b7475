"""Strict Adaptive Card check with the official JS renderer (npm adaptivecards 3.0.6) in headless Debian chromium.

Reusable by any test that produces a card (cards/, bot/, Playground tests). The rules (local-clients.md §4):

a. parse with `targetVersion` = the card's own version, or version-gated features pass unnoticed;
b. fail on any parse, validation or toJSON event;
c. diff the input against `toJSON()` (ignoring root `version`/`$schema` and empty arrays): only the round trip
   catches unknown properties and wrongly typed values, which the renderer drops silently;
d. missing `type`/`version` are not reported by the renderer at all, so they are checked here by hand.

Two documented exceptions to (c), both checked another way:

* `fallback` is consumed while parsing and never serialized. Every card is therefore parsed a second time the way an
  old Teams client (no Action.Execute) sees it; that pass must produce exactly the card with each Action.Execute
  replaced by its fallback, so the fallbacks get rules a–c too.
* the root `refresh` (1.4, Universal Actions) holds an Action.Execute with no fallback: a client without
  Action.Execute never refreshes, so the old-client pass expects `refresh` without its action and accepts the one
  parse event that causes there (the current-client pass checks it fully).
* the root `msteams` object is a Teams host extension the renderer does not know; its shape is checked by hand.

Usage (sync tests)::

    with open_renderer() as renderer:
        renderer.assert_strict(card)

Async tests (pytest-asyncio) use `open_async_renderer()` / `AsyncCardRenderer`, which run the same checks.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "MAX_CARD_BYTES",
    "AsyncCardRenderer",
    "CardRenderer",
    "CardReport",
    "RendererUnavailable",
    "analyse",
    "hand_check",
    "old_client_card",
    "open_async_renderer",
    "open_renderer",
    "preflight",
    "round_trip_diff",
]

REPO = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).with_name("renderer.html")
RENDERER_JS = REPO / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
TEAMS_MAX_VERSION = (1, 5)  # Teams renders bot cards up to schema 1.5 (teams-platform.md §5.1)
# Any card should fit through every path that can repost it: the Incoming Webhook / Workflows limit is 28 KB.
MAX_CARD_BYTES = 28 * 1024

# Keys of `msteams` at the card root that Teams documents (cards-format.md): full width and mentions.
_MSTEAMS_KEYS = {"width", "entities"}
_CHILD_LISTS = ("body", "items", "columns", "actions", "cells", "rows")


class RendererUnavailable(RuntimeError):
    """Chromium or the npm renderer is missing: the card check cannot run, and must not silently pass."""


def preflight() -> None:
    """Raise `RendererUnavailable` with an actionable message when the check cannot run."""
    if not CHROMIUM.exists():
        raise RendererUnavailable(
            f"Chromium not found at {CHROMIUM}. Install Debian's chromium (apt-get install -y chromium) or set "
            "CHROMIUM=/path/to/chromium. Do not run `playwright install` (it needs the internet)."
        )
    if not RENDERER_JS.exists():
        raise RendererUnavailable(f"{RENDERER_JS} is missing. Run `npm ci` in {REPO} (adaptivecards 3.0.6).")
    try:
        import playwright  # noqa: F401
    except ImportError as e:  # pragma: no cover - the test extra installs it
        raise RendererUnavailable("Python playwright is missing: pip install -e '.[test]'") from e


@dataclass
class CardReport:
    """What the renderer made of a card. `problems` is empty for a card that passes every rule."""

    problems: list[str] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)  # titles of the rendered buttons, in order
    old_client_buttons: list[str] = field(default_factory=list)
    size: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- pure checks (no browser) -------------------------------------------------------------------------------


def _version(card: Mapping[str, Any]) -> str:
    version = card.get("version")
    return version if isinstance(version, str) else "1.0"


def hand_check(card: Mapping[str, Any], *, max_version: tuple[int, int] = TEAMS_MAX_VERSION) -> list[str]:
    """Rule d, plus what this project demands of every card: version ≤ 1.5, `$schema`, a `type` everywhere."""
    problems: list[str] = []
    if card.get("type") != "AdaptiveCard":
        problems.append(f"/type must be 'AdaptiveCard', got {card.get('type')!r}")
    version = card.get("version")
    if not isinstance(version, str):
        problems.append(f"/version must be a string like '1.5', got {version!r}")
    else:
        try:
            parsed = tuple(int(p) for p in version.split("."))
        except ValueError:
            problems.append(f"/version {version!r} is not a version")
        else:
            if parsed > max_version:
                problems.append(
                    f"/version {version} is above {'.'.join(map(str, max_version))}, the most Teams renders"
                )
    if card.get("$schema") != SCHEMA:
        problems.append(f"/$schema must be {SCHEMA!r}, got {card.get('$schema')!r}")
    msteams = card.get("msteams")
    if msteams is not None:
        if not isinstance(msteams, dict) or set(msteams) - _MSTEAMS_KEYS:
            problems.append(f"/msteams may only hold {sorted(_MSTEAMS_KEYS)}, got {msteams!r}")
        elif "width" in msteams and msteams["width"] != "Full":
            problems.append(f"/msteams/width must be 'Full', got {msteams['width']!r}")
        body_text = json.dumps(card.get("body", []), ensure_ascii=False)
        for i, entity in enumerate(msteams.get("entities", []) if isinstance(msteams, dict) else []):
            # Teams shows a mention only when its `<at>…</at>` text appears verbatim in the card's text.
            mentioned = entity.get("mentioned") if isinstance(entity, dict) else None
            tag = entity.get("text") if isinstance(entity, dict) else None
            if (
                entity.get("type") != "mention"
                or not isinstance(tag, str)
                or not (tag.startswith("<at>") and tag.endswith("</at>"))
                or not isinstance(mentioned, dict)
                or not mentioned.get("id")
                or not mentioned.get("name")
            ):
                problems.append(f"/msteams/entities/{i} is not a mention with <at> text, id and name: {entity!r}")
            elif json.dumps(tag, ensure_ascii=False)[1:-1] not in body_text:
                problems.append(f"/msteams/entities/{i}: {tag!r} does not appear in the card's text")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                # Table `columns` are column definitions, which have no type; everywhere else children do.
                table_columns = key == "columns" and node.get("type") == "Table"
                if key in _CHILD_LISTS and isinstance(value, list) and not table_columns:
                    for i, child in enumerate(value):
                        if not isinstance(child, dict) or not isinstance(child.get("type"), str):
                            problems.append(f"{path}/{key}/{i} has no 'type'")
                if key == "fallback" and isinstance(value, dict) and not isinstance(value.get("type"), str):
                    problems.append(f"{path}/fallback has no 'type'")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}/{i}")

    walk(card, "")
    size = len(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    if size >= MAX_CARD_BYTES:
        problems.append(f"card is {size} bytes serialized; keep it under {MAX_CARD_BYTES}")
    return problems


def _comparable(node: Any, *, root: bool = False) -> Any:
    """The card as the round trip can be compared: no empty arrays, no `fallback`, no root version/$schema/msteams."""
    if isinstance(node, dict):
        ignored = {"fallback"} | ({"version", "$schema", "msteams"} if root else set())
        return {k: _comparable(v) for k, v in node.items() if k not in ignored and not (isinstance(v, list) and not v)}
    if isinstance(node, list):
        return [_comparable(v) for v in node]
    return node


def round_trip_diff(sent: Mapping[str, Any], received: Mapping[str, Any]) -> list[str]:
    """Rule c: every difference between a card and the renderer's `toJSON()` of it, as JSON-pointer-ish paths."""
    diffs: list[str] = []

    def same_scalar(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        return bool(a == b)

    def cmp(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in a.keys() - b.keys():
                diffs.append(f"{path}/{k}: lost in the round trip (unknown or invalid property)")
            for k in b.keys() - a.keys():
                diffs.append(f"{path}/{k}: added by the renderer ({b[k]!r})")
            for k in a.keys() & b.keys():
                cmp(a[k], b[k], f"{path}/{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                diffs.append(f"{path}: {len(a)} items sent, {len(b)} after the round trip")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                cmp(x, y, f"{path}/{i}")
        elif not same_scalar(a, b):
            diffs.append(f"{path}: sent {a!r}, renderer has {b!r}")

    cmp(_comparable(sent, root=True), _comparable(received, root=True), "")
    return sorted(diffs)


def old_client_card(card: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], int]:
    """The card a client without Action.Execute should end up with: each Action.Execute replaced by its fallback.

    Returns (expected card, problems, number of Action.Execute). An Action.Execute without an object fallback is a
    problem: old Teams clients would drop the button (teams-platform.md §5.1).
    """
    problems: list[str] = []
    count = 0
    dropped = object()

    def replace(node: Any, path: str) -> Any:
        nonlocal count
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                count += 1
                fallback = node.get("fallback")
                if path == "/refresh/action" and fallback is None:  # old clients keep refresh without its action
                    return dropped
                if not isinstance(fallback, dict):
                    problems.append(f"{path}: Action.Execute without an Action.Submit fallback ({fallback!r})")
                    return dropped
                return replace(fallback, f"{path}/fallback")
            return {k: r for k, v in node.items() if (r := replace(v, f"{path}/{k}")) is not dropped}
        if isinstance(node, list):
            return [r for i, v in enumerate(node) if (r := replace(v, f"{path}/{i}")) is not dropped]
        return node

    expected = replace(copy.deepcopy(dict(card)), "")
    return expected, problems, count


def _events(result: Mapping[str, Any], label: str) -> list[str]:
    problems = []
    for kind in ("parseEvents", "validationEvents", "toJsonEvents"):
        for e in result[kind]:
            where = f" (id {e['source']})" if e.get("source") else ""
            problems.append(f"{label}{e['phase']} {e['event']}: {e['message']}{where}")
    return problems


def analyse(card: Mapping[str, Any], result: Mapping[str, Any], old_result: Mapping[str, Any]) -> CardReport:
    """Turn the two `acRender` results (current client, old client) into a report."""
    report = CardReport(
        buttons=list(result["buttons"]),
        old_client_buttons=list(old_result["buttons"]),
        size=len(json.dumps(card, ensure_ascii=False).encode("utf-8")),
    )
    report.problems += hand_check(card)
    report.problems += _events(result, "")
    report.problems += round_trip_diff(card, result["roundTrip"])
    if not result["rendered"]:
        report.problems.append(f"card did not render: {result['renderError']}")

    expected, fallback_problems, executes = old_client_card(card)
    report.problems += fallback_problems
    # The old client logs one UnknownActionType per Action.Execute before it takes the fallback: expected.
    old_events = [
        e
        for e in _events(old_result, "old client: ")
        if not ("UnknownActionType" in e and "Action.Execute" in e)
        and not ("refresh" in card and 'PropertyCantBeNull: Property "action" must be set' in e)
    ]
    unknown = sum(1 for e in old_result["parseEvents"] if e["event"] == "UnknownActionType")
    if unknown != executes:
        old_events.append(f"old client: {unknown} unknown actions, expected {executes} (one per Action.Execute)")
    report.problems += old_events
    report.problems += [f"old client: {d}" for d in round_trip_diff(expected, old_result["roundTrip"])]
    if not old_result["rendered"]:
        report.problems.append(f"old client: card did not render: {old_result['renderError']}")
    return report


def _failure(card: Mapping[str, Any], report: CardReport) -> str:
    head = card.get("fallbackText") or card.get("type")
    return f"card {head!r} fails the strict renderer check:\n  " + "\n  ".join(report.problems)


# ---- sync harness --------------------------------------------------------------------------------------------


class CardRenderer:
    """The renderer page in one open chromium tab (sync playwright)."""

    def __init__(self, page: Any) -> None:
        self._page = page

    def _render(self, card: Mapping[str, Any], old_client: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._page.evaluate(
            "([c, v, old]) => acRender(c, v, old)", [card, _version(card), old_client]
        )
        return result

    def check(self, card: Mapping[str, Any]) -> CardReport:
        return analyse(card, self._render(card, False), self._render(card, True))

    def assert_strict(self, card: Mapping[str, Any]) -> CardReport:
        report = self.check(card)
        assert report.ok, _failure(card, report)
        return report

    def click(
        self,
        card: Mapping[str, Any],
        title: str,
        inputs: Mapping[str, str] | None = None,
        *,
        old_client: bool = False,
    ) -> dict[str, Any] | None:
        """Fill `inputs`, click the button titled `title`; what the host receives, or None if the card refused."""
        result: dict[str, Any] = self._page.evaluate(
            "([c, v, t, i, old]) => acClick(c, v, t, i, old)",
            [card, _version(card), title, dict(inputs or {}), old_client],
        )
        if "error" in result:
            raise AssertionError(result["error"])
        executed: dict[str, Any] | None = result["executed"]
        return executed


@contextmanager
def open_renderer() -> Iterator[CardRenderer]:
    """Launch chromium once and open the renderer page; raises `RendererUnavailable` if that cannot be done."""
    preflight()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(PAGE.as_uri())
            page.wait_for_function("window.acReady === true && typeof AdaptiveCards === 'object'")
            yield CardRenderer(page)
        finally:
            browser.close()


# ---- async harness (for pytest-asyncio tests) ----------------------------------------------------------------


class AsyncCardRenderer:
    """Same checks as `CardRenderer`, over async playwright."""

    def __init__(self, page: Any) -> None:
        self._page = page

    async def _render(self, card: Mapping[str, Any], old_client: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self._page.evaluate(
            "([c, v, old]) => acRender(c, v, old)", [card, _version(card), old_client]
        )
        return result

    async def check(self, card: Mapping[str, Any]) -> CardReport:
        return analyse(card, await self._render(card, False), await self._render(card, True))

    async def assert_strict(self, card: Mapping[str, Any]) -> CardReport:
        report = await self.check(card)
        assert report.ok, _failure(card, report)
        return report


@asynccontextmanager
async def open_async_renderer() -> AsyncIterator[AsyncCardRenderer]:
    preflight()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(PAGE.as_uri())
            await page.wait_for_function("window.acReady === true && typeof AdaptiveCards === 'object'")
            yield AsyncCardRenderer(page)
        finally:
            await browser.close()


@pytest.fixture(scope="package")
def card_renderer() -> Iterator[CardRenderer]:
    """One chromium for the cards tests. Missing chromium or node_modules fails the tests: a card check never skips.

    Package scope, not session: while Playwright's sync API is open it marks its own event loop as running in the
    main thread, and every asyncio test that runs after it (tests/core, graph, simtenant …) would fail with
    "Runner.run() cannot be called from a running event loop"."""
    try:
        preflight()
    except RendererUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    with open_renderer() as renderer:
        yield renderer
