"""The question a typed `cancel <group>` asks before a request that waits for approval is withdrawn.

It has the shape of an activation card's waiting section (`outcome-0` with its title, state, message and the
`outcome-0-cancel` button), so once the request settles (cancelled, approved, denied, expired) it is settled like the
requester's activation card (`cards.activation.settled_activation_card`): the buttons go, the state says what became
of it.

Element ids: `outcome-0` (its container), `outcome-0-title`, `outcome-0-state`, `outcome-0-message`,
`outcome-0-note`, `outcome-0-facts`, `outcome-0-actions` with `outcome-0-cancel` and `outcome-0-keep` (each with its
Action.Submit twin `…-submit`), `outcome-0-request`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cards.actions import Verb, decision_data, execute_button
from cards.common import REQUEST_EXPIRES, actions, card, container, facts, request_footnote, text
from cards.elements import CardElement, JsonDict
from cards.times import Tz
from cards.wording import CANCEL_KEPT, CANCEL_QUESTION_NOTE, access_label, cancel_question, format_duration, format_time
from core.models import Access

__all__ = ["WaitingRequest", "cancel_question_card"]


@dataclass(frozen=True, slots=True)
class WaitingRequest:
    """A request of the user's that waits for approval, as the question shows it."""

    request_id: str
    group_name: str
    access: Access
    duration: timedelta | None = None
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    starts_at: datetime | None = None  # an activation PIM took for a later start (no approval waited for, or given)


def cancel_question_card(request: WaitingRequest, tz: Tz, *, kept: bool = False) -> JsonDict:
    """ "Cancel your request for X?" with Cancel request and Keep it; `kept`: the answer to Keep it (no buttons)."""
    pid = "outcome-0"
    rows = []
    if request.starts_at is not None:
        rows.append(("Starts", format_time(request.starts_at, tz)))
    if request.duration is not None:
        rows.append(("Duration", format_duration(request.duration)))
    if request.requested_at is not None:
        rows.append(("Requested at", format_time(request.requested_at, tz)))
    if request.expires_at is not None:
        rows.append((REQUEST_EXPIRES, format_time(request.expires_at, tz)))
    title = f"{request.group_name} · {access_label(request.access)}"
    question = cancel_question(request.group_name)
    items: list[CardElement] = [
        text(f"{pid}-title", title, weight="Bolder"),
        text(
            f"{pid}-state",
            "Scheduled" if request.starts_at else "Waiting for approval",
            color="Warning",
            spacing="None",
        ),
        text(f"{pid}-message", CANCEL_KEPT if kept else question, spacing="Small"),
    ]
    if not kept:
        items.append(text(f"{pid}-note", CANCEL_QUESTION_NOTE, subtle=True, spacing="Small"))
    if rows:
        items.append(facts(f"{pid}-facts", rows))
    if not kept:
        data = decision_data(request.request_id)
        buttons = [
            execute_button(f"{pid}-cancel", "Cancel request", Verb.CANCEL, data, style="destructive"),
            execute_button(f"{pid}-keep", "Keep it", Verb.KEEP, data),
        ]
        items.append(actions(f"{pid}-actions", buttons))
    items.append(request_footnote(f"{pid}-request", request.request_id))
    # The fallback's line starts as the activation card's waiting line does, so settling it replaces that line.
    fallback = f"{request.group_name} ({request.access.value}): submitted, waits for approval. {question}"
    return card([container(pid, items)], CANCEL_KEPT if kept else fallback)
