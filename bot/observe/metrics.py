"""The bot's Prometheus metrics (`GET /metrics` on METRICS_PORT, bot.observe.serve): what each is, and the one call per
seam that records it.

Every metric lives in this module's own registry (not prometheus_client's global one, which a library could add to),
with the process's CPU, memory and file descriptors. Labels are closed sets written here (activity kinds, outcomes,
Bot Connector operations) or Graph routes templated by graph.observe.route_of: no label ever holds a user, a group,
a request, a conversation or any other id, so a scrape shows nothing about anyone.

The metrics are recorded whether or not they are served. The hot paths (every turn, Graph call and Bot Connector
call) take their labelled child from `child`, a cache in front of prometheus_client's `labels()` (which validates and
locks on every call): then a count is a dict lookup and an add under a lock.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from graph.observe import GraphCall

__all__ = [
    "APPROVALS_CREATED",
    "APPROVALS_PENDING",
    "APPROVALS_SETTLED",
    "APPROVAL_POLL_LAST_SUCCESS",
    "CONNECTOR_FAILURES",
    "CONNECTOR_REQUESTS",
    "CONNECTOR_THROTTLED",
    "FEED_CYCLE_SECONDS",
    "FEED_LAG",
    "FEED_LAST_SUCCESS",
    "FEED_LEASE_HELD",
    "GRAPH_FAILURES",
    "GRAPH_REQUESTS",
    "GRAPH_RETRIES",
    "GRAPH_SECONDS",
    "GRAPH_THROTTLED",
    "REGISTRY",
    "SIGN_INS",
    "STEP_UPS",
    "TURNS",
    "TURN_SECONDS",
    "GraphMetrics",
    "child",
    "connector_operation",
    "feed_lag_from",
    "turn_kind",
    "watch_send_waits",
]

disable_created_metrics()  # no `_created` series beside every counter: half the lines, nothing a dashboard needs
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time

# Seconds: a warm turn takes milliseconds; Teams waits 10–15 s (bot.transport.turns answers by 8 s at the latest).
_TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 15.0)
_GRAPH_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# -- turns (the /api/messages route, app.py) --
TURNS = Counter(
    "pimbot_turns",
    "Inbound activities by kind (activity type; invokes with their name) and outcome: ok, late (answered before the "
    "turn finished), duplicate (a redelivery not acted on), error, unauthorized, rejected (any other 4xx).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "pimbot_turn_duration_seconds",
    "From the request's arrival at /api/messages to its HTTP answer, by activity kind.",
    ["kind"],
    buckets=_TURN_BUCKETS,
    registry=REGISTRY,
)
# -- Microsoft Graph (graph.client, through GraphMetrics) --
GRAPH_REQUESTS = Counter(
    "pimbot_graph_requests",
    "Graph requests answered, by method, templated route (no ids) and HTTP status; each $batch item counts too.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
GRAPH_THROTTLED = Counter(
    "pimbot_graph_throttled",
    "Graph answers 429 (throttled), by templated route; also counted in pimbot_graph_requests_total.",
    ["route"],
    registry=REGISTRY,
)
GRAPH_RETRIES = Counter(
    "pimbot_graph_retries",
    "Graph requests sent again, by templated route and why (the status, or the connection error's type).",
    ["route", "reason"],
    registry=REGISTRY,
)
GRAPH_FAILURES = Counter(
    "pimbot_graph_connection_failures",
    "Graph requests that got no answer (connection refused, timed out), by the error's type.",
    ["error"],
    registry=REGISTRY,
)
GRAPH_SECONDS = Histogram(
    "pimbot_graph_request_duration_seconds",
    "Time of one Graph request (one attempt), by method.",
    ["method"],
    buckets=_GRAPH_BUCKETS,
    registry=REGISTRY,
)
# -- the Bot Connector (bot.transport.connector, bot.transport.sendlimit) --
CONNECTOR_REQUESTS = Counter(
    "pimbot_connector_requests",
    "Bot Connector calls answered, by operation (send, reply, update, delete, create_conversation, get_member) and "
    "HTTP status; every attempt counts.",
    ["operation", "status"],
    registry=REGISTRY,
)
CONNECTOR_THROTTLED = Counter(
    "pimbot_connector_throttled",
    "Bot Connector answers 429 (Teams' rate limits), by operation.",
    ["operation"],
    registry=REGISTRY,
)
CONNECTOR_FAILURES = Counter(
    "pimbot_connector_failures",
    "Bot Connector calls given up (refused, retries spent, or no answer), by operation: messages or card updates "
    "that did not reach Teams.",
    ["operation"],
    registry=REGISTRY,
)
# -- approvals (bot.approvals) --
APPROVALS_CREATED = Counter(
    "pimbot_approval_requests_created",
    "Activation requests waiting for approval that the bot started tracking (sent by it, or found waiting in PIM).",
    registry=REGISTRY,
)
APPROVALS_SETTLED = Counter(
    "pimbot_approval_requests_settled",
    "Approval requests settled, by outcome: approved, denied, cancelled, expired, failed.",
    ["outcome"],
    registry=REGISTRY,
)
APPROVALS_PENDING = Gauge(
    "pimbot_approval_requests_pending",
    "Approval requests still waiting for a decision, as the last approval poll counted them.",
    registry=REGISTRY,
)
APPROVAL_POLL_LAST_SUCCESS = Gauge(
    "pimbot_approval_poll_last_success_timestamp_seconds",
    "Unix time the last approval poll finished.",
    registry=REGISTRY,
)
# -- the admin feed (bot.feed) --
FEED_CYCLE_SECONDS = Histogram(
    "pimbot_feed_cycle_duration_seconds",
    "Time of one admin feed cycle (poll, queue, post) that held the lease, by outcome (ok, failed).",
    ["outcome"],
    buckets=_CYCLE_BUCKETS,
    registry=REGISTRY,
)
FEED_LAST_SUCCESS = Gauge(
    "pimbot_feed_last_success_timestamp_seconds",
    "Unix time the last admin feed cycle polled PIM and posted everything queued.",
    registry=REGISTRY,
)
FEED_LEASE_HELD = Gauge(
    "pimbot_feed_lease_held",
    "1 while this process holds the admin feed's lease (polls and posts), 0 on standby.",
    registry=REGISTRY,
)
FEED_LAG = Gauge(
    "pimbot_feed_lag_seconds",
    "Age of the oldest feed event queued and not yet posted (0 when none is waiting), as of now.",
    registry=REGISTRY,
)
# -- sign-ins (bot.signin) --
SIGN_INS = Counter(
    "pimbot_sign_ins",
    "Teams SSO sign-in steps: asked (card sent), exchanged, exchange_failed, code_redeemed, code_failed.",
    ["step"],
    registry=REGISTRY,
)
STEP_UPS = Counter(
    "pimbot_step_ups",
    "Step-up sign-ins (MFA, authentication context): started (link made), then the page's outcome: done, refused, "
    "expired, unavailable, failed.",
    ["outcome"],
    registry=REGISTRY,
)


M = TypeVar("M", Counter, Gauge, Histogram)


@functools.lru_cache(maxsize=4096)  # label values are closed lists and templated routes: a few hundred at most
def _child(metric: Any, labels: tuple[str, ...]) -> Any:
    return metric.labels(*labels)


def child(metric: M, *labels: str) -> M:
    """`metric.labels(*labels)`, looked up once per label set."""
    found: M = _child(metric, labels)
    return found


class _Oldest:
    """The oldest unposted feed event's time; FEED_LAG reads it at every scrape, so the lag grows while the feed is
    stuck instead of showing the last cycle's figure."""

    def __init__(self) -> None:
        self.at: float | None = None

    def lag(self) -> float:
        return max(0.0, time.time() - self.at) if self.at is not None else 0.0


