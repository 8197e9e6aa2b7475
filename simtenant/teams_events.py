"""What Teams tells a bot when its app is installed for a user: `installationUpdate` (action `add`), then
`conversationUpdate` with the bot in `membersAdded`, both in the personal chat and from the user (teams-platform.md §6;
the shapes are those of Teams' personal-scope activities: `from` with the user's Teams id and `aadObjectId`,
`conversation` personal with the tenant, `channelData.tenant`, `recipient` the bot as `28:{bot id}`).

Delivered in the background, after the install answered, as Teams does it, to the messaging endpoint registered with the
app (`/_sim/teams/apps`). Unsigned, like the Agents Playground: the receiving bot must run in anonymous mode. Tests
await `idle()` to know every event arrived; `delivered` keeps each activity with the HTTP status the bot answered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from simtenant.model import Tenant
from simtenant.teams import BotEndpoint, CatalogApp, Installation, teams_user_id

__all__ = ["TeamsEvents"]

log = logging.getLogger(__name__)


class TeamsEvents:
    def __init__(self, tenant: Tenant) -> None:
        self._tenant = tenant
        self._pending: set[asyncio.Task[None]] = set()
        self.delivered: list[tuple[dict[str, Any], int]] = []  # (activity, HTTP status; 0 = not delivered)
        listeners = tenant.teams.listeners  # one delivery per tenant, also when a tenant is served again
        listeners[:] = [f for f in listeners if not isinstance(getattr(f, "__self__", None), TeamsEvents)]
        listeners.append(self.on_install)

    def on_install(self, installation: Installation, app: CatalogApp) -> None:
        endpoint = self._tenant.teams.endpoints.get(app.id.lower())
        if endpoint is None or app.bot_id is None:
            return
        activities = [self.activity(kind, installation, app, endpoint) for kind in ("install", "added")]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # installed while nothing serves (seeding): nobody to tell yet
            log.info("installation of %s for %s: no event loop, the bot is not told", app.id, installation.user_id)
            return
        task = loop.create_task(self._deliver(endpoint, activities))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def idle(self) -> None:
        """Wait until every event of the installations so far has been delivered (or failed)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def activity(self, kind: str, installation: Installation, app: CatalogApp, endpoint: BotEndpoint) -> dict[str, Any]:
        user = self._tenant.user(installation.user_id)
        tenant_id = self._tenant.tenant_id
        now = datetime.now(UTC)
        activity: dict[str, Any] = {
            "id": f"f:{uuid.uuid4()}",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "localTimestamp": now.isoformat(),
            "serviceUrl": endpoint.service_url,
            "channelId": "msteams",
            "from": {
                "id": teams_user_id(installation.user_id),
                "name": user.display_name if user else "",
                "aadObjectId": installation.user_id,
            },
            "conversation": {"conversationType": "personal", "tenantId": tenant_id, "id": installation.chat_id},
            "recipient": {"id": f"28:{app.bot_id}", "name": endpoint.bot_name},
            "channelData": {"tenant": {"id": tenant_id}},
            "locale": "en-US",
        }
        if kind == "install":
            activity.update(type="installationUpdate", action="add")
        else:
            activity.update(type="conversationUpdate", membersAdded=[{"id": f"28:{app.bot_id}"}])
        return activity

    async def _deliver(self, endpoint: BotEndpoint, activities: list[dict[str, Any]]) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            for activity in activities:
                status = 0
                try:
                    async with http.post(endpoint.messaging_endpoint, json=activity) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("could not deliver %s to %s: %s", activity["type"], endpoint.messaging_endpoint, exc)
                self.delivered.append((activity, status))
