"""The admin feed's cards (issue 5): words per event kind, names, warnings, digests under the size limit, status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cards.feed import (
    DIGEST_MAX_BYTES,
    card_bytes,
    digest_cards,
    event_what,
    feed_digest_card,
    feed_event_card,
    feed_status_card,
    pim_group_url,
)
from core.feed import EndReason, EventKind, FeedEvent
from core.models import Access, Ticket
from tests.support.card_samples import (
    ALICE,
    BOB,
    EXCHANGE,
    FEED_NAMES,
    NOW,
    STRANGER,
    TIER0,
    TZ,
    feed_burst,
    feed_event,
    feed_status,
)
from tests.support.cards import all_ids, element, fact, maybe_element
from tests.support.renderer import MAX_CARD_BYTES, CardRenderer


def table_rows(card: dict[str, Any]) -> list[list[str]]:
    """The digest table's data rows (header left out), as cell texts."""
    rows = element(card, "table")["rows"]
    assert rows[0]["id"] == "row-header"
    return [[cell["items"][0]["text"] for cell in row["cells"]] for row in rows[1:]]


@pytest.mark.parametrize(
    ("event", "what"),
    [
        (feed_event(EventKind.ELIGIBLE_CREATED), "became eligible"),
        (feed_event(EventKind.ELIGIBLE_EXTENDED), "eligibility extended"),
        (feed_event(EventKind.ELIGIBLE_RENEWED), "eligibility renewed"),
        (feed_event(EventKind.ELIGIBLE_REMOVED, reason=EndReason.EXPIRED), "eligibility ended — expired"),
        (feed_event(EventKind.ELIGIBLE_REMOVED, reason=EndReason.REMOVED), "eligibility ended — removed"),
        (feed_event(EventKind.ELIGIBLE_REMOVED, reason=EndReason.UNKNOWN), "eligibility ended"),
        (feed_event(EventKind.ELIGIBLE_EXPIRING, end=NOW + timedelta(days=3)), "eligibility expires soon"),
        (feed_event(EventKind.ACTIVE_ACTIVATED, end=NOW + timedelta(hours=1)), "activated"),
        (feed_event(EventKind.ACTIVE_ASSIGNED, end=NOW + timedelta(days=1)), "assigned active by an admin"),
        (feed_event(EventKind.ACTIVE_ASSIGNED), "assigned active permanently by an admin"),
        (feed_event(EventKind.ACTIVE_ENDED, reason=EndReason.EXPIRED), "membership ended — expired"),
        (feed_event(EventKind.ACTIVE_ENDED, reason=EndReason.DEACTIVATED), "membership ended — deactivated"),
        (
            feed_event(EventKind.ACTIVE_ENDED, access=Access.OWNER, reason=EndReason.REMOVED),
            "ownership ended — removed",
        ),
        (feed_event(EventKind.ACTIVE_ENDED), "membership ended"),
        (feed_event(EventKind.APPROVAL_DECIDED, decision="approved", by=BOB), "approval: approved by Bob Builder"),
        (feed_event(EventKind.APPROVAL_DECIDED, decision="denied", by=BOB), "approval: denied by Bob Builder"),
        (feed_event(EventKind.APPROVAL_DECIDED, decision="denied"), "approval: denied"),
        (feed_event(EventKind.APPROVAL_DECIDED, decision="expired"), "approval: expired, nobody decided in time"),
        (feed_event(EventKind.APPROVAL_DECIDED, decision="canceled"), "approval: canceled"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_kind_says_what_happened_in_the_heading(event: FeedEvent, what: str) -> None:
    assert event_what(event, FEED_NAMES) == what
    card = feed_event_card(event, FEED_NAMES, TZ)
    assert element(card, "heading")["text"] == f"Alice Admin · {what}"
    assert card["fallbackText"].startswith(f"Alice Admin: {what} — Exchange-Admins ({event.access.value})")


def test_event_card_names_user_group_access_window_author_justification_and_ticket() -> None:
    event = feed_event(
        EventKind.ACTIVE_ACTIVATED,
        start=NOW,
        end=NOW + timedelta(hours=2),
        by=ALICE,
        justification="INC-4711 mailbox restore",
        ticket=Ticket("INC-4711", "ServiceNow"),
    )
    card = feed_event_card(event, FEED_NAMES, TZ)
    assert fact(card, "User") == "Alice Admin"
    assert fact(card, "Group") == "Exchange-Admins"
    assert fact(card, "Access") == "Member"
    assert fact(card, "When") == "Sun 22 Nov, 14:05 (CET) – Sun 22 Nov, 16:05 (CET)"
    assert fact(card, "By") == "Alice Admin"
    assert fact(card, "Justification") == "INC-4711 mailbox restore"
    assert fact(card, "Ticket") == "INC-4711 (ServiceNow)"
    assert maybe_element(card, "warning") is None
    [button] = card["actions"]
    assert (button["type"], button["id"], button["url"]) == ("Action.OpenUrl", "open-pim", pim_group_url(EXCHANGE.id))


def test_unknown_facts_are_left_out_rather_than_shown_empty() -> None:
    card = feed_event_card(feed_event(EventKind.ELIGIBLE_REMOVED, reason=EndReason.UNKNOWN), FEED_NAMES, None)
    titles = [f["title"] for f in element(card, "facts")["facts"]]
    assert titles == ["User", "Group", "Access"]


def test_times_in_utc_when_the_channel_has_no_zone() -> None:
    card = feed_event_card(feed_event(EventKind.ELIGIBLE_CREATED, start=NOW, end=NOW + timedelta(days=1)), {}, None)
    assert fact(card, "When") == "Sun 22 Nov, 13:05 (UTC) – Mon 23 Nov, 13:05 (UTC)"


def test_unknown_user_and_group_show_a_short_id_not_a_guid() -> None:
    event = feed_event(EventKind.ELIGIBLE_CREATED, principal_id=STRANGER, by="0123456789abcdef")
    card = feed_event_card(event, {}, TZ)
    assert fact(card, "User") == "unknown user (5742a96e…)"
    assert fact(card, "Group") == "unknown group (7d2a1c3e…)"
    assert fact(card, "By") == "unknown user (01234567…)"
    assert STRANGER not in card["fallbackText"]


def test_only_a_permanent_direct_active_assignment_is_flagged() -> None:
    permanent = feed_event(EventKind.ACTIVE_ASSIGNED, TIER0, start=NOW, by=BOB)
    card = feed_event_card(permanent, FEED_NAMES, TZ)
    warning = element(card, "warning")
    assert warning["color"] == "Attention" and "Permanent active access" in warning["text"]
    assert fact(card, "When") == "from Sun 22 Nov, 14:05 (CET), permanent"
    for event in (
        feed_event(EventKind.ACTIVE_ASSIGNED, start=NOW, end=NOW + timedelta(days=7)),
        feed_event(EventKind.ELIGIBLE_CREATED, start=NOW),  # permanent eligibility: normal, no warning
        feed_event(EventKind.ACTIVE_ACTIVATED, start=NOW, end=NOW + timedelta(hours=1)),
    ):
        assert maybe_element(feed_event_card(event, FEED_NAMES, TZ), "warning") is None


def test_permanent_eligibility_says_permanent() -> None:
    card = feed_event_card(feed_event(EventKind.ELIGIBLE_CREATED), FEED_NAMES, TZ)
    assert fact(card, "When") == "permanent"


def test_extension_shows_the_previous_end() -> None:
    event = feed_event(
        EventKind.ELIGIBLE_EXTENDED, start=NOW, end=NOW + timedelta(days=90), previous_end=NOW + timedelta(days=5)
    )
    card = feed_event_card(event, FEED_NAMES, TZ)
    assert fact(card, "Previously until") == "Fri 27 Nov, 14:05 (CET)"


def test_inherited_access_says_so() -> None:
    card = feed_event_card(feed_event(EventKind.ELIGIBLE_CREATED, member_type="group"), FEED_NAMES, TZ)
    assert fact(card, "Access") == "Member (through another group)"


def test_pim_link_points_at_the_groups_pim_blade() -> None:
    url = pim_group_url("7d2a1c3e-0b5f-4e59-9a1b-3c4d5e6f7a80")
    assert url.startswith("https://entra.microsoft.com/#view/Microsoft_Azure_PIMCommon/ResourceMenuBlade/")
    assert "/resourceId/7d2a1c3e-0b5f-4e59-9a1b-3c4d5e6f7a80/" in url and url.endswith("/provider/aadgroup")
    assert "%2F" in pim_group_url("a/b")  # an id is never able to change the path


# ---- digests -----------------------------------------------------------------------------------------------------


def test_small_burst_lists_every_event_and_counts_per_kind() -> None:
    events, names = feed_burst(12)
    card = feed_digest_card(events, names, TZ)
    assert element(card, "summary")["text"] == (
        "12 changes: 10 became eligible, 1 assigned active by an admin and 1 active access ended. "
        "⚠ 1 permanent active assignment (listed first)."
    )
    rows = table_rows(card)
    assert len(rows) == 12 and maybe_element(card, "more") is None
    assert rows[0][:2] == ["Carol Chen", "assigned active permanently by an admin"]
    assert rows[1] == [
        "User 000",
        "became eligible",
        "Exchange-Admins · Member",
        "Fri 21 May 2027, 15:05 (CEST)",
    ]
    assert [r["id"] for r in element(card, "table")["rows"][1:3]] == ["row-0", "row-1"]


def test_a_500_event_burst_is_one_card_under_the_limit_that_says_how_many_more() -> None:
    events, names = feed_burst(500)
    card = feed_digest_card(events, names, TZ)
    size = card_bytes(card)
    assert size <= DIGEST_MAX_BYTES < MAX_CARD_BYTES
    shown = len(table_rows(card))
    assert 30 <= shown < 500
    assert element(card, "more")["text"] == f"and {500 - shown} more"
    assert element(card, "summary")["text"].startswith("500 changes: 498 became eligible,")
    assert table_rows(card)[0][1] == "assigned active permanently by an admin"  # never hidden in "and N more"


def test_digest_shows_as_many_rows_as_fit() -> None:
    events, names = feed_burst(500)
    card = feed_digest_card(events, names, TZ, max_bytes=10_000)
    shown = len(table_rows(card))
    assert card_bytes(card) <= 10_000
    one_more = feed_digest_card(events, names, TZ, max_bytes=card_bytes(card) + 200)
    assert len(table_rows(one_more)) == shown  # a row costs more than 200 bytes: the limit is what decides
    assert len(table_rows(feed_digest_card(events, names, TZ, max_bytes=20_000))) > shown


def test_digest_cards_split_a_burst_by_size_into_a_handful() -> None:
    events, names = feed_burst(500)
    cards = digest_cards(events, names, TZ)
    assert 2 <= len(cards) <= 5
    assert all(card_bytes(c) <= DIGEST_MAX_BYTES for c in cards)
    assert [element(c, "heading")["text"] for c in cards] == [
        f"PIM changes ({i} of {len(cards)})" for i in range(1, len(cards) + 1)
    ]
    listed = [row[0] for c in cards for row in table_rows(c)]
    assert len(listed) == len(set(listed))  # nobody twice
    assert all(maybe_element(c, "more") is None for c in cards[:-1])
    assert element(cards[-1], "more")["text"] == f"and {500 - len(listed)} more"
    ids = [r["id"] for c in cards for r in element(c, "table")["rows"][1:]]
    assert ids == [f"row-{i}" for i in range(len(listed))]  # row ids number the burst, not the card


def test_digest_cards_list_everything_when_allowed_enough_cards() -> None:
    events, names = feed_burst(500)
    cards = digest_cards(events, names, TZ, max_cards=50)
    listed = [row[0] for c in cards for row in table_rows(c)]
    assert sorted(listed) == sorted(names[e.principal_id] for e in events)
    assert all(maybe_element(c, "more") is None for c in cards)
    assert all(card_bytes(c) <= DIGEST_MAX_BYTES for c in cards)


def test_digest_cards_of_a_small_burst_is_one_card_without_parts() -> None:
    events, names = feed_burst(12)
    [card] = digest_cards(events, names, TZ)
    assert card == feed_digest_card(events, names, TZ)
    assert digest_cards([], names, TZ) == []


def test_very_long_names_cannot_stop_a_digest_from_fitting() -> None:
    long_names = {ALICE: "A" * 5000, EXCHANGE.id: "G" * 5000}
    events = [feed_event(EventKind.ELIGIBLE_CREATED, id=f"e{i}") for i in range(40)]
    cards = digest_cards(events, long_names, TZ, max_bytes=8_000, max_cards=40)
    assert sum(len(table_rows(c)) for c in cards) == 40
    assert all(card_bytes(c) <= 8_000 for c in cards)


@pytest.mark.browser
def test_every_digest_card_of_a_500_burst_passes_the_strict_renderer(card_renderer: CardRenderer) -> None:
    events, names = feed_burst(500)
    for card in digest_cards(events, names, TZ):
        report = card_renderer.assert_strict(card)
        assert report.size < MAX_CARD_BYTES


# ---- feed status -------------------------------------------------------------------------------------------------


def test_status_shows_channel_groups_interval_last_poll_and_count() -> None:
    card = feed_status_card(feed_status(), TZ)
    assert fact(card, "Channel") == "PIM feed"
    assert fact(card, "Monitored") == "5 groups"
    assert fact(card, "Poll interval") == "every 1 min"
    assert fact(card, "Last successful poll") == "Sun 22 Nov, 14:04 (CET)"
    assert fact(card, "Events posted") == "1234"
    assert maybe_element(card, "error") is None
    assert element(card, "groups")["text"].startswith("Exchange-Admins, HR-Data-Readers,")


def test_status_truncates_long_group_lists_and_shows_the_last_error() -> None:
    view = feed_status(
        group_names=tuple(f"Group-{i:02d}" for i in range(27)),
        last_success=None,
        last_error="Microsoft Graph is not answering (timeout).",
        last_error_at=NOW - timedelta(minutes=1),
    )
    card = feed_status_card(view, None)
    assert fact(card, "Last successful poll") == "not yet"
    assert element(card, "groups")["text"].endswith("Group-19 and 7 more")
    assert element(card, "error")["text"] == (
        "Last error (Sun 22 Nov, 13:04 (UTC)): Microsoft Graph is not answering (timeout)."
    )


def test_status_says_how_many_groups_discovery_found() -> None:
    card = feed_status_card(feed_status(discovering=True, discovered=8), TZ)
    assert fact(card, "Monitored") == "5 groups (discovering from the PIM audit log: 8 groups found)"
    one = feed_status_card(feed_status(discovering=True, discovered=1), TZ)
    assert fact(one, "Monitored") == "5 groups (discovering from the PIM audit log: 1 group found)"
    assert fact(feed_status_card(feed_status(discovered=8), TZ), "Monitored") == "5 groups"  # discovery off


def test_status_without_groups_says_so() -> None:
    card = feed_status_card(feed_status(group_names=()), TZ)
    assert fact(card, "Monitored") == "0 groups"
    assert element(card, "groups")["text"] == "No groups are monitored yet."
    assert "groups" in all_ids(card)
