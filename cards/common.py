"""Layout helpers shared by every card. Each element gets a stable `id` so tests (and people) can find it.

The builders wrap the `adaptivecards` package classes and the extensions in `cards.elements`; `card()` turns the
tree into the plain dict the bot hands to Teams.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from adaptivecards.adaptivecard import AdaptiveCard
from adaptivecards.baseobject import BareObject
from adaptivecards.containers import ActionSet, Column, ColumnSet, Container, Fact, FactSet
from adaptivecards.elements import TextBlock

from cards.elements import ActionExecute, ActionOpenUrl, JsonDict, StyledTextBlock, to_json

__all__ = [
    "REQUEST_EXPIRES",
    "SCHEMA",
    "VERSION",
    "actions",
    "card",
    "columns",
    "container",
    "facts",
    "heading",
    "request_footnote",
    "text",
]

VERSION = "1.5"  # the highest schema Teams renders (teams-platform.md §5.1)
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# The fact title of when a request lapses if nobody decides: said so, lest it be read as the end of the access.
REQUEST_EXPIRES = "Request expires (if nobody decides)"


def card(body: Sequence[BareObject], fallback_text: str) -> JsonDict:
    """A full-width 1.5 card as a plain, JSON-clean dict."""
    root = AdaptiveCard()
    root.set_data("version", VERSION)
    root.body = list(body)
    root.fallback_text = fallback_text
    root.set_data("msteams", {"width": "Full"})
    rendered: JsonDict = to_json(root)
    ordered: JsonDict = {k: rendered[k] for k in ("type", "$schema", "version") if k in rendered}
    ordered.update(rendered)
    return ordered


def heading(element_id: str, value: str) -> BareObject:
    return StyledTextBlock(id=element_id, text=value, style="heading", size="Medium", weight="Bolder", wrap=True)


def text(
    element_id: str,
    value: str,
    *,
    weight: str | None = None,
    color: str | None = None,
    subtle: bool = False,
    spacing: str | None = None,
    font: str | None = None,
    size: str | None = None,
) -> BareObject:
    block = TextBlock(id=element_id, text=value, wrap=True)
    if weight:
        block.weight = weight
    if color:
        block.color = color
    if subtle:
        block.isSubtle = True
    if spacing:
        block.spacing = spacing
    if font:
        block.font_type = font
    if size:
        block.size = size
    return block


def request_footnote(element_id: str, request_id: str) -> BareObject:
    """A PIM request's id in small subtle text, last in its card or section: there for whoever must look the request
    up (the portal, the audit log, a support ticket), out of everyone else's way."""
    return text(element_id, f"Request ID: {request_id}", subtle=True, size="Small", spacing="Small")


def facts(element_id: str, pairs: Iterable[tuple[str, str]]) -> BareObject:
    return FactSet(id=element_id, facts=[Fact(title=title, value=value) for title, value in pairs])


def container(
    element_id: str,
    items: Sequence[BareObject],
    *,
    separator: bool = False,
    spacing: str | None = None,
) -> BareObject:
    box = Container(id=element_id, items=list(items))
    if separator:
        box.separator = True
    if spacing:
        box.spacing = spacing
    return box


def actions(element_id: str, buttons: Sequence[ActionExecute | ActionOpenUrl]) -> BareObject:
    """An ActionSet: every Action.Execute lives in one so older Teams clients honour its fallback (cards.actions)."""
    return ActionSet(id=element_id, actions=list(buttons))


def columns(element_id: str, cols: Sequence[tuple[str, str, Sequence[BareObject]]]) -> BareObject:
    """A ColumnSet from (id, width, items) triples; width "stretch" or "auto"."""
    made: list[Any] = []
    for col_id, width, items in cols:
        made.append(Column(id=col_id, width=width, items=list(items), verticalContentAlignment="Center"))
    return ColumnSet(id=element_id, columns=made)
