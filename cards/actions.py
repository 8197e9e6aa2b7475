"""The one place that knows what a card button sends back, in both directions.

Every button is an Action.Execute (Teams: an `adaptiveCard/action` invoke with `verb` and `data`) whose `fallback`
is an equivalent Action.Submit (older clients: a message activity whose `value` is the data) carrying the same data
plus `"verb"`. Both sit inside an ActionSet: the pattern Microsoft documents for older Teams clients, which ignore
`fallback` on actions outside an ActionSet ("Develop universal bot action model", Backward compatibility). The string
form `"fallback": "Action.Submit"` shown elsewhere in that page is not an action: the official renderer drops the
button (tests/cards/test_renderer.py proves both).

Action data (a JSON object; Teams merges the card's input values into it)::

    {
      "pim": 1,                        # format marker and version: data without it is not ours
      "verb": "activate",              # Action.Submit only; Action.Execute carries it as `verb`
      "groupId": "0f1e…",              # Entra object id of the group
      "groupName": "Exchange-Admins",  # shown back to the user; never trusted for lookups
      "access": "member" | "owner",
      "durationMinutes": 120 | null,   # activate only; null = the policy maximum
      "justification": "…",            # activate only, optional (also the id of the justification input)
      "ticket": "INC-4711",            # activate only, optional (also the id of the ticket input)
      "ticketSystem": "ServiceNow"     # activate only, optional, only with a ticket
    }

The ending-soon card's Keep it (`"verb": "keepActive"`) carries the common keys, the choice set's `keepMinutes`
(Teams sends an input's value as text: "60"), the reason (`justification`) and, where the policy wants one,
`ticket`; the eligibility cards' Ask to extend / Ask to renew (`"askExtend"`, `"askRenew"`) carry the common keys and
the reason typed into `changeReason`.

A button that runs a command as if typed (`"verb": "run"`) carries only ``{"pim": 1, "command": "status"}``; the
command is one of `RUN_COMMANDS`, the commands that name no group.

Card data is untrusted: anyone can post a forged `value`. `parse_action_data` accepts only this exact shape, and the
acting user always comes from the authenticated activity, never from here; the service re-checks eligibility.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from cards.elements import JsonDict
from core.commands import MAX_HISTORY_PAGE
from core.models import Access, Group, Ticket

__all__ = [
    "DATA_VERSION",
    "JUSTIFICATION_INPUT",
    "JUSTIFICATION_MAX",
    "TICKET_INPUT",
    "TICKET_MAX",
    "CHANGE_REASON_INPUT",
    "DECISION_VERBS",
    "KEEP_INPUT",
    "REASON_INPUT",
    "REASON_MAX",
    "RUN_COMMANDS",
    "CardAction",
    "DecisionAction",
    "InvalidCardAction",
    "RunAction",
    "Verb",
    "activate_button",
    "cancel_button",
    "activate_data",
    "deactivate_button",
    "deactivate_data",
    "decision_data",
    "execute_button",
    "parse_action_data",
    "parse_click",
    "run_button",
]

DATA_VERSION = 1
JUSTIFICATION_INPUT = "justification"  # input ids are the keys their values get in the data
TICKET_INPUT = "ticket"
JUSTIFICATION_MAX = 500
TICKET_MAX = 100
GROUP_NAME_MAX = 256
MAX_DURATION_MINUTES = 7 * 24 * 60  # far above any PIM policy (1–24 h); PIM itself enforces the real maximum

_GROUP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Removed from text fields (people type into them): NUL, ESC, DEL, C1…; \t \n \r stay (a multiline justification).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_COMMON_KEYS = {"pim", "verb", "groupId", "groupName", "access"}
_ACTIVATE_KEYS = {"durationMinutes", "justification", "ticket", "ticketSystem"}
KEEP_INPUT = "keepMinutes"  # the ending-soon card's choice of how long to keep the group
CHANGE_REASON_INPUT = "changeReason"  # the eligibility cards' reason for the admin


class Verb(StrEnum):
    """What a button asks for. Submitting the needs-input card is an ACTIVATE carrying the missing inputs."""

    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    APPROVE = "approve"
    DENY = "deny"
    REFRESH = "refresh"  # Teams asks for the card a user in refresh.userIds should see (approval cards)
    CANCEL = "cancel"  # the requester withdraws a request that waits for approval (their "waiting" card)
    RUN = "run"  # a command that names no group, run as if typed (`RUN_COMMANDS`)
    KEEP = "keep"  # the requester answers "Keep it" to the question a typed `cancel` asks
    KEEP_ACTIVE = "keepActive"  # "Keep it" on the ending-soon card: the same group again from when this one ends
    ASK_EXTEND = "askExtend"  # the user asks an admin to extend their eligibility (it ends soon)
    ASK_RENEW = "askRenew"  # the user asks an admin to renew their eligibility (it ended)


_EXTRA_KEYS = {
    Verb.KEEP_ACTIVE: {KEEP_INPUT, JUSTIFICATION_INPUT, TICKET_INPUT},
    Verb.ASK_EXTEND: {CHANGE_REASON_INPUT},
    Verb.ASK_RENEW: {CHANGE_REASON_INPUT},
}
DECISION_VERBS = frozenset({Verb.APPROVE, Verb.DENY, Verb.REFRESH, Verb.CANCEL, Verb.KEEP})  # all carry a request id
REASON_INPUT = "reason"  # the approver's reason input on the approval card
REASON_MAX = 500
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DECISION_KEYS = {"pim", "verb", "requestId", REASON_INPUT}
# "demo request" works only in the demo (BOT_DEMO, bot.demo); elsewhere its button is refused like any unknown one.
# `history N`: the history card's Older / Newer buttons (core.commands.MAX_HISTORY_PAGE pages at most).
RUN_COMMANDS = frozenset(
    {"status", "help", "demo request", "history"} | {f"history {n}" for n in range(2, MAX_HISTORY_PAGE + 1)}
)
_RUN_KEYS = {"pim", "verb", "command"}


@dataclass(frozen=True, slots=True)
class CardAction:
    """A validated button press. Who pressed it is not here: that comes from the authenticated activity."""

    verb: Verb
    group_id: str
    group_name: str
    access: Access
    duration: timedelta | None = None  # None: the policy maximum
    justification: str | None = None
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class DecisionAction:
    """A validated click on an approval card: approve, deny or refresh one request. Who clicked is not here either;
    the request id is only a key to look up what the bot stored (a forged id finds nothing, or a request the clicker
    may not decide)."""

    verb: Verb
    request_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunAction:
    """A validated click on a button that runs a command as if the clicker had typed it (one of `RUN_COMMANDS`)."""

    command: str


class InvalidCardAction(ValueError):
    """Card data that is malformed, stale or not from this bot. `str(e)` is for logs; `user_message` for people."""

    user_message = "That button did not work: it is out of date or not from this bot. Please type the command instead."

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid card action data: {reason}")
        self.reason = reason


# ---- building ---------------------------------------------------------------------------------------------------


def _minutes(duration: timedelta) -> int:
    return max(1, round(duration / timedelta(minutes=1)))


def activate_data(
    group: Group,
    access: Access,
    duration: timedelta | None,
    *,
    justification: str | None = None,
    ticket: Ticket | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "pim": DATA_VERSION,
        "groupId": group.id,
        "groupName": group.display_name,
        "access": access.value,
        "durationMinutes": None if duration is None else _minutes(duration),
    }
    if justification:
        data["justification"] = justification
    if ticket is not None:
        data["ticket"] = ticket.number
        if ticket.system:
            data["ticketSystem"] = ticket.system
    return data


def deactivate_data(group: Group, access: Access) -> dict[str, Any]:
    return {"pim": DATA_VERSION, "groupId": group.id, "groupName": group.display_name, "access": access.value}


def decision_data(request_id: str) -> dict[str, Any]:
    return {"pim": DATA_VERSION, "requestId": request_id}


def execute_button(
    element_id: str,
    title: str,
    verb: Verb,
    data: Mapping[str, Any],
    *,
    style: str | None = None,
    inputs: bool = True,
) -> JsonDict:
    """Action.Execute with its Action.Submit twin as fallback (same title, style and data, plus "verb" in the data).
    `style`: "positive" for the one primary action of a card, "destructive" for one that takes something away.
    `inputs` False: the card's inputs are not sent with this button (`associatedInputs: none`), for a button on a card
    whose inputs belong to another one. A plain dict, like the elements of `cards.common` (and for the same reason),
    as `cards.elements.ActionExecute` and `ActionSubmit` would render it."""
    styled: JsonDict = {"style": style} if style else {}
    if not inputs:
        styled["associatedInputs"] = "none"
    submit = {
        "type": "Action.Submit",
        "id": f"{element_id}-submit",
        "title": title,
        **styled,
        "data": {**data, "verb": verb.value},
    }
    return {
        "type": "Action.Execute",
        "id": element_id,
        "title": title,
        **styled,
        "verb": verb.value,
        "data": dict(data),
        "fallback": submit,
    }


def activate_button(
    element_id: str,
    title: str,
    group: Group,
    access: Access,
    duration: timedelta | None,
    *,
    justification: str | None = None,
    ticket: Ticket | None = None,
) -> JsonDict:
    data = activate_data(group, access, duration, justification=justification, ticket=ticket)
    return execute_button(element_id, title, Verb.ACTIVATE, data)


def cancel_button(element_id: str, request_id: str, title: str = "Cancel request") -> JsonDict:
    """The requester's button to withdraw a request waiting for approval (only the requester may use it)."""
    return execute_button(element_id, title, Verb.CANCEL, decision_data(request_id))


