"""The plain-dict builders (cards.common, cards.actions.execute_button) write exactly what the `adaptivecards`
package's classes render for the same element, byte for byte and key for key: the package stays the model, the
builders only skip its per-property checks. The reference builders below are the ones the cards used before."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from adaptivecards.adaptivecard import AdaptiveCard
from adaptivecards.baseobject import BareObject
from adaptivecards.containers import ActionSet, Column, ColumnSet, Container, Fact, FactSet
from adaptivecards.elements import TextBlock

from cards.actions import Verb, activate_data, decision_data, execute_button
from cards.common import SCHEMA, VERSION, actions, card, columns, container, facts, heading, request_footnote, text
from cards.elements import ActionExecute, ActionOpenUrl, ActionSubmit, StyledTextBlock, to_json
from core.models import Access, Ticket
from tests.support.card_samples import EXCHANGE


def _bytes(element: Any) -> str:
    return json.dumps(element, ensure_ascii=False)


def _same(built: Any, reference: BareObject | Any) -> None:
    """`built` is already its own JSON (no copy needed to read it right) and that JSON is the package's."""
    assert _bytes(built) == _bytes(to_json(reference))
    assert _bytes(to_json(built)) == _bytes(built)


def _text(element_id: str, value: str, **options: Any) -> BareObject:
    block = TextBlock(id=element_id, text=value, wrap=True)
    for name, attribute in (("weight", "weight"), ("color", "color"), ("subtle", "isSubtle")):
        if options.get(name):
            setattr(block, attribute, True if name == "subtle" else options[name])
    for name, attribute in (("spacing", "spacing"), ("font", "font_type"), ("size", "size")):
        if options.get(name):
            setattr(block, attribute, options[name])
    return block


_TEXT_OPTIONS = {
    "weight": "Bolder",
    "color": "Attention",
    "subtle": True,
    "spacing": "Small",
    "font": "Monospace",
    "size": "Small",
}


@pytest.mark.parametrize(
    "chosen",
    [c for n in range(len(_TEXT_OPTIONS) + 1) for c in itertools.combinations(_TEXT_OPTIONS, n)],
    ids=lambda c: "+".join(c) or "plain",
)
def test_text_in_every_combination_of_its_options(chosen: tuple[str, ...]) -> None:
    options = {name: _TEXT_OPTIONS[name] for name in chosen}
    _same(text("t", "Ünïcode “quoted” <b>", **options), _text("t", "Ünïcode “quoted” <b>", **options))


def test_text_leaves_out_empty_options() -> None:
    empty: dict[str, Any] = {"weight": "", "color": None, "subtle": False, "spacing": "", "font": None, "size": ""}
    _same(text("t", "x", **empty), _text("t", "x"))


def test_heading_and_request_footnote() -> None:
    _same(
        heading("heading", "Activation"),
        StyledTextBlock(id="heading", text="Activation", style="heading", size="Medium", weight="Bolder", wrap=True),
    )
    _same(
        request_footnote("r", "a6f3c2d1"),
        _text("r", "Request ID: a6f3c2d1", subtle=True, size="Small", spacing="Small"),
    )


@pytest.mark.parametrize("count", [0, 1, 3])
def test_facts(count: int) -> None:
    pairs = [(f"Title {i}", f"Value {i}") for i in range(count)]
    _same(facts("f", pairs), FactSet(id="f", facts=[Fact(title=t, value=v) for t, v in pairs]))
    _same(facts("f", iter(pairs)), FactSet(id="f", facts=[Fact(title=t, value=v) for t, v in pairs]))


@pytest.mark.parametrize("separator", [False, True])
@pytest.mark.parametrize("spacing", [None, "Medium"])
def test_container_of_dicts_and_package_objects(separator: bool, spacing: str | None) -> None:
    items: Sequence[Any] = [text("a", "A"), TextBlock(id="b", text="B", wrap=True)]
    reference = Container(id="c", items=[_text("a", "A"), TextBlock(id="b", text="B", wrap=True)])
    if separator:
        reference.separator = True
    if spacing:
        reference.spacing = spacing
    built = container("c", items, separator=separator, spacing=spacing)
    assert _bytes(to_json(built)) == _bytes(to_json(reference))


def _execute(
    element_id: str, title: str, verb: Verb, data: dict[str, Any], style: str | None, inputs: bool
) -> BareObject:
    styled: dict[str, Any] = {"style": style} if style else {}
    if not inputs:
        styled["associated_inputs"] = "none"
    submit = ActionSubmit(id=f"{element_id}-submit", title=title, **styled, data={**data, "verb": verb.value})
    return ActionExecute(id=element_id, title=title, **styled, verb=verb.value, data=dict(data), fallback=submit)


_DATA = {
    "activate": activate_data(EXCHANGE, Access.MEMBER, None, justification="why", ticket=Ticket("INC-1", "SNOW")),
    "decision": decision_data("a6f3c2d1"),
}


@pytest.mark.parametrize("style", [None, "positive", "destructive"])
@pytest.mark.parametrize("inputs", [True, False])
@pytest.mark.parametrize("data", sorted(_DATA))
def test_execute_button_with_its_submit_twin(style: str | None, inputs: bool, data: str) -> None:
    built = execute_button("b", "Go", Verb.ACTIVATE, _DATA[data], style=style, inputs=inputs)
    _same(built, _execute("b", "Go", Verb.ACTIVATE, _DATA[data], style, inputs))
    assert built["data"] is not _DATA[data]  # the caller's data is not shared with the card


def test_actions_of_buttons_and_package_actions() -> None:
    portal = ActionOpenUrl(id="open", title="Open PIM", url="https://example.invalid/")
    built = actions("a", [execute_button("b", "Go", Verb.CANCEL, _DATA["decision"]), portal])
    reference = ActionSet(id="a", actions=[_execute("b", "Go", Verb.CANCEL, _DATA["decision"], None, True), portal])
    assert _bytes(to_json(built)) == _bytes(to_json(reference))


def test_columns() -> None:
    cols = [("c1", "stretch", [text("t1", "One")]), ("c2", "auto", [text("t2", "Two"), text("t3", "Three")])]
    reference = ColumnSet(
        id="row",
        columns=[
            Column(id=i, width=w, items=[_text(t["id"], t["text"]) for t in items], verticalContentAlignment="Center")
            for i, w, items in cols
        ],
    )
    assert _bytes(to_json(columns("row", cols))) == _bytes(to_json(reference))


def test_card_is_the_package_card_with_schema_and_version_first() -> None:
    body = [heading("heading", "Activation"), TextBlock(id="b", text="B", wrap=True)]
    root = AdaptiveCard()
    root.set_data("version", VERSION)
    root.body = [
        StyledTextBlock(id="heading", text="Activation", style="heading", size="Medium", weight="Bolder", wrap=True),
        TextBlock(id="b", text="B", wrap=True),
    ]
    root.fallback_text = "Activation"
    root.set_data("msteams", {"width": "Full"})
    rendered = to_json(root)
    expected = {k: rendered[k] for k in ("type", "$schema", "version")} | rendered
    built = card(body, "Activation")
    assert _bytes(built) == _bytes(expected)
    assert built["$schema"] == SCHEMA


def test_a_card_shares_nothing_with_what_it_was_built_from() -> None:
    """Cards are handed on as they are and never copied again (bot.transport.wire.SentCard): every dict and list in
    one is its own."""
    block = text("t", "x")
    box = container("c", [block])
    built = card([box, box], "x")
    body = built["body"]
    assert body[0] is not box and body[0] is not body[1] and body[0]["items"][0] is not block
    assert body[0]["items"] is not box["items"]
