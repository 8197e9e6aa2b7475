"""The bot's own web pages: what a person sees in the browser at the start and end of a step-up sign-in, and instead of
the web framework's plain "404: Not Found" or an error's JSON when a browser lands on an address the bot does not serve.

One template: the product name, an outcome icon, a heading, what happened and the next step. Everything is in the one
response (inline CSS and SVG, no script, no external font or asset), so a page works offline and under the strict
Content-Security-Policy it is sent with: `style-src` names the hash of the one inline style, nothing else may load.
Every value put in a page goes through `html.escape`. Accessible: `lang`, one h1, the outcome in a status or alert
region, the icons hidden from screen readers (the heading says it), contrast of at least 4.5:1 in light and dark
(`prefers-color-scheme`), and a fluid layout in rem that reflows at 320 CSS pixels (400 % zoom of 1280).

The sentences are in cards.wording, like every other sentence the bot says.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn
from urllib.parse import quote

from aiohttp import web

from cards import wording
from cards.wording import PAGE_TAGLINE, PRODUCT_NAME

__all__ = [
    "FAILED",
    "NOT_FOUND",
    "SECURITY_HEADERS",
    "SIGN_IN_OFF",
    "Outcome",
    "Page",
    "redirect",
    "render",
    "respond",
    "wants_page",
]


class Outcome(Enum):
    """What the page tells, which picks its icon and colour."""

    DONE = "done"  # green check
    REFUSED = "refused"  # red cross: nothing was changed because of what the person did (e.g. another account)
    FAILED = "failed"  # red cross: the bot's own error
    EXPIRED = "expired"  # amber clock
    UNAVAILABLE = "unavailable"  # amber cloud with a slash: Microsoft cannot be reached, try again later
    NOT_FOUND = "not-found"  # blue question mark


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    outcome: Outcome
    title: str
    text: tuple[str, ...]  # paragraphs: what happened
    next_step: str


NOT_FOUND = Page(404, Outcome.NOT_FOUND, wording.PAGE_NOT_FOUND, (wording.PAGE_NOT_FOUND_TEXT,), wording.BACK_TO_TEAMS)
SIGN_IN_OFF = Page(404, Outcome.NOT_FOUND, wording.SIGN_IN_OFF, (wording.SIGN_IN_OFF_TEXT,), wording.SEND_AGAIN)
FAILED = Page(500, Outcome.FAILED, wording.PAGE_FAILED, (wording.PAGE_FAILED_TEXT,), wording.SEND_AGAIN)

_TONE = {
    Outcome.DONE: "ok",
    Outcome.REFUSED: "bad",
    Outcome.FAILED: "bad",
    Outcome.EXPIRED: "warn",
    Outcome.UNAVAILABLE: "warn",
    Outcome.NOT_FOUND: "info",
}

# 48×48 glyphs drawn in the outcome's colour on a tinted disc (CSS: .icon circle, .icon path).
_GLYPH = {
    Outcome.DONE: "<path d='M14.5 24.5l6.5 6.5 13-13.5'/>",
    Outcome.REFUSED: "<path d='M17 17l14 14M31 17L17 31'/>",
    Outcome.FAILED: "<path d='M24 14v12M24 33v.5'/>",
    Outcome.EXPIRED: "<path d='M24 13a11 11 0 1 1 0 22 11 11 0 0 1 0-22zM24 18v6.5l4.5 2.5'/>",
    Outcome.UNAVAILABLE: (
        "<path d='M18 33h14.5a5.5 5.5 0 0 0 .9-10.9 9 9 0 0 0-16.9-1.6A6.3 6.3 0 0 0 18 33zM13 14l22 22'/>"
    ),
    Outcome.NOT_FOUND: "<path d='M19.5 19.5a4.5 4.5 0 1 1 6.2 4.2c-1 .5-1.7 1.4-1.7 2.5v1M24 32.5v.5'/>",
}

# The product mark: a shield (privileged access) with a clock hand (just in time), in the brand colour.
_MARK = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'{attrs}>"
    "<rect width='32' height='32' rx='7' fill='#4f52b2'/>"
    "<path d='M16 5.5l8.5 3.2v6.6c0 5.4-3.6 9.3-8.5 11.2-4.9-1.9-8.5-5.8-8.5-11.2V8.7z' fill='#fff'/>"
    "<path d='M16 11.5v5l3.2 2' fill='none' stroke='#4f52b2' stroke-width='2.2' stroke-linecap='round' "
    "stroke-linejoin='round'/></svg>"
)
_FAVICON = "data:image/svg+xml," + quote(_MARK.format(attrs=""), safe="/:=")
_LOGO = _MARK.format(attrs=" aria-hidden='true' focusable='false'")

_STYLE = """
:root{color-scheme:light dark;--bg:#f3f2f1;--card:#fff;--text:#242424;--muted:#5c5c5c;--line:#e0e0e0;
--ok:#0e700e;--ok-tint:#e3f4e1;--bad:#b10e1c;--bad-tint:#fbe7e9;--warn:#835b00;--warn-tint:#fdf3d6;
--info:#4f52b2;--info-tint:#ebebf8}
@media (prefers-color-scheme:dark){:root{--bg:#141414;--card:#242424;--text:#f0f0f0;--muted:#bdbdbd;
--line:#3d3d3d;--ok:#7bd07a;--ok-tint:#18331a;--bad:#ff9aa2;--bad-tint:#3e1a1e;--warn:#f3c651;--warn-tint:#3a2f0f;
--info:#b4b6f2;--info-tint:#26274a}}
*{box-sizing:border-box}
html{font-family:"Segoe UI",system-ui,-apple-system,"Helvetica Neue",Arial,sans-serif;font-size:100%;
line-height:1.5;background:var(--bg);color:var(--text);-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;
padding:2rem 1rem;overflow-wrap:anywhere}
main{width:100%;max-width:34rem;background:var(--card);border:1px solid var(--line);border-radius:.75rem;
box-shadow:0 1px 2px rgb(0 0 0/.05),0 .5rem 1.5rem rgb(0 0 0/.07);overflow:hidden}
.ok{--tone:var(--ok);--tint:var(--ok-tint)}.bad{--tone:var(--bad);--tint:var(--bad-tint)}
.warn{--tone:var(--warn);--tint:var(--warn-tint)}.info{--tone:var(--info);--tint:var(--info-tint)}
.brand{display:flex;align-items:center;gap:.75rem;margin:0;padding:1rem 1.5rem;border-bottom:1px solid var(--line)}
.brand svg{width:2rem;height:2rem;flex:none}
.brand b{display:block;font-size:1rem;line-height:1.25}
.tagline{display:block;color:var(--muted);font-size:.8125rem;line-height:1.35}
.outcome{padding:2rem 1.5rem 1.75rem;text-align:center}
.icon{width:4.5rem;height:4.5rem;display:block;margin:0 auto 1rem}
.icon circle{fill:var(--tint)}
.icon path{fill:none;stroke:var(--tone);stroke-width:3.5;stroke-linecap:round;stroke-linejoin:round}
h1{margin:0 0 .75rem;font-size:1.625rem;line-height:1.25;font-weight:600}
.outcome p{margin:.5rem auto 0;max-width:28rem}
.next{display:flex;gap:.75rem;align-items:flex-start;margin:0;padding:1rem 1.5rem;background:var(--tint);
border-top:1px solid var(--line);font-weight:600}
.next svg{width:1.25rem;height:1.25rem;flex:none;margin-top:.125rem}
.next path{fill:none;stroke:var(--tone);stroke-width:2.5;stroke-linecap:round;stroke-linejoin:round}
"""
_STYLE = "".join(line.strip() for line in _STYLE.strip().splitlines())

SECURITY_HEADERS = {
    # Only the one inline style (by its hash) and the data: favicon; no script, frame, form or base.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}';"
        " img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the sign-in links carry single-use state in their query
    "Cache-Control": "no-store",  # each page tells one sign-in's outcome
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}

_ARROW = (
    "<svg viewBox='0 0 20 20' aria-hidden='true' focusable='false'><path d='M4 10h11M10.5 5.5L15 10l-4.5 4.5'/></svg>"
)


def render(page: Page) -> str:
    """The page as a complete HTML document; every value is escaped."""
    e = html.escape
    tone = _TONE[page.outcome]
    role = "status" if page.outcome is Outcome.DONE else "alert"
    paragraphs = "".join(f"<p>{e(line)}</p>" for line in page.text)
    icon = (
        f"<svg class='icon' viewBox='0 0 48 48' aria-hidden='true' focusable='false'>"
        f"<circle cx='24' cy='24' r='24'/>{_GLYPH[page.outcome]}</svg>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='color-scheme' content='light dark'><meta name='referrer' content='no-referrer'>"
        f"<title>{e(page.title)} · {e(PRODUCT_NAME)}</title>"
        f"<link rel='icon' href='{e(_FAVICON)}'><style>{_STYLE}</style></head>"
        f"<body><main class='{tone}'>"
        f"<p class='brand'>{_LOGO}"
        f"<span><b>{e(PRODUCT_NAME)}</b><span class='tagline'>{e(PAGE_TAGLINE)}</span></span></p>"
        f"<div class='outcome' role='{role}'>{icon}<h1>{e(page.title)}</h1>{paragraphs}</div>"
        f"<p class='next'>{_ARROW}<span>{e(page.next_step)}</span></p>"
        "</main></body></html>"
    )


def respond(page: Page, headers: Mapping[str, str] | None = None) -> web.Response:
    """The page with its status, the security headers and `headers`; a 503 says when to try again."""
    headers = {**SECURITY_HEADERS, **(headers or {})}
    if page.status == 503:
        headers["Retry-After"] = "60"
    return web.Response(status=page.status, text=render(page), content_type="text/html", headers=headers)


def wants_page(request: web.Request) -> bool:
    """Whether a person's browser asked (a page of the bot's, or any address opened in a browser), rather than a
    Bot Framework or monitoring client, which get JSON."""
    if request.path.startswith("/auth/"):
        return True
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def redirect(location: str) -> NoReturn:
    """Send the browser on (302) without caching the answer or telling the next site where it came from."""
    raise web.HTTPFound(location, headers={k: SECURITY_HEADERS[k] for k in ("Cache-Control", "Referrer-Policy")})
