from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cards.renderer import CardRenderer, RendererUnavailable, open_renderer, preflight


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
