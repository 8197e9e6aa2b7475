"""The demo's PIM custom extension (issue 15 point 6): the bot decides PIM's activations of two groups.

* Teams Admins (member): a ticket rule — a ticket of the form INC-4711 or the activation is denied, with the form.
* Security-Operators (member): on-call auto-approval — whoever has a shift now in the team "Ops Rotation"'s Teams
  Shifts schedule is approved without the approvers. Alice has one (seeded here, from an hour ago for 23 hours).

`set_up` seeds the team and the shift through the simulated tenant's control API, then makes the extension and links
it to both policies exactly as an administrator would with `python -m admin extension setup`: the same code
(graph.extension_setup) through Graph beta, with a delegated token of Erin, the tenant's Privileged Role
Administrator. The rules are devtools/demo_rules.toml; `bot_settings` is what the bot needs to be that endpoint.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.extension.contract import PATH
from core.models import Access
from devtools.stack import Tenant
from graph.client import GraphClient
from graph.extension_setup import SCOPES, ExtensionConfig, set_up

__all__ = ["OPS_ROTATION", "RULES", "bot_settings", "endpoint", "link_groups"]

RULES = Path(__file__).resolve().parent / "demo_rules.toml"
OPS_ROTATION = "cccccccc-0000-4000-8000-0000000000aa"  # the team id demo_rules.toml names
ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = "aaaaaaaa-0000-4000-8000-000000000002"
ERIN = "aaaaaaaa-0000-4000-8000-000000000005"  # is_admin in the demo seed: Privileged Role Administrator
GROUPS = ("Teams Admins", "Security-Operators")
DEMO_API_CLIENT_ID = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"  # the simulated tenant's app (simtenant.seed CLIENT_ID)


def endpoint(bot_port: int) -> tuple[str, str]:
    """The bot's endpoint URL and its API's Application ID URI (the endpoint's host and the bot's client id; the
    simulated tenant's app stands in for the bot's app registration)."""
    return f"http://127.0.0.1:{bot_port}{PATH}", f"api://127.0.0.1:{bot_port}/{DEMO_API_CLIENT_ID}"


def bot_settings(app_id_uri: str) -> dict[str, str]:
    return {"PIM_EXTENSION_RULES": str(RULES), "PIM_EXTENSION_APP_ID_URI": app_id_uri}


def _control(tenant: Tenant, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{tenant.control_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=tenant.ca_file)
    with urllib.request.urlopen(request, timeout=10, context=context) as r:  # noqa: S310 (the local tenant)
        return json.loads(r.read() or b"null")


def _seed_ops_rotation(tenant: Tenant) -> None:
    """The team "Ops Rotation" (Alice and Bob), its Shifts schedule, and Alice on call now."""
    _control(tenant, "/seed/add_group", {"group_id": OPS_ROTATION, "display_name": "Ops Rotation",
                                         "members": [ALICE, BOB]})  # fmt: skip
    _control(tenant, "/seed/add_team_schedule", {"team_id": OPS_ROTATION})
    now = datetime.fromisoformat(_clock(tenant)).astimezone(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=22)
    _control(tenant, "/seed/add_shift", {"team_id": OPS_ROTATION, "user_id": ALICE, "start": _iso(start),
                                         "end": _iso(end)})  # fmt: skip


def _clock(tenant: Tenant) -> str:
    context = ssl.create_default_context(cafile=tenant.ca_file)
    with urllib.request.urlopen(f"{tenant.control_url}/clock", timeout=10, context=context) as r:  # noqa: S310
        now: str = json.loads(r.read())["now"]
        return now


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _link(tenant: Tenant, url: str, app_id_uri: str) -> list[str]:
    token = _control(tenant, "/token", {"oid": ERIN, "scp": " ".join(SCOPES)})["access_token"]
    beta = tenant.graph_base_url.rsplit("/", 1)[0] + "/beta"
    trust = ssl.create_default_context(cafile=tenant.ca_file)
    done = []
    async with httpx.AsyncClient(verify=trust, timeout=30) as http:

        async def no_app_token() -> str:
            raise RuntimeError("the set-up runs as Erin")

        client = GraphClient(http, beta, no_app_token)
        for group in GROUPS:
            config = ExtensionConfig(
                group=group,
                access=Access.MEMBER,
                target_url=url,
                resource_id=app_id_uri,
                timeout_seconds=10,
                retries=2,
                display_name="PIM Teams bot (demo)",
            )
            result = await set_up(client, token, config)
            done.append(f"{group}: extension {result.extension_id} {result.extension}")
    return done


def link_groups(tenant: Tenant, url: str, app_id_uri: str) -> list[str]:
    """Seed Ops Rotation and link the bot at `url` as the extension of the demo's two groups; one line per group.
    Synchronous (its own event loop): from async code, call it in a thread."""
    _seed_ops_rotation(tenant)
    return asyncio.run(_link(tenant, url, app_id_uri))
