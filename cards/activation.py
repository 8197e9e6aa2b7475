"""The replies to `activate …` and `deactivate …`: one section per group, in the order the user named them.

Element ids: `heading`; per outcome i (0-based) `outcome-{i}` (its container), `outcome-{i}-title`,
`outcome-{i}-state`, `outcome-{i}-message`, `outcome-{i}-facts`, `outcome-{i}-note`, `outcome-{i}-actions` and the
buttons `outcome-{i}-deactivate` / `outcome-{i}-activate-max` / `outcome-{i}-cancel` / `outcome-{i}-suggestion-{j}`
(a group the name asked for was close to; each with its Action.Submit twin `…-submit`), and `outcome-{i}-open-pim`
(Action.OpenUrl to the PIM portal, when a step-up sign-in did not satisfy the policy).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from cards.actions import activate_button, cancel_button, deactivate_button
from cards.common import REQUEST_EXPIRES, actions, card, container, facts, heading, request_footnote, text
from cards.elements import ActionOpenUrl, CardElement, JsonDict
from cards.text import approvers_phrase, summary_text
from cards.times import Tz
from cards.wording import (
    LAG_NOTE,
    PIM_ACTIVATE_URL,
    access_label,
    deactivate_from,
    explain,
    format_duration,
    format_time,
    in_effect_line,
    missing_inputs_phrase,
    unconfirmed_write,
    utc_fallback_note,
)
from core.errors import (
    AlreadyActive,
    DurationTooLong,
    NotActive,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    RequestRefused,
    StepUpInsufficient,
    TooSoonToDeactivate,
)
from core.models import Access, TimeStyle
from core.outcomes import (
    Activated,
    AwaitingApproval,
    Deactivated,
    Failed,
    NeedsInput,
    Outcome,
    Refused,
    Unconfirmed,
)

__all__ = ["activation_card", "deactivation_card", "settled_activation_card"]


class _Flow(Enum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"


def activation_card(outcomes: Sequence[Outcome], tz: Tz, *, title: str | None = None) -> JsonDict:
    """The reply to `activate …` for one or several groups. NeedsInput gets its own card (`needs_input_card`).
    `title`: another heading (a scheduled activation that started)."""
    title = title or ("Activation" if len(outcomes) == 1 else f"Activation of {len(outcomes)} groups")
    return _outcomes_card(title, outcomes, tz, _Flow.ACTIVATE)


def deactivation_card(outcomes: Sequence[Outcome], tz: Tz) -> JsonDict:
    """The reply to `deactivate …` (or to a Deactivate button)."""
    title = "Deactivation" if len(outcomes) == 1 else f"Deactivation of {len(outcomes)} groups"
    return _outcomes_card(title, outcomes, tz, _Flow.DEACTIVATE)


def settled_activation_card(
    sent: JsonDict, request_id: str, state: str, message: str, *, color: str, fallback: str
) -> JsonDict:
    """The requester's activation card `sent` earlier, once the request `request_id` that waited for approval has
    settled: that section's state and message say what became of it (`state` "Approved", `message` "Approved by Bob
    Builder at …"), its buttons are gone, and `fallback` replaces its line of the fallback text. Every other
    section stays as sent (the card holds outcomes the bot keeps no state for, e.g. another group's Deactivate button),
    so this is the one card that is changed rather than rendered anew. The section is found by its Cancel button's
    request id; a card without one comes back unchanged."""
    card: JsonDict = copy.deepcopy(sent)
    for section in card.get("body") or []:
        pid = str(section.get("id") or "")
        items: list[dict[str, Any]] = section.get("items") or []
        cancel = _find(items, f"{pid}-cancel")
        if not pid.startswith("outcome-") or cancel is None or cancel.get("data", {}).get("requestId") != request_id:
            continue
        # The buttons go, and the note on using them (the question a typed `cancel` asks: cards.cancel); a settled
        # request no longer lapses, so its expiry goes too.
        section["items"] = [item for item in items if item.get("id") not in (f"{pid}-actions", f"{pid}-note")]
        for block in section["items"]:
            if block.get("id") == f"{pid}-facts":
                block["facts"] = [f for f in block.get("facts") or [] if f.get("title") != REQUEST_EXPIRES]
        state_block, message_block = _find(items, f"{pid}-state"), _find(items, f"{pid}-message")
        if state_block is not None:
            state_block.update(text=state, color=color)
        if message_block is not None:
            message_block["text"] = message
        title = _find(items, f"{pid}-title")
        name, _, access = str(title["text"] if title else "").partition(" · ")
        waiting = f"{name} ({access.lower()}): submitted, waits for approval"  # its line, as outcome_line wrote it
        lines = str(card.get("fallbackText") or "").split("\n")
        card["fallbackText"] = "\n".join(fallback if line.startswith(waiting) else line for line in lines)
    return card


def _find(items: list[dict[str, Any]], element_id: str) -> dict[str, Any] | None:
    """The element `element_id` among a section's items, also inside its action set."""
    for item in items:
        if item.get("id") == element_id:
            return item
        for action in item.get("actions") or []:
            if action.get("id") == element_id:
                return dict(action)
    return None


def _outcomes_card(title: str, outcomes: Sequence[Outcome], tz: Tz, flow: _Flow) -> JsonDict:
    body: list[CardElement] = [heading("heading", title)]
    if not outcomes:
        body.append(text("empty", "Nothing was requested."))
    for i, outcome in enumerate(outcomes):
        body.append(
            container(f"outcome-{i}", _section(outcome, f"outcome-{i}", tz, flow), separator=i > 0, spacing="Medium")
        )
    return card(body, summary_text(outcomes, tz))


def _section(outcome: Outcome, pid: str, tz: Tz, flow: _Flow) -> list[CardElement]:
    match outcome:
        case Activated() if outcome.scheduled:
            rows = _window(outcome.start, outcome.end, tz)
            message = (
                f"PIM will activate it on {format_time(outcome.start, tz)}; I'll message you when it starts. "
                f"Type “cancel {outcome.group.display_name}” to withdraw it before then."
            )
            items = [
                *_head(pid, outcome.group.display_name, outcome, "Scheduled", "Accent"),
                _message(pid, message),
                facts(f"{pid}-facts", rows),
            ]
            if not _zone_known(tz):
                items.append(text(f"{pid}-note", utc_fallback_note(), subtle=True, spacing="Small"))
            items.append(actions(f"{pid}-actions", [cancel_button(f"{pid}-cancel", outcome.request.id, "Cancel")]))
            items.append(request_footnote(f"{pid}-request", outcome.request.id))
            return items
        case Activated():
            rows = _window(outcome.start, outcome.end, tz)
            items = [*_head(pid, outcome.group.display_name, outcome, "Active", "Good"), facts(f"{pid}-facts", rows)]
            if outcome.duration_was_policy_maximum:
                note = f"Used the policy maximum of {format_duration(outcome.duration)}."
                items.append(text(f"{pid}-note", note, subtle=True, spacing="Small"))
            if outcome.in_effect is not None:
                # checked: what Graph's directory showed, then what may still lag (and the group's own note)
                live = in_effect_line(outcome.access, outcome.in_effect)
                items.append(text(f"{pid}-live", live, spacing="Small"))
                lag = f"{LAG_NOTE} {outcome.note}".strip()
                items.append(text(f"{pid}-lag", lag, subtle=True, spacing="Small"))
            items.append(
                actions(f"{pid}-actions", [deactivate_button(f"{pid}-deactivate", outcome.group, outcome.access)])
            )
            items.append(request_footnote(f"{pid}-request", outcome.request.id))
            return items
        case AwaitingApproval():
            message = f"Submitted, waits for approval by {approvers_phrase(outcome.approvers)}."
            rows = [
                ("Duration", format_duration(outcome.duration)),
                (REQUEST_EXPIRES, format_time(outcome.expires, tz)),
            ]
            if outcome.starts is not None:  # scheduled: approved before then, it starts then; after, at approval
                message += f" Once approved, it starts on {format_time(outcome.starts, tz)} (or at approval, if later)."
                rows.insert(0, ("Starts", format_time(outcome.starts, tz)))
            return [
                *_head(pid, outcome.group.display_name, outcome, "Waiting for approval", "Warning"),
                _message(pid, message),
                facts(f"{pid}-facts", rows),
                actions(f"{pid}-actions", [cancel_button(f"{pid}-cancel", outcome.request.id)]),
                request_footnote(f"{pid}-request", outcome.request.id),
            ]
        case NeedsInput():
            wanted = missing_inputs_phrase(justification=outcome.need_justification, ticket=outcome.need_ticket)
            return [
                *_head(pid, outcome.group.display_name, outcome, "Needs more information", "Warning"),
                _message(pid, f"Needs {wanted} — see the card below."),
            ]
        case Refused():
            return _refused(outcome, pid, tz, flow)
        case Failed():
            state = "Not activated" if flow is _Flow.ACTIVATE else "Not deactivated"
            if isinstance(outcome.error, OutcomeUnknown):
                state = "Not confirmed"  # it may have been done: never "Not activated"
            return [
                *_head(pid, outcome.group_name, outcome, state, "Attention"),
                _message(pid, explain(outcome.error, tz)),
            ]
        case Unconfirmed():
            message = unconfirmed_write(outcome.write.kind, outcome.access, outcome.group.display_name)
            return [
                *_head(pid, outcome.group.display_name, outcome, "Not confirmed yet", "Warning"),
                _message(pid, message),
            ]
        case Deactivated():
            message = f"Your {outcome.access.value} access to {outcome.group.display_name} has ended."
            return [
                *_head(pid, outcome.group.display_name, outcome, "Deactivated", "Good"),
                _message(pid, message),
                request_footnote(f"{pid}-request", outcome.request.id),
            ]


def _zone_known(tz: Tz) -> bool:
    """Whether times are written in the reader's own zone (Teams sent one), not UTC by default."""
    zone = tz.zone if isinstance(tz, TimeStyle) else tz
    return bool(zone)


def _window(start: datetime | None, end: datetime | None, tz: Tz) -> list[tuple[str, str]]:
    """The facts of an activation's time window: when it started, when it ends, how long it runs."""
    rows = []
    if start is not None:
        rows.append(("Starts", format_time(start, tz)))
    if end is not None:
        rows.append(("Ends", format_time(end, tz, reference=start)))
    if start is not None and end is not None:
        rows.append(("Duration", format_duration(end - start)))
    return rows


def _refused(outcome: Refused, pid: str, tz: Tz, flow: _Flow) -> list[CardElement]:
    error = outcome.error
    if isinstance(error, TooSoonToDeactivate):
        return _not_yet_deactivatable(outcome, error, pid, tz, flow)
    state, color = _refusal_state(error, flow)
    why = explain(error, tz, group_name=outcome.group_name, access=outcome.access)
    items = [*_head(pid, outcome.group_name, outcome, state, color), _message(pid, why)]
    if isinstance(error, DurationTooLong) and error.maximum is not None and outcome.group is not None:
        button = activate_button(
            f"{pid}-activate-max",
            f"Activate for {format_duration(error.maximum)}",
            outcome.group,
            outcome.access,
            error.maximum,
            justification=outcome.justification,
            ticket=outcome.ticket,
        )
        items.append(actions(f"{pid}-actions", [button]))
    elif isinstance(error, StepUpInsufficient):
        # Another sign-in would be refused the same way: the portal is what works.
        portal = ActionOpenUrl(id=f"{pid}-open-pim", title="Open PIM", url=PIM_ACTIVATE_URL)
        items.append(actions(f"{pid}-actions", [portal]))
    elif isinstance(error, PendingRequestExists) and error.request_id:
        items.append(request_footnote(f"{pid}-request", error.request_id))
    elif isinstance(error, NotEligible) and error.alternatives:
        items.append(actions(f"{pid}-actions", _did_you_mean(outcome, error, pid, flow)))
    return items


def _did_you_mean(outcome: Refused, error: NotEligible, pid: str, flow: _Flow) -> list[JsonDict]:
    """A typo's suggestions as buttons: the same command for each suggested group it could act on, carrying what
    the command said (duration, justification, ticket)."""
    buttons = []
    for j, (group, access) in enumerate(error.alternatives):
        owner = " (owner)" if access is Access.OWNER else ""
        if flow is _Flow.DEACTIVATE:
            title = f"Deactivate {group.display_name}{owner}"
            buttons.append(deactivate_button(f"{pid}-suggestion-{j}", group, access, title=title))
            continue
        title = f"Activate {group.display_name}{owner}"
        if outcome.duration is not None:
            title += f" for {format_duration(outcome.duration)}"
        button = activate_button(
            f"{pid}-suggestion-{j}",
            title,
            group,
            access,
            outcome.duration,
            justification=outcome.justification,
            ticket=outcome.ticket,
        )
        buttons.append(button)
    return buttons


def _refusal_state(error: RequestRefused, flow: _Flow) -> tuple[str, str]:
    """The state line of a refusal and its colour. The access already being as asked, or there being nothing to end,
    is no failure: said in the neutral accent colour, not in red."""
    match error:
        case AlreadyActive():
            return "Already active", _NEUTRAL
        case PendingRequestExists():
            return "Already waiting for approval", _NEUTRAL
        case NotActive(assigned_by_admin=True):
            return "Assigned by an administrator", _NEUTRAL
        case NotActive():
            return "Nothing to deactivate", _NEUTRAL
    return ("Not activated" if flow is _Flow.ACTIVATE else "Not deactivated"), "Attention"


_NEUTRAL = "Accent"


def _not_yet_deactivatable(
    outcome: Refused, error: TooSoonToDeactivate, pid: str, tz: Tz, flow: _Flow
) -> list[CardElement]:
    """An activation PIM will not end in its first five minutes: it stays shown as it is (its end time too), with when
    it can be ended; the Deactivate button works from then on. Answering a click on an activation card's Deactivate
    button (`flow` ACTIVATE), this replaces that card, so it keeps the card's state ("Active")."""
    state = "Active" if flow is _Flow.ACTIVATE else "Still active"
    items = _head(pid, outcome.group_name, outcome, state, "Good")
    window = _window(error.start, error.end, tz)
    if window:
        items.append(facts(f"{pid}-facts", window))
    items.append(text(f"{pid}-note", deactivate_from(error, tz), spacing="Small"))
    if outcome.group is not None:
        items.append(actions(f"{pid}-actions", [deactivate_button(f"{pid}-deactivate", outcome.group, outcome.access)]))
    return items


def _head(pid: str, name: str, outcome: Outcome, state: str, color: str) -> list[CardElement]:
    return [
        text(f"{pid}-title", f"{name} · {access_label(outcome.access)}", weight="Bolder"),
        text(f"{pid}-state", state, color=color, spacing="None"),
    ]


def _message(pid: str, value: str) -> CardElement:
    return text(f"{pid}-message", value, spacing="Small")
