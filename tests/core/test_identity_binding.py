"""Sign-in and the oid/tid binding: the service writes nothing when the token provider cannot hand over the user's
own token, and `require_binding` accepts a token only for the user and tenant it was issued to."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from core.binding import require_binding, token_claims
from core.commands import Activate, Deactivate
from core.errors import IdentityMismatch, PimError, SignInRequired
from core.models import Access, Actor, Group
from core.service import PimService
from tests.support.core_fakes import NOW, FakeDirectory, FakeTokens, FixedClock

TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
ALICE = Actor("aaaaaaaa-0000-4000-8000-000000000001", TENANT, "Alice", channel_user_id="29:alice")
EXCHANGE = Group("grp-exchange", "Exchange-Admins")
H, MIN = timedelta(hours=1), timedelta(minutes=1)


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class RaisingTokens(FakeTokens):
    def __init__(self, error: PimError) -> None:
        super().__init__()
        self.error = error

    async def token_for(self, user_object_id: str, tenant_id: str) -> str:
        self.asked.append((user_object_id, tenant_id))
        raise self.error


@pytest.mark.parametrize("error", [SignInRequired(), IdentityMismatch("oid")], ids=["sign-in", "mismatch"])
async def test_activation_without_the_users_token_writes_nothing_and_produces_no_outcome(
    directory: FakeDirectory, clock: FixedClock, error: PimError
) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE, maximum_duration=8 * H)
    tokens = RaisingTokens(error)
    service = PimService(directory, FakeTokens(), clock).with_tokens(tokens)

    with pytest.raises(type(error)):
        await service.activate(ALICE, Activate(("exchange admins",), None, 2 * H, None, None))

    assert tokens.asked == [(ALICE.object_id, TENANT)]
    assert directory.writes == []


@pytest.mark.parametrize("error", [SignInRequired(), IdentityMismatch("tid")], ids=["sign-in", "mismatch"])
async def test_deactivation_and_card_clicks_without_the_users_token_write_nothing(
    directory: FakeDirectory, clock: FixedClock, error: PimError
) -> None:
    directory.eligible(ALICE.object_id, EXCHANGE)
    directory.policy_for(EXCHANGE, maximum_duration=8 * H)
    directory.activated(ALICE.object_id, EXCHANGE, start=NOW - 10 * MIN, end=NOW + H)
    service = PimService(directory, RaisingTokens(error), clock)

    with pytest.raises(type(error)):
        await service.deactivate(ALICE, Deactivate(("exchange admins",)))
    with pytest.raises(type(error)):
        await service.deactivate_group(ALICE, EXCHANGE.id, Access.MEMBER)

    assert directory.writes == []


async def test_refusals_need_no_token_so_no_sign_in_is_asked(directory: FakeDirectory, clock: FixedClock) -> None:
    tokens = RaisingTokens(SignInRequired())
    service = PimService(directory, tokens, clock)

    [outcome] = await service.activate(ALICE, Activate(("nothing-like-this",), None, 2 * H, None, None))

    assert type(outcome).__name__ == "Refused" and tokens.asked == []


def test_with_tokens_keeps_the_directory_and_clock(directory: FakeDirectory, clock: FixedClock) -> None:
    other = FakeTokens()
    service = PimService(directory, FakeTokens(), clock).with_tokens(other)
    assert service._tokens is other and service._directory is directory and service._clock is clock


# ---- binding ------------------------------------------------------------------------------------------------------


def test_a_token_of_the_acting_user_in_their_tenant_is_accepted() -> None:
    require_binding(jwt({"oid": ALICE.object_id.upper(), "tid": TENANT}), ALICE.object_id, TENANT)


@pytest.mark.parametrize(
    ("claims", "mismatch"),
    [
        ({"oid": "aaaaaaaa-0000-4000-8000-000000000002", "tid": TENANT}, "oid"),
        ({"oid": ALICE.object_id, "tid": "11111111-2222-3333-4444-555555555555"}, "tid"),
        ({"tid": TENANT}, "oid"),
        ({"oid": ALICE.object_id}, "tid"),
    ],
    ids=["other-user", "other-tenant", "no-oid", "no-tid"],
)
def test_a_token_of_anyone_else_is_refused_naming_the_claim(claims: dict[str, Any], mismatch: str) -> None:
    with pytest.raises(IdentityMismatch) as caught:
        require_binding(jwt(claims), ALICE.object_id, TENANT)
    assert caught.value.claim == mismatch
    assert "aaaaaaaa-0000-4000-8000-000000000002" not in str(caught.value)  # safe to log


@pytest.mark.parametrize("token", ["", "opaque-token", "a.b.c", "a.bm90IGpzb24.c", "a.WzFd.c"])
def test_an_unreadable_token_is_refused(token: str) -> None:
    with pytest.raises(IdentityMismatch) as caught:
        token_claims(token)
    assert caught.value.claim == "token"


def test_an_empty_actor_never_matches() -> None:
    with pytest.raises(IdentityMismatch):
        require_binding(jwt({"oid": "", "tid": ""}), "", "")
