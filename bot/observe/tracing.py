"""OpenTelemetry tracing, only when configured through the standard OTEL_* variables (settings.TracingSettings).

Off (the default), nothing of OpenTelemetry is imported: this module's top imports none of it, and `start` is the only
function that does, called by app.py only when tracing is on. On, one trace per inbound activity:

    turn <kind>                  (aiohttp server span of POST /api/messages, renamed for the activity's kind)
    ├── GET /users/{id}/…        (httpx: Microsoft Graph, the route templated by graph.observe.route_of)
    └── POST connector send      (aiohttp client: the Bot Connector, the operation named, no conversation id)

The turn's own work runs in a task of its own (bot.transport.turns), which copies the context, so its Graph and
Bot Connector calls are children of the turn's span. Span names and URLs carry templated routes only: no user,
group, request or conversation id. The exporter is OTLP over HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, …_TRACES_ENDPOINT,
…_HEADERS: read by the exporter itself) or the console; Azure Monitor / Application Insights with
APPLICATIONINSIGHTS_CONNECTION_STRING through Microsoft's distro (docs/deploy.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot.observe.metrics import connector_operation
from graph.observe import route_of

__all__ = ["Tracing", "name_turn", "start"]

log = logging.getLogger(__name__)

_renamer: list[Callable[[str], None]] = []  # set by `start`: renames the current server span


def name_turn(kind: str) -> None:
    """Name the current inbound request's span after the activity's kind (nothing when tracing is off)."""
    for rename in _renamer:
        rename(f"turn {kind}")


class Tracing:
    """A started tracer provider; `shutdown` exports what is left (at process exit)."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def shutdown(self) -> None:
        self._provider.shutdown()


def start(exporter: str, service_name: str, graph_base_url: str, azure_monitor: str = "") -> Tracing:
    """Set up the tracer provider and the aiohttp (server and client) and httpx instrumentation. Call before the
    aiohttp application is built (the server instrumentation subclasses `web.Application`) and before the clients
    are made. `exporter`: "otlp" or "console" (OTEL_TRACES_EXPORTER); `azure_monitor`: an Application Insights
    connection string (Microsoft's distro exports there instead)."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    if azure_monitor:
        # Microsoft's distro sets the global tracer provider with its exporter (and instruments what it knows).
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=azure_monitor)
        provider = trace.get_tracer_provider()
    else:
        span_exporter: SpanExporter
        if exporter == "console":
            span_exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables
        # Resource.create adds OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (which wins over this default).
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
        trace.set_tracer_provider(provider)

    graph_base = graph_base_url.rstrip("/")

    def graph_or_connector(url: str, method: str) -> tuple[str, str]:
        """(span name, URL without ids) of an outbound call."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if url.startswith(graph_base + "/"):
            route = route_of(url)
            return f"{method} {route}", graph_base + route
        if "/v3/conversations" in parts.path:
            path = parts.path[parts.path.index("/v3/conversations") :]
            operation = connector_operation(method, path)
            return f"{method} connector {operation}", f"{origin}/v3/conversations/… ({operation})"
        return method, origin + "/…"  # Entra, the OpenID keys, the token service: the host is what matters

    async def httpx_request(span: Any, request: Any) -> None:
        name, url = graph_or_connector(str(request.url), request.method.decode())
        span.update_name(name)
        span.set_attribute("url.full", url)
        span.set_attribute("http.url", url)

    def aiohttp_request(span: Any, params: Any) -> None:
        name, url = graph_or_connector(str(params.url), params.method)
        span.update_name(name)
        span.set_attribute("url.full", url)
        span.set_attribute("http.url", url)

    def aiohttp_url(url: Any) -> str:
        return graph_or_connector(str(url), "")[1]

    # The probes (every few seconds) and the step-up pages (their query carries a one-time sign-in state) make no
    # spans, unless the operator lists other URLs.
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", "healthz,readyz,auth/stepup")
    AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=aiohttp_request, url_filter=aiohttp_url
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider, async_request_hook=httpx_request)

    def rename(name: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.update_name(name)

    _renamer[:] = [rename]
    log.info("tracing on: %s", "Azure Monitor" if azure_monitor else exporter)
    return Tracing(provider)