def deactivate_button(
    element_id: str, group: Group, access: Access, title: str = "Deactivate", *, inputs: bool = True
) -> JsonDict:
    return execute_button(element_id, title, Verb.DEACTIVATE, deactivate_data(group, access), inputs=inputs)


def run_button(element_id: str, title: str, command: str) -> JsonDict:
    """A button that runs `command` (one of `RUN_COMMANDS`) as if the clicker had typed it."""
    if command not in RUN_COMMANDS:
        raise ValueError(f"{command!r} cannot run from a button")
    return execute_button(element_id, title, Verb.RUN, {"pim": DATA_VERSION, "command": command})


# ---- parsing ----------------------------------------------------------------------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _text(data: Mapping[str, object], key: str, limit: int, *, multiline: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCardAction(f"{key} must be text, got {type(value).__name__}")
    if not multiline and ("\n" in value or "\r" in value):
        raise InvalidCardAction(f"{key} contains a line break")
    value = _CONTROL.sub("", value).strip()
    if len(value) > limit:
        raise InvalidCardAction(f"{key} is longer than {limit} characters")
    return value or None


def parse_action_data(data: Mapping[str, object], *, verb: str | None = None) -> CardAction:
    """`parse_click` for the activate/deactivate buttons only."""
    action = parse_click(data, verb=verb)
    if not isinstance(action, CardAction):
        raise InvalidCardAction(f"{(verb or data.get('verb'))!r} is not an activation button")
    return action


