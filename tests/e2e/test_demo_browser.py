"""`make demo` in headless Debian chromium, as its README tells a person to play it: Alice clicks the welcome card's
"A colleague asks for access", Carol's request reaches Alice as an approval card, and Alice approves it on the card
with a reason. Also writes the README screenshot docs/images/playground-approval.png (tests.support.screenshots)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from cards.wording import DEMO_BUTTON
from devtools.stack import DEMO_USERS, Tenant
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, opened_chat
from tests.support.demo_process import running_demo
from tests.support.e2e import SimControl
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.playground, pytest.mark.browser]

CAROL = DEMO_USERS[2].oid


async def test_alice_approves_a_colleagues_request_on_the_card_in_the_playground(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)", pytrace=False)
    async with running_demo(tmp_path / "demo") as demo, async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await opened_chat(browser, demo.url, height=900)
            welcome = page.locator(".ac-adaptiveCard").filter(has_text="What I can do").last
            await welcome.get_by_role("button", name=DEMO_BUTTON).click()
            await expect(page.get_by_text("Carol Chen just asked for Network-Admins").last).to_be_visible()

            # The bot's approval poll finds Carol's request (made in the simulated tenant, not through the bot).
            card = page.locator(".ac-adaptiveCard").filter(has_text="Carol Chen").filter(has_text="Approve").last
            await expect(card).to_be_visible(timeout=60_000)
            await expect(card.get_by_role("button", name="Approve")).to_be_visible()
            await expect(card.get_by_role("button", name="Deny")).to_be_visible()
            await expect(card).to_contain_text("Network-Admins")
            await expect(card).to_contain_text("Request expires (if nobody decides)")
            await card.evaluate("element => element.scrollIntoView({block: 'center'})")
            await screenshot(page, "playground-approval.png")

            await card.get_by_role("textbox").fill("change approved in CAB")
            await card.get_by_role("button", name="Approve").click()
            decided = page.locator(".ac-adaptiveCard").filter(has_text="Approved by Alice Admin").last
            await expect(decided).to_be_visible(timeout=30_000)
            await expect(decided).to_contain_text("change approved in CAB")
            await expect(decided.get_by_role("button", name="Approve")).to_have_count(0)
        finally:
            await browser.close()

        # What Alice saw is what happened: Carol's own request, approved and active.
        info = json.loads((demo.run / "simtenant" / "simtenant.json").read_text())
        async with aiohttp.ClientSession() as http:
            sim = SimControl(Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__}), http)
            requests = await sim.assignment_requests(CAROL)
    assert [(r["action"], r["status"]) for r in requests] == [("selfActivate", "Provisioned")], requests
