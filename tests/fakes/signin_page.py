"""Walk the simulated tenant's sign-in pages as a person at a browser would: choose the user, then the MFA step (type
the code the page shows, or continue without MFA); and the bot's step-up link through them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp


@dataclass(frozen=True)
class Answered:
    """What the sign-in pages answered the last form with: a 302 (query mode) or the auto-submitting form_post page."""

    status: int
    location: str
    page: str


@dataclass(frozen=True)
class SignInWalk:
    authorize_url: str  # where the bot's start page sent the browser (the simulated Entra sign-in page)
    callback_url: str  # where the sign-in page form-posted the code (the bot's callback)
    callback_fields: dict[str, str]
    status: int  # the bot's callback page
    page: str


def _form(page: str) -> tuple[str, str]:
    """The first form's action and its hidden `request` id."""
    action = re.search(r"action='([^']+)'", page)
    request_id = re.search(r"name='request' value='([^']+)'", page)
    assert action and request_id, page
    return action.group(1), request_id.group(1)


async def sign_in_on_page(
    http: aiohttp.ClientSession, authorize_url: str, user_id: str, *, mfa: bool = True, otp: str | None = None
) -> Answered:
    """Open the sign-in page at `authorize_url`, choose `user_id`, then do the MFA step (`otp` overrides the code
    typed in) or skip it."""
    parts = urlsplit(authorize_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    async with http.get(authorize_url) as r:
        page = await r.text()
        assert r.status == 200, page
    action, request_id = _form(page)
    async with http.post(origin + action, data={"request": request_id, "user": user_id}) as r:
        mfa_page = await r.text()
        assert r.status == 200, mfa_page
    shown = re.search(r"<strong id='otp-shown'>(\d+)</strong>", mfa_page)
    assert shown, mfa_page
    action, request_id = _form(mfa_page)
    step = {"otp": otp if otp is not None else shown.group(1)} if mfa else {"skip": "1"}
    async with http.post(origin + action, data={"request": request_id, **step}, allow_redirects=False) as r:
        return Answered(r.status, r.headers.get("Location", ""), await r.text())


async def walk_sign_in(http: aiohttp.ClientSession, link: str, user_id: str, *, mfa: bool = True) -> SignInWalk:
    async with http.get(link, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        authorize = r.headers["Location"]
    answered = await sign_in_on_page(http, authorize, user_id, mfa=mfa)
    assert answered.status == 200, answered  # response_mode=form_post: the auto-submitting form to the bot
    action = re.search(r"action='([^']+)'", answered.page)
    assert action
    fields = dict(re.findall(r"name='([^']+)' value='([^']*)'", answered.page))
    async with http.post(action.group(1), data=fields) as r:
        return SignInWalk(authorize, action.group(1), fields, r.status, await r.text())
