"""What the `adaptivecards` package (0.4.1) lacks, on its own `Element`/`BareObject` base, and the JSON conversion.

The package models TextBlock, FactSet, Container, ColumnSet, ActionSet and friends but stops at schema 1.2: no
Input.Text, no Action.Execute/Action.Submit, no TextBlock `style` (1.5 headings). Properties are `PropertyType`
descriptors that type-check on assignment; the renderer test (tests/cards) proves every property we emit survives a
round trip through the official JS renderer at version 1.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptivecards.baseobject import BareObject, Element, PropertyType
from adaptivecards.elements import TextBlock

__all__ = [
    "ActionExecute",
    "ActionOpenUrl",
    "ActionSubmit",
    "CardElement",
    "InputChoiceSet",
    "InputText",
    "JsonDict",
    "StyledTextBlock",
    "Table",
    "TableCell",
    "TableRow",
    "to_json",
]

JsonDict = dict[str, Any]
# One element of a card before `to_json`: a plain dict already in its JSON form (what the builders in `cards.common`
# and `cards.actions` make: most of a card, built for a fraction of what the package's classes cost with their checks
# on every property) or an object of the package's classes and ours below.
CardElement = BareObject | JsonDict


class InputText(Element):  # type: ignore[misc]  # adaptivecards ships no type information
    """Input.Text (1.0; label/isRequired/errorMessage 1.3). Its `id` is the key its value gets in the action data."""

    element_type = "Input.Text"
    label = PropertyType(type=str)
    placeholder = PropertyType(type=str)
    value = PropertyType(type=str)
    is_multiline = PropertyType(type=bool, key_name="isMultiline")
    max_length = PropertyType(type=int, key_name="maxLength")
    is_required = PropertyType(type=bool, key_name="isRequired")
    error_message = PropertyType(type=str, key_name="errorMessage")


class InputChoiceSet(Element):  # type: ignore[misc]
    """Input.ChoiceSet (1.0; label 1.3): `choices` are ``{"title": …, "value": …}`` objects, `value` the chosen one's
    value (a drop-down, the default style). Its `id` is the key its value (text) gets in the action data."""

    element_type = "Input.ChoiceSet"
    label = PropertyType(type=str)
    choices = PropertyType(type=list)
    value = PropertyType(type=str)
    style = PropertyType(type=str)
    is_required = PropertyType(type=bool, key_name="isRequired")
    error_message = PropertyType(type=str, key_name="errorMessage")


class StyledTextBlock(TextBlock):  # type: ignore[misc]
    """TextBlock with `style` (1.5): "heading" lets screen readers announce section headings."""

    style = PropertyType(type=str)


class _Action(BareObject):  # type: ignore[misc]
    action_type = "None"
    id = PropertyType(type=str)
    title = PropertyType(type=str)
    style = PropertyType(type=str)  # "positive" (the primary action) or "destructive" (1.2)
    data = PropertyType(type=dict)
    # "none": the card's inputs are not merged into this button's data (1.3; "auto", the default, merges them all)
    associated_inputs = PropertyType(type=str, key_name="associatedInputs")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data["type"] = self.action_type


class ActionSubmit(_Action):
    """Action.Submit: Teams sends a message activity whose `value` is `data` merged with the card's inputs."""

    action_type = "Action.Submit"


class ActionExecute(_Action):
    """Action.Execute (1.4): Teams sends an `adaptiveCard/action` invoke with `verb` and `data` (+ inputs)."""

    action_type = "Action.Execute"
    verb = PropertyType(type=str)
    fallback = PropertyType(type=(ActionSubmit, str))


class ActionOpenUrl(_Action):
    """Action.OpenUrl: the client opens `url` in a browser (the step-up sign-in page); nothing is sent to the bot."""

    action_type = "Action.OpenUrl"
    url = PropertyType(type=str)


class TableCell(Element):  # type: ignore[misc]
    """TableCell (1.5): a container of elements in one cell of a `TableRow`."""

    element_type = "TableCell"
    items = PropertyType(type=list)


class TableRow(Element):  # type: ignore[misc]
    """TableRow (1.5): one row of a `Table`, its `cells` in column order."""

    element_type = "TableRow"
    cells = PropertyType(type=list)


class Table(Element):  # type: ignore[misc]
    """Table (1.5). `columns` are untyped column definitions such as ``{"width": 2}``. The first row is the header
    unless `first_row_as_header` is False (true is the default, and the renderer drops it from its JSON)."""

    element_type = "Table"
    columns = PropertyType(type=list)
    rows = PropertyType(type=list)
    first_row_as_header = PropertyType(type=bool, key_name="firstRowAsHeader")
    show_grid_lines = PropertyType(type=bool, key_name="showGridLines")


_LEAVES = frozenset({str, bool, int, type(None)})  # their own JSON form: kept without a call each (cards have many)
_FIRST = ("type", "id")  # the keys every object starts with


def to_json(obj: Any) -> Any:
    """A plain, JSON-clean copy of a rendered object tree: dicts, lists, str, int, float, bool, None.

    `type` and `id` come first in every object so golden files read naturally; anything not JSON is a bug here.
    """
    kind = type(obj)
    if kind in _LEAVES:
        return obj
    # exact types first (most of a card is plain dicts and lists: cards.common); the Mapping ABC's isinstance costs
    # several times more
    if kind is dict:
        return _object(obj)
    if kind is list:
        return [v if type(v) in _LEAVES else to_json(v) for v in obj]
    if isinstance(obj, BareObject):
        return _object(obj.render())
    if isinstance(obj, Mapping):
        return _object(obj)
    if isinstance(obj, list | tuple):
        return [v if type(v) in _LEAVES else to_json(v) for v in obj]
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, float) and obj == obj and obj not in (float("inf"), float("-inf")):
        return obj
    raise TypeError(f"not JSON: {obj!r}")


def _object(obj: Mapping[Any, Any]) -> JsonDict:
    """`to_json` of one object: its `type` and `id` first, then the rest in their order."""
    result: JsonDict = {}
    for key in _FIRST:
        if key in obj:
            value = obj[key]
            result[key] = value if type(value) in _LEAVES else to_json(value)
    for key, value in obj.items():
        if type(key) is not str and not isinstance(key, str):
            raise TypeError(f"card keys must be strings, got {key!r}")
        if key not in _FIRST:
            result[key] = value if type(value) in _LEAVES else to_json(value)
    return result
