"""What a person who activated through the bot is told of PIM's custom extension: PIM called the bot's endpoint
while the person's activation write was in flight, and the write's answer does not carry what the extension said
(an auto-approval looks like any activation; a denial is at most a refusal naming CustomExtensionRule). So the turn
reads the decision noted for this person, group and access since the write began (bot.extension.records, `latest`)
and adds one line: "approved automatically: you are on call in Ops Rotation", or the denial with its reasons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.extension.records import ExtensionRecords
from cards.wording import extension_auto_approved, extension_denied
from core.extension import Outcome as ExtensionOutcome
from core.outcomes import Activated, Outcome, Refused
from core.ports import Clock

__all__ = ["ExtensionNotices"]

_SLACK = timedelta(seconds=5)  # the endpoint's clock and the turn's may be two processes' (Graph's Date header)


class ExtensionNotices:
    def __init__(self, records: ExtensionRecords, clock: Clock) -> None:
        self._records = records
        self._clock = clock

    def started(self) -> datetime:
        """When a turn's writes begin: decisions noted from then on are about them."""
        return self._clock.now() - _SLACK

    def recent(self) -> datetime:
        """For a write a caller made just before asking (no start noted): decisions of the last half minute."""
        return self._clock.now() - 6 * _SLACK

    async def lines(self, principal_id: str, outcomes: Sequence[Outcome], since: datetime) -> list[str]:
        """One line per activation the extension approved automatically or denied since `since`."""
        lines: list[str] = []
        for outcome in outcomes:
            if isinstance(outcome, Activated):
                group_id, name, wanted = outcome.group.id, outcome.group.display_name, ExtensionOutcome.AUTO_APPROVED
            elif isinstance(outcome, Refused) and outcome.group is not None:
                group_id, name, wanted = outcome.group.id, outcome.group_name, ExtensionOutcome.DENIED
            else:
                continue
            decided = await self._records.latest(principal_id, group_id, outcome.access.value, since)
            if decided is None or decided.outcome is not wanted:
                continue
            if wanted is ExtensionOutcome.AUTO_APPROVED:
                lines.append(extension_auto_approved(name, decided.reasons))
            elif not _said(outcome, decided.reasons):
                lines.append(extension_denied(name, decided.reasons))
        return lines


def _said(refused: Outcome, reasons: Sequence[str]) -> bool:
    """Whether the refusal card says the reasons already: Graph passed them on in its error and the error kept them
    (`reasons`, of a typed denial: core.errors' ExtensionDenied, by duck type, as graph.pim reads PIM's answer).
    Graph's form of a denial is undocumented, and may carry none; a generic policy refusal's card does not show
    them, so the line does."""
    error = refused.error if isinstance(refused, Refused) else None
    carried = getattr(error, "reasons", ())
    told = " ".join(str(r) for r in carried) if isinstance(carried, tuple | list) else ""
    return bool(reasons) and all(reason.rstrip(".") in told for reason in reasons)
