"""The simulated tenant's clock: real time plus an offset, or frozen.

It starts at the real time. `advance()` and `set()` move it; it keeps ticking with real time unless frozen
(tests freeze it to make timestamps exact). Everything time-dependent in the tenant — token lifetimes,
activation ends, approval expiry, eligibility windows — reads this clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["SimClock"]


class SimClock:
    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if start is not None:
            self.set(start)
        if frozen:
            self.freeze()

    @staticmethod
    def _real() -> datetime:
        return datetime.now(UTC)

    def now(self) -> datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return self._real() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def advance(self, delta: timedelta) -> None:
        if self._frozen_at is not None:
            self._frozen_at += delta
        else:
            self._offset += delta

    def set(self, when: datetime) -> None:
        when = when.astimezone(UTC)
        if self._frozen_at is not None:
            self._frozen_at = when
        else:
            self._offset = when - self._real()

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self.now()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._real()
            self._frozen_at = None

    def reset(self) -> None:
        """Back to real time, ticking."""
        self._offset = timedelta(0)
        self._frozen_at = None
