"""HTTP routes: POST /api/messages (our own handler, not CloudAdapter.process) and GET /healthz.

Why our own handler (botbuilder 4.17.1 defects, see teams-platform.md §1.2): stock `process` serialises invoke bodies
twice (HTTP 500 on every Action.Execute), answers a malformed bearer with 500 and a missing Content-Type with 404.
Here: no JSON content type → 415; a body that is not a JSON object activity → 400; authentication failures → 401
(authentication runs before the turn, so a failing turn is never mistaken for a bad token, nor the reverse);
invoke bodies are serialised once (msrest models) or passed through (plain dicts).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.core.cloud_adapter_base import CloudAdapterBase
from botbuilder.schema import Activity
from msrest.serialization import Model

__all__ = ["healthz", "messages_handler"]

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # Bot Framework activities are far smaller; refuse anything larger before parsing it


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


def messages_handler(adapter: CloudAdapterBase, bot: Bot) -> Any:
    async def messages(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _problem(415, "Content-Type must be application/json")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _problem(413, "activity too large")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return _problem(413, "activity too large")
        try:
            body = json.loads(raw)
        except ValueError:
            return _problem(400, "the body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _problem(400, "the body is not a Bot Framework activity (an object with a type)")
        try:
            activity = Activity().deserialize(body)
        except Exception:
            return _problem(400, "the body is not a valid Bot Framework activity")
        if not activity.service_url or activity.conversation is None or not activity.conversation.id:
            return _problem(400, "the activity lacks serviceUrl or conversation.id")
        # None, not "": botbuilder's parameterized authentication only takes the anonymous (development) path for a
        # missing header when it is None, and CloudAdapterBase.process_activity treats a non-str as an already
        # authenticated result, so authentication is done here, apart from the turn.
        auth_header = request.headers.get("Authorization") or None
        try:
            authenticated = await adapter.bot_framework_authentication.authenticate_request(activity, auth_header)
        except Exception as e:
            # PermissionError for a missing/invalid token; botbuilder raises arbitrary errors (UnicodeDecodeError,
            # jwt errors, IndexError, "Could not validate endorsement key") for malformed or foreign bearer tokens:
            # none of them may become a 500. The token itself is never logged.
            log.warning("refused activity %s: %s: %s", activity.id, type(e).__name__, e)
            return _problem(401, "unauthorized")
        try:
            invoke_response = await adapter.process_activity(authenticated, activity, bot.on_turn)
        except Exception:
            log.exception("activity %s failed outside the turn", activity.id)
            return _problem(500, "internal error")
        if invoke_response is None:
            return web.Response(status=201)
        payload = invoke_response.body
        if isinstance(payload, Model):
            payload = payload.serialize()
        if payload is None:
            return web.Response(status=invoke_response.status)
        return web.json_response(payload, status=invoke_response.status)

    return messages


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
