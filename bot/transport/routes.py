"""HTTP routes: POST /api/messages (our own handler, not CloudAdapter.process) and GET /healthz.

Why our own handler (botbuilder 4.17.1 defects, see teams-platform.md §1.2): stock `process` serialises invoke bodies
twice (HTTP 500 on every Action.Execute), answers a malformed bearer with 500 and a missing Content-Type with 404.
Here, in this order: no JSON content type → 415; too large → 413; a missing or invalid bearer → 401 before the body is
read (the token's signature, issuer, audience and lifetime need no body); a body that is not UTF-8, nests deeper than
MAX_DEPTH (a linear scan before json.loads, which recurses), is not strict JSON (NaN, 1e999, a lone surrogate) or not
an activity (an object with a type, its addressing members strings) → 400; a serviceUrl that is not an http(s) URL →
400; then the full authentication with the activity (channel endorsement,
serviceurl claim) → 401. Authentication runs before the turn, so a failing turn is never mistaken for a bad token, nor
the reverse. The turn is answered within bot.transport.turns' deadline, and a redelivered activity is not acted on twice
(bot.transport.turns, bot.transport.deliveries). Invoke bodies are serialised once (msrest models) or passed through
(plain dicts); an invoke the turn left unanswered or failed gets a neutral 200, never a 5xx.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from itertools import accumulate
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.core.cloud_adapter_base import CloudAdapterBase
from botbuilder.schema import Activity
from msrest.serialization import Model

from bot.health import HEALTH_KEY
from bot.pages import FAILED, NOT_FOUND, respond, wants_page
from bot.transport.after_answer import collecting
from bot.transport.turns import Turns
from bot.transport.wire import activity_of

__all__ = ["MAX_DEPTH", "VouchedTokens", "errors_middleware", "healthz", "messages_handler", "nesting_depth"]

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # Bot Framework activities are far smaller; refuse anything larger before parsing it
MAX_DEPTH = 64  # Teams activities nest about 8 levels (an Adaptive Card's data inside an invoke's value)

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # only then is a lone surrogate possible
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def nesting_depth(body: bytes) -> int:
    """How deep the arrays and objects of a UTF-8 JSON text nest, in linear time and without recursion.

    Escaped backslashes, then escaped quotes, are removed (left to right, as JSON reads escapes); the quotes left
    delimit the strings, whose brackets do not count. In UTF-8 no byte of a multi-byte character is ASCII, so bytes
    suffice. Where the text is not JSON the count may be off, but never below what json.loads would reach before it
    fails: it cannot tell strings apart differently on any prefix that is valid JSON."""
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    outside_strings = b"".join(structure.split(b'"')[::2])
    return max(accumulate(map(_STEP.__getitem__, outside_strings)), default=0)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


class VouchedTokens:
    """Bearer headers that passed the check without a body, until their token expires. The Bot Connector sends the
    same token with every activity for about an hour, so the early check verifies a signature once per token, not
    once per request (~1 ms of CPU). Only the early gate uses it: every request is still authenticated in full, with
    its activity. Bounded: the oldest entry goes first."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._until: dict[bytes, float] = {}

    def vouches(self, header: str, now: float) -> bool:
        until = self._until.get(self._key(header))
        return until is not None and now < until

    def remember(self, header: str, expires: object) -> None:
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            return
        if len(self._until) >= self._size:
            del self._until[next(iter(self._until))]
        self._until[self._key(header)] = float(expires)

    @staticmethod
    def _key(header: str) -> bytes:
        return hashlib.sha256(header.encode()).digest()


def messages_handler(adapter: CloudAdapterBase, bot: Bot, turns: Turns) -> Handler:
    auth = adapter.bot_framework_authentication
    vouched = VouchedTokens()

    async def token_first(auth_header: str | None) -> bool:
        """The bearer alone, before the body is read (anonymous development mode: no header, nothing to check)."""
        if auth_header is not None and vouched.vouches(auth_header, time.time()):
            return True
        result = await _authenticated(auth, Activity(), auth_header, "(before reading the body)")
        if result and auth_header is not None:
            vouched.remember(auth_header, result.claims_identity.claims.get("exp"))
        return bool(result)

    async def messages(request: web.Request) -> web.StreamResponse:
        with collecting() as starts:
            try:
                response = await answer(request)
                if starts:
                    # What the turn left for afterwards (an approval click: updating the other copies) must not delay
                    # its answer: the answer is written first (aiohttp sends nothing more for a prepared response).
                    await response.prepare(request)
                    await response.write_eof()
            finally:
                starts.run()  # also when the answer could not be written: the work is owed either way
        return response

    async def answer(request: web.Request) -> web.Response:
        arrived = turns.clock()
        if request.content_type != "application/json":
            return _problem(415, "Content-Type must be application/json")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _problem(413, "activity too large")
        # None, not "": botbuilder's parameterized authentication only takes the anonymous (development) path for a
        # missing header when it is None, and CloudAdapterBase.process_activity treats a non-str as an already
        # authenticated result, so authentication is done here, apart from the turn.
        auth_header = request.headers.get("Authorization") or None
        if not await token_first(auth_header):
            return _problem(401, "unauthorized")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return _problem(413, "activity too large")
        body = _json_object(raw)
        if isinstance(body, web.Response):
            return body
        try:
            activity = activity_of(body)  # as msrest's Activity().deserialize(body), without its cost
        except Exception:
            return _problem(400, "the body is not a valid Bot Framework activity")
        if not activity.service_url or activity.conversation is None or not activity.conversation.id:
            return _problem(400, "the activity lacks serviceUrl or conversation.id")
        if not _is_http_url(str(activity.service_url)):
            return _problem(400, "the activity's serviceUrl is not an http(s) URL")
        authenticated = await _authenticated(auth, activity, auth_header, activity.id)
        if not authenticated:
            return _problem(401, "unauthorized")
        try:
            invoke_response = await turns.answer(
                activity, lambda: adapter.process_activity(authenticated, activity, bot.on_turn), arrived=arrived
            )
        except Exception:
            log.exception("activity %s failed outside the turn", activity.id)
            return _problem(500, "internal error")
        if invoke_response is None:
            return web.Response(status=201)
        if invoke_response.status >= 500:
            # botbuilder's 501 for an invoke nobody answered (the turn failed, and on_turn_error logged why).
            log.warning("invoke %s (%.80r) was not answered: %s", activity.id, activity.name, invoke_response.status)
            return web.Response(status=200)
        payload = invoke_response.body
        if isinstance(payload, Model):
            payload = payload.serialize()
        if payload is None:
            return web.Response(status=invoke_response.status)
        return web.json_response(payload, status=invoke_response.status)

    return messages


