"""Reading many things at once: list requests sent in `$batch`es of 20 whose failures stay with the thing they were
read for (a group, say), not with the whole read.

`read_batched` is what the admin feed (graph.feed) and the approval poller's look for requests nobody recorded
(graph.pim) share: a few batches at a time, each item's `@odata.nextLink` pages followed, an inner 429 re-sent after
its Retry-After by the client. A batch that fails as a whole fails the owners of its items; an inner failure or a
failed page fails one owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.errors import DirectoryError, DirectoryUnavailable
from graph.client import MAX_BATCH, BatchRequest, BatchResponse, GraphClient, JsonObject
from graph.failures import directory_error, translating

__all__ = ["Reads", "read_batched"]


@dataclass
class Reads:
    """Rows per request id, and what failed, per owner (casefolded)."""

    rows: dict[str, list[JsonObject]] = field(default_factory=dict)
    failed: dict[str, DirectoryError] = field(default_factory=dict)


async def read_batched(
    client: GraphClient,
    requests: Sequence[BatchRequest],
    owner: Mapping[str, str],
    *,
    concurrency: int = 4,
    max_pages: int = 100,
) -> Reads:
    """Send the GETs `requests` in `$batch`es of 20, `concurrency` batches at a time; follow nextLinks; a failure is
    recorded against the owner of the request (`owner[request id]`) and does not stop the others."""
    reads = Reads()
    gate = asyncio.Semaphore(concurrency)

    async def one_batch(chunk: Sequence[BatchRequest]) -> None:
        async with gate:
            try:
                with translating():
                    responses = await client.batch(chunk)
            except DirectoryError as exc:  # also the app token's
                for request in chunk:
                    reads.failed.setdefault(owner[request.id].casefold(), exc)
                return
            await asyncio.gather(*(one_response(r, responses.get(r.id)) for r in chunk))

    async def one_response(request: BatchRequest, response: BatchResponse | None) -> None:
        key = owner[request.id].casefold()
        if response is None or response.error is not None:
            error = response.error if response is not None else None
            reads.failed.setdefault(key, directory_error(error) if error else DirectoryUnavailable("no answer"))
            return
        try:
            with translating():
                reads.rows[request.id] = await client.rest_of(response.json(), max_pages=max_pages)
        except DirectoryError as exc:
            reads.failed.setdefault(key, exc)

    chunks = [requests[i : i + MAX_BATCH] for i in range(0, len(requests), MAX_BATCH)]
    await asyncio.gather(*(one_batch(chunk) for chunk in chunks))
    return reads
