"""A simulated Microsoft Entra tenant: Graph PIM for Groups (v1.0) and the token endpoint, enforcing what Graph
enforces. It stands in for Microsoft's service in tests and demos and imports nothing from the bot.

Layout: `model` (Tenant: state + rules, no HTTP) · `entities` · `clock` · `odata` · `wire` (JSON shapes) ·
`tokens` · `errors` · `observe` (faults, stats, log) · `graph_api` (routes, $batch) · `app` (aiohttp) ·
`server` (`run_simtenant`) · `seed` · `colleagues` (people acting in the portal, for the demo) · `act` (their
command line) · `__main__` (`python -m simtenant`).
"""

from simtenant.clock import SimClock
from simtenant.entities import Caller, Identity, SubjectSet
from simtenant.model import RequestInput, Settings, Tenant
from simtenant.seed import build_tenant, reseed
from simtenant.server import RunningSimTenant, run_simtenant

__all__ = [
    "Caller",
    "Identity",
    "RequestInput",
    "RunningSimTenant",
    "Settings",
    "SimClock",
    "SubjectSet",
    "Tenant",
    "build_tenant",
    "reseed",
    "run_simtenant",
]