async def _authenticated(auth: Any, activity: Activity, auth_header: str | None, what: object) -> Any:
    """botbuilder's AuthenticateRequestResult, or None (logged) when the request is refused.

    Before the body is read, `activity` is empty: with no channel id botbuilder skips only the endorsement check, with
    no serviceUrl only the serviceurl claim check; the second call, with the activity, makes every check."""
    try:
        return await auth.authenticate_request(activity, auth_header)
    except Exception as e:
        # PermissionError for a missing/invalid token; botbuilder raises arbitrary errors (UnicodeDecodeError,
        # jwt errors, IndexError, "Could not validate endorsement key") for malformed or foreign bearer tokens:
        # none of them may become a 500. The token itself is never logged.
        log.warning("refused activity %s: %s: %.300s", what, type(e).__name__, e)
        return None


def _json_object(raw: bytes) -> dict[str, Any] | web.Response:
    """The body as a JSON object with a string `type`, or the 400 that says why not."""
    try:
        text = raw.decode("utf-8-sig")  # str, so that json.loads does not guess UTF-16 or UTF-32 from NUL bytes
    except UnicodeDecodeError:
        return _problem(400, "the body is not UTF-8")
    if nesting_depth(raw) > MAX_DEPTH:
        return _problem(400, f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        return _problem(400, "the body is not valid JSON")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(body):
        return _problem(400, "the body has a string that is not Unicode (a lone surrogate)")
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return _problem(400, "the body is not a Bot Framework activity (an object with a type)")
    wrong = _wrongly_typed(body)
    if wrong:
        return _problem(400, f"the activity's {wrong}")
    return body


# Members that address or route an activity. msrest turns whatever it finds into a string ({} becomes "{}"), so a
# reply would go to an activity or conversation nobody named: refused instead. Absent or null is left to later checks,
# except the recipient (the bot itself), which Teams always names.
_STRINGS = ("id", "serviceUrl", "channelId", "replyToId", "name", "text")
_ACCOUNTS = ("from", "recipient", "conversation")
_ACCOUNT_LISTS = ("membersAdded", "membersRemoved")


def _wrongly_typed(body: dict[str, Any]) -> str:
    """What is wrong with the first malformed addressing member ("name has the wrong type"), or ""."""
    for key in _STRINGS:
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{key} has the wrong type"
    if body.get("recipient") is None:
        return "recipient is missing"
    for key in _ACCOUNTS:
        if body.get(key) is not None and not _is_account(body[key]):
            return f"{key} has the wrong type"
    for key in _ACCOUNT_LISTS:
        accounts = body.get(key)
        if accounts is not None and not (isinstance(accounts, list) and all(_is_account(a) for a in accounts)):
            return f"{key} has the wrong type"
    return ""


def _is_account(value: Any) -> bool:
    """A channel account or conversation: an object whose id, if any, is a string."""
    return isinstance(value, dict) and (value.get("id") is None or isinstance(value["id"], str))


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity; JSON has neither


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{number[:20]} is out of range")  # 1e999 would be read as infinity
    return value


def _has_lone_surrogate(body: Any) -> bool:
    """`\\ud800` alone is valid JSON text but no Unicode string: it cannot be stored or sent on. (Pairs, which .NET
    writes for emoji, are joined by json.loads and pass.)"""
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unexpected error in any route is logged (through the redacting log handlers) and answered with a plain 500.
    A browser gets the bot's own page instead of JSON or aiohttp's "404: Not Found" (bot.pages).

    Instead of botbuilder's aiohttp_error_middleware, which prints the traceback to stderr, outside the logs."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status in (404, 405) and wants_page(request):
            allow = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
            return respond(replace(NOT_FOUND, status=e.status), allow)
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return respond(FAILED) if wants_page(request) else _problem(500, "internal error")


async def healthz(request: web.Request) -> web.Response:
    """Always 200 while the process serves (restarting it cures no outage elsewhere): `status` is "ok", or
    "degraded" with what the bot cannot reach (bot.health)."""
    health = request.app.get(HEALTH_KEY)
    return web.json_response(health.report() if health is not None else {"status": "ok"})
