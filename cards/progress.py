"""Cards for a click whose answer takes longer than Teams waits for it (bot.transport.turns): "working on it" first,
then the answer. Teams shows the card an `adaptiveCard/action` invoke answers with; when the answer is not ready in time
the bot answers with `working_card()` and later replaces it with the real card, or with `note_card(text)` when the
answer is a sentence.

Element ids: `heading`, `detail` (the working card); `note` (the note card).
"""

from __future__ import annotations

from cards.common import card, heading, text
from cards.elements import JsonDict
from cards.wording import WORKING_HEADING, WORKING_TEXT

__all__ = ["note_card", "working_card"]


def working_card() -> JsonDict:
    """Shown in place of the clicked card while the bot finishes the click."""
    return card([heading("heading", WORKING_HEADING), text("detail", WORKING_TEXT, subtle=True)], WORKING_TEXT)


def note_card(sentence: str) -> JsonDict:
    """A card that says one sentence: the answer to a click when it is a text, not a card."""
    return card([text("note", sentence)], sentence)
