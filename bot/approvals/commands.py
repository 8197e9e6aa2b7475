"""The approvals' commands: `cancel <group>`, `pending` (a bare `approvals` outside a channel), `approvals here|off|
status <group>`, and the approval card's buttons. The router (bot.handler) hands each a `bot.turn.Turn`; the work is
the desk's (bot.approvals.desk) and the channels' (bot.approvals.channels); this says their answer."""

from __future__ import annotations

from bot.approvals.channels import ApprovalChannels
from bot.approvals.desk import ApprovalDesk
from bot.reconcile import DecisionCheck
from bot.turn import Turn
from cards.actions import DecisionAction
from cards.elements import JsonDict
from core.commands import ApprovalChannel, Cancel

__all__ = ["ApprovalCommands"]

NOTHING_PENDING = "No requests are waiting for your approval."


class ApprovalCommands:
    def __init__(self, desk: ApprovalDesk, channels: ApprovalChannels) -> None:
        self._desk = desk
        self._channels = channels

    async def cancel(self, turn: Turn, command: Cancel) -> None:
        """`cancel <group>`: the requester is asked to confirm (a card), or told why there is nothing to cancel."""
        answer = await self._desk.ask_cancel(turn.context, turn.service, turn.actor, command.group)
        if answer is not None:
            await turn.send_text(answer)

    async def pending(self, turn: Turn) -> None:
        """`pending`: a card for each request waiting for this approver."""
        if not await self._desk.show_pending(turn.context, turn.actor):
            await turn.send_text(NOTHING_PENDING)

    async def channel(self, turn: Turn, command: ApprovalChannel) -> None:
        """`approvals here|off|status <group>` (admins only, in a channel)."""
        await turn.send_text(await self._channels.command(turn.context, turn.service, turn.actor, command))

    async def confirm(self, turn: Turn, check: DecisionCheck, *, settled: bool, final: bool) -> bool:
        """What became of the turn's user's decision whose answer was lost (bot.reconcile), in a proactive turn of
        their conversation; False: not known yet, try again later."""
        return await self._desk.confirm_decision(
            turn.context, turn.service, turn.actor, check, settled=settled, final=final
        )

    async def click(self, turn: Turn, action: DecisionAction, *, invoke: bool) -> JsonDict | str:
        """Approve, Deny, Refresh, Cancel request, Keep it: the card (or text) that answers the click."""
        return await self._desk.click(turn.context, turn.service, turn.actor, action, invoke=invoke)