_OLDEST = _Oldest()
FEED_LAG.set_function(_OLDEST.lag)


def feed_lag_from(oldest: datetime | None, now: datetime | None = None) -> None:
    """After a feed cycle: the queued time of the oldest entry still in the outbox (None when it is empty), on the
    bot's clock, which reads `now` (Graph's time; the scrape's lag counts on from there in local seconds)."""
    if oldest is None:
        _OLDEST.at = None
        return
    age = ((now or oldest) - oldest).total_seconds()
    _OLDEST.at = time.time() - max(0.0, age)


# Activity types Teams sends (Bot Framework Activity schema), and the invokes this bot answers: anything else is
# counted as "other", so a made-up type cannot add a label value.
_TYPES = frozenset(
    {"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event", "typing",
     "messageUpdate", "messageDelete", "endOfConversation"}
)  # fmt: skip
_INVOKES = frozenset(
    {"adaptiveCard/action", "signin/tokenExchange", "signin/verifyState", "signin/failure", "task/fetch",
     "task/submit", "composeExtension/query"}
)  # fmt: skip


def turn_kind(activity_type: object, name: object) -> str:
    """The kind label of an activity: its type, an invoke's with its name; "other" for anything not listed."""
    if activity_type not in _TYPES:
        return "other"
    if activity_type != "invoke":
        return str(activity_type)
    return f"invoke/{name}" if name in _INVOKES else "invoke/other"


def connector_operation(method: str, path: str) -> str:
    """The Bot Connector operation of a v3 REST call (its path holds conversation and activity ids: never a label)."""
    parts = path.strip("/").split("/")  # v3/conversations[/{id}[/activities[/{id}]|/members/{id}]]
    if len(parts) <= 2:
        return "create_conversation"
    if len(parts) >= 4 and parts[3] == "members":
        return "get_member"
    if method == "PUT":
        return "update"
    if method == "DELETE":
        return "delete"
    return "reply" if len(parts) >= 5 else "send"


class GraphMetrics:
    """graph.observe.CallObserver into the Graph metrics (handed to GraphClient by app.py)."""

    def answered(self, call: GraphCall, seconds: float | None) -> None:
        child(GRAPH_REQUESTS, call.method, call.route, str(call.status)).inc()
        if call.status == 429:
            child(GRAPH_THROTTLED, call.route).inc()
        if seconds is not None:
            child(GRAPH_SECONDS, call.method).observe(seconds)

    def failed(self, method: str, route: str, error: str) -> None:
        GRAPH_FAILURES.labels(error).inc()

    def retrying(self, method: str, route: str, reason: str) -> None:
        GRAPH_RETRIES.labels(route, reason).inc()


class _SendWaits(Collector):
    """The send limiter's count of sends it held back to keep within Teams' limits (it counts them itself)."""

    def __init__(self, waited: Callable[[], int]) -> None:
        self._waited = waited

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "pimbot_connector_send_delays",
            "Bot Connector calls the send limiter held back to keep within Teams' per-conversation and per-app limits.",
            value=self._waited(),
        )


_send_waits: list[_SendWaits] = []


def watch_send_waits(waited: Callable[[], int]) -> None:
    """Report the send limiter's count of delayed sends (app.py, once per process; a later call replaces it)."""
    for old in _send_waits:
        REGISTRY.unregister(old)
    _send_waits[:] = [_SendWaits(waited)]
    REGISTRY.register(_send_waits[0])
