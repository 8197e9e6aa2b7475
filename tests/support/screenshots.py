"""The README's screenshots, taken by the browser tests: docs/images/ when asked (UPDATE_SCREENSHOT=1), otherwise
tests/artifacts/ (a test run must not dirty the tree). Saved as 256-colour PNGs without dithering: a UI screenshot
keeps its look at about 40 % of the bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image
from playwright.async_api import Page

from devtools.stack import ROOT

__all__ = ["SCREENSHOTS", "screenshot"]

SCREENSHOTS = ROOT / "docs" / "images" if os.environ.get("UPDATE_SCREENSHOT") == "1" else ROOT / "tests" / "artifacts"


async def screenshot(page: Page, name: str) -> Path:
    """What `page` shows, as SCREENSHOTS/`name`."""
    shot = Image.open(io.BytesIO(await page.screenshot())).convert("RGB")
    small = shot.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    small.save(path, "PNG", optimize=True)
    return path