def parse_click(data: Mapping[str, object], *, verb: str | None = None) -> CardAction | DecisionAction | RunAction:
    """Validate what a button sent back. Raises `InvalidCardAction` (a ValueError) for anything else.

    For an Action.Execute invoke pass `verb=value["action"]["verb"]` and `value["action"]["data"]`; for an
    Action.Submit message pass `activity.value` alone (it carries "verb"). When both are given they must agree.
    """
    if not isinstance(data, Mapping):
        raise InvalidCardAction(f"data must be an object, got {type(data).__name__}")
    if any(not isinstance(k, str) for k in data):
        raise InvalidCardAction("data keys must be text")
    marker = data.get("pim")
    if type(marker) is not int or marker != DATA_VERSION:
        raise InvalidCardAction(f"not data from this bot's cards (pim={_show(marker)})")

    sent_verb = data.get("verb")
    if sent_verb is not None and verb is not None and sent_verb != verb:
        raise InvalidCardAction(f"verb {_show(verb)} does not match data verb {_show(sent_verb)}")
    raw_verb = verb if verb is not None else sent_verb
    if not isinstance(raw_verb, str) or raw_verb not in {v.value for v in Verb}:
        raise InvalidCardAction(f"unknown verb {_show(raw_verb)}")
    action_verb = Verb(raw_verb)
    if action_verb in DECISION_VERBS:
        return _parse_decision(data, action_verb)
    if action_verb is Verb.RUN:
        return _parse_run(data)

    allowed = _COMMON_KEYS | (_ACTIVATE_KEYS if action_verb is Verb.ACTIVATE else _EXTRA_KEYS.get(action_verb, set()))
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidCardAction(f"unexpected keys for {action_verb.value}: {', '.join(map(_show, unknown[:5]))}")

    group_id = data.get("groupId")
    if not isinstance(group_id, str) or not _GROUP_ID.fullmatch(group_id):
        raise InvalidCardAction(f"groupId {_show(group_id)} is not a group id")
    group_name = _text(data, "groupName", GROUP_NAME_MAX)
    if group_name is None:
        raise InvalidCardAction("groupName is missing")
    raw_access = data.get("access")
    if not isinstance(raw_access, str) or raw_access not in {a.value for a in Access}:
        raise InvalidCardAction(f"access {_show(raw_access)} is neither member nor owner")
    access = Access(str(raw_access))

    if action_verb is Verb.DEACTIVATE:
        return CardAction(action_verb, group_id, group_name, access)
    if action_verb is Verb.KEEP_ACTIVE:
        keep_for = _keep_minutes(data.get(KEEP_INPUT))
        reason = _text(data, JUSTIFICATION_INPUT, JUSTIFICATION_MAX, multiline=True)
        return CardAction(action_verb, group_id, group_name, access, keep_for, reason, _ticket(data))
    if action_verb in (Verb.ASK_EXTEND, Verb.ASK_RENEW):
        reason = _text(data, CHANGE_REASON_INPUT, JUSTIFICATION_MAX, multiline=True)
        return CardAction(action_verb, group_id, group_name, access, justification=reason)

    if "durationMinutes" not in data:
        raise InvalidCardAction("durationMinutes is missing")
    minutes = data["durationMinutes"]
    duration: timedelta | None = None
    if minutes is not None:
        # bool is an int in Python; JSON true must not become one minute.
        if type(minutes) is not int or not 1 <= minutes <= MAX_DURATION_MINUTES:
            raise InvalidCardAction(f"durationMinutes {_show(minutes)} is not a whole number of minutes in range")
        duration = timedelta(minutes=minutes)

    justification = _text(data, "justification", JUSTIFICATION_MAX, multiline=True)
    return CardAction(action_verb, group_id, group_name, access, duration, justification, _ticket(data))


