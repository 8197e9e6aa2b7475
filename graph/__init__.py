"""Microsoft Graph for the bot: a thin typed async client over httpx and a `core.ports.PimDirectory` on top of it.

Only `graph.wire` knows Graph field names. graph/ never imports msal, botbuilder, bot/ or cards/.
"""

from graph.auth import AppTokenSource, SimulatedTenantTokens
from graph.client import BatchRequest, BatchResponse, GraphClient
from graph.errors import GraphError, GraphTransportError, parse_error
from graph.feed import FeedReader
from graph.pim import GraphPimDirectory

__all__ = [
    "AppTokenSource",
    "BatchRequest",
    "BatchResponse",
    "FeedReader",
    "GraphClient",
    "GraphError",
    "GraphPimDirectory",
    "GraphTransportError",
    "SimulatedTenantTokens",
    "parse_error",
]
