"""A stand-in for an operator's PIM custom-extension API (not the bot's own endpoint: tests that need the bot drive
it through the stack): it answers what each test scripts and records what PIM sent it. `endpoint` is its fixture."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from simtenant import Tenant
from simtenant.extensions import CustomExtension

__all__ = ["Endpoint", "decision", "endpoint", "link_in_tenant"]

Answer = Callable[[dict[str, Any]], Any]  # payload -> (status, body) or an awaitable of it


@dataclass
class Endpoint:
    """An operator's evaluation API: `answers` are used in turn (the last one repeats); every call is recorded."""

    url: str = ""
    answers: list[Any] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.calls.append({"payload": payload, "authorization": request.headers.get("Authorization", "")})
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if callable(answer):
            answer = answer(payload)
            if asyncio.iscoroutine(answer):
                answer = await answer
        status, body = answer
        return web.json_response(body, status=status)


def decision(outcome: str, *reasons: str) -> tuple[int, dict[str, Any]]:
    return 200, {"evaluationId": str(uuid.uuid4()), "evaluationOutcome": outcome, "reason": list(reasons)}


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    app = web.Application()
    app.router.add_post("/api/pim/evaluate", ep.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ep.url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/pim/evaluate"
    yield ep
    await runner.cleanup()


def link_in_tenant(
    tenant: Tenant, group_id: str, url: str, *, access: str = "member", timeout_ms: int = 2000, retries: int = 0
) -> CustomExtension:
    """An extension for `url` linked to the group's policy, seeded straight into the tenant (tests/simtenant drives
    the same through Graph)."""
    ext = tenant.add_custom_extension(
        CustomExtension(
            id=str(uuid.uuid4()),
            display_name="Operator's check",
            target_url=url,
            resource_id="api://127.0.0.1/4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9",
            resource_type="entraGroups",
            timeout_ms=timeout_ms,
            max_retries=retries,
        )
    )
    tenant.link_extension(group_id, access, ext.id)
    return ext
