"""Every test is marked unit, stack or process from what its code reaches (tests/support/markers.py), and a unit test
that opens a socket or starts a process fails."""

from tests.support.markers import pytest_collection_modifyitems, unit_stays_unit

__all__ = ["pytest_collection_modifyitems", "unit_stays_unit"]
