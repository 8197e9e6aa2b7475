"""The Playground's own web UI in headless Debian chromium: a user types a command and sees the bot's card.

Also writes the README screenshots docs/images/playground-activate.png and playground-status.png (with
UPDATE_SCREENSHOT=1; otherwise to tests/artifacts/). Debian's /usr/bin/chromium is required (never
`playwright install`): without it the test fails, it does not skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, async_playwright, expect

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, opened_chat
from tests.support.e2e import E2EStack, SimControl
from tests.support.playground import PlaygroundClient
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.playground, pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

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
            page = await opened_chat(browser, e2e_stack.playground_url, height=800)
            card = await answer(page, "activate Exchange-Admins 2h", "Exchange-Admins · Member")
            await expect(card.get_by_text("Active", exact=True)).to_be_visible()
            await expect(card).to_contain_text("Duration")
            await expect(card).to_contain_text("2 h")
            await expect(card.get_by_role("button", name="Deactivate")).to_be_visible()
            text = await card.inner_text()
            await card.scroll_into_view_if_needed()
            shot = await screenshot(page, "playground-activate.png")
        finally:
            await browser.close()

    assert "Activation" in text and "Request" in text, text
    # What the user saw is what happened: one activation, written with Alice's own token.
    log = await sim.requests()
    writes = [e for e in log if e["method"] == "POST" and e["path"].endswith("/assignmentScheduleRequests")]
    assert [(e["caller"], e["oid"], e["status"]) for e in writes] == [("user", ALICE, 201)]
    assert shot.stat().st_size > 20_000


async def test_status_in_the_playground_ui_lists_active_and_activatable_groups_and_saves_the_readme_screenshot(
    chromium: Path, e2e_stack: E2EStack, fresh: PlaygroundClient
) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await opened_chat(browser, e2e_stack.playground_url, height=900)
            await answer(page, "activate Exchange-Admins 2h", "Exchange-Admins · Member")
            card = await answer(page, "status", "Your PIM groups")
            await expect(card.get_by_text("Eligible", exact=True)).to_be_visible()
            # The active group can be ended; each eligible group that can be activated now has its button.
            await expect(card.get_by_role("button", name="Deactivate")).to_have_count(1)
            assert await card.get_by_role("button", name="Activate").count() >= 3
            # The whole exchange in view: the command, the card, and the Playground's note under it.
            note = page.get_by_text("Full width control is not supported").last
            await note.evaluate("element => element.scrollIntoView({block: 'end'})")
            shot = await screenshot(page, "playground-status.png")
        finally:
            await browser.close()
    assert shot.stat().st_size > 20_000


async def answer(page: Page, command: str, card_text: str) -> Locator:
    """Type `command` in the composer and send it: the bot's card that answers it (the last with `card_text`)."""
    composer = page.locator("div[role=textbox][data-lexical-editor=true]").last
    await composer.click()
    await page.keyboard.type(command)
    await page.get_by_role("button", name="Send Message").click()
    card = page.locator(".ac-adaptiveCard").filter(has_text=card_text).last
    await expect(card).to_be_visible()
    return card
