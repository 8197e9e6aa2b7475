"""The bot's own web pages (issue 11, point 11), reached as a browser reaches them: the step-up sign-in's start and
callback over HTTP against the simulated tenant, and addresses the bot does not serve. Each page keeps its status and
its meaning, is one well-formed document (lang, one h1, the outcome in a status or alert region, no script, nothing
loaded from elsewhere), carries the security headers, and escapes what it shows."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.pages import Outcome, Page, render
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, TeamsUser
from settings import load_settings
from simtenant import run_simtenant
from simtenant.observe import Fault
from simtenant.seed import PRIVILEGED_ROLE_ADMINS
from tests.fakes.signin_page import sign_in_on_page, walk_sign_in
from tests.support.stack import another_bot, bot_env, bot_server
from tests.support.state import StateFile
from tests.support.stepup import ACTIVATE_MFA_GROUP, StepUpStack, stepup_stack

NASTY = "<script>alert('x')</script> & \"Mallory\""


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[StepUpStack]:
    async with stepup_stack(tmp_path) as running:
        yield running


class Document(HTMLParser):
    """What a page is made of, as html.parser reads it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.tags: list[str] = []
        self.h1: list[str] = []
        self.title = ""
        self.roles: list[str] = []
        self.style = ""
        self.urls: list[str] = []  # every src and href
        self.text = ""
        self._in: list[str] = []  # the open elements (void ones and SVG shapes left out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = values.get("lang")
        if values.get("role"):
            self.roles.append(str(values["role"]))
        self.urls += [str(values[a]) for a in ("src", "href") if values.get(a)]
        if tag not in ("meta", "link", "path", "circle", "rect"):
            self._in.append(tag)
        if tag == "h1":
            self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        where = self._in[-1] if self._in else ""
        if where == "style":
            self.style += data
        elif where == "title":
            self.title += data
        else:
            self.text += data + " "
            if "h1" in self._in:
                self.h1[-1] += data


def parse(page: str) -> Document:
    doc = Document()
    doc.feed(page)
    doc.close()
    return doc


def check_page(answer: tuple[int, Any, str], expected: int, title: str, *phrases: str) -> Document:
    """The answer (status, headers, body) is the bot's own page, complete and safe; it says `title` and each of
    `phrases`."""
    status, headers, page = answer
    assert status == expected, page
    assert headers["Content-Type"].startswith("text/html")
    assert page.startswith("<!doctype html>")
    doc = parse(page)
    assert doc.lang == "en"
    assert doc.h1 == [title]
    assert doc.title == f"{title} · PIM Bot"
    assert "PIM Bot" in doc.text
    assert doc.roles == ["status" if expected == 200 else "alert"]
    assert "script" not in doc.tags and "form" not in doc.tags
    assert all(url.startswith("data:") for url in doc.urls), doc.urls  # nothing loads from elsewhere
    for phrase in phrases:
        assert phrase in doc.text, (phrase, doc.text)
    csp = headers["Content-Security-Policy"]
    style_hash = base64.b64encode(hashlib.sha256(doc.style.encode()).digest()).decode()
    assert "default-src 'none'" in csp and f"style-src 'sha256-{style_hash}'" in csp, csp
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    return doc


async def get(http: aiohttp.ClientSession, url: Any, **headers: str) -> tuple[int, Any, str]:
    async with http.get(url, headers=headers, allow_redirects=False) as r:
        return r.status, r.headers, await r.text()


# ---- the step-up sign-in's pages -------------------------------------------------------------------------------


