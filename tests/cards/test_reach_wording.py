"""What the requester is told after the approval cards went out: every reason an approver was not reached is named,
with who it concerns, and the e-mail fallback once."""

from __future__ import annotations

import pytest

from cards.wording import approvers_notified
from core.reach import Unreached


@pytest.mark.parametrize("reason", list(Unreached))
def test_every_reason_names_the_approvers_it_concerns(reason: Unreached) -> None:
    told = approvers_notified("Security-Operators", ["Bob Builder"], {reason: ["Carol Chen", "Dave Diaz"]})
    assert told.startswith("I sent your request for Security-Operators to Bob Builder in Teams. ")
    assert "Carol Chen and Dave Diaz" in told and "{" not in told
    assert told.endswith(" PIM notifies approvers by e-mail.") and told.count("e-mail") == 1


def test_reasons_come_in_a_fixed_order_and_nobody_reached_is_said_plainly() -> None:
    told = approvers_notified("G", [], {Unreached.UNDELIVERED: ["Dave Diaz"], Unreached.NOT_INSTALLED: ["Carol Chen"]})
    assert told == (
        "I could not reach Carol Chen in Teams (has not chatted with me yet). Teams did not accept the card for Dave "
        "Diaz (the bot may be blocked or removed there). PIM notifies approvers by e-mail."
    )
    assert (
        approvers_notified("G", [], {})
        == "The policy for G names no approvers I could find; PIM notifies them by e-mail."
    )
    assert approvers_notified("G", ["Bob Builder"], {}) == "I sent your request for G to Bob Builder in Teams."
