"""Putting a file's bytes to the upload URL a `fileConsent/invoke` offers (bot.exports).

Teams' invoke carries "the OneDrive for Business placeholder URL that the bot can then issue a PUT to", and points to
OneDrive's upload session for how (Microsoft Learn, "Send and receive files using bot"; "Upload bytes to the upload
session", https://learn.microsoft.com/graph/api/driveitem-createuploadsession, microsoftgraph/microsoft-graph-docs-
contrib `api-reference/v1.0/api/driveitem-createuploadsession.md`). What that page asks, and this module does:

* `PUT {uploadUrl}` with `Content-Length` (this request's bytes) and `Content-Range: bytes {first}-{last}/{total}`,
  the same total on every request; the fragments in order, each under 60 MiB and, when there are several, a
  multiple of 320 KiB (`FRAGMENT`);
* **no Authorization header**: the URL carries its own authorisation, and a bearer "may result in an HTTP 401";
* `202 Accepted` (with `nextExpectedRanges`) after a fragment while more are expected, `200 OK` or `201 Created`
  with the driveItem after the last; `416` for a fragment the server already has (taken as received); `404`: the
  session is gone (start again from a new consent); 5xx and lost connections: retried with backoff.

Microsoft's Python sample (BotBuilder-Samples `samples/python/56.teams-file-upload`) sends one PUT with
`Content-Range: bytes 0-{size-1}/{size}`: a single fragment, as `upload` does for any file under `FRAGMENT`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

__all__ = ["FRAGMENT", "UploadFailed", "upload"]

log = logging.getLogger(__name__)

FRAGMENT = 10 * 320 * 1024  # 3.2 MiB: a multiple of 320 KiB, well under 60 MiB
_ATTEMPTS = 3


class UploadFailed(Exception):
    """The bytes did not all reach the upload URL. `status` is the last HTTP status (0: no answer)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"upload failed ({status}): {detail}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Uploaded:
    status: int  # 200 or 201


async def upload(
    session: aiohttp.ClientSession,
    url: str,
    data: bytes,
    *,
    fragment: int = FRAGMENT,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Uploaded:
    """PUT `data` to the upload session `url` (module doc); raises UploadFailed."""
    total = len(data)
    if total == 0:
        raise UploadFailed(0, "nothing to upload")
    start = 0
    while start < total:
        end = min(start + fragment, total)  # exclusive
        status = await _put(session, url, data, start, end, total, sleep)
        if status in (200, 201):
            return Uploaded(status)
        start = end  # 202 (more expected) or 416 (already there)
    raise UploadFailed(202, "the upload URL still expects bytes after the last one")


async def _put(
    session: aiohttp.ClientSession,
    url: str,
    data: bytes,
    start: int,
    end: int,
    total: int,
    sleep: Callable[[float], Awaitable[None]],
) -> int:
    headers = {"Content-Length": str(end - start), "Content-Range": f"bytes {start}-{end - 1}/{total}"}
    last = 0
    for attempt in range(_ATTEMPTS):
        try:
            async with session.put(url, data=data[start:end], headers=headers) as response:
                last = response.status
                if response.status in (200, 201, 202, 416):
                    return response.status
                detail = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as e:
            last, detail = 0, type(e).__name__
        if last and last < 500:
            raise UploadFailed(last, detail)
        log.info("upload of bytes %d-%d failed (%s); trying again", start, end - 1, last or detail)
        await sleep(0.5 * 2**attempt)
    raise UploadFailed(last, "no success after retries")
