"""The demo's step-up sign-in in a real browser: headless Debian chromium opens the step-up link of a step-up card,
signs in on the simulated tenant's pages (MFA step included) and lands on the bot's "You're signed in" page, with no
certificate error on the way, and the command completes. The bot's page is styled under its own Content-Security-Policy
(no violation reported), follows a dark colour scheme and reflows at 320 CSS pixels (400 % zoom) without scrolling
sideways; its screenshot is the README's docs/images/stepup-signed-in.png (written there with UPDATE_SCREENSHOT=1,
otherwise to tests/artifacts/).

The stack is the demo's, started as `make demo` starts it (devtools.stack: `python -m simtenant --sign-in-http` and
`python app.py` with PUBLIC_BASE_URL on http://127.0.0.1), with the Bot Connector stand-in instead of the Playground.
The browser trusts nothing extra: the simulated tenant's throwaway CA is unknown to it, so an HTTPS page of the
tenant fails to load (the control at the end proves that this test would see a certificate warning).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright, expect

from devtools.stack import bot_environment, bot_process, free_port, simulated_tenant
from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from devtools.teams.connector import running_connector
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    """The demo's simulated tenant and bot as processes: (the tenant's startup line, the bot's port)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)", pytrace=False)
    with ExitStack() as stack:
        tenant, _ = stack.enter_context(simulated_tenant(tmp_path / "sim"))
        port = free_port()
        stack.enter_context(
            bot_process(bot_environment(tenant, port, tmp_path / "state.sqlite3"), tmp_path / "bot.log")
        )
        info = json.loads((tmp_path / "sim" / "simtenant.json").read_text())
        yield info, port


async def test_the_demo_step_up_sign_in_opens_in_chromium_without_a_certificate_warning(
    demo: tuple[dict[str, Any], int],
) -> None:
    info, port = demo
    async with running_connector() as connector, aiohttp.ClientSession() as http:
        activity = act.message(connector.url, "activate Privileged-Role-Admins 30m because patching")
        async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
            assert r.status in (200, 201), await r.text()
        [card] = [m.card for m in await connector.wait_for(1)]
        [link] = [a["url"] for a in (card or {}).get("actions", []) if a.get("type") == "Action.OpenUrl"]
        assert link.startswith(f"http://127.0.0.1:{port}/auth/stepup/start?state=")

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                # ignore_https_errors stays False: a certificate error would fail
                page = await browser.new_page(viewport={"width": 880, "height": 560})
                page.set_default_timeout(15_000)
                failed: list[str] = []
                page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))

                opened = await page.goto(link)
                assert opened is not None and opened.ok
                assert page.url.startswith(f"{info['sign_in_origin']}/{info['tenant_id']}/oauth2/v2.0/authorize?")
                assert await page.evaluate("window.isSecureContext") is True  # loopback: a secure context
                await page.select_option("select[name=user]", ALICE.oid)
                await page.get_by_role("button", name="Next").click()
                code = await page.locator("#otp-shown").inner_text()
                await page.get_by_label("Code").fill(code)
                await page.get_by_role("button", name="Verify").click()

                await page.wait_for_url(f"http://127.0.0.1:{port}/auth/stepup/callback")
                await expect(page.get_by_role("heading")).to_have_text("You're signed in")
                await expect(page.get_by_role("status")).to_contain_text("Signed in as Alice Admin.")
                await expect(page).to_have_title("You're signed in · PIM Bot")
                assert failed == []
                await looks_like_the_product(page)
                await screenshot(page, "stepup-signed-in.png")
                await reflows_and_goes_dark(page)
                # The same link again: the expired page, styled by the same rules.
                await page.set_viewport_size({"width": 880, "height": 560})
                opened = await page.goto(link)
                assert opened is not None and opened.status == 400
                await expect(page.get_by_role("alert")).to_contain_text("Sign-in link expired")
                await looks_like_the_product(page)
                assert not [m for m in console if "Content Security Policy" in m], console

                # The control: the tenant's HTTPS origin is what a browser would warn about.
                with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                    await page.goto(
                        f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration"
                    )
            finally:
                await browser.close()

        messages = await connector.wait_for(2)
        assert "Active" in json.dumps(messages[-1].card), messages[-1].body


async def looks_like_the_product(page: Page) -> None:
    """The inline style applied (a Content-Security-Policy that refused it would leave the browser's defaults)."""
    card = await page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('main'));"
        " return [s.borderTopLeftRadius, s.backgroundColor, s.maxWidth]; })()"
    )
    assert card == ["12px", "rgb(255, 255, 255)", "544px"], card
    icon = await page.locator("svg.icon").bounding_box()
    assert icon is not None and icon["width"] == 72


async def reflows_and_goes_dark(page: Page) -> None:
    """At 320 CSS pixels wide (WCAG's reflow width, 1280 at 400 %) nothing scrolls sideways and the next step is still
    in view of a scroll; with a dark colour scheme the page is dark."""
    await page.set_viewport_size({"width": 320, "height": 640})
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    await expect(page.get_by_text("You can close this window and go back to Teams.")).to_be_visible()
    await page.emulate_media(color_scheme="dark")
    background = await page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor")
    assert background == "rgb(36, 36, 36)", background
    await page.emulate_media(color_scheme="light")
