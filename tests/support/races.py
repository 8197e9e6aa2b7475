"""Approval races (tests/adversarial/test_approval_races.py in one process, tests/scaleout on two instances): the
groups and people they race on, seeded alike in both, and the judge: each click, and whether what its clicker was told
is what happened, in the tenant, on every copy of the card and to the requester."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devtools.teams import activities as act
from devtools.teams.activities import TeamsUser
from devtools.teams.connector import FakeConnector, Recorded
from simtenant import seed
from simtenant.entities import SubjectSet
from simtenant.model import Tenant
from tests.support.cards import card_text, element, maybe_element

__all__ = [
    "APPROVED",
    "CANCELLED",
    "DENIED",
    "Click",
    "Pool",
    "check_answer",
    "check_copy",
    "check_requester",
    "invoke",
    "judge",
    "outcome_in_tenant",
    "race_pools",
    "race_requesters",
    "race_user",
    "state_line",
    "told_requester",
    "writes",
]

APPROVED, DENIED, CANCELLED = "Approved", "Denied", "Cancelled"


@dataclass(frozen=True)
class Pool:
    """A group that needs approval, its command name, and its approvers (each gets a card; in policy order)."""

    group_id: str
    name: str
    approvers: tuple[TeamsUser, ...]


def race_user(kind: int, n: int, name: str) -> TeamsUser:
    """A user or group the races seed (kind 1 an approver, 2 a group, 3 an approver group, 4 a requester), with an id
    fixed by its number, so that a failure replays with the same tenant."""
    return TeamsUser(f"eeeeeeee-{kind:04d}-4000-8000-{n:012d}", name)


def race_pools(
    tenant: Tenant, operators: tuple[TeamsUser, ...], per_group: int, upn: Callable[[TeamsUser], str]
) -> list[Pool]:
    """Security-Operators (its approvers `operators`, already in the tenant) and three groups like it, Race-Group-1 to
    3, so that no approver's chat gets more cards than Teams lets a bot send there in 30 s. Each has `per_group` new
    approvers, numbered on from Security-Operators' (user `upn(person)` each): the first by name in the policy, the
    others through the group Race-Approvers-k, as in Security-Operators' policy."""
    pools = [Pool(seed.SECURITY_OPERATORS, "Security-Operators", operators)]
    for k in range(1, 4):
        first = len(operators) + (k - 1) * per_group
        people = [race_user(1, first + n, f"Approver {first + n:02d}") for n in range(per_group)]
        group, approver_group = race_user(2, k, "").oid, race_user(3, k, "").oid
        tenant.add_group(group, f"Race-Group-{k}")
        tenant.add_group(approver_group, f"Race-Approvers-{k}")
        for person in people:
            tenant.add_user(person.oid, person.name, upn(person))
        tenant.set_policy(
            group,
            "member",
            activation_max="PT2H",
            approval_required=True,
            requestor_justification_required=True,
            approver_justification_required=True,
            primary_approvers=[
                SubjectSet("singleUser", people[0].oid, people[0].name),
                SubjectSet("groupMembers", approver_group, f"Race-Approvers-{k}"),
            ],
        )
        for person in people[1:]:
            tenant.add_member(approver_group, person.oid)
        pools.append(Pool(group, f"Race-Group-{k}", tuple(people)))
    return pools


def race_requesters(tenant: Tenant, pools: list[Pool], count: int) -> list[TeamsUser]:
    """One requester per race, eligible since yesterday for the group of its race (the pools in turn)."""
    since = tenant.now() - timedelta(days=1)
    requesters = [race_user(4, n, f"Requester {n:03d}") for n in range(count)]
    for n, requester in enumerate(requesters):
        tenant.add_user(requester.oid, requester.name, f"requester-{n:03d}@{seed.DOMAIN}")
        tenant.add_eligibility(pools[n % len(pools)].group_id, requester.oid, "member", start=since)
    return requesters


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


def invoke(service_url: str, click: Click, why: str) -> dict[str, Any]:
    """The click's Action.Execute invoke: the requester's Cancel, or an approver's Approve or Deny with the reason the
    policy asks of approvers (`why`, and who says what)."""
    if click.verb == "cancel":
        button = element(click.card.card or {}, "outcome-0-cancel")
        data = dict(button["data"])
    else:
        button = element(click.card.card or {}, click.verb)
        data = {**button["data"], "reason": f"{why}: {click.who.name} says {click.verb}"}
    return act.card_execute(service_url, button["verb"], data, click.card.activity_id, click.who)


def judge(
    tenant: Tenant, request_id: str, clicks: list[Click], approvers: tuple[TeamsUser, ...], figures: Counter[str]
) -> tuple[str, TeamsUser | None]:
    """The race's outcome in the tenant and the approver who decided it (None when the requester's cancel won), once
    it is checked that exactly one decision or cancel landed and that every clicker was told what happened."""
    outcome, by = outcome_in_tenant(tenant, request_id)
    winner = next((a for a in approvers if a.oid == by), None)
    sent = writes(tenant, request_id)
    assert sent["landed"] == 1, sent
    # One approver's PATCH at most was sent (the claim), refused only when the requester's cancel won the race.
    assert sent["PATCH refused"] <= (1 if outcome == CANCELLED else 0), sent
    figures[f"outcome: {outcome.lower()}"] += 1
    figures["PATCH refused by PIM (the cancel won)"] += sent["PATCH refused"]
    figures["cancel refused by PIM (a decision won)"] += sent["cancel refused"]
    for click in clicks:
        check_answer(click, outcome, winner, figures)
    return outcome, winner


def check_copy(sent: list[Recorded], clicks: list[Click], activity_id: str, user_id: str, expected: str) -> None:
    """One copy of the approval card shows the outcome (`expected`, its state_line): each update made to it in
    `sent`, and each click's answer that replaced it."""
    shown = [r.card or {} for r in sent if r.method == "PUT" and r.activity_id == activity_id]
    shown += [c.answer["value"] for c in clicks if c.verb != "cancel" and c.card.activity_id == activity_id]
    assert shown, f"the copy {activity_id} of {user_id} was neither updated nor answered"
    for card in shown:
        assert str(element(card, "state")["text"]).startswith(expected), (user_id, card_text(card))


def told_requester(connector: FakeConnector, requester: TeamsUser) -> list[str]:
    """The messages that told the requester how the request ended."""
    texts = (str(r.body.get("text") or "") for r in connector.messages(_chat(requester)))
    return [t for t in texts if t.startswith("Your request for")]


def check_requester(
    connector: FakeConnector, requester: TeamsUser, waiting: Recorded, outcome: str, winner: TeamsUser | None
) -> None:
    """The requester's own card (`waiting`, as sent) was updated to the outcome, and the requester was told it once."""
    updates = [
        r.card or {}
        for r in connector.sent
        if r.method == "PUT" and r.conversation_id == _chat(requester) and r.activity_id == waiting.activity_id
    ]
    assert updates, "the requester's card was not settled"
    assert element(updates[-1], "outcome-0-state")["text"] == outcome
    told = told_requester(connector, requester)
    assert len(told) == 1, told
    if outcome == CANCELLED:
        assert "was cancelled" in told[0], told[0]
    else:
        assert winner is not None and f"was {outcome.lower()} by {winner.name}" in told[0], told[0]


def _chat(user: TeamsUser) -> str:
    return str(act.personal_conversation(user)["id"])
