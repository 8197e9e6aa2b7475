"""The bot's Teams app, installed for people through Graph (app-only), and their personal chat with it (issue 9).

Every step goes out as `$batch`es, in waves of at most 100 users (5 batches of 20 in flight at most):

* `install`: `POST /users/{id}/teamwork/installedApps` `{"teamsApp@odata.bind": ".../appCatalogs/teamsApps/{catalog
  id}"}` → 201 (installed now; Teams tells the bot) or 409 (already there: by the user, a setup policy or earlier);
* `personal_chats`: `GET /users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{catalog id}'`
  → the installation (userteamwork-list-installedapps; the filter gravitational/teleport's msteams plugin sends), then
  `GET /users/{id}/teamwork/installedApps/{installation id}/chat` → the personal chat's id.

Permission: TeamsAppInstallation.ReadWriteSelfForUser.All (application), which covers all three for the app whose
manifest's webApplicationInfo id is this app registration; Graph shows nothing of other apps with it.

The catalog id is TEAMS_APP_CATALOG_ID, else found once in the organisation's catalog (AppCatalog.Read.All):
`GET /appCatalogs/teamsApps?$filter=distributionMethod eq 'organization'&$expand=appDefinitions($expand=bot)`, the app
whose definition's bot id is the bot's (both query forms are the documented ones of appcatalogs-list-teamsapps; the
bot id is matched here rather than in an undocumented lambda filter). A failed look-up is not repeated for 5 minutes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from core.reach import Installed, Unreached
from graph.cache import Cache
from graph.client import BatchRequest, BatchResponse, GraphClient, JsonObject, odata_path
from graph.errors import GraphError, GraphTransportError

__all__ = ["GraphAppInstaller"]

log = logging.getLogger(__name__)

_Item = tuple[str, str, JsonObject | None]  # method, URL, body of one batch item

WAVE = 100  # users per round of batches: 5 batches of 20 in flight at most
RETRY_LOOKUP_AFTER = 300.0  # seconds before a failed catalog look-up is tried again


class _NoApp(Exception):
    def __init__(self, reason: Unreached) -> None:
        super().__init__(reason.value)
        self.reason = reason


class GraphAppInstaller:
    """`core.reach.AppInstaller` on Graph."""

    def __init__(
        self, graph: GraphClient, catalog_app_id: str = "", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._graph = graph
        self._configured = catalog_app_id
        # bot id → catalog id, for good; a look-up that found no app is not repeated for RETRY_LOOKUP_AFTER
        self._catalog: Cache[str, str] = Cache(math.inf, clock=clock, keep_failure=_kept_failure)

    async def install(self, user_ids: Sequence[str], bot_id: str) -> dict[str, Installed | Unreached]:
        try:
            app_id = await self.catalog_app(bot_id)
        except _NoApp as e:
            return dict.fromkeys(user_ids, e.reason)
        out: dict[str, Installed | Unreached] = {}
        bind = {"teamsApp@odata.bind": f"{self._graph.base_url}/appCatalogs/teamsApps/{app_id}"}
        for wave in _waves(user_ids):
            for user, answer in (await self._round(wave, lambda u: ("POST", _apps(u), bind))).items():
                if isinstance(answer, Unreached):
                    out[user] = answer
                elif answer.status == 409 or answer.ok:
                    out[user] = Installed(now=answer.status != 409)
                else:
                    log.warning("Graph did not install the app for %s: %s", user, answer.error)
                    out[user] = _reason(answer.error)
        return out

    async def personal_chats(self, user_ids: Sequence[str], bot_id: str) -> dict[str, str]:
        try:
            app_id = await self.catalog_app(bot_id)
        except _NoApp:
            return {}
        found: dict[str, str] = {}
        for wave in _waves(user_ids):
            found.update(await self._chats(wave, app_id))
        return found

    # -- the catalog ------------------------------------------------------------------------------------------------

    async def catalog_app(self, bot_id: str) -> str:
        """The catalog id of the bot's app. Raises _NoApp."""
        if self._configured:
            return self._configured
        bot = bot_id.lower().removeprefix("28:")
        return await self._catalog.get(bot, lambda: self._find(bot))

    async def _find(self, bot: str) -> str:
        params = {"$filter": "distributionMethod eq 'organization'", "$expand": "appDefinitions($expand=bot)"}
        try:
            apps = await self._graph.get_all("/appCatalogs/teamsApps", params=params)
        except (GraphError, GraphTransportError) as e:
            log.warning("could not read the Teams app catalog: %s", e)
            raise _NoApp(_reason(e)) from e
        for app in apps:
            bots = [_text((d.get("bot") or {}).get("id")) for d in _objects(app.get("appDefinitions"))]
            if bot in (b.lower() for b in bots) and isinstance(app.get("id"), str):
                log.info("the bot's Teams app is %s in the organisation's catalog", app["id"])
                return str(app["id"])
        log.warning("no app with bot %s in the organisation's Teams app catalog: approvers are not installed", bot)
        raise _NoApp(Unreached.NOT_IN_CATALOG)

    # -- batches ------------------------------------------------------------------------------------------------------

    async def _chats(self, users: list[str], app_id: str) -> dict[str, str]:
        """Each user's installation of the app, then its chat."""
        query = {"$expand": "teamsApp", "$filter": f"teamsApp/id eq '{app_id}'"}
        listed = await self._round(users, lambda u: ("GET", odata_path(_apps(u), query), None))
        installations = {u: i for u, a in listed.items() if (i := _installation(a, app_id))}
        chats = await self._round(
            list(installations), lambda u: ("GET", f"{_apps(u)}/{quote(installations[u], safe='')}/chat", None)
        )
        found: dict[str, str] = {}
        for user, answer in chats.items():
            chat = answer.json().get("id") if isinstance(answer, BatchResponse) and answer.ok else None
            if isinstance(chat, str) and chat:
                found[user] = chat
        return found

    async def _round(self, users: list[str], request: Callable[[str], _Item]) -> dict[str, BatchResponse | Unreached]:
        """One request per user in `$batch`es; a batch Graph did not answer makes its users UNAVAILABLE."""
        if not users:
            return {}
        requests = [BatchRequest(str(n), *request(user)) for n, user in enumerate(users)]
        try:
            answers = await self._graph.batch(requests)
        except (GraphError, GraphTransportError) as e:
            log.warning("a Teams app batch failed: %s", e)
            return dict.fromkeys(users, _reason(e))
        return {user: answers.get(str(n)) or Unreached.UNAVAILABLE for n, user in enumerate(users)}


