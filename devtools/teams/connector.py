"""A recording, stateful stand-in of the Bot Connector REST API (what Teams' service URL answers).

Seed: `roster` members; `without_app` users (Teams id or AAD object id) the bot cannot open a 1:1 chat with; or,
when `personal_chat` is set (tests/support/stack.py Stack.publish_bot), the simulated tenant's record of who has the
bot's app, whose personal chat a 1:1 create_conversation then opens (refused for anyone else).
Behave: assigns activity ids, keeps every conversation's activities, applies updates and deletes, creates
conversations (a 1:1 with a user without the app is refused 403 BotNotInConversationRoster), answers member look-ups,
can be told to fail the next N sends (429/412/502..., with a Retry-After), or to hold every update (PUT) unanswered
until released (`hold_updates`: a slow connector).
Observe: `sent` (everything), `created` (each conversation created: its id and the request), `attempts` (every
send/update/create call as it arrived, failed ones too, with the time on `clock` — a test's virtual clock or the
monotonic one), `held` (updates waiting), `await wait_for(...)` and `await wait_until(...)` (no sleeps: an
asyncio.Condition).
Files (a bot's file in a personal chat, bot.exports): `offer_upload(name)` is what Teams does when the user accepts a
file consent card, an upload session on the user's OneDrive whose `uploadInfo` goes into the `fileConsent/invoke`;
`PUT /upload/{session}` takes the bytes as OneDrive's upload session does (`UploadSession`); `files` holds what was
completed, by name.
Authenticate (when told to, as the real one always does): `verify_bearer` checks every call's bearer token (raises
if it is not valid); a call without a valid one is answered 401 and kept in `refused`, not in `sent`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Recorded:
    method: str
    conversation_id: str
    activity_id: str
    body: dict[str, Any]
    authorization: str | None
    at: float = 0.0  # FakeConnector.clock when it arrived

    @property
    def type(self) -> str:
        return str(self.body.get("type"))

    @property
    def card(self) -> dict[str, Any] | None:
        for a in self.body.get("attachments") or []:
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return dict(a["content"])
        return None


@dataclass(frozen=True)
class Attempt:
    """One send, update or create call as it arrived, answered `status` (injected failures included)."""

    at: float
    method: str
    conversation_id: str
    status: int


@dataclass
class UploadSession:
    """An upload session as OneDrive for Business runs it ("Upload bytes to the upload session",
    https://learn.microsoft.com/graph/api/driveitem-createuploadsession; microsoftgraph/microsoft-graph-docs-contrib
    `api-reference/v1.0/api/driveitem-createuploadsession.md`), the place a `fileConsent/invoke`'s uploadUrl points
    to (Microsoft Learn, "Send and receive files using bot": "the OneDrive for Business placeholder URL that the bot
    can then issue a PUT to", linking that section). Modelled:

    * PUT with `Content-Range: bytes {first}-{last}/{total}` and a body of exactly that many bytes (`Content-Length`);
      a range that does not parse, a body of another length, or a total other than the session's first → 400;
    * fragments in order: one starting before what was received → 416 Requested Range Not Satisfiable ("a fragment
      the server had already received"); one starting after it → 400 ("Uploading fragments out of order results in an
      error"); a fragment of 60 MiB or more → 400;
    * more expected → 202 Accepted `{"expirationDateTime", "nextExpectedRanges": ["{received}-"]}`; the last byte →
      201 Created with the driveItem (`id`, `name`, `size`, `file`), the session then gone (404 for any later call,
      "the upload session no longer exists");
    * an `Authorization` header → 401 ("If you include the Authorization header when issuing the PUT call, it may
      result in an HTTP 401 Unauthorized response": the page says *may*; the stand-in always does, so a bot that
      sends one is caught);
    * GET → 200 with `nextExpectedRanges` (resuming); DELETE → 204 (cancel).
    Inferred (not on the page): the 400/401 bodies are Graph's error envelope with codes of our choosing
    (`invalidRange`, `unauthenticated`).
    """

    id: str
    name: str
    received: bytearray = field(default_factory=bytearray)
    total: int | None = None


_FRAGMENT_LIMIT = 60 * 1024 * 1024


@dataclass
class FakeConnector:
    sent: list[Recorded] = field(default_factory=list)
    roster: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    blocked: dict[str, int] = field(default_factory=dict)  # conversation id → status every call there gets
    without_app: set[str] = field(default_factory=set)  # users a new 1:1 chat is refused for (app not installed)
    created: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (conversation id, body) of each create
    url: str = ""
    verify_bearer: Callable[[str], Any] | None = None
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, why
    attempts: list[Attempt] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    held: int = 0  # updates (PUT) waiting at the stand-in for `release_updates`
    # (bot id, member id) -> the personal chat of a user who has the bot's app, None if they do not; unset: any 1:1
    # create_conversation succeeds with a new conversation id.
    personal_chat: Callable[[str, str], str | None] | None = None
    uploads: dict[str, UploadSession] = field(default_factory=dict)  # open upload sessions by id
    files: dict[str, bytes] = field(default_factory=dict)  # completed uploads by file name
    upload_puts: list[tuple[str, str, int]] = field(default_factory=list)  # (session, Content-Range, status) of PUTs
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _updates_open: asyncio.Event | None = None  # set: updates answer at once; clear: they wait (hold_updates)

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures.extend([(status, headers)] * times)

    def hold_updates(self) -> None:
        """Updates of activities (PUT) wait, unanswered, until `release_updates`: a slow Bot Connector."""
        assert self._updates_open is not None
        self._updates_open.clear()

    def release_updates(self) -> None:
        assert self._updates_open is not None
        self._updates_open.set()

    def block(self, conversation_id: str, status: int = 403) -> None:
        """Every call to this conversation fails with `status` (Teams answers 403 when the user blocked or removed
        the bot): a permanent failure, unlike `fail_next`."""
        self.blocked[conversation_id] = status

    def messages(self, conversation_id: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.sent
            if r.type == "message"
            and r.method in ("POST",)
            and (conversation_id is None or r.conversation_id == conversation_id)
        ]

    def typing(self) -> list[Recorded]:
        return [r for r in self.sent if r.type == "typing"]

    async def wait_for(
        self, count: int, *, kind: str = "message", seconds: float = 10.0, method: str | None = None
    ) -> list[Recorded]:
        """Wait until at least `count` activities of `kind` were posted (proactive sends arrive after the turn);
        `method` "PUT" counts updates only, "POST" new activities only."""
        assert self._changed is not None

        def matching() -> list[Recorded]:
            return [r for r in self.sent if r.type == kind and (method is None or r.method == method)]

        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()

    async def wait_until(self, done: Callable[[], bool], *, seconds: float = 10.0) -> None:
        """Wait until `done()` holds, looked at whenever a call arrives (what a bot sends after answering)."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(done)

    def offer_upload(self, name: str) -> dict[str, Any]:
        """What Teams puts in `fileConsent/invoke`'s `value.uploadInfo` when the user accepts a file consent card for
        `name` (Microsoft Learn, "Send and receive files using bot": contentUrl, name, uploadUrl, uniqueId, fileType,
        etag): a new upload session here."""
        session = UploadSession(f"upload-{next(self._ids)}", name)
        self.uploads[session.id] = session
        return {
            "contentUrl": f"{self.url}files/{session.id}/{name}",
            "name": name,
            "uploadUrl": f"{self.url}upload/{session.id}",
            "uniqueId": f"1150D938-8870-4044-9F2C-{int(session.id.split('-')[1]):012d}",
            "fileType": name.rsplit(".", 1)[-1] if "." in name else "",
            "etag": "1",
        }

    def app(self) -> web.Application:
        app = web.Application()
        # Any segment, braces included (aiohttp's default segment pattern excludes { and }; ids are opaque strings).
        cid, aid = "{cid:[^/]+}", "{aid:[^/]+}"
        app.router.add_post(f"/v3/conversations/{cid}/activities", self._post)
        app.router.add_post(f"/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put(f"/v3/conversations/{cid}/activities/{aid}", self._put)
        app.router.add_delete(f"/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_get(f"/v3/conversations/{cid}/members/{{mid:[^/]+}}", self._member)
        app.router.add_put("/upload/{sid}", self._upload_put)
        app.router.add_get("/upload/{sid}", self._upload_status)
        app.router.add_delete("/upload/{sid}", self._upload_cancel)
        return app

    # ---- the upload session a file consent opens (UploadSession) ----------------------------------------------

    def _upload_session(self, request: web.Request) -> UploadSession | None:
        return self.uploads.get(request.match_info["sid"])

    @staticmethod
    def _upload_error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    def _expected(self, session: UploadSession) -> dict[str, Any]:
        return {"expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": [f"{len(session.received)}-"]}

    async def _upload_put(self, request: web.Request) -> web.Response:
        session = self._upload_session(request)
        if session is None:
            self.upload_puts.append((request.match_info["sid"], request.headers.get("Content-Range", ""), 404))
            return self._upload_error(404, "itemNotFound", "The upload session does not exist.")
        body = await request.read()
        status, answer = self._take_fragment(session, request.headers, body)
        self.upload_puts.append((session.id, request.headers.get("Content-Range", ""), status))
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
        return answer

    def _take_fragment(self, session: UploadSession, headers: Any, body: bytes) -> tuple[int, web.Response]:
        if "Authorization" in headers:
            return 401, self._upload_error(401, "unauthenticated", "Do not send an Authorization header here.")
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("Content-Range", "").strip())
        if match is None:
            return 400, self._upload_error(400, "invalidRange", "Content-Range must be bytes {first}-{last}/{total}.")
        first, last, total = (int(g) for g in match.groups())
        length = headers.get("Content-Length")
        if last < first or last >= total or len(body) != last - first + 1 or (length and int(length) != len(body)):
            return 400, self._upload_error(400, "invalidRange", "The body does not match the Content-Range.")
        if len(body) >= _FRAGMENT_LIMIT:
            return 400, self._upload_error(400, "invalidRange", "A fragment must be under 60 MiB.")
        if session.total is not None and total != session.total:
            return 400, self._upload_error(400, "invalidRange", "The total size differs from the first request's.")
        if first < len(session.received):
            return 416, self._upload_error(416, "invalidRange", "The fragment was already received.")
        if first > len(session.received):
            return 400, self._upload_error(400, "invalidRange", "Fragments must be uploaded in order.")
        session.total = total
        session.received += body
        if len(session.received) < total:
            return 202, web.json_response(self._expected(session), status=202)
        del self.uploads[session.id]
        self.files[session.name] = bytes(session.received)
        item = {"id": session.id, "name": session.name, "size": total, "file": {}}
        return 201, web.json_response(item, status=201)

    async def _upload_status(self, request: web.Request) -> web.Response:
        session = self._upload_session(request)
        if session is None:
            return self._upload_error(404, "itemNotFound", "The upload session does not exist.")
        return web.json_response(self._expected(session))

    async def _upload_cancel(self, request: web.Request) -> web.Response:
        if self.uploads.pop(request.match_info["sid"], None) is None:
            return self._upload_error(404, "itemNotFound", "The upload session does not exist.")
        return web.Response(status=204)

    async def _record(self, method: str, request: web.Request, activity_id: str, body: dict[str, Any]) -> None:
        assert self._changed is not None
        async with self._changed:
            self.sent.append(
                Recorded(
                    method,
                    unquote(request.match_info["cid"]),
                    activity_id,
                    body,
                    request.headers.get("Authorization"),
                    self.clock(),
                )
            )
            self._changed.notify_all()

    def _unauthenticated(self, request: web.Request) -> web.Response | None:
        if self.verify_bearer is None:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme != "Bearer" or not token:
                raise ValueError("no bearer token")
            self.verify_bearer(token)
        except Exception as e:
            self.refused.append((request.method, request.path, f"{type(e).__name__}: {e}"))
            return web.json_response({"message": "Authorization has been denied for this request."}, status=401)
        return None

    def _failure(self, request: web.Request) -> web.Response | None:
        """An injected failure for this call, if one is queued; every call is logged in `attempts` either way."""
        cid = unquote(request.match_info.get("cid", ""))
        if cid in self.blocked:
            self.attempts.append(Attempt(self.clock(), request.method, cid, self.blocked[cid]))
            return web.json_response(
                {"error": {"code": "BotDisabledByAdmin", "message": "The bot is blocked here"}},
                status=self.blocked[cid],
            )
        if self.failures:
            status, headers = self.failures.pop(0)
            self.attempts.append(Attempt(self.clock(), request.method, cid, status))
            return web.json_response(
                {"error": {"code": "Injected", "message": "injected"}}, status=status, headers=headers
            )
        self.attempts.append(Attempt(self.clock(), request.method, cid, 201 if request.method == "POST" else 200))
        return None

    async def _post(self, request: web.Request) -> web.Response:
        if (denied := self._unauthenticated(request)) is not None:
            return denied
        if (failed := self._failure(request)) is not None:
            return failed
        activity_id = f"activity-{next(self._ids)}"
        await self._record("POST", request, activity_id, await request.json())
        return web.json_response({"id": activity_id}, status=201)

    async def _put(self, request: web.Request) -> web.Response:
        if (denied := self._unauthenticated(request)) is not None:
            return denied
        assert self._updates_open is not None and self._changed is not None
        if not self._updates_open.is_set():
            async with self._changed:
                self.held += 1
                self._changed.notify_all()
            await self._updates_open.wait()
            self.held -= 1
        if (failed := self._failure(request)) is not None:
            return failed
        activity_id = unquote(request.match_info["aid"])
        await self._record("PUT", request, activity_id, await request.json())
        return web.json_response({"id": activity_id})

    async def _delete(self, request: web.Request) -> web.Response:
        if (denied := self._unauthenticated(request)) is not None:
            return denied
        await self._record("DELETE", request, unquote(request.match_info["aid"]), {"type": "delete"})
        return web.Response(status=200)

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._unauthenticated(request)) is not None:
            return denied
        if (failed := self._failure(request)) is not None:
            return failed
        body = await request.json()
        chat = self._personal_chat(body)
        if (refused := self._refused_chat(body, chat)) is not None:
            self.attempts[-1] = Attempt(self.attempts[-1].at, request.method, "", refused.status)  # was logged 201
            return refused
        cid = chat or f"conversation-{next(self._ids)}"
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        activity_id = ""
        if body.get("activity"):
            activity_id = f"activity-{next(self._ids)}"
            if channel:  # a new post in a Teams channel: its thread is the channel id with the post's message id
                cid = f"{channel};messageid={activity_id}"
            assert self._changed is not None
            async with self._changed:
                self.sent.append(
                    Recorded(
                        "POST", cid, activity_id, body["activity"], request.headers.get("Authorization"), self.clock()
                    )
                )
                self._changed.notify_all()
        self.created.append((cid, body))
        return web.json_response({"id": cid, "activityId": activity_id, "serviceUrl": self.url}, status=201)

    def _personal_chat(self, body: dict[str, Any]) -> str | None:
        """The personal chat a 1:1 create_conversation opens, as the simulated tenant knows it (`personal_chat`)."""
        members = [m for m in body.get("members") or [] if isinstance(m, dict)]
        if body.get("isGroup") or self.personal_chat is None or len(members) != 1:
            return None
        return self.personal_chat(str((body.get("bot") or {}).get("id") or ""), str(members[0].get("id") or ""))

    def _refused_chat(self, body: dict[str, Any], chat: str | None) -> web.Response | None:
        """A new 1:1 chat with a user the bot cannot reach: the app is not installed for them (nor in a team they
        are in). Teams answers 403 BotNotInConversationRoster (msteams-docs
        bots/how-to/conversations/conversation-messages.md, status codes; OfficeDev/microsoft-teams-apps-company-
        communicator#744: users who never installed the bot; MicrosoftDocs/msteams-docs#11125: an object id is
        accepted only for a user who has the app)."""
        if body.get("isGroup") or (body.get("channelData") or {}).get("channel"):
            return None
        ids = {str(m.get(k) or "") for m in body.get("members") or [] for k in ("id", "aadObjectId")}
        if not ids & self.without_app and (self.personal_chat is None or chat is not None):
            return None
        return web.json_response(
            {
                "error": {
                    "code": "BotNotInConversationRoster",
                    "message": "The bot is not part of the conversation roster.",
                }
            },
            status=403,
        )

    async def _member(self, request: web.Request) -> web.Response:
        if (denied := self._unauthenticated(request)) is not None:
            return denied
        member = self.roster.get(unquote(request.match_info["mid"]))
        if member is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": "member not found"}}, status=404
            )
        return web.json_response(member)


@asynccontextmanager
async def running_connector(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[FakeConnector]:
    connector = FakeConnector()
    connector._changed = asyncio.Condition()
    connector._updates_open = asyncio.Event()
    connector._updates_open.set()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server(ssl=ssl_context)
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()
