"""The demo's step-up sign-in in a real browser: headless Debian chromium opens the step-up link of a step-up card,
signs in on the simulated tenant's pages (MFA step included) and lands on the bot's "You're signed in" page, with no
certificate error on the way, and the command completes.

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
from playwright.async_api import async_playwright, expect

from devtools.stack import bot_environment, bot_process, free_port, simulated_tenant
from tests.fakes import activities as act
from tests.fakes.activities import ALICE
from tests.fakes.connector import running_connector

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
                page = await browser.new_page()  # ignore_https_errors stays False: a certificate error would fail
                page.set_default_timeout(15_000)
                failed: list[str] = []
                page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))

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
                assert failed == []

                # The control: the tenant's HTTPS origin is what a browser would warn about.
                with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                    await page.goto(
                        f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration"
                    )
            finally:
                await browser.close()

        messages = await connector.wait_for(2)
        assert "Active" in json.dumps(messages[-1].card), messages[-1].body
