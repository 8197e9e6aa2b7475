"""The approval card's states (issue 11, points 8 and 9), asserted by element id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cards.approval import approval_card
from core.models import Decision
from tests.support.card_samples import GOLDEN, NOW, TZ, approval_view
from tests.support.cards import element, walk

WAITING = "Request expires (if nobody decides)"


def titles(card: dict[str, Any]) -> list[str]:
    return [f["title"] for f in element(card, "facts")["facts"]]


def test_a_waiting_request_says_when_it_lapses_unless_someone_decides() -> None:
    for name in ("approval_approver", "approval_channel_copy", "approval_waiting_read_only"):
        shown = titles(GOLDEN[name]())
        assert WAITING in shown and "Active until" not in shown, name


def test_an_approved_request_says_until_when_the_access_runs_and_no_longer_expires() -> None:
    card = GOLDEN["approval_approved"]()
    facts = {f["title"]: f["value"] for f in element(card, "facts")["facts"]}
    assert facts["Active until"] == "Sun 22 Nov, 17:02 (CET)"
    assert not [t for t in facts if "expire" in t.lower()]


def test_an_approved_request_whose_end_is_not_known_shows_no_end_rather_than_a_guess() -> None:
    view = approval_view(decision=Decision.APPROVE, decided_by_name="Bob Builder", decided_at=NOW)
    shown = titles(approval_card(view, TZ, actionable=False))
    assert "Active until" not in shown and WAITING not in shown


def test_denied_and_closed_requests_show_neither_expiry_nor_end() -> None:
    denied = approval_view(decision=Decision.DENY, decided_at=NOW, active_until=NOW + timedelta(hours=2))
    cancelled = approval_view(closed="Cancelled by the requester.")
    for view in (denied, cancelled):
        shown = titles(approval_card(view, TZ, actionable=False))
        assert "Active until" not in shown and WAITING not in shown and "Requested at" in shown


def test_approve_is_the_primary_action_and_deny_the_destructive_one_on_old_clients_too() -> None:
    card = GOLDEN["approval_approver"]()
    for element_id, style in (("approve", "positive"), ("deny", "destructive")):
        assert element(card, element_id)["style"] == style
        assert element(card, f"{element_id}-submit")["style"] == style


def test_request_ids_sit_in_small_subtle_footnotes_out_of_the_way() -> None:
    shown_ids = 0
    for name, make in GOLDEN.items():
        blocks = list(walk(make()))
        facts = [f for o in blocks for f in o.get("facts") or []]
        assert not [f for f in facts if f.get("title") == "Request"], name
        visible = [str(o["text"]) for o in blocks if o.get("type") == "TextBlock"] + [str(f["value"]) for f in facts]
        for note in [o for o in blocks if str(o.get("text") or "").startswith("Request ID: ")]:
            assert note["size"] == "Small" and note["isSubtle"] is True, name
            rid = note["text"].removeprefix("Request ID: ")
            assert sum(rid in shown for shown in visible) == 1, name  # nowhere else a reader sees it
            shown_ids += 1
    assert shown_ids >= 10  # the activation, deactivation, approval and expiry-warning cards all carry one
