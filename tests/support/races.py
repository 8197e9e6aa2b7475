"""The judge of an approval race (tests/adversarial/test_approval_races.py in one process, tests/scaleout on two
instances): each click, and whether what its clicker was told is what happened."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from devtools.teams.activities import TeamsUser
from devtools.teams.connector import Recorded
from simtenant.model import Tenant
from tests.support.cards import card_text, element, maybe_element

__all__ = ["APPROVED", "CANCELLED", "DENIED", "Click", "check_answer", "outcome_in_tenant", "state_line", "writes"]

APPROVED, DENIED, CANCELLED = "Approved", "Denied", "Cancelled"


@dataclass
class Click:
    """One click in a race: who, on which card, after how long; `answer` is what the bot answered."""

    who: TeamsUser
    verb: str  # approve | deny | cancel
    card: Recorded
    delay: float
    answer: dict[str, Any] = field(default_factory=dict)


def outcome_in_tenant(tenant: Tenant, request_id: str) -> tuple[str, str]:
    """(Approved | Denied | Cancelled, the deciding approver's oid or "") in the simulated tenant."""
    request = tenant.requests["assignment"][request_id.lower()]
    if request.status == "Canceled":
        return CANCELLED, ""
    stage = tenant.approvals[request_id.lower()].stages[0]
    assert stage.review_result in (APPROVED, DENIED), (request.status, stage.review_result)
    assert stage.reviewed_by is not None
    return str(stage.review_result), str(stage.reviewed_by.id)


def writes(tenant: Tenant, request_id: str) -> Counter[str]:
    """The decisions and cancels of the request the tenant received, from its request log: "landed", "PATCH
    refused", "cancel refused"."""
    seen: Counter[str] = Counter()
    for entry in tenant.log.recent():
        path = str(entry["path"])
        if request_id not in path.lower():
            continue
        kind = "PATCH" if entry["method"] == "PATCH" and "assignmentApprovals" in path else ""
        kind = kind or ("cancel" if entry["method"] == "POST" and path.endswith("/cancel") else "")
        if kind:
            seen["landed" if entry["status"] < 300 else f"{kind} refused"] += 1
    return seen


def state_line(outcome: str, winner: TeamsUser | None) -> str:
    """How the approval card's state line starts once the request has `outcome`."""
    if outcome == CANCELLED:
        return "Cancelled by the requester at "
    assert winner is not None
    return f"{outcome} by {winner.name} at "


def check_answer(click: Click, outcome: str, winner: TeamsUser | None, figures: Counter[str]) -> None:
    """What the clicker was told is what happened."""
    body = click.answer
    if click.verb == "cancel":
        text = str(body.get("value") or "") if body["type"] == "application/vnd.microsoft.activity.message" else ""
        text = text or card_text(body["value"])
        if outcome == CANCELLED:
            assert "I cancelled your request" in text, text
            figures["cancel won"] += 1
        else:
            assert winner is not None
            assert f"was already {outcome.lower()}" in text and "so it was not cancelled" in text, text
            if winner.name in text:
                figures["told the requester: too late, who decided"] += 1
            else:  # decided in PIM before the bot had recorded it: PIM's refusal, without the name
                figures["told the requester: too late"] += 1
        return
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    card = body["value"]
    state = str(element(card, "state")["text"])
    notice = str((maybe_element(card, "notice") or {}).get("text") or "")
    assert "try again" not in notice.lower(), notice
    assert state.startswith(state_line(outcome, winner)), (click.who.name, click.verb, state, notice)
    assert maybe_element(card, "approve") is None and maybe_element(card, "deny") is None
    verb = outcome.lower()
    if outcome == CANCELLED:
        assert "cancel" in (notice + state).lower(), notice
        figures["told: the requester cancelled"] += 1
    elif click.who == winner and not notice:
        assert click.verb == ("approve" if outcome == APPROVED else "deny")
        figures["told: decided it"] += 1
    elif click.who == winner:
        assert f"You {verb}" in notice, (click.who.name, notice)
        figures["told: it was his own (a second click)"] += 1
    else:
        assert winner is not None and f"already {verb} by {winner.name}" in notice, (click.who.name, notice)
        figures["told: who decided"] += 1
