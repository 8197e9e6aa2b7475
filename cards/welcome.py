"""The welcome when the bot is added to a team (posted in the channel picked at install) or to a group chat: what
works there, and where the user's own access is handled. A 1:1 chat gets the usage card instead (cards.help).

Element ids: `heading`, `intro`, `here`, `examples` with `example-{i}`, `example-{i}-command`,
`example-{i}-meaning` (channels only), `private`.
"""

from __future__ import annotations

from cards.common import card, container, heading, text
from cards.elements import CardElement, JsonDict
from cards.text import CHANNEL_EXAMPLES
from cards.wording import (
    WELCOME_HELP,
    WELCOME_IN_CHANNEL,
    WELCOME_IN_GROUP_CHAT,
    WELCOME_PRIVATE,
    WELCOME_WHAT,
    welcome_heading,
)

__all__ = ["welcome_card"]


def welcome_card(where: str, bot_name: str = "") -> JsonDict:
    """`where`: the Teams conversation type it is posted in (`channel`, `groupChat`); `bot_name`: the bot's name as
    Teams shows it (its @mention), "PIM Bot" when Teams did not say."""
    bot = bot_name.strip() or "PIM Bot"
    body: list[CardElement] = [heading("heading", welcome_heading(bot)), text("intro", WELCOME_WHAT)]
    if where == "channel":
        shown = [(f"@{bot} {command}", meaning) for command, meaning in CHANNEL_EXAMPLES if command != "help"]
        shown.append((f"@{bot} help", WELCOME_HELP))
        body.append(text("here", WELCOME_IN_CHANNEL, weight="Bolder", spacing="Medium"))
        body.append(
            container("examples", [_example(i, command, meaning) for i, (command, meaning) in enumerate(shown)])
        )
        here = f"{WELCOME_IN_CHANNEL} {', '.join(f'“{command}”' for command, _ in shown)}."
    else:
        body.append(text("here", WELCOME_IN_GROUP_CHAT, spacing="Medium"))
        here = WELCOME_IN_GROUP_CHAT
    body.append(text("private", WELCOME_PRIVATE, spacing="Medium"))
    return card(body, f"{welcome_heading(bot)}. {WELCOME_WHAT} {here} {WELCOME_PRIVATE}")


def _example(i: int, command: str, meaning: str) -> CardElement:
    return container(
        f"example-{i}",
        [
            text(f"example-{i}-command", command, font="Monospace", weight="Bolder"),
            text(f"example-{i}-meaning", meaning, subtle=True, spacing="None"),
        ],
        spacing="Small",
    )
