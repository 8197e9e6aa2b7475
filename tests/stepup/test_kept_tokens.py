"""Step-up tokens kept in memory (bot.signin.stepup.KeptTokens): one per user until it expires."""

from __future__ import annotations

from datetime import timedelta

from bot.signin.stepup import KeptTokens
from tests.support.core_fakes import FixedClock


def test_a_kept_token_is_handed_out_until_a_minute_before_it_expires() -> None:
    clock = FixedClock()
    kept = KeptTokens(clock)
    kept.keep("User-1", "token-1", 3600, answers="c1")
    assert kept.get("user-1") == "token-1" and kept.answers("USER-1") == "c1"
    clock.advance(timedelta(seconds=3540))
    assert kept.get("user-1") is None and len(kept) == 0


def test_tokens_of_users_who_never_come_back_are_not_kept_for_ever() -> None:
    """Each user who steps up once and is not seen again left their token (a JWT of a few KB) in memory for the life of
    the process: an expired token went only when its own user was looked up again."""
    clock = FixedClock()
    kept = KeptTokens(clock)
    for n in range(1000):
        kept.keep(f"user-{n}", "x" * 2000, 3600)
        clock.advance(timedelta(seconds=60))
    # A thousand minutes: only the tokens of the last hour are still good, and only they are held.
    assert len(kept) <= 60
    assert kept.get("user-999") is not None and kept.get("user-0") is None
