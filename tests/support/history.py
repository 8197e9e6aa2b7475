"""`history` and `audit export` over HTTP (issue 14 point 5): the stack with the admin feed's groups (the export's) and
Alice as the bot's admin, on the quick stack (Graph's waits, the audit log's pacing and Retry-After included, on the
simulated clock); and the file consent exchange as Teams runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, TeamsUser
from devtools.teams.connector import Recorded
from tests.support.feed import FEED_GROUPS
from tests.support.stack import Stack, running_stack

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


@pytest.fixture
async def export_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    values = {"BOT_ADMINS": ALICE.oid, "FEED_POLL_SECONDS": "3600", "FEED_GROUPS": FEED_GROUPS}
    async with running_stack(tmp_path, quick=True, **values) as stack:
        yield stack


def attachments(stack: Stack, content_type: str, since: int = 0) -> list[tuple[Recorded, dict[str, Any]]]:
    """Every attachment of `content_type` the bot sent (after message `since`), with its message."""
    return [
        (r, a)
        for r in stack.connector.messages()[since:]
        for a in r.body.get("attachments") or []
        if a.get("contentType") == content_type
    ]


async def answer_consent(
    stack: Stack, consent: tuple[Recorded, dict[str, Any]], action: str, user: TeamsUser = ALICE
) -> tuple[int, Any]:
    """The user's click on a file consent card, as Teams sends it: on accept, an upload session opened for the file
    (the stand-in's `offer_upload`) and its uploadInfo in the invoke."""
    message, card = consent
    context = card["content"]["acceptContext" if action == "accept" else "declineContext"]
    info = stack.connector.offer_upload(card["name"]) if action == "accept" else None
    invoke = act.file_consent(stack.service_url, action, context, message.activity_id, info, user)
    return await stack.post(invoke)