def _kept_failure(error: Exception) -> float | None:
    """How long a failed catalog look-up stands: not at all when Graph did not answer."""
    if isinstance(error, _NoApp) and error.reason is not Unreached.UNAVAILABLE:
        return RETRY_LOOKUP_AFTER
    return None


def _waves(user_ids: Sequence[str]) -> list[list[str]]:
    return [list(user_ids[start : start + WAVE]) for start in range(0, len(user_ids), WAVE)]


def _apps(user_id: str) -> str:
    return f"/users/{quote(user_id, safe='')}/teamwork/installedApps"


def _installation(answer: BatchResponse | Unreached, app_id: str) -> str:
    """The installation id of the app in a listing (filtered on it, but read defensively)."""
    if isinstance(answer, Unreached) or not answer.ok or not isinstance(answer.body, Mapping):
        return ""
    rows = _objects(answer.body.get("value"))
    ours = [r for r in rows if _text((r.get("teamsApp") or {}).get("id")).lower() == app_id.lower()]
    if not ours and len(rows) == 1 and "teamsApp" not in rows[0]:
        ours = rows  # the filter was applied but the expansion left out: the one row is the app's
    return _text(ours[0].get("id")) if ours else ""


def _reason(error: GraphError | GraphTransportError | None) -> Unreached:
    """Why Graph did not do it for someone: not allowed, nobody by that id, or no answer."""
    if not isinstance(error, GraphError):
        return Unreached.UNAVAILABLE
    if error.status in (401, 403):
        return Unreached.NOT_ALLOWED
    if error.status == 404:
        return Unreached.NOT_FOUND
    return Unreached.UNAVAILABLE


def _objects(value: Any) -> list[JsonObject]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
