"""Find things in a card dict by id, as tests should (STYLE: assertions by id, not by position)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["all_ids", "buttons", "element", "maybe_element", "request_id_of", "walk"]


def walk(node: Any, *, into_fallback: bool = True) -> Iterator[dict[str, Any]]:
    """Every object in the card, depth first (the Action.Submit fallbacks too unless into_fallback=False)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key == "fallback" and not into_fallback:
                continue
            if key == "data":  # button data is payload, not card structure
                continue
            yield from walk(value, into_fallback=into_fallback)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, into_fallback=into_fallback)


def all_ids(card: Mapping[str, Any]) -> list[str]:
    return [o["id"] for o in walk(dict(card)) if "id" in o and "type" in o]


def maybe_element(card: Mapping[str, Any], element_id: str) -> dict[str, Any] | None:
    found = [o for o in walk(dict(card)) if o.get("id") == element_id and "type" in o]
    assert len(found) <= 1, f"id {element_id!r} occurs {len(found)} times"
    return found[0] if found else None


def element(card: Mapping[str, Any], element_id: str) -> dict[str, Any]:
    found = maybe_element(card, element_id)
    assert found is not None, f"no element with id {element_id!r}; ids: {all_ids(card)}"
    return found


def request_id_of(card: Mapping[str, Any], element_id: str) -> str:
    """The PIM request id a card shows in the footnote `element_id` (cards.common.request_footnote)."""
    shown = str(element(card, element_id)["text"])
    assert shown.startswith("Request ID: "), shown
    return shown.removeprefix("Request ID: ")


def buttons(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Action.Execute buttons, in card order (not the root `refresh` action: nobody clicks it)."""
    body = {k: v for k, v in card.items() if k != "refresh"}
    return [o for o in walk(body, into_fallback=False) if o.get("type") == "Action.Execute"]


def facts(card: dict[str, Any], element_id: str) -> dict[str, str]:
    return {f["title"]: f["value"] for f in element(card, element_id)["facts"]}


def card_text(card: dict[str, Any]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value", "label"):
                if isinstance(node.get(key), str):
                    out.append(node[key])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(out)


def fact(card: dict[str, Any], title: str) -> str | None:
    values = [f["value"] for f in element(card, "facts")["facts"] if f["title"] == title]
    return values[0] if values else None
