"""The answer to a slip: one helpful line and two or three buttons built from the user's own groups.

A slip is text that was no command (`core.commands.Help.slip`): a word the bot does not know, a thank-you, a command
without the group it needs (“activate 1h”, a bare “cancel”), a mistyped verb (“actvate Exchange-Admins 2h”). The
whole usage would bury the one thing the user needs, so the card says what it understood and offers what the user can
do with their own groups: activate one they are eligible for, end an activation, cancel a waiting request, see their
status, or all commands. Every button runs as if the command had been typed (cards.actions).

In a channel or group chat (`where`) nothing about the user's own access is shown: the line says what works there and
the one button shows all commands.

Element ids: `line`, `suggestions` (an ActionSet) with the buttons `suggestion-{i}` (each with its Action.Submit twin
`suggestion-{i}-submit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Protocol, TypeVar

from cards.actions import activate_button, cancel_button, deactivate_button, run_button
from cards.common import actions, card, text
from cards.elements import JsonDict
from cards.text import SUGGESTED_DURATION, sorted_view, typed_command
from cards.wording import format_duration, slip_line
from core import names
from core.commands import Activate, Cancel, Deactivate, Help, History, Status
from core.models import Access, Eligibility, Group
from core.outcomes import StatusView

__all__ = ["MAX_SUGGESTIONS", "slip_card"]


class _OfAGroup(Protocol):
    @property
    def group(self) -> Group: ...


T = TypeVar("T", bound=_OfAGroup)

MAX_SUGGESTIONS = 3  # a few choices read at a glance; more is the help card's job

_Button = Callable[[str], JsonDict]  # the element id in, the button out
_STATUS: _Button = partial(run_button, title="Show status", command="status")
_HISTORY: _Button = partial(run_button, title="Show my request history", command="history")
_HELP: _Button = partial(run_button, title="All commands", command="help")


def slip_card(slip: Help, view: StatusView | None, *, where: str = "personal") -> JsonDict:
    """The answer to `slip`. `view`: what the user holds (their cached snapshot), or None when it is unknown (Graph
    could not be read). `where`: the Teams conversation type; outside the 1:1 chat `view` is not used."""
    if where != "personal":
        return _card(slip_line(slip, where=where), [_HELP])
    choices, line = _understood(slip, view)
    choices = choices[: MAX_SUGGESTIONS - 1]
    if _STATUS not in choices:
        choices.append(_STATUS)
    if len(choices) < MAX_SUGGESTIONS:
        choices.append(_HELP)
    return _card(line, choices)


def _card(line: str, choices: Sequence[_Button]) -> JsonDict:
    buttons = [make(f"suggestion-{i}") for i, make in enumerate(choices)]
    return card([text("line", line), actions("suggestions", buttons)], line)


def _understood(slip: Help, view: StatusView | None) -> tuple[list[_Button], str]:
    """The buttons for what the user seems to have meant, and the line that says so. A command without its group gets
    the user's own groups to choose from; a mistyped one, the command it would have been."""
    if view is None:
        return [], slip_line(slip)
    meant = slip.meant
    offered: list[_Button] = []
    if isinstance(meant, Activate):
        offered = _activations(view, meant)
        if not meant.groups:
            return offered, slip_line(slip, choices=bool(offered), example=_example(view, meant))
    elif isinstance(meant, Deactivate):
        offered = _deactivations(view, meant)
        if not meant.groups:
            return offered, slip_line(slip, choices=bool(offered))
    elif isinstance(meant, Cancel):
        offered = _cancellations(view, meant)
        if not meant.group:
            return offered, slip_line(slip, choices=bool(offered))
    elif isinstance(meant, Status):
        offered = [_STATUS]
    elif isinstance(meant, History):
        offered = [_HISTORY]
    return offered or _activations(view, Activate(()))[:1], slip_line(slip)


# ---- what the user can do with their own groups ------------------------------------------------------------------


def _activatable(view: StatusView, access: Access | None) -> list[Eligibility]:
    """The eligibilities the user can activate now, by name, one per group (member before owner)."""
    _, _, eligible = sorted_view(view)
    seen: set[str] = set()
    found = []
    for e in eligible:
        if view.can_activate(e) and (access is None or e.access is access) and e.group.id not in seen:
            seen.add(e.group.id)
            found.append(e)
    return found


def _named(asked: Sequence[str], offered: Sequence[T]) -> list[T]:
    """Of `offered` (each with a `group`), the ones `asked` names, in the order asked; all of them when none is."""
    if not asked:
        return list(offered)
    found = [names.resolve(name, [o.group for o in offered]) for name in asked]
    return [o for group in found if group is not None for o in offered if o.group.id == group.id]


def _duration(view: StatusView, e: Eligibility, meant: Activate) -> timedelta:
    """What the command said, else an hour, or less when the policy (if it is known) allows less."""
    if meant.duration is not None:
        return meant.duration
    return min(SUGGESTED_DURATION, view.maxima.get((e.group.id, e.access), SUGGESTED_DURATION))


def _activations(view: StatusView, meant: Activate) -> list[_Button]:
    buttons: list[_Button] = []
    for e in _named(meant.groups, _activatable(view, meant.access)):
        duration = _duration(view, e, meant)
        title = f"Activate {e.group.display_name}{_owner(e.access)} for {format_duration(duration)}"
        button = partial(activate_button, title=title, group=e.group, access=e.access, duration=duration)
        buttons.append(partial(button, justification=meant.justification, ticket=meant.ticket))
    return buttons


def _example(view: StatusView, meant: Activate) -> str | None:
    """The command to type for the first group the user can activate, as its button would run it."""
    offered = _activatable(view, meant.access)
    if not offered:
        return None
    e = offered[0]
    return typed_command("activate", e.group.display_name, _duration(view, e, meant), owner=e.access is Access.OWNER)


def _deactivations(view: StatusView, meant: Deactivate) -> list[_Button]:
    active, _, _ = sorted_view(view)
    ends = [a for a in active if a.activated and (meant.access is None or a.access is meant.access)]
    return [
        partial(
            deactivate_button,
            group=a.group,
            access=a.access,
            title=f"Deactivate {a.group.display_name}{_owner(a.access)}",
        )
        for a in _named(meant.groups, ends)
    ]


def _cancellations(view: StatusView, meant: Cancel) -> list[_Button]:
    _, pending, _ = sorted_view(view)
    buttons: list[_Button] = []
    for request in pending:
        name = view.group_names.get(request.group_id, request.group_id)
        if meant.group and names.normalise(meant.group) != names.normalise(name):
            continue
        buttons.append(partial(cancel_button, request_id=request.id, title=f"Cancel the {name} request"))
    return buttons


def _owner(access: Access) -> str:
    return " (owner)" if access is Access.OWNER else ""
