"""The Playground's own web UI in headless Debian chromium: a user types a command and sees the bot's card.

Also writes the README screenshot docs/images/playground-activate.png (with UPDATE_SCREENSHOT=1; otherwise to
tests/artifacts/). Debian's /usr/bin/chromium is required (never
`playwright install`): without it the test fails, it does not skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from devtools.stack import ROOT
from tests.e2e.conftest import E2EStack, SimControl
from tests.e2e.playground import PlaygroundClient

pytestmark = [pytest.mark.playground, pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's screenshot is refreshed only when asked (UPDATE_SCREENSHOT=1): a test run must not dirty the tree.
SCREENSHOT = (
    ROOT / "docs" / "images" / "playground-activate.png"
    if os.environ.get("UPDATE_SCREENSHOT") == "1"
    else ROOT / "tests" / "artifacts" / "playground-activate.png"
)
ALICE = "aaaaaaaa-0000-4000-8000-000000000001"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)", pytrace=False)
    return CHROMIUM


async def test_activate_in_the_playground_ui_shows_the_active_card_and_saves_the_readme_screenshot(
    chromium: Path, e2e_stack: E2EStack, fresh: PlaygroundClient, sim: SimControl
) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(30_000)
            await page.goto(e2e_stack.playground_url)
            # Opening the personal chat sends the install event; the bot answers with its help card.
            welcome = page.locator(".ac-adaptiveCard").filter(has_text="What I can do")
            await expect(welcome.first).to_be_visible()
            # The wire log panel takes a third of the width; the README picture is about the chat.
            await page.get_by_role("button", name="Hide log panel").click()

            composer = page.locator("div[role=textbox][data-lexical-editor=true]").last
            await composer.click()
            await page.keyboard.type("activate Exchange-Admins 2h")
            await page.get_by_role("button", name="Send Message").click()

            card = page.locator(".ac-adaptiveCard").filter(has_text="Exchange-Admins · Member").last
            await expect(card).to_be_visible()
            await expect(card.get_by_text("Active", exact=True)).to_be_visible()
            await expect(card).to_contain_text("Duration")
            await expect(card).to_contain_text("2 h")
            await expect(card.get_by_role("button", name="Deactivate")).to_be_visible()
            text = await card.inner_text()
            await card.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))
        finally:
            await browser.close()

    assert "Activation" in text and "Request" in text, text
    # What the user saw is what happened: one activation, written with Alice's own token.
    log = await sim.requests()
    writes = [e for e in log if e["method"] == "POST" and e["path"].endswith("/assignmentScheduleRequests")]
    assert [(e["caller"], e["oid"], e["status"]) for e in writes] == [("user", ALICE, 201)]
    assert SCREENSHOT.stat().st_size > 20_000
