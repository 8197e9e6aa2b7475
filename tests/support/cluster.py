"""Two bot instances as real processes (app.py) on one Azure Blob Storage container (Azurite), behind a round-robin
proxy (tests.scaleout.proxy): what App Service runs when a bot is scaled out to two instances.

The test process serves the rest over HTTP, in its own event loop: the simulated tenant (Graph and Entra, with its
request log), the recording Bot Connector, and for Teams SSO the Bot Framework token service and the channel's and
the bot's identity stand-ins (then every activity is signed, as the Bot Connector signs it, and the bot runs with
production settings). Activities go to the proxy, so consecutive ones land on different instances; a test may also
kill, stop and start an instance, and reads what the instances stored through the store interface.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.store import Store
from bot.store.open import StoreLocation, open_store
from devtools.azurite import Azurite
from devtools.stack import ROOT, Tenant, bot_environment, free_port
from devtools.teams.connector import FakeConnector, running_connector
from simtenant import run_simtenant
from tests.fakes.botframework import IdentityStandIns, running_identity
from tests.fakes.token_service import FakeTokenService, running_token_service
from tests.support.proxy import INSTANCE_HEADER, RoundRobin, running_proxy
from tests.support.stack import CONNECTION, production_env

__all__ = ["CONNECTION", "Answer", "Cluster", "Instance", "running_cluster"]

START_SECONDS = 60.0  # a bot's start-up on a busy test machine (imports, settings, the store, Graph's first token)


def _anonymous_env(sim: Any, port: int, tmp: Path) -> dict[str, str]:
    tenant = Tenant(**{name: str(getattr(sim, name)) for name in Tenant.__dataclass_fields__})
    return bot_environment(tenant, port, tmp / "state.sqlite3", {"ENDING_POLL_SECONDS": "3600"})


@dataclass(frozen=True)
class _Production:
    """The stand-ins of production settings with Teams SSO, and the bot's app registered at the login stand-in."""

    ids: IdentityStandIns
    token_service: FakeTokenService
    app_id: str
    secret: str

    def env(self, sim: Any, port: int, tmp: Path) -> dict[str, str]:
        env = _anonymous_env(sim, port, tmp)
        for development_only in ("BOT_ALLOW_ANONYMOUS", "PUBLIC_BASE_URL"):
            env.pop(development_only)
        env.update(production_env(sim, self.ids, tmp, self.app_id, self.secret))
        env.update(USER_TOKENS="sso", OAUTH_CONNECTION_NAME=CONNECTION, OAUTH_URL=self.token_service.url)
        env.pop("SIMULATED_TENANT_URL")
        return env


@dataclass
class Instance:
    """One bot process: its settings (the port is kept across restarts, as an App Service instance keeps its
    address), its log, and the process while it runs."""

    index: int
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Answer:
    status: int
    body: Any
    instance: int  # which instance answered (the proxy's header)


@dataclass
class Cluster:
    sim: Any  # simtenant.RunningSimTenant
    connector: FakeConnector
    proxy: RoundRobin
    instances: list[Instance]
    http: aiohttp.ClientSession
    store: Store  # the instances' store, opened by the test to read what they keep
    production: _Production | None = None  # with sso: activities are signed for its app

    @property
    def token_service(self) -> FakeTokenService | None:
        return self.production.token_service if self.production is not None else None

    @property
    def service_url(self) -> str:
        return self.connector.url

    async def post(self, activity: dict[str, Any]) -> Answer:
        """POST an activity to the proxy (the next instance in turn answers it)."""
        headers = {}
        if self.production is not None:
            signer = self.production.ids.channel
            token = signer.activity_token(self.production.app_id, str(activity["serviceUrl"]))
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.post(self.proxy.url, json=activity, headers=headers) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return Answer(r.status, body, int(r.headers.get(INSTANCE_HEADER, "-1")))

    async def start(self, index: int) -> None:
        """Start an instance and wait until it serves /healthz."""
        instance = self.instances[index]
        assert instance.process is None or instance.process.returncode is not None, "already running"
        with instance.log.open("ab") as out:
            instance.process = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "app.py"), cwd=ROOT, env=instance.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if instance.process.returncode is not None:
                raise AssertionError(f"instance {index} exited at start:\n{instance.log_text()[-3000:]}")
            try:
                async with self.http.get(f"{instance.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"instance {index} did not start:\n{instance.log_text()[-3000:]}")

    async def kill(self, index: int) -> None:
        """kill -9: no shutdown code runs (the feed lease is not released, background work stops where it is)."""
        process = self.instances[index].process
        assert process is not None and process.returncode is None
        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL

    async def stop(self, index: int) -> None:
        """SIGTERM, as App Service stops an instance in a restart: the bot shuts down cleanly."""
        process = self.instances[index].process
        assert process is not None and process.returncode is None
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)

    async def close(self) -> None:
        for instance in self.instances:
            if instance.process is not None and instance.process.returncode is None:
                instance.process.terminate()
                try:
                    await asyncio.wait_for(instance.process.wait(), 15)
                except TimeoutError:
                    instance.process.kill()
                    await instance.process.wait()


def _store_env(location: StoreLocation) -> dict[str, str]:
    return {
        "STORE": "azureblob",
        "AZURE_STORAGE_CONNECTION_STRING": location.connection_string,
        "AZURE_STORAGE_CONTAINER": location.container,
    }


@asynccontextmanager
async def running_cluster(
    tmp_path: Path, azurite: Azurite, *, sso: bool = False, env: Mapping[str, str] | None = None, instances: int = 2
) -> AsyncIterator[Cluster]:
    """`instances` bots on a fresh container of `azurite`, started, behind the proxy. `sso`: production settings
    with Teams SSO (USER_TOKENS=sso, the token service stand-in); else anonymous development mode with the simulated
    tenant's user tokens, as the other process tests. `env`: more settings for every instance."""
    location = StoreLocation(
        "azureblob", connection_string=azurite.connection_string, container=azurite.container_name()
    )
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(run_simtenant(seed="demo", state_dir=tmp_path / "sim"))
        production: _Production | None = None
        if sso:
            ids = await stack.enter_async_context(running_identity())
            connector = await stack.enter_async_context(running_connector(ssl_context=ids.ca.server_context()))
            app_id, secret = str(uuid.uuid4()), f"bot~{secrets.token_urlsafe(24)}"
            ids.login.register(app_id, secret, sim.tenant_id)
            connector.verify_bearer = ids.login.verify
            token_service = await stack.enter_async_context(
                running_token_service(sim, CONNECTION, f"api://botid-{app_id}", ssl_context=ids.ca.server_context())
            )
            token_service.verify_bearer = ids.login.verify
            production = _Production(ids, token_service, app_id, secret)
        else:
            connector = await stack.enter_async_context(running_connector())
        members = []
        for index in range(instances):
            port = free_port()
            settings = production.env(sim, port, tmp_path) if production else _anonymous_env(sim, port, tmp_path)
            settings.update(_store_env(location), **(env or {}))
            members.append(Instance(index, settings, tmp_path / f"instance-{index}.log"))
        proxy = await stack.enter_async_context(running_proxy([m.url for m in members]))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        store = await open_store(location)
        stack.push_async_callback(store.aclose)
        cluster = Cluster(sim, connector, proxy, members, http, store, production)
        stack.push_async_callback(cluster.close)
        await asyncio.gather(*(cluster.start(i) for i in range(instances)))
        yield cluster
