"""Adaptive Cards for the PIM-for-Groups bot: pure functions from core objects to card dicts (schema 1.5).

No I/O, no clock, no botbuilder: `bot/` wraps the returned dicts with `CardFactory.adaptive_card(...)`.
Button data is defined and parsed in `cards.actions`; every sentence about a failure comes from `cards.wording`.
"""

from cards.actions import CardAction, InvalidCardAction, Verb, parse_action_data
from cards.activation import activation_card, deactivation_card
from cards.help import help_card
from cards.needs_input import needs_input_card
from cards.progress import note_card, working_card
from cards.slip import slip_card
from cards.status import status_card
from cards.stepup import signed_in_card, step_up_card
from cards.text import help_text, summary_text
from cards.welcome import welcome_card
from cards.wording import explain, format_duration, format_time

__all__ = [
    "CardAction",
    "InvalidCardAction",
    "Verb",
    "activation_card",
    "deactivation_card",
    "explain",
    "format_duration",
    "format_time",
    "help_card",
    "help_text",
    "needs_input_card",
    "note_card",
    "parse_action_data",
    "slip_card",
    "status_card",
    "signed_in_card",
    "step_up_card",
    "summary_text",
    "welcome_card",
    "working_card",
]