def _ticket(data: Mapping[str, object]) -> Ticket | None:
    """The ticket input's number (and, on Activate, the system the data carries along); an empty input: none."""
    number = _text(data, TICKET_INPUT, TICKET_MAX)
    system = _text(data, "ticketSystem", TICKET_MAX)
    if system is not None and number is None:
        raise InvalidCardAction("ticketSystem without a ticket")
    return Ticket(number, system) if number is not None else None


def _keep_minutes(value: object) -> timedelta | None:
    """The choice set's value: whole minutes as text (how Teams sends an input) or a number; missing: the policy's
    maximum."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is not int or not 1 <= value <= MAX_DURATION_MINUTES:
        raise InvalidCardAction(f"{KEEP_INPUT} {_show(value)} is not a whole number of minutes in range")
    return timedelta(minutes=value)


def _parse_decision(data: Mapping[str, object], verb: Verb) -> DecisionAction:
    unknown = sorted(set(data) - _DECISION_KEYS)
    if unknown:
        raise InvalidCardAction(f"unexpected keys for {verb.value}: {', '.join(map(_show, unknown[:5]))}")
    request_id = data.get("requestId")
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidCardAction(f"requestId {_show(request_id)} is not a request id")
    reason = _text(data, REASON_INPUT, REASON_MAX, multiline=True) if verb in (Verb.APPROVE, Verb.DENY) else None
    return DecisionAction(verb, request_id, reason)


def _parse_run(data: Mapping[str, object]) -> RunAction:
    unknown = sorted(set(data) - _RUN_KEYS)
    if unknown:
        raise InvalidCardAction(f"unexpected keys for run: {', '.join(map(_show, unknown[:5]))}")
    command = data.get("command")
    if not isinstance(command, str) or command not in RUN_COMMANDS:
        raise InvalidCardAction(f"command {_show(command)} cannot run from a button")
    return RunAction(command)
