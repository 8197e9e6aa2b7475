"""What a user typed → one of their eligible groups, and kind suggestions when nothing matches."""

from __future__ import annotations

import pytest

from core.models import Group
from core.names import normalise, resolve, suggest

EXCHANGE = Group("0b1c2d3e-0000-4000-8000-000000000001", "Exchange-Admins")
TEAMS = Group("0b1c2d3e-0000-4000-8000-000000000002", "Teams Admins")
SHAREPOINT = Group("0b1c2d3e-0000-4000-8000-000000000003", "SharePoint_Admins")
EXCHANGE_READERS = Group("0b1c2d3e-0000-4000-8000-000000000004", "Exchange Readers")
MINE = [EXCHANGE, TEAMS, SHAREPOINT, EXCHANGE_READERS]


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("Exchange-Admins", EXCHANGE),
        ("exchange-admins", EXCHANGE),
        ("EXCHANGE-ADMINS", EXCHANGE),
        ("exchange admins", EXCHANGE),
        ("exchange_admins", EXCHANGE),
        ("exchange.admins", EXCHANGE),
        ("ExchangeAdmins", EXCHANGE),
        ("  Exchange  Admins  ", EXCHANGE),
        ('"Exchange-Admins"', EXCHANGE),
        ("teams admins", TEAMS),
        ("teams-admins", TEAMS),
        ("sharepoint admins", SHAREPOINT),
        ("Stra\u00dfe", None),  # no such group
        (EXCHANGE.id, EXCHANGE),  # a card button sends the id
        (EXCHANGE.id.upper(), EXCHANGE),
        (f" {TEAMS.id} ", TEAMS),
        ("exchange", None),  # a partial name is a suggestion, never a match
        ("exchange admin", None),
        ("", None),
    ],
)
def test_resolve(asked: str, expected: Group | None) -> None:
    assert resolve(asked, MINE) == expected


def test_resolve_casefolds_rather_than_lowercases() -> None:
    assert resolve("STRASSE-ADMINS", [Group("g1", "Stra\u00dfe-Admins")]) == Group("g1", "Stra\u00dfe-Admins")


def test_resolve_in_no_groups_is_none() -> None:
    assert resolve("Exchange-Admins", []) is None


@pytest.mark.parametrize(
    ("name", "key"),
    [("Exchange-Admins", "exchangeadmins"), ("  'Teams Admins' ", "teamsadmins"), ("A_B.C-D E", "abcde")],
)
def test_normalise(name: str, key: str) -> None:
    assert normalise(name) == key


NAMES = [g.display_name for g in MINE]


@pytest.mark.parametrize(
    ("asked", "likeliest"),
    [
        ("Exchnge-Admins", "Exchange-Admins"),  # a typo
        ("exchange admin", "Exchange-Admins"),  # a letter short
        ("Teams Admns", "Teams Admins"),
        ("sharepoint admin", "SharePoint_Admins"),
        ("Exchange-Admins-Prod", "Exchange-Admins"),  # the name contains one of mine
    ],
)
def test_suggest_puts_the_likeliest_name_first(asked: str, likeliest: str) -> None:
    assert suggest(asked, NAMES)[0] == likeliest


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("exchange", ["Exchange-Admins", "Exchange Readers"]),  # partial: every group that contains it, closest first
        ("sharepoint", ["SharePoint_Admins"]),
        ("teams", ["Teams Admins"]),
        ("payroll", []),  # nothing close
        ("ex", []),  # too short to be a partial name
        ("", []),
        ("   ", []),
    ],
)
def test_suggest(asked: str, expected: list[str]) -> None:
    assert suggest(asked, NAMES) == expected


def test_suggest_gives_at_most_the_limit_best_first() -> None:
    names = ["Admins-1", "Admins-2", "Admins-3", "Admins-4"]

    # Equally close: in the order given (the service passes names sorted), not reverse-alphabetical.
    assert suggest("admins", names) == ["Admins-1", "Admins-2", "Admins-3"]
    assert suggest("admins", names, limit=1) == ["Admins-1"]


def test_suggest_names_a_group_once_whatever_its_spellings() -> None:
    assert suggest("exchnge admins", ["Exchange-Admins", "exchange admins"]) == ["Exchange-Admins"]


def test_a_name_made_only_of_separators_is_never_suggested() -> None:
    # Its key is empty, and the empty string is "contained" in every other key.
    assert suggest("payroll", ["---", "Exchange-Admins"]) == []
