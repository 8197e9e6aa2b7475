"""Walk the bot's step-up link through the simulated tenant's sign-in page, as a browser would."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class SignInWalk:
    authorize_url: str  # where the bot's start page sent the browser (the simulated Entra sign-in page)
    callback_url: str  # where the sign-in page form-posted the code (the bot's callback)
    callback_fields: dict[str, str]
    status: int  # the bot's callback page
    page: str


async def walk_sign_in(http: aiohttp.ClientSession, link: str, user_id: str, *, mfa: bool = True) -> SignInWalk:
    async with http.get(link, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        authorize = r.headers["Location"]
    async with http.get(authorize) as r:
        page = await r.text()
        assert r.status == 200, page
    request_id = re.search(r"name='request' value='([^']+)'", page)
    assert request_id
    form = {"request": request_id.group(1), "user": user_id, **({"mfa": "on"} if mfa else {})}
    async with http.post(authorize.split("?")[0] + "/submit", data=form) as r:
        posted = await r.text()
    action = re.search(r"action='([^']+)'", posted)
    assert action
    fields = dict(re.findall(r"name='([^']+)' value='([^']*)'", posted))
    async with http.post(action.group(1), data=fields) as r:
        return SignInWalk(authorize, action.group(1), fields, r.status, await r.text())
