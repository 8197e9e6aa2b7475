"""The card that asks for exactly the inputs the PIM policy wants and the command did not carry.

Element ids: `heading`, `intro`, `facts`, the inputs `justification` / `ticket` (their ids are also the keys their
values get in the action data), `actions` and the button `submit` (+ `submit-submit`, its Action.Submit twin).
"""

from __future__ import annotations

from cards.actions import JUSTIFICATION_INPUT, JUSTIFICATION_MAX, TICKET_INPUT, TICKET_MAX, activate_button
from cards.common import actions, card, facts, heading, text
from cards.elements import CardElement, InputText, JsonDict
from cards.text import summary_text
from cards.times import Tz
from cards.wording import access_label, format_duration, missing_inputs_phrase
from core.outcomes import NeedsInput

__all__ = ["needs_input_card", "ticket_input"]


def needs_input_card(needs: NeedsInput, tz: Tz) -> JsonDict:
    """Ask for the missing justification and/or ticket number; submitting activates with everything known so far.

    What the user already gave is shown in its input, prefilled (`activate X 1h ticket INC-1` for a policy that also
    wants a justification: the card asks for the justification with the ticket filled in), so the card shows all that
    the activation will send and nothing typed is lost; a value shown in an input is not also sent in the button's
    data. Only a ticket with a ticket system (which no input here edits) travels in the data, unseen.
    """
    name = needs.group.display_name
    wanted = missing_inputs_phrase(justification=needs.need_justification, ticket=needs.need_ticket)
    duration = format_duration(needs.duration) if needs.duration is not None else "Policy maximum"
    body: list[CardElement] = [
        heading("heading", f"{name} needs {wanted}"),
        text("intro", f"The PIM policy for {name} asks for {wanted} before it activates your access."),
        facts("facts", [("Group", name), ("Access", access_label(needs.access)), ("Duration", duration)]),
    ]
    given = needs.justification.strip() if needs.justification else ""
    show_justification = needs.need_justification or bool(given)
    if show_justification:
        justification = InputText(
            id=JUSTIFICATION_INPUT,
            label="Justification",
            placeholder="Why do you need access? e.g. INC-4711 rollout",
            is_multiline=True,
            max_length=JUSTIFICATION_MAX,
            is_required=True,
            error_message="Please say why you need access.",
        )
        if given:
            justification.value = needs.justification
        body.append(justification)
    show_ticket = needs.need_ticket or (needs.ticket is not None and not needs.ticket.system)
    if show_ticket:
        body.append(ticket_input(needs.ticket.number if needs.ticket is not None else None))
    button = activate_button(
        "submit",
        "Activate",
        needs.group,
        needs.access,
        needs.duration,
        justification=None if show_justification else needs.justification,
        ticket=None if show_ticket else needs.ticket,
    )
    body.append(actions("actions", [button]))
    return card(body, summary_text(needs, tz))


def ticket_input(number: str | None = None) -> InputText:
    """The required ticket number a policy with Ticketing wants (`ticket`, the key its value gets in the data): here
    and on the ending-soon card (cards.ending), so both ask for it alike. `number`: what the user already gave."""
    ticket = InputText(
        id=TICKET_INPUT,
        label="Ticket number",
        placeholder="e.g. INC-4711",
        max_length=TICKET_MAX,
        is_required=True,
        error_message="Please enter the ticket number.",
    )
    if number is not None:
        ticket.value = number
    return ticket
