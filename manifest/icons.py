"""Generate the two Teams app icons reproducibly with Pillow.

    python -m manifest.icons            # rewrites manifest/color.png and manifest/outline.png

* ``color.png``   192x192 RGB, full colour: a white shield with a gold key on the accent colour.
* ``outline.png`` 32x32 RGBA, transparent background, white shield outline with a keyhole (white + alpha only).

Shapes are drawn on an integer supersampled canvas and shrunk with ``Image.reduce`` (a plain box average), so the
pixels depend only on this file, not on a resampling filter's version.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ACCENT = "#1F4E79"  # keep in sync with accentColor in manifest.template.json
GOLD = (242, 183, 5)
WHITE = (255, 255, 255)
COLOR_SIZE = 192
OUTLINE_SIZE = 32

Point = tuple[float, float]


def shield(cx: float, top: float, width: float, height: float, steps: int = 48) -> list[Point]:
    """A classic shield: flat top with rounded shoulders, straight sides, curved flanks meeting in a bottom point."""
    half = width / 2
    side_end = top + height * 0.45  # where the straight sides stop and the flanks start curving in
    bottom = top + height
    pts: list[Point] = [(cx - half, top + height * 0.08), (cx, top), (cx + half, top + height * 0.08)]
    pts.append((cx + half, side_end))
    for i in range(1, steps + 1):  # right flank: quarter-ellipse-ish curve to the bottom point
        t = i / steps
        pts.append((cx + half * math.cos(t * math.pi / 2), side_end + (bottom - side_end) * math.sin(t * math.pi / 2)))
    for i in range(steps - 1, -1, -1):  # left flank, mirrored
        t = i / steps
        pts.append((cx - half * math.cos(t * math.pi / 2), side_end + (bottom - side_end) * math.sin(t * math.pi / 2)))
    return pts


def _scaled(points: list[Point], cx: float, cy: float, factor: float) -> list[Point]:
    return [(cx + (x - cx) * factor, cy + (y - cy) * factor) for x, y in points]


def make_color(size: int = COLOR_SIZE, ss: int = 4) -> Image.Image:
    big = size * ss
    im = Image.new("RGB", (big, big), ACCENT)
    d = ImageDraw.Draw(im)
    u = big / 192  # design units are pixels of the final 192x192 icon
    outer = shield(96 * u, 26 * u, 112 * u, 140 * u)
    d.polygon(outer, fill=WHITE)
    d.polygon(_scaled(outer, 96 * u, 92 * u, 0.86), fill=ACCENT)
    d.polygon(_scaled(outer, 96 * u, 92 * u, 0.78), fill=WHITE)
    # gold key, bow on top, bit at the bottom right
    bow_r, hole_r = 17 * u, 7 * u
    cx, cy = 96 * u, 70 * u
    d.ellipse((cx - bow_r, cy - bow_r, cx + bow_r, cy + bow_r), fill=GOLD)
    d.ellipse((cx - hole_r, cy - hole_r, cx + hole_r, cy + hole_r), fill=WHITE)
    d.rectangle((cx - 5 * u, cy + bow_r - 2 * u, cx + 5 * u, 136 * u), fill=GOLD)
    d.rectangle((cx + 5 * u, 112 * u, cx + 19 * u, 120 * u), fill=GOLD)
    d.rectangle((cx + 5 * u, 126 * u, cx + 15 * u, 134 * u), fill=GOLD)
    return im.reduce(ss)


def make_outline(size: int = OUTLINE_SIZE, ss: int = 8) -> Image.Image:
    big = size * ss
    clear = (*WHITE, 0)  # transparent white, so box-averaged edge pixels stay pure white with partial alpha
    im = Image.new("RGBA", (big, big), clear)
    d = ImageDraw.Draw(im)  # no blend mode: fills overwrite, so drawing `clear` erases
    u = big / 32
    outer = shield(16 * u, 2.5 * u, 24 * u, 27 * u)
    d.polygon(outer, fill=(*WHITE, 255))
    d.polygon(_scaled(outer, 16 * u, 15.5 * u, 0.80), fill=clear)
    # keyhole
    r = 3 * u
    cx, cy = 16 * u, 13 * u
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*WHITE, 255))
    d.polygon(
        [(cx - 1.3 * u, cy), (cx + 1.3 * u, cy), (cx + 2.2 * u, 21 * u), (cx - 2.2 * u, 21 * u)], fill=(*WHITE, 255)
    )
    return im.reduce(ss)


def write_icons(out_dir: Path = HERE) -> tuple[Path, Path]:
    color, outline = out_dir / "color.png", out_dir / "outline.png"
    # no metadata chunks (no dates), fixed compression: same bytes for the same Pillow/zlib
    make_color().save(color, format="PNG", optimize=False, compress_level=9)
    make_outline().save(outline, format="PNG", optimize=False, compress_level=9)
    return color, outline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write color.png and outline.png")
    args = parser.parse_args(argv)
    for path in write_icons(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
