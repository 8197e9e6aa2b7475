"""Headless Debian chromium for the browser tests: its path and flags, and a chat opened in the Agents Playground."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def opened_chat(browser: Browser, url: str, *, height: int) -> Page:
    """The Playground's personal chat with the bot in a new 1280-pixel wide page, its welcome card shown and the wire
    log hidden."""
    page = await browser.new_page(viewport={"width": 1280, "height": height})
    page.set_default_timeout(30_000)
    await page.goto(url)
    # Opening the personal chat sends the install event; the bot answers with its help card.
    welcome = page.locator(".ac-adaptiveCard").filter(has_text="What I can do")
    await expect(welcome.first).to_be_visible()
    # The wire log panel takes a third of the width; the README pictures are about the chat.
    await page.get_by_role("button", name="Hide log panel").click()
    return page
