"""The README's pictures: each one it shows is in docs/images, a real PNG and small; none lies there unused."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
MAX_BYTES = 300_000  # a README picture loads quickly on a slow link


def shown() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"!\[[^\]]+\]\(([^)]+)\)", readme)


def test_every_picture_the_readme_shows_is_a_small_png_in_docs_images() -> None:
    paths = shown()
    assert paths, "the README shows no picture"
    for link in paths:
        path = ROOT / link
        assert path.parent == IMAGES and path.exists(), link
        assert path.stat().st_size <= MAX_BYTES, (link, path.stat().st_size)
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 600, (link, image.format, image.size)


def test_no_picture_in_docs_images_is_left_unused() -> None:
    assert sorted(p.name for p in IMAGES.iterdir()) == sorted(Path(link).name for link in set(shown()))
