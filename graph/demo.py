"""The demo's colleagues: the simulated tenant's people acting behind the bot's back (only with BOT_DEMO, which needs
USER_TOKENS=simulated; never against a real tenant).

`SimulatedColleagues.ask_for_approval(approver)`: `POST {control_url}/act/request {"approver"}` → a colleague eligible
for a group whose activation needs that approver's approval self-activates, in the simulated tenant, with the
colleague's own delegated token (as in the Entra portal); the bot is not involved in the request at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import DirectoryUnavailable

__all__ = ["ColleagueRequest", "NoColleague", "SimulatedColleagues"]


@dataclass(frozen=True, slots=True)
class ColleagueRequest:
    """A request a colleague made: who, for which group, why, and PIM's status of it (PendingApproval)."""

    requester_name: str
    group_name: str
    request_id: str
    status: str
    justification: str


class NoColleague(Exception):
    """Nobody asked: the simulated tenant's sentence says why (no group needs this approver; everyone waits)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SimulatedColleagues:
    def __init__(self, http: httpx.AsyncClient, control_url: str) -> None:
        self._http = http
        self._control_url = control_url.rstrip("/")

    async def ask_for_approval(self, approver_id: str) -> ColleagueRequest:
        """A colleague asks for a group `approver_id` approves. Raises NoColleague, or DirectoryUnavailable when the
        simulated tenant cannot be reached."""
        try:
            response = await self._http.post(f"{self._control_url}/act/request", json={"approver": approver_id})
        except httpx.TransportError as exc:
            raise DirectoryUnavailable(f"simulated tenant: {type(exc).__name__}: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise DirectoryUnavailable(f"simulated tenant: HTTP {response.status_code}, not JSON") from exc
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code != 201 or not isinstance(body, dict):
            if isinstance(error, dict):  # Graph refused the colleague's request: its message
                error = error.get("message")
            raise NoColleague(str(error or f"HTTP {response.status_code}"))
        request = body.get("request") or {}
        return ColleagueRequest(
            requester_name=str(body["user"]["name"]),
            group_name=str(body["group"]["name"]),
            request_id=str(request.get("id") or ""),
            status=str(request.get("status") or ""),
            justification=str(request.get("justification") or ""),
        )
