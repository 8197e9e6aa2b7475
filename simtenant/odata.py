"""The slice of OData the PIM-for-Groups endpoints accept: `$filter`, `$select`, `$expand`.

`$filter` grammar (reference §4.1, §11.3): `path eq|ne literal` terms joined by `and`; a path is a property or a
`/`-separated property path (`createdBy/user/id`); literals are single-quoted strings (`''` escapes a quote),
`null`, `true`, `false` or numbers. A term may also be a lambda over a collection, `coll/any(x:x/path eq|ne literal)`
(the Teams app catalog's `appDefinitions/any(a:a/bot ne null)`, appcatalogs-list-teamsapps example 5). Property names
match case-insensitively (as on Graph) and string values too (enum values: `'Member'` matches `member`; ids are
GUIDs). Anything else (`or`, functions, `lt`) is refused with ValueError, which the HTTP layer answers with 400
BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["AnyTerm", "ExpandItem", "Filter", "Term", "parse_expand", "parse_filter", "parse_select"]

Literal_ = str | bool | int | float | None

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lambda>[A-Za-z_][\w/]*/any\(\s*\w+\s*:[^()']*(?:'(?:[^']|'')*'[^()']*)*\))
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w-])
      | (?P<word>[A-Za-z_@][\w./@-]*)
      | (?P<open>\()
      | (?P<close>\))
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Term:
    path: tuple[str, ...]
    op: str  # "eq" | "ne"
    value: Literal_

    @property
    def name(self) -> str:
        return "/".join(self.path)

    def matches(self, obj: Mapping[str, object]) -> bool:
        actual = _lookup(obj, self.path)
        equal = _equal(actual, self.value)
        return equal if self.op == "eq" else not equal


_LAMBDA = re.compile(
    r"^(?P<coll>[A-Za-z_][\w/]*)/any\(\s*(?P<var>\w+)\s*:\s*(?P=var)/(?P<path>[\w/]+)\s+(?P<op>eq|ne)\s+"
    r"(?P<value>'(?:[^']|'')*'|-?\d+(?:\.\d+)?|\w+)\s*\)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class AnyTerm:
    """`collection/any(x:x/path op literal)`: true when an item of the collection matches the inner term."""

    collection: tuple[str, ...]
    inner: Term

    @property
    def name(self) -> str:
        return "/".join(self.collection)

    def matches(self, obj: Mapping[str, object]) -> bool:
        items = _lookup(obj, self.collection)
        return isinstance(items, list) and any(isinstance(i, Mapping) and self.inner.matches(i) for i in items)


@dataclass(frozen=True, slots=True)
class Filter:
    terms: tuple[Term | AnyTerm, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, obj: Mapping[str, object]) -> bool:
        return all(term.matches(obj) for term in self.terms)

    def eq_value(self, name: str) -> str | None:
        """The value of the first `name eq '…'` term (case-insensitive name), if any."""
        for term in self.terms:
            if (
                isinstance(term, Term)
                and term.op == "eq"
                and term.name.lower() == name.lower()
                and isinstance(term.value, str)
            ):
                return term.value
        return None

    def names(self) -> set[str]:
        return {term.name.lower() for term in self.terms}

    def check_properties(self, allowed: Iterable[str]) -> None:
        """Raise ValueError naming the first property not in `allowed` (compared case-insensitively)."""
        known = {name.lower() for name in allowed}
        for term in self.terms:
            if term.name.lower() not in known:
                raise ValueError(f"Could not find a property named '{term.name}' usable in $filter.")


def _lookup(obj: Mapping[str, object], path: tuple[str, ...]) -> object:
    current: object = obj
    for part in path:
        if not isinstance(current, Mapping):
            return None
        lowered = part.lower()
        found: object = None
        for key, value in current.items():
            if key.lower() == lowered:
                found = value
                break
        current = found
    return current


def _equal(actual: object, expected: Literal_) -> bool:
    if expected is None:
        return actual is None
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.casefold() == expected.casefold()
    if isinstance(expected, bool):
        return actual is expected
    return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse_filter(text: str | None) -> Filter:
    """Parse a `$filter` value; None or blank gives an empty Filter. Raises ValueError."""
    if text is None or not text.strip():
        return Filter()
    tokens = _tokens(text)
    terms: list[Term | AnyTerm] = []
    i = 0
    while True:
        if i < len(tokens) and tokens[i][0] == "lambda":
            terms.append(_any_term(tokens[i][1], text))
            i += 1
        elif i + 3 > len(tokens):
            raise ValueError(f"Invalid filter clause: incomplete expression in '{text}'.")
        else:
            (k1, path), (k2, op), (k3, raw) = tokens[i], tokens[i + 1], tokens[i + 2]
            if k1 != "word" or k2 != "word" or op.lower() not in ("eq", "ne"):
                raise ValueError(
                    f"Invalid filter clause: only 'property eq|ne value' terms joined by 'and' in '{text}'."
                )
            terms.append(Term(tuple(path.split("/")), op.lower(), _literal(k3, raw, text)))
            i += 3
        if i == len(tokens):
            return Filter(tuple(terms))
        kind, word = tokens[i]
        if kind != "word" or word.lower() != "and":
            raise ValueError(f"Invalid filter clause: expected 'and' but found '{word}' in '{text}'.")
        i += 1


def _any_term(raw: str, text: str) -> AnyTerm:
    match = _LAMBDA.match(raw)
    if match is None:
        raise ValueError(f"Invalid filter clause: unsupported lambda '{raw}' in '{text}'.")
    value = match["value"]
    kind = "string" if value.startswith("'") else "number" if value.lstrip("-")[:1].isdigit() else "word"
    inner = Term(tuple(match["path"].split("/")), match["op"].lower(), _literal(kind, value, text))
    return AnyTerm(tuple(match["coll"].split("/")), inner)


def _literal(kind: str, raw: str, text: str) -> Literal_:
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "word":
        lowered = raw.lower()
        if lowered == "null":
            return None
        if lowered in ("true", "false"):
            return lowered == "true"
    raise ValueError(f"Invalid filter clause: unsupported literal '{raw}' in '{text}'.")


def parse_select(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class ExpandItem:
    name: str
    select: list[str] | None = None
    expand: dict[str, ExpandItem] = field(default_factory=dict)


def _split_top(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Unbalanced parentheses in '{text}'.")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"Unbalanced parentheses in '{text}'.")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_expand(text: str | None) -> dict[str, ExpandItem]:
    """`group($select=id,displayName),principal` -> {"group": ExpandItem(...), ...} keyed by lower-case name."""
    if text is None or not text.strip():
        return {}
    items: dict[str, ExpandItem] = {}
    for part in _split_top(text, ","):
        name, _, rest = part.partition("(")
        name = name.strip()
        select: list[str] | None = None
        nested: dict[str, ExpandItem] = {}
        if rest:
            if not rest.endswith(")"):
                raise ValueError(f"Invalid $expand item '{part}'.")
            for option in _split_top(rest[:-1], ";"):
                key, _, value = option.partition("=")
                key = key.strip().lower()
                if key == "$select":
                    select = parse_select(value)
                elif key == "$expand":
                    nested = parse_expand(value)
                else:
                    raise ValueError(f"Unsupported option '{key}' in $expand.")
        if not re.fullmatch(r"[A-Za-z_][\w]*", name):
            raise ValueError(f"Invalid $expand item '{part}'.")
        items[name.lower()] = ExpandItem(name, select, nested)
    return items
