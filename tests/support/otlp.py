"""An OTLP/HTTP collector stand-in: `POST /v1/traces` with a protobuf ExportTraceServiceRequest, as the OpenTelemetry
exporter sends it (OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"), decoded with the protocol's own generated classes and
kept as plain spans (name, ids, kind, attributes) for a test to read as a tree."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as WireSpan


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str  # SPAN_KIND_SERVER, SPAN_KIND_CLIENT, …
    attributes: dict[str, Any]
    service: str


@dataclass
class Collector:
    url: str = ""
    spans: list[Span] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    def children(self, parent: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_id == parent.span_id and s.trace_id == parent.trace_id]

    async def wait_for(self, found: Callable[[], bool], seconds: float = 15.0) -> None:
        async with asyncio.timeout(seconds):
            while not found():
                self.received.clear()
                await self.received.wait()

    async def export(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf", request.content_type
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    self.spans.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            WireSpan.SpanKind.Name(s.kind),
                            {a.key: _value(a.value) for a in s.attributes},
                            str(resource.get("service.name", "")),
                        )
                    )
        self.received.set()
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@asynccontextmanager
async def running_collector() -> AsyncIterator[Collector]:
    collector = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", collector.export)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    collector.url = str(server.make_url("")).rstrip("/")
    try:
        yield collector
    finally:
        await server.close()
