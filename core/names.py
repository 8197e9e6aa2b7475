"""Resolving what a user typed (“exchange admins”) to one of their eligible groups, with kind suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from core.models import Group

__all__ = ["normalise", "resolve", "suggest"]

_SEPARATORS = re.compile(r"[\s\-_.]+")


def normalise(name: str) -> str:
    """Case-, separator- and quote-insensitive key: `Exchange-Admins`, `exchange admins`, `EXCHANGE_ADMINS` are one."""
    return _SEPARATORS.sub("", name.strip().strip("\"'").casefold())


def resolve(asked: str, groups: Iterable[Group]) -> Group | None:
    """The group whose name matches `asked` exactly (ignoring case and separators), or whose id is `asked`."""
    key = normalise(asked)
    for g in groups:
        if g.id.casefold() == asked.strip().casefold() or normalise(g.display_name) == key:
            return g
    return None


def suggest(asked: str, names: Iterable[str], limit: int = 3) -> list[str]:
    """The closest names, best first: typos (difflib ratio) and partial names (substring) both count."""
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(normalise(n), n)
    by_key.pop("", None)  # a name of separators only: "" is "in" every key
    key = normalise(asked)
    if not key:
        return []
    # difflib.get_close_matches breaks ties by reverse string order; a stable sort keeps the caller's order instead.
    ratios = {k: difflib.SequenceMatcher(None, k, key).ratio() for k in by_key}
    close = sorted((k for k in by_key if ratios[k] >= 0.6), key=lambda k: -ratios[k])[:limit]
    partial = [k for k in by_key if len(key) >= 3 and (key in k or k in key) and k not in close]
    return [by_key[k] for k in (close + sorted(partial))[:limit]]
