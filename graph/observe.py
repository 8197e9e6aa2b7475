"""What an operator may see of the bot's Graph calls: the route (a template, never an id), the status, retries, and
the ids Microsoft's support asks for (`request-id`, `client-request-id`), kept in context variables for the logs.

Why here: only graph/ knows Graph's URL shapes, so only graph/ can turn `/users/alice@contoso.com/memberOf` into
`/users/{id}/memberOf` safely. The bot's metrics (bot.observe) are handed in as a `CallObserver`, so graph/ imports
no metrics library and a test can pass nothing at all.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "GRAPH_CALL",
    "PIM_REQUEST",
    "CallObserver",
    "GraphCall",
    "about_pim_request",
    "route_of",
]

# A path segment kept as written: a Graph name (`groups`, `assignmentScheduleRequests`, `$batch`, `microsoft.graph.x`)
# or a function with literal word arguments (`filterByCurrentUser(on='principal')`). Anything else is a key: a GUID,
# a UPN, a chat or app id, base64, a display name; it becomes `{id}`, so no metric label can carry who or what.
_NAME = re.compile(r"^\$?[A-Za-z][A-Za-z.]*(\((?:[A-Za-z]+='[A-Za-z]+'(?:,[A-Za-z]+='[A-Za-z]+')*)?\))?$")
# Names that are also plausible keys of the collection before them are still names only where Graph has them as one;
# a segment that follows a collection Graph addresses by key is a key whatever it looks like (a user's mailNickname
# "alice" passes _NAME).
_KEYED = frozenset(
    {
        "groups", "users", "assignmentScheduleRequests", "eligibilityScheduleRequests", "assignmentSchedules",
        "eligibilitySchedules", "assignmentScheduleInstances", "eligibilityScheduleInstances", "stages",
        "installedApps", "teamsApps", "chats", "members", "directoryAudits", "servicePrincipals", "applications",
        "rules", "roleManagementPolicies", "roleManagementPolicyAssignments", "directoryObjects",
        "authenticationContextClassReferences", "assignmentApprovals", "appDefinitions", "teams", "channels",
        "messages", "owners",
    }
)  # fmt: skip
_VERSION = re.compile(r"^(v1\.0|beta)$")


_OPERATIONS = frozenset({"getByIds", "delta", "getMemberGroups", "getMemberObjects", "checkMemberGroups"})


def _operation(segment: str) -> bool:
    """A segment that, even right after a keyed collection, is no key: `$ref`, `$count`, a bound function or action
    (`filterByCurrentUser(on='principal')`, `microsoft.graph.user`, `getByIds`)."""
    return segment.startswith(("$", "microsoft.graph.")) or "(" in segment or segment in _OPERATIONS


def route_of(url: str) -> str:
    """The templated path of a Graph URL (absolute, or relative to the version root): no query, no host, no version,
    every key `{id}`. `https://graph.microsoft.com/v1.0/users/{upn}/memberOf?$select=id` → `/users/{id}/memberOf`."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    out: list[str] = []
    keyed = False
    for segment in path.split("/"):
        if not segment or (not out and _VERSION.match(segment)):
            continue
        if not _NAME.match(segment) or (keyed and not _operation(segment)):
            out.append("{id}")
            keyed = False
            continue
        out.append(segment)
        keyed = segment in _KEYED
    return "/" + "/".join(out)


@dataclass(frozen=True, slots=True)
class GraphCall:
    """One answered Graph request: what a log line or a trace names it by. `request_id` is Graph's (`request-id`),
    `client_request_id` ours (sent, and echoed back because we ask `return-client-request-id`)."""

    method: str
    route: str
    status: int
    request_id: str
    client_request_id: str


# The last Graph call of this task (a turn, a poll): log lines after it carry its ids. Set by graph.client, read by
# the JSON log format (bot.observe.logs). A task started later copies it; one that ended does not write it back.
GRAPH_CALL: ContextVar[GraphCall | None] = ContextVar("graph_call", default=None)
# The PIM request (assignmentScheduleRequest) this task is about, once known: created, decided, cancelled or polled.
PIM_REQUEST: ContextVar[str | None] = ContextVar("pim_request", default=None)


def about_pim_request(request_id: str) -> None:
    """The rest of this task is about PIM request `request_id` (its log lines say so)."""
    if request_id:
        PIM_REQUEST.set(request_id)


class CallObserver(Protocol):
    """Told of every Graph request graph.client sends (bot.observe.metrics counts them). Must be cheap: it runs on
    every call."""

    def answered(self, call: GraphCall, seconds: float | None) -> None:
        """A response came back (any status), after `seconds`; None for an item of a `$batch` (the batch's own
        request is timed)."""

    def failed(self, method: str, route: str, error: str) -> None:
        """No response: the connection failed or timed out (`error`: the exception's type name)."""

    def retrying(self, method: str, route: str, reason: str) -> None:
        """The client sends the request again after `reason` (a status, or an exception's type name)."""
