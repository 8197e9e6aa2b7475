"""PIM's custom-extension calls to the bot, as the simulated tenant's Entra would sign them: the request body (the
raw privilegedAccessGroupAssignmentScheduleRequest), tokens good and bad, and the POST."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.extension.contract import PATH, PIM_CALLER_APP_ID
from simtenant.seed import ALICE, EXCHANGE_ADMINS
from tests.support.stack import Stack, running_stack

APP_ID_URI = "api://bot.contoso.test/4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"  # the API PIM's tokens are for
EXTENSION_ENV = {"PIM_EXTENSION_APP_ID_URI": APP_ID_URI}


def callout(
    *,
    request_id: str | None = None,
    principal: str = ALICE,
    group: str = EXCHANGE_ADMINS,
    access: str = "member",
    duration: str = "PT2H",
    start: datetime | None = None,
    ticket: str | None = None,
    justification: str = "patching",
) -> dict[str, Any]:
    """The body PIM sends: the schedule request at the top level (pim-custom-extension.md §2.2)."""
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.privilegedAccessGroupAssignmentScheduleRequest",
        "id": request_id or str(uuid.uuid4()),
        "status": "Granted",
        "action": "selfActivate",
        "justification": justification,
        "principalId": principal,
        "accessId": access,
        "groupId": group,
        "scheduleInfo": {
            "startDateTime": (start or datetime(2026, 12, 7, 12, 0)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expiration": {"type": "afterDuration", "duration": duration},
        },
        "ticketInfo": {"ticketNumber": ticket, "ticketSystem": "ServiceNow"} if ticket else {},
    }
    return body


def pim_token(stack: Stack, **bend: Any) -> str:
    """A token the simulated tenant's Entra issues to PIM for the bot's API; `bend` makes it someone else's:
    app_id, audience, version, lifetime, issued_at (simtenant TokenService.issue_api_token)."""
    kwargs: dict[str, Any] = {"version": "1.0"} | {k: v for k, v in bend.items() if k not in ("app_id", "audience")}
    return stack.sim.tenant.tokens.issue_api_token(
        bend.get("app_id", PIM_CALLER_APP_ID), bend.get("audience", APP_ID_URI), **kwargs
    )


def forged_token(stack: Stack) -> str:
    """PIM's claims, the tenant's kid, signed by another key: what someone without the tenant's key can make."""
    good = jwt.decode(pim_token(stack), options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(good, other, algorithm="RS256", headers={"kid": stack.sim.tenant.tokens.signing_kid})


def expired_token(stack: Stack) -> str:
    """Issued two hours ago for one hour: past even the five minutes of skew."""
    now = stack.sim.tenant.clock.now()
    return pim_token(stack, issued_at=now - timedelta(hours=2), lifetime=timedelta(hours=1))


async def call_extension(
    stack: Stack, body: Any, token: str | None = "good", *, raw: bytes | None = None
) -> tuple[int, Any]:
    """POST to the bot's extension endpoint; `token` "good" (a fresh PIM token), None (no header) or a token."""
    headers = {"Content-Type": "application/json"}
    if token == "good":
        token = pim_token(stack)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = stack.server.make_url(PATH)
    async with stack.http.post(url, json=None if raw is not None else body, data=raw, headers=headers) as r:
        return r.status, await r.json(content_type=None) if r.content_length != 0 else None


@pytest.fixture
async def extension_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The development stack with the bot as PIM's custom extension (no rules file: every request goes on)."""
    async with running_stack(tmp_path, **EXTENSION_ENV) as served:
        yield served
