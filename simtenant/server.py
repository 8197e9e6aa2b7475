"""Running the simulated tenant: TLS material, the aiohttp server, and the in-process API for tests.

    async with run_simtenant(seed="demo") as sim:
        sim.graph_base_url, sim.authority_host, sim.tenant_id, sim.client_id, sim.client_secret,
        sim.ca_file, sim.control_url      # the same fields `python -m simtenant` prints
        sim.tenant                        # the Tenant: seed / behave / observe directly
        sim.ssl_context()                 # a client SSLContext trusting the throwaway CA

HTTPS (msal refuses plain-http authorities): a throwaway CA from `trustme`, made once per process, issues a
server certificate for 127.0.0.1, ::1 and localhost (and the bind host, if different); its PEM goes to
`<state_dir>/ca.pem`.

`sign_in_http=True` also serves the sign-in pages alone on a plain-http listener at 127.0.0.1 (a new port), and the
OpenID metadata's `authorization_endpoint` points there: a browser (the demo's step-up sign-in) opens them without a
certificate warning, since a loopback origin is a secure context even over http (W3C Secure Contexts,
"potentially trustworthy origin"). The token endpoint msal calls, Graph and the control API stay HTTPS only.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from simtenant.app import EVENTS_KEY, INFO_KEY, SIGN_IN_ORIGIN_KEY, create_app, create_sign_in_app
from simtenant.model import Tenant
from simtenant.seed import build_tenant
from simtenant.teams_events import TeamsEvents

__all__ = ["RunningSimTenant", "run_simtenant"]

_CA: trustme.CA | None = None
_CERTS: dict[tuple[str, ...], trustme.LeafCert] = {}


def _tls(host: str) -> tuple[trustme.CA, ssl.SSLContext]:
    global _CA
    if _CA is None:
        _CA = trustme.CA(organization_name="simtenant throwaway CA")
    names = ["127.0.0.1", "::1", "localhost"]
    if host not in names and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    key = tuple(names)
    if key not in _CERTS:
        _CERTS[key] = _CA.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CERTS[key].configure_cert(context)
    return _CA, context


@dataclass
class RunningSimTenant:
    graph_base_url: str
    authority_host: str
    tenant_id: str
    client_id: str
    client_secret: str
    ca_file: str
    control_url: str
    tenant: Tenant = field(repr=False)
    port: int = 0
    sign_in_origin: str = ""  # the plain-http sign-in listener (`sign_in_http`), else ""
    teams_events: TeamsEvents | None = field(default=None, repr=False)  # what Teams told bots of installations

    def to_json(self) -> dict[str, Any]:
        return {
            "graph_base_url": self.graph_base_url,
            "authority_host": self.authority_host,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "ca_file": self.ca_file,
            "control_url": self.control_url,
            "sign_in_origin": self.sign_in_origin,
        }

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


@asynccontextmanager
async def run_simtenant(
    seed: str = "demo",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: str | Path | None = None,
    tenant: Tenant | None = None,
    sign_in_http: bool = False,
) -> AsyncIterator[RunningSimTenant]:
    """Serve a tenant over HTTPS until the block exits. port 0 picks a free port; without a state_dir the CA PEM
    goes to a temporary directory removed afterwards. Pass `tenant` to serve one built elsewhere. `sign_in_http`:
    the sign-in pages also on plain http at 127.0.0.1 (module docstring)."""
    tenant = tenant or build_tenant(seed)
    ca, server_context = _tls(host)
    temporary = state_dir is None
    directory = Path(tempfile.mkdtemp(prefix="simtenant-")) if state_dir is None else Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = (directory / "ca.pem").resolve()
    ca.cert_pem.write_to_path(str(ca_file))
    app = create_app(tenant)
    sign_in_runner: web.AppRunner | None = None
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    try:
        if sign_in_http:  # started first: the main app's metadata must know its origin before the app is frozen
            sign_in_runner = web.AppRunner(create_sign_in_app(app), access_log=None, shutdown_timeout=1.0)
            await sign_in_runner.setup()
            await web.TCPSite(sign_in_runner, "127.0.0.1", 0).start()
            app[SIGN_IN_ORIGIN_KEY] = f"http://127.0.0.1:{sign_in_runner.addresses[0][1]}"
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=server_context)
        await site.start()
        bound = runner.addresses[0][1]
        origin = f"https://{_url_host(host)}:{bound}"
        client_id = tenant.default_client_id or ""
        app_record = tenant.apps.get(client_id.lower())
        sim = RunningSimTenant(
            graph_base_url=f"{origin}/v1.0",
            authority_host=origin,
            tenant_id=tenant.tenant_id,
            client_id=client_id,
            client_secret=app_record.client_secret if app_record else "",
            ca_file=str(ca_file),
            control_url=f"{origin}/_sim",
            tenant=tenant,
            port=bound,
            sign_in_origin=app[SIGN_IN_ORIGIN_KEY],
            teams_events=app[EVENTS_KEY],
        )
        app[INFO_KEY].update(sim.to_json())
        yield sim
    finally:
        await runner.cleanup()
        if sign_in_runner is not None:
            await sign_in_runner.cleanup()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
