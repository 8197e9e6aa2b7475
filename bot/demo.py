"""The demo's commands, `demo …`: they exist only when BOT_DEMO is set, which needs USER_TOKENS=simulated (settings.py),
so a deployment against a real tenant never has them; without it `demo request` is an unknown word like any other.

`demo request`: a simulated colleague asks for a group whose activation the typing user approves, in the simulated
tenant and with the colleague's own token (graph.demo). The bot takes no part in that request: its approval poll finds
it waiting in PIM like a request made in the Entra portal and sends the approvers their cards — the path every request
made outside the bot takes. So the approver's side (the card, Approve or Deny, the reason, every copy updated) can be
tried by the Agents Playground's one user.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.turn import Turn
from cards import wording
from core.errors import DirectoryError
from core.models import Actor
from graph.demo import ColleagueRequest, NoColleague

__all__ = ["Colleagues", "DemoCommands"]

log = logging.getLogger(__name__)

WORD = "demo"


class Colleagues(Protocol):
    async def ask_for_approval(self, approver_id: str) -> ColleagueRequest: ...


class DemoCommands:
    def __init__(self, colleagues: Colleagues) -> None:
        self._colleagues = colleagues

    @staticmethod
    def is_demo_command(text: str | None) -> bool:
        """Whether `text` is a `demo …` command (its first word, in any case)."""
        words = (text or "").split(maxsplit=1)
        return bool(words) and words[0].casefold() == WORD

    async def run(self, turn: Turn, text: str) -> None:
        """A typed `demo …`: `demo request`; anything else after `demo` gets the usage."""
        rest = text.split(maxsplit=1)[1:]
        if [w.casefold() for w in rest] != ["request"]:
            await turn.send_text(wording.DEMO_USAGE)
            return
        await turn.send_text(await self.request(turn.actor))

    async def request(self, actor: Actor) -> str:
        """Have a colleague ask for a group `actor` approves (typed, or the welcome card's button); what to say."""
        try:
            asked = await self._colleagues.ask_for_approval(actor.object_id)
        except NoColleague as e:
            return wording.demo_no_colleague(e.reason)
        except DirectoryError as e:
            log.warning("demo request for %s: the simulated tenant did not answer: %s", actor.object_id, e.detail)
            return wording.DEMO_TENANT_UNREACHABLE
        log.info(
            "demo request: %s asked for %s (request %s, %s) for approver %s",
            asked.requester_name,
            asked.group_name,
            asked.request_id,
            asked.status,
            actor.object_id,
        )
        return wording.demo_request_sent(asked.requester_name, asked.group_name, asked.justification)
