"""`activate` and `deactivate`, typed or clicked, and what became of one whose answer was lost.

An activation that waits for approval is sent to its approvers (bot.approvals); one refused for want of MFA or an
authentication context gets the step-up card instead (bot.signin); a write whose answer was lost is followed up until
PIM shows what became of it (bot.reconcile), and `confirm` tells the user then.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import cards
from bot.approvals import ApprovalDesk
from bot.conversations import Conversations
from bot.extension.notices import ExtensionNotices
from bot.handlers.replies import Replies
from bot.live import LiveDesk
from bot.reconcile import Reconciler
from bot.signin import SignIns
from bot.turn import Turn, UserInput
from cards.actions import CardAction
from cards.elements import JsonDict
from core.commands import Activate, Deactivate
from core.errors import DirectoryError, NotEligible, OutcomeUnknown, TooSoonToDeactivate
from core.models import WriteKind
from core.outcomes import Activated, AwaitingApproval, Failed, NeedsInput, Outcome, Refused, Unconfirmed

__all__ = ["Activations"]

log = logging.getLogger(__name__)


class Activations:
    def __init__(
        self,
        conversations: Conversations,
        replies: Replies,
        approvals: ApprovalDesk,
        reconciler: Reconciler,
        signins: SignIns,
        notices: ExtensionNotices | None = None,
        live: LiveDesk | None = None,
    ) -> None:
        self._conversations = conversations
        self._notices = notices  # what PIM's custom extension decided about the activations (bot.extension)
        self._replies = replies
        self._approvals = approvals
        self._reconcile = reconciler
        self._signins = signins
        self._live = live

    # ---- typed ------------------------------------------------------------------------------------------------------

    async def activate(self, turn: Turn, command: Activate, said: UserInput) -> None:
        since = self._notices.started() if self._notices is not None else None
        outcomes = self._signins.settle(turn.actor, await turn.service.activate(turn.actor, command))
        step_up = self._signins.step_up_of(outcomes)
        if step_up is not None:
            await self._signins.ask_step_up(turn, step_up, said)
            outcomes = [o for o in outcomes if o is not step_up]
            if not outcomes:
                return
        await self._send(turn, outcomes)
        await self._tell_extension(turn, outcomes, since)

    async def deactivate(self, turn: Turn, command: Deactivate) -> None:
        outcomes = await turn.service.deactivate(turn.actor, command)
        card = cards.deactivation_card(outcomes, turn.actor.time_style)
        await self._replies.card(turn, card, kind="deactivation")
        await self._follow_up_later(turn, outcomes)

    # ---- clicked ----------------------------------------------------------------------------------------------------

    async def click(self, turn: Turn, action: CardAction, said: UserInput, *, invoke: bool) -> JsonDict:
        """An Activate button (or the needs-input card's submit): the card that answers it (an invoke's replaces the
        clicked card)."""
        since = self._notices.started() if self._notices is not None else None
        outcome = await turn.service.activate_group(
            turn.actor, action.group_id, action.access, action.duration, action.justification, action.ticket
        )
        return await self.answer_click(turn, outcome, action, said, invoke=invoke, since=since)

    async def answer_click(
        self,
        turn: Turn,
        outcome: Outcome,
        action: CardAction,
        said: UserInput,
        *,
        invoke: bool,
        since: datetime | None = None,
    ) -> JsonDict:
        """The card that answers a click whose activation gave `outcome` (an Activate button, or Keep it on the
        ending-soon card, bot.handlers.ending): the inputs the policy still wants, the step-up sign-in, or the
        activation card; a request that waits for approval goes to its approvers, a lost answer is followed up."""
        actor = turn.actor
        outcome = _named_as_on_the_card(outcome, action)
        if isinstance(outcome, NeedsInput):
            return cards.needs_input_card(outcome, actor.time_style)
        [outcome] = self._signins.settle(actor, [outcome])
        step_up = self._signins.step_up_of([outcome])
        if step_up is not None:
            url = await self._signins.begin_step_up(turn, step_up, said)
            if invoke:  # the answer replaces the clicked card: that activity is now the sign-in card
                await self._signins.shown_in_place(turn)
            return self._signins.step_up_card(step_up, url)
        [outcome] = await self._followed(turn, [outcome])
        answer = cards.activation_card([outcome], actor.time_style)
        shown: tuple[str, str] | None = None
        if invoke and isinstance(outcome, AwaitingApproval):
            shown = await self._replies.keep_in_place(turn, answer, outcome)
        await self._after(turn, [outcome], shown)
        if (
            since is None and self._notices is not None
        ):  # a write the caller made just now (Keep it, bot.handlers.ending)
            since = self._notices.recent()
        await self._tell_extension(turn, [outcome], since)
        return answer

    async def click_deactivate(self, turn: Turn, action: CardAction, *, invoke: bool) -> JsonDict:
        """A Deactivate button: the card that answers it."""
        outcome = await turn.service.deactivate_group(turn.actor, action.group_id, action.access)
        outcome = _named_as_on_the_card(outcome, action)
        await self._follow_up_later(turn, [outcome])
        if invoke and _too_soon(outcome):
            # The answer replaces the clicked card: the activation stays shown, with when it can be ended.
            return cards.activation_card([outcome], turn.actor.time_style)
        return cards.deactivation_card([outcome], turn.actor.time_style)

    # ---- a write whose answer was lost (bot.reconcile) --------------------------------------------------------------

    async def confirm(self, turn: Turn, unconfirmed: Unconfirmed, *, settled: bool, final: bool) -> bool:
        """Tell the user what became of their write once PIM shows it (the card their command would have had); in a
        proactive turn of their conversation. False: not known yet, try again later."""
        actor, group, access = turn.actor, unconfirmed.group, unconfirmed.access
        try:
            outcome = await turn.service.confirm(unconfirmed, settled=settled)
        except DirectoryError as e:
            if not final:
                log.info("%s of %s still unconfirmed: %s", unconfirmed.write.kind.value, group.id, e)
                return False
            outcome = Failed(group.display_name, access, OutcomeUnknown(e.detail, write=unconfirmed.write))
        if outcome is None:
            return False
        if isinstance(outcome, AwaitingApproval) and await self._approvals.knows(outcome.request.id):
            # Already known (the approval poller found it waiting in PIM): its approvers have their cards.
            card = cards.activation_card([outcome], actor.time_style)
            await self._replies.card(turn, card, kind="activation", outcomes=[outcome])
        elif unconfirmed.write.kind is WriteKind.DEACTIVATE:
            card = cards.deactivation_card([outcome], actor.time_style)
            await self._replies.card(turn, card, kind="deactivation")
        else:
            await self._send(turn, [outcome])
        return True

    # ---- shared -----------------------------------------------------------------------------------------------------

    async def _send(self, turn: Turn, outcomes: list[Outcome]) -> None:
        """The activation card (and a needs-input card per group that needs more), then what follows a request."""
        outcomes = await self._followed(turn, outcomes)
        needs = [o for o in outcomes if isinstance(o, NeedsInput)]
        others = [o for o in outcomes if not isinstance(o, NeedsInput)]
        sent: tuple[str, str] | None = None
        if others or not needs:
            card = cards.activation_card(outcomes, turn.actor.time_style)
            activity_id = await self._replies.card(turn, card, kind="activation", outcomes=others)
            if activity_id:
                sent = (turn.conversation_id, activity_id)
        for n in needs:
            await self._replies.card(turn, cards.needs_input_card(n, turn.actor.time_style), kind="needs-input")
        await self._after(turn, others, sent)

    async def _followed(self, turn: Turn, outcomes: list[Outcome]) -> list[Outcome]:
        """Each activation with what Graph's directory shows now (bot.live: followed until it does); each scheduled one
        followed until it starts."""
        if self._live is None:
            return outcomes
        followed: list[Outcome] = []
        for outcome in outcomes:
            if isinstance(outcome, Activated) and outcome.scheduled:
                await self._live.scheduled(turn.actor.object_id, outcome)
            elif isinstance(outcome, AwaitingApproval) and outcome.starts is not None:
                await self._live.scheduled_after_approval(turn.actor.object_id, outcome)
            elif isinstance(outcome, Activated):
                outcome = await self._live.checked(turn.actor.object_id, outcome)
            followed.append(outcome)
        return followed

    async def _after(self, turn: Turn, outcomes: Sequence[Outcome], card: tuple[str, str] | None) -> None:
        """Remember each request that waits for approval and send it to its approvers (bot.approvals); follow up
        each write whose answer was lost (bot.reconcile)."""
        for o in outcomes:  # one line per outcome: the log search that follows an activation finds how it ended
            log.info("activation outcome: %s", _described(o))
        await self._follow_up_later(turn, outcomes)
        for o in outcomes:
            if isinstance(o, AwaitingApproval):
                try:
                    await self._approvals.waiting(turn.context, turn.service, turn.actor, o, card)
                except Exception:  # the request is made; failing to notify must not hide that from the user
                    log.exception("could not send request %s to its approvers", o.request.id)

    async def _tell_extension(self, turn: Turn, outcomes: Sequence[Outcome], since: datetime | None) -> None:
        """What PIM's custom extension decided about these activations, when it approved one automatically or denied
        it (bot.extension.notices): one line each, after the card."""
        if self._notices is None or since is None:
            return
        try:
            lines = await self._notices.lines(turn.actor.object_id, outcomes, since)
        except Exception:  # the activation's own answer is out; a missing note must not turn into an error
            log.exception("could not read the custom extension's decisions")
            return
        for line in lines:
            await turn.send_text(line)

    async def _follow_up_later(self, turn: Turn, outcomes: Sequence[Outcome]) -> None:
        """The user was told "I will tell you in a moment" for these: store their follow-ups (bot.reconcile)."""
        for o in outcomes:
            if not isinstance(o, Unconfirmed):
                continue
            reference = turn.reference or await self._conversations.user_reference(turn.actor.object_id)
            if reference is None:
                log.error("no conversation to follow up the %s of %s in", o.write.kind.value, o.group.id)
                continue
            await self._reconcile.remember_write(turn.actor, reference, o)


def _named_as_on_the_card(outcome: Outcome, action: CardAction) -> Outcome:
    """A refusal of a click names the group as the clicked card did, never by its id: the group's name comes from the
    clicker's own eligibilities, and a click on someone else's card finds none (issue 10, point 8)."""
    if not isinstance(outcome, Refused | Failed) or outcome.group_name != action.group_id:
        return outcome
    if isinstance(outcome, Refused) and isinstance(outcome.error, NotEligible):
        # Suggestions for a group id mean nothing; the card's name is what the clicker saw.
        return replace(outcome, group_name=action.group_name, error=NotEligible(action.group_name, (), action.access))
    return replace(outcome, group_name=action.group_name)


def _described(outcome: Outcome) -> str:
    """An outcome for the log: its kind, the group's id (or name) and PIM's request id and status where there is one."""
    match outcome:
        case Activated() | AwaitingApproval():
            request = outcome.request
            return (
                f"{type(outcome).__name__}, group {outcome.group.id}, PIM request {request.id} ({request.status.value})"
            )
        case Unconfirmed():
            return f"Unconfirmed, group {outcome.group.id}"
        case Refused() | Failed():
            return f"{type(outcome).__name__}, group {outcome.group_name!r}: {type(outcome.error).__name__}"
    return type(outcome).__name__


def _too_soon(outcome: Outcome) -> bool:
    """PIM will not end this activation yet (its first five minutes)."""
    return isinstance(outcome, Refused) and isinstance(outcome.error, TooSoonToDeactivate)