async def test_signed_in_names_the_teams_user_and_says_the_request_carried_on(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    async with stack.http.get(stack.sign_in_link(), allow_redirects=False) as r:
        assert r.status == 302
        # The redirect to Entra is not cached and tells Entra nothing of the link it came from.
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
        authorize = r.headers["Location"]
    answer = await callback(stack, authorize, ALICE.oid)
    check_page(
        answer,
        200,
        "You're signed in",
        "Signed in as Alice Admin.",
        "PIM Bot carried on with your request: its answer is in your chat in Teams.",
        "You can close this window and go back to Teams.",
    )
    messages = await stack.connector.wait_for(2)
    assert "Active" in str(messages[-1].card)  # it did carry on


async def callback(
    stack: StepUpStack, authorize: str, user_id: str, server: TestServer | None = None, **change: str
) -> tuple[int, Any, str]:
    """Sign in as `user_id` on the simulated Entra page and post its answer (fields replaced by `change`) to the
    bot's callback, as the page's auto-submitting form does."""
    answered = await sign_in_on_page(stack.http, authorize, user_id)
    fields = {**form_fields(answered.page), **change}
    async with stack.http.post((server or stack.server).make_url("/auth/stepup/callback"), data=fields) as r:
        return r.status, r.headers, await r.text()


async def opened(stack: StepUpStack, link: str) -> str:
    """Open the sign-in link: where the bot sends the browser (the simulated Entra sign-in page)."""
    async with stack.http.get(link, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return str(r.headers["Location"])


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the sign-in page's auto-submitting form."""
    fields: dict[str, str] = {}

    class Form(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("name"):
                fields[str(values["name"])] = str(values.get("value") or "")

    Form().feed(page)
    return fields


async def test_signed_in_with_no_request_waiting_says_so(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    first = stack.sign_in_link()
    await stack.say(ACTIVATE_MFA_GROUP)  # a second sign-in card; the request waits once, for either sign-in
    await walk_sign_in(stack.http, stack.sign_in_link(), ALICE.oid)
    answer = await callback(stack, await opened(stack, first), ALICE.oid)
    check_page(
        answer,
        200,
        "You're signed in",
        "No request of yours was waiting for this sign-in: send it again in Teams.",
        "You can close this window and go back to Teams.",
    )
    assert len(stack.activations(PRIVILEGED_ROLE_ADMINS)) == 1


async def test_signed_in_but_the_answer_could_not_be_posted_in_teams(stack: StepUpStack) -> None:
    """The command runs again but Teams refuses its answer (the bot was blocked meanwhile): the page must not say
    the answer is in the chat."""
    await stack.say(ACTIVATE_MFA_GROUP)
    link = stack.sign_in_link()
    stack.connector.block(stack.connector.messages()[-1].conversation_id)
    answer = await callback(stack, await opened(stack, link), ALICE.oid)
    doc = check_page(
        answer,
        200,
        "You're signed in",
        "PIM Bot could not finish your request: type “status” in Teams to see where it stands.",
    )
    assert "answer is in your chat" not in doc.text


async def test_a_name_with_markup_is_shown_as_text(stack: StepUpStack) -> None:
    mallory = TeamsUser(ALICE.oid, NASTY)  # the display name Teams sends is the sender's to choose
    async with stack.http.post(
        stack.server.make_url("/api/messages"), json=act.message(stack.connector.url, ACTIVATE_MFA_GROUP, mallory)
    ) as r:
        assert r.status in (200, 201)
    walk = await walk_sign_in(stack.http, stack.sign_in_link(), ALICE.oid)
    assert walk.status == 200
    assert "<script" not in walk.page and NASTY not in walk.page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;Mallory&quot;" in walk.page
    doc = parse(walk.page)
    assert "script" not in doc.tags
    assert f"Signed in as {NASTY}." in doc.text  # what the person reads is the name, verbatim


async def test_expired_link(stack: StepUpStack) -> None:
    answer = await get(stack.http, stack.server.make_url("/auth/stepup/start?state=nope"))
    check_page(
        answer,
        400,
        "Sign-in link expired",
        "This sign-in link has expired or was already used, so nothing was changed.",
        "Go back to Teams and send your request again.",
    )


async def test_a_used_link_is_expired(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    link = stack.sign_in_link()
    await walk_sign_in(stack.http, link, ALICE.oid)
    answer = await get(stack.http, link)
    check_page(answer, 400, "Sign-in link expired", "already used")


async def test_wrong_account(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    answer = await callback(stack, await opened(stack, stack.sign_in_link()), BOB.oid)
    doc = check_page(
        answer,
        403,
        "Wrong account",
        "You signed in with a different account than the one you use in Teams, so nothing was changed.",
        "Send your request again in Teams and sign in as yourself.",
    )
    assert "Alice" not in doc.text  # the page goes to whoever signed in: it does not name the Teams user


async def test_sign_in_that_gave_no_token(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    authorize = await opened(stack, stack.sign_in_link())
    answer = await callback(stack, authorize, ALICE.oid, code="not-a-code-entra-issued")
    check_page(
        answer,
        400,
        "Sign-in did not complete",
        "Microsoft Entra did not give PIM Bot a sign-in, so nothing was changed.",
        "Go back to Teams and send your request again.",
    )
    assert not stack.activations(PRIVILEGED_ROLE_ADMINS)


async def test_entra_unreachable_when_the_link_is_opened(stack: StepUpStack) -> None:
    await stack.say(ACTIVATE_MFA_GROUP)
    stack.sim.tenant.faults.add(entra_down())
    answer = await get(stack.http, stack.sign_in_link())
    check_page(
        answer,
        503,
        "Microsoft Entra cannot be reached",
        "The bot cannot reach Microsoft Entra, Microsoft's sign-in service, right now, so nothing was changed.",
        "Open the same link again in a minute; it still works.",
    )
    assert answer[1]["Retry-After"] == "60"


async def test_entra_unreachable_at_the_callback_does_not_send_the_person_back_to_a_spent_link(
    stack: StepUpStack, tmp_path: Path
) -> None:
    """Another bot process sharing the state file answers the callback and cannot reach Entra: the link from Teams
    was spent when it was opened, so the page must not say to open it again."""
    await stack.say(ACTIVATE_MFA_GROUP)
    link = stack.sign_in_link()
    authorize = await opened(stack, link)
    async with other_process(stack, tmp_path) as other:
        stack.sim.tenant.faults.add(entra_down())
        answer = await callback(stack, authorize, ALICE.oid, server=other)
        doc = check_page(
            answer,
            503,
            "Microsoft Entra cannot be reached",
            "nothing was changed",
            "Go back to Teams and send your request again in a minute.",
        )
        assert "same link" not in doc.text
        status, _, _ = await get(stack.http, link)
        assert status == 400  # indeed spent
        stack.sim.tenant.faults.clear()


async def test_a_page_that_fails_says_so_in_a_page(stack: StepUpStack, tmp_path: Path) -> None:
    """A stored sign-in request the bot cannot read (its time is garbage): a logged error, and the person gets the
    bot's page instead of JSON."""
    await stack.say(ACTIVATE_MFA_GROUP)
    link = stack.sign_in_link()
    state = parse_qs(urlsplit(link).query)["state"][0]
    storage = StateFile(tmp_path / "state.sqlite3")
    try:
        key = f"stepup/state/{state}"
        item = (await storage.read([key]))[key]
        await storage.write({key: {**item, "at": "not a time"}})
    finally:
        storage.close()
    answer = await get(stack.http, link)
    check_page(
        answer,
        500,
        "Something went wrong",
        "PIM Bot could not finish this page because of an error on its side",
        "Go back to Teams and send your request again.",
    )


# ---- addresses the bot does not serve ----------------------------------------------------------------------------


async def test_sign_in_pages_when_sign_in_is_off(tmp_path: Path) -> None:
    """A bot without PUBLIC_BASE_URL sends no sign-in links, but one from before may still be opened."""
    async with run_simtenant(seed="demo", state_dir=tmp_path / "sim") as sim:
        async with bot_server(load_settings(bot_env(sim, tmp_path / "state.sqlite3"))) as server:
            async with aiohttp.ClientSession() as http:
                answer = await get(http, server.make_url("/auth/stepup/start?state=x"))
    check_page(
        answer,
        404,
        "Sign-in is turned off",
        "Signing in from the browser is turned off for this PIM Bot, so nothing was changed.",
    )


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_on_an_address_the_bot_does_not_serve_gets_its_page(stack: StepUpStack) -> None:
    answer = await get(stack.http, stack.server.make_url("/"), Accept=BROWSER)
    check_page(answer, 404, "This page does not exist", "PIM Bot has no page at this address.")
    answer = await get(stack.http, stack.server.make_url("/api/messages"), Accept=BROWSER)
    check_page(answer, 405, "This page does not exist")
    assert answer[1]["Allow"] == "POST"


async def test_clients_that_are_not_browsers_get_no_page(stack: StepUpStack) -> None:
    status, headers, _ = await get(stack.http, stack.server.make_url("/nowhere"), Accept="application/json")
    assert status == 404 and not headers["Content-Type"].startswith("text/html")
    async with stack.http.get(stack.server.make_url("/healthz"), headers={"Accept": BROWSER}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")


# ---- the template ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_value_of_a_page_is_escaped(outcome: Outcome) -> None:
    page = render(Page(200, outcome, NASTY, (NASTY, NASTY), NASTY))
    assert NASTY not in page and "<script" not in page
    doc = parse(page)
    assert doc.h1 == [NASTY] and doc.title == f"{NASTY} · PIM Bot" and doc.text.count(NASTY) == 4


# ---- helpers ------------------------------------------------------------------------------------------------------


def entra_down() -> Fault:
    return Fault.from_json({"path": "/.well-known/openid-configuration$", "status": 503, "times": None})


@asynccontextmanager
async def other_process(stack: StepUpStack, tmp_path: Path) -> AsyncIterator[TestServer]:
    """A second bot on the same state file (as several bot processes may run), with the same public address."""
    async with another_bot(stack, PUBLIC_BASE_URL=str(stack.server.make_url("/")).rstrip("/")) as other:
        yield other.server
