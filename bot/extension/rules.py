"""The rules file at work: core.extension_rules decides on the bot's clock, asking graph.extension.DirectoryFacts what
a rule needs (a Teams Shifts schedule, a group's members, a group's name). No rules: every request goes on."""

from __future__ import annotations

from core.extension import Evaluation
from core.extension_rules import Facts, RuleSet, evaluate
from core.models import PimRequest
from core.ports import Clock

__all__ = ["FileRules"]


class FileRules:
    def __init__(self, rules: RuleSet, facts: Facts, clock: Clock) -> None:
        self._rules = rules
        self._facts = facts
        self._clock = clock

    async def evaluate(self, request: PimRequest, progress: list[str]) -> Evaluation:
        return await evaluate(self._rules, request, self._clock.now(), self._facts, progress)
