from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cards.renderer import CardRenderer, RendererUnavailable, open_renderer, preflight


@pytest.fixture(scope="session")
def card_renderer() -> Iterator[CardRenderer]:
    """One chromium for the whole run. Missing chromium or node_modules fails the tests: a card check never skips."""
    try:
        preflight()
    except RendererUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    with open_renderer() as renderer:
        yield renderer
