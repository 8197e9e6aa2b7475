"""The buttons of the cards of access about to end (bot.ending sends them): Keep it, and Ask to extend / Ask to
renew; and the command a Keep it the bot carries out itself, when the running activation ends, runs as. I'm done is
the Deactivate button (bot.handlers.activation).

Keep it is one activation through the same path as any (`PimService.activate_group`, `after_current`: PIM's
scheduled start when the running activation ends; the policy's approval, reason and step-up apply as to any
activation, and its answer is `Activations.answer_click`'s). Where PIM takes no second activation of a group beside a
running one (RoleAssignmentExists: Microsoft does not document a scheduled start beside a running activation), the
bot keeps a `KeepPlan` and, when the running one ends, runs it as the command the user would type in a proactive turn
of their chat (bot.ending and bot.handler: the token comes from the token service there, as for their own command).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.ending import KeepPlan, Plans
from bot.handlers.activation import Activations
from bot.turn import Turn, UserInput
from cards.actions import TICKET_INPUT, CardAction, Verb
from cards.elements import JsonDict
from cards.ending import change_asked_card, change_refused_card, keep_planned_card, kept_card
from cards.text import typed_command
from cards.wording import explain, missing_inputs_phrase
from core.ending import ChangeAsked, EligibilityChange
from core.errors import AlreadyActive
from core.models import Access, Group
from core.outcomes import Activated, Failed, NeedsInput, Refused
from core.ports import Clock

__all__ = ["Endings"]

log = logging.getLogger(__name__)

# A scheduled start further off than this is "kept for later" (PIM may start a request sent for "now" a moment late).
_LATER = timedelta(minutes=1)
NEEDS_REASON = "Please type a reason for your administrator in the card, then click the button again."


class Endings:
    def __init__(self, activations: Activations, plans: Plans, clock: Clock) -> None:
        self._activations = activations
        self._plans = plans
        self._clock = clock

    async def keep(self, turn: Turn, action: CardAction, said: UserInput, *, invoke: bool) -> JsonDict | str:
        """Keep it: the same group again for the chosen time from when the running activation ends."""
        actor, tz = turn.actor, turn.actor.time_style
        outcome = await turn.service.activate_group(
            actor,
            action.group_id,
            action.access,
            action.duration,
            action.justification,
            action.ticket,
            after_current=True,
        )
        now = self._clock.now()
        if isinstance(outcome, Refused) and isinstance(outcome.error, AlreadyActive):
            until = outcome.error.until
            if until is not None and until > now:
                group = outcome.group or Group(action.group_id, action.group_name)
                plan = KeepPlan(
                    actor.object_id, group, action.access, until, action.duration, action.justification, action.ticket
                )
                await self._plans.remember(plan)
                log.info(
                    "Keep it of %s for %s: PIM refused a scheduled start; activating at %s",
                    actor.object_id,
                    group.id,
                    until,
                )
                return keep_planned_card(group, action.access, until, action.duration, tz)
        if isinstance(outcome, Activated) and outcome.start > now + _LATER:
            return kept_card(outcome.group, outcome.access, outcome.start, outcome.end, tz, outcome.request.id)
        if isinstance(outcome, NeedsInput):
            wanted = missing_inputs_phrase(justification=outcome.need_justification, ticket=outcome.need_ticket)
            if outcome.need_ticket and TICKET_INPUT not in (said.data or {}):
                # A card sent before the policy wanted a ticket (or whose policy could not be read) has no ticket box.
                return (
                    f"The PIM policy for {outcome.group.display_name} asks for {wanted}. When it ends, type "
                    f"“activate {outcome.group.display_name}” with them (… because <reason> ticket <number>)."
                )
            it = "them" if outcome.need_justification and outcome.need_ticket else "it"
            return (
                f"The PIM policy for {outcome.group.display_name} asks for {wanted}: type {it} in the card, then "
                "Keep it."
            )
        return await self._activations.answer_click(turn, outcome, action, said, invoke=invoke)

    @staticmethod
    def command_of(plan: KeepPlan) -> str:
        """A Keep it whose time came, as the command the user would type: the router runs it as if typed in their
        chat (bot.handler), so it meets the same sign-in, step-up, approval and answers as any activation."""
        command = typed_command("activate", plan.group.display_name, plan.duration, owner=plan.access is Access.OWNER)
        if plan.justification:
            command += f" because {plan.justification}"
        if plan.ticket is not None:
            command += f" ticket {plan.ticket.number}"
        return command

    async def ask(self, turn: Turn, action: CardAction) -> JsonDict | str:
        """Ask to extend / Ask to renew: the user's selfExtend / selfRenew, for an admin to decide in PIM."""
        if not action.justification:
            return NEEDS_REASON
        change = EligibilityChange.EXTEND if action.verb is Verb.ASK_EXTEND else EligibilityChange.RENEW
        outcome = await turn.service.ask_eligibility_change(
            turn.actor, action.group_id, action.access, change, action.justification
        )
        tz = turn.actor.time_style
        match outcome:
            case ChangeAsked():
                return change_asked_card(outcome, tz)
            case Refused():
                return change_refused_card(action.group_name, action.access, outcome.error, tz)
            case Failed():
                return explain(outcome.error, tz, group_name=action.group_name, access=action.access)
