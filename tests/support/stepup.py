"""The step-up stack: the bot stack (tests.support.stack) with step-up sign-in on at http://127.0.0.1 (as in the demo),
and what a test does with it: say something, follow the sign-in card's link as a browser would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from devtools.teams import activities as act
from tests.fakes.signin_page import walk_sign_in
from tests.support.stack import Stack, running_stack


class StepUpStack(Stack):
    last_callback: tuple[str, dict[str, str]]

    async def say(self, text: str) -> None:
        async with self.http.post(
            self.server.make_url("/api/messages"), json=act.message(self.connector.url, text)
        ) as r:
            assert r.status in (200, 201), await r.text()

    def sign_in_link(self) -> str:
        card = self.connector.messages()[-1].card
        assert card is not None
        (action,) = card["actions"]
        assert action["type"] == "Action.OpenUrl"
        return str(action["url"])

    async def sign_in(self, link: str, user_id: str, *, mfa: bool = True) -> tuple[int, str]:
        """Follow the link as a browser would; the callback page's status and text."""
        walk = await walk_sign_in(self.http, link, user_id, mfa=mfa)
        self.last_callback = (walk.callback_url, walk.callback_fields)
        return walk.status, walk.page

    def activations(self, group_id: str) -> list[Any]:
        return [
            r
            for r in self.sim.tenant.requests_for("assignment", group_id=group_id)
            if r.action == "selfActivate" and r.status == "Provisioned"
        ]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[StepUpStack]:
    async with stepup_stack(tmp_path) as running:
        yield running


@asynccontextmanager
async def stepup_stack(tmp_path: Path, *, sign_in_http: bool = False) -> AsyncIterator[StepUpStack]:
    """The simulated tenant (demo seed), the Bot Connector stand-in and the bot with step-up on at http://127.0.0.1
    (as in the demo)."""
    async with running_stack(tmp_path, public_url=True, sign_in_http=sign_in_http, cls=StepUpStack) as stack:
        yield stack


ACTIVATE_MFA_GROUP = "activate Privileged-Role-Admins 30m because x"


ACTIVATE_MFA_GROUP = "activate Privileged-Role-Admins 30m because x"
