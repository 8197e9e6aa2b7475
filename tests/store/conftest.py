from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Store
from devtools.azurite import Azurite, running_azurite
from tests.store.backends import BACKENDS, AzureBlob, Backend


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as running:
        yield running


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = BACKENDS[request.param](request, tmp_path)
    if isinstance(opened, AzureBlob):
        await opened.create()
    yield opened
    await opened.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
