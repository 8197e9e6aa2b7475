from __future__ import annotations

import pytest

from core.service import PimService
from tests.core.fakes import FakeDirectory, FakeTokens, FixedClock


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def directory(clock: FixedClock) -> FakeDirectory:
    return FakeDirectory(clock)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def service(directory: FakeDirectory, tokens: FakeTokens, clock: FixedClock) -> PimService:
    return PimService(directory, tokens, clock)
