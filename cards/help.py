"""The usage card: what the bot understands, with examples. Shown for `help` and for anything it could not read.

Element ids: `heading`, `reason` (only with a reason), `intro`, `examples` and per example i `example-{i}`,
`example-{i}-command`, `example-{i}-meaning`, then `footer`.
"""

from __future__ import annotations

from adaptivecards.baseobject import BareObject

from cards.common import card, container, heading, text
from cards.elements import JsonDict
from cards.text import EXAMPLES, help_text

__all__ = ["help_card"]


def help_card(reason: str | None = None) -> JsonDict:
    """Usage with examples; `reason` (e.g. "I didn't understand “actvate”.") comes first when given."""
    body: list[BareObject] = []
    if reason:
        body.append(text("reason", reason, weight="Bolder", color="Attention"))
    body.append(heading("heading", "What I can do"))
    body.append(text("intro", "I activate your eligible PIM group memberships just in time. Write to me like this:"))
    examples = [
        container(
            f"example-{i}",
            [
                text(f"example-{i}-command", command, font="Monospace", weight="Bolder"),
                text(f"example-{i}-meaning", meaning, subtle=True, spacing="None"),
            ],
            spacing="Small",
        )
        for i, (command, meaning) in enumerate(EXAMPLES)
    ]
    body.append(container("examples", examples))
    body.append(
        text(
            "footer",
            "Durations: 30m, 90m, 1h30m, 2h. Without one, the policy maximum is used. Times are shown in your "
            "time zone.",
            subtle=True,
            spacing="Medium",
        )
    )
    return card(body, help_text(reason))
