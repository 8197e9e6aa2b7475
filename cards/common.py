"""Layout helpers shared by every card. Each element gets a stable `id` so tests (and people) can find it.

The builders make each element as the plain dict its JSON is, keys in the order `cards.elements.to_json` writes them
(`type`, `id`, then as the `adaptivecards` package's classes would set them): these few elements make most of every
card, and the package's objects, type-checking each property as it is set and copied once more into a dict, cost
several times as much (tests/cards/test_common.py holds each builder to the package's rendering of the same element).
A card's tree may mix them with the package's objects and those of `cards.elements`; `card()` turns it into the plain
dict the bot hands to Teams.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cards.elements import CardElement, JsonDict, to_json

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


def card(body: Sequence[CardElement], fallback_text: str) -> JsonDict:
    """A full-width 1.5 card as a plain, JSON-clean dict."""
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": to_json(list(body)),
        "fallbackText": fallback_text,
        "msteams": {"width": "Full"},
    }


def heading(element_id: str, value: str) -> JsonDict:
    return {
        "type": "TextBlock",
        "id": element_id,
        "text": value,
        "style": "heading",  # 1.5: screen readers announce it as a heading
        "size": "Medium",
        "weight": "Bolder",
        "wrap": True,
    }


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
) -> JsonDict:
    block: JsonDict = {"type": "TextBlock", "id": element_id, "text": value, "wrap": True}
    if weight:
        block["weight"] = weight
    if color:
        block["color"] = color
    if subtle:
        block["isSubtle"] = True
    if spacing:
        block["spacing"] = spacing
    if font:
        block["fontType"] = font
    if size:
        block["size"] = size
    return block


def request_footnote(element_id: str, request_id: str) -> JsonDict:
    """A PIM request's id in small subtle text, last in its card or section: there for whoever must look the request
    up (the portal, the audit log, a support ticket), out of everyone else's way."""
    return text(element_id, f"Request ID: {request_id}", subtle=True, size="Small", spacing="Small")


def facts(element_id: str, pairs: Iterable[tuple[str, str]]) -> JsonDict:
    return {"type": "FactSet", "id": element_id, "facts": [{"title": title, "value": value} for title, value in pairs]}


def container(
    element_id: str,
    items: Sequence[CardElement],
    *,
    separator: bool = False,
    spacing: str | None = None,
) -> JsonDict:
    box: JsonDict = {"type": "Container", "id": element_id, "items": list(items)}
    if separator:
        box["separator"] = True
    if spacing:
        box["spacing"] = spacing
    return box


def actions(element_id: str, buttons: Sequence[CardElement]) -> JsonDict:
    """An ActionSet: every Action.Execute lives in one so older Teams clients honour its fallback (cards.actions)."""
    return {"type": "ActionSet", "id": element_id, "actions": list(buttons)}


def columns(element_id: str, cols: Sequence[tuple[str, str, Sequence[CardElement]]]) -> JsonDict:
    """A ColumnSet from (id, width, items) triples; width "stretch" or "auto"."""
    made = [
        {"type": "Column", "id": col_id, "width": width, "items": list(items), "verticalContentAlignment": "Center"}
        for col_id, width, items in cols
    ]
    return {"type": "ColumnSet", "id": element_id, "columns": made}
