"""`history` through the Microsoft 365 Agents Playground (0.2.28): the card arrives as in Teams, with the seeded
month from PIM's audit log. (`audit export` in the Playground: tests/e2e/test_demo_roles.py, where Alice is an
admin.)"""

from __future__ import annotations

import pytest

from tests.support.cards import element
from tests.support.playground import PlaygroundClient

pytestmark = [pytest.mark.playground, pytest.mark.asyncio(loop_scope="session")]


async def test_history_shows_the_seeded_month(fresh: PlaygroundClient) -> None:
    await fresh.say("history")
    reply = await fresh.next_card()
    card = reply.card or {}
    assert element(card, "heading")["text"] == "Your PIM requests"
    titles = [element(card, f"item-{i}-title")["text"] for i in range(3)]
    # The newest: Alice made eligible for Intune-Admins at seeding (a request Graph lists), then her activation of
    # Exchange-Admins 3 days ago (only in the audit log's seeded month).
    assert titles[0] == "Intune-Admins · Member · eligibility assigned by an admin", titles
    assert "Exchange-Admins · Member · activation" in titles, titles
