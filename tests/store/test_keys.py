"""The storage keyspace (bot.store.keys): declared once, documented in one table, never mixing kinds, and no literal
key prefix in any other module of bot/."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.store import check_key
from bot.store import keys as k

ROOT = Path(__file__).resolve().parents[2]


def documented() -> list[str]:
    """The first column of docs/architecture.md's "Storage keyspace" table, cut before the first {placeholder}."""
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    section = text.split("## Storage keyspace", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    return [cell.split("{", 1)[0] for cell in cells]


def test_the_documented_table_lists_the_declared_keyspace_in_order() -> None:
    assert documented() == list(k.KEYSPACE)


def test_no_prefix_is_the_beginning_of_another_and_single_keys_are_no_prefixes() -> None:
    assert len(set(k.KEYSPACE)) == len(k.KEYSPACE)
    for a in k.KEYSPACE:
        for b in k.KEYSPACE:
            assert a == b or not b.startswith(a), f"listing {a!r} would also return {b!r}"


BUILT: list[tuple[Callable[..., str], tuple[str, ...], str]] = [
    (k.user_ref, ("2D3A…-OID",), k.USER_REFS),
    (k.conversation_ref, ("19:abc@thread.tacv2;messageid=1",), k.CONVERSATION_REFS),
    (k.live_watch, ("6AACAEE8-4089-4048-9510-3119367FC943",), k.LIVE_WATCHES),
    (k.card, ("1712345678901",), k.CARDS),
    (k.request_card, ("req-1",), k.REQUEST_CARDS),
    (k.request, ("req-1",), k.REQUESTS),
    (k.served_group, ("GROUP-1",), k.SERVED_GROUPS),
    (k.approval_channel, ("GROUP-1",), k.APPROVAL_CHANNELS),
    (k.reconcile_check, ("5b1c…",), k.RECONCILE),
    (k.heartbeat, ("host:123:abcd",), k.HEARTBEATS),
    (k.delivery, ("conversation", "activity"), k.DELIVERIES),
    (k.pending_command, ("oid",), k.PENDING_COMMANDS),
    (k.token_exchange, ("msteams", "a:1", "exchange-1"), k.TOKEN_EXCHANGES),
    (k.sign_in_card, ("OID",), k.SIGN_IN_CARDS),
    (k.stepup_state, ("state",), k.STEPUP_STATES),
    (k.stepup_flow, ("state",), k.STEPUP_FLOWS),
    (k.feed_outcome, ("desk", "event-1"), k.FEED_OUTCOMES),
    (k.extension_evaluation, ("req-1",), k.EXTENSION_EVALUATIONS),
    (k.ending_warned, ("OID", "group_member_20261207T140000Z"), k.ENDING_WARNED),
    (k.ending_keep, ("OID", "GROUP-1", "member"), k.ENDING_KEEPS),
    (k.ending_notice, ("OID", "group_member_ending_20261221T000000Z"), k.ENDING_NOTICES),
    (k.extension_latest, ("OID", "GROUP", "member"), k.EXTENSION_LATEST),
    (k.lease, ("feed",), k.LEASES),
]


@pytest.mark.parametrize(("build", "args", "prefix"), BUILT, ids=[b.__name__ for b, _, _ in BUILT])
def test_every_builder_makes_a_storable_key_under_its_prefix(
    build: Callable[..., str], args: tuple[str, ...], prefix: str
) -> None:
    key = check_key(build(*args))
    assert key.startswith(prefix) and key != prefix


def test_ids_are_kept_as_they_are_and_the_known_ones_as_before() -> None:
    assert k.user_ref("ABC-def") == "ref/user/abc-def"
    assert k.served_group("Group-ID") == "approvals/group/group-id"
    assert k.token_exchange("msteams", "a:1", "x") == "signin/exchange/msteams/a:1/x"
    assert k.feed_outbox("20261201T090000000000", 7) == "feed/outbox/20261201T090000000000-00007"
    assert k.delivery("c", "a") == "delivery/" + __import__("hashlib").sha256(b"c\na").hexdigest()[:40]


@pytest.mark.parametrize("odd", ["x" * 300, "new\nline", "tab\there", "\x00", "\x85next-line"])
def test_an_id_no_backend_could_store_gets_a_key_of_its_own(odd: str) -> None:
    three = k.token_exchange(odd, odd + "1", odd + "2")
    assert check_key(three) and check_key(k.pending_command(odd)) and check_key(k.conversation_ref(odd))
    assert len(set(three.split("/")[2:])) == 3  # three different ids, three different parts
    assert k.conversation_ref(odd) != k.conversation_ref(odd + "!")


def _literal_keys(path: Path) -> list[str]:
    """String constants (f-string heads included) that begin with a declared prefix or are a declared key."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(node.value.startswith(p) for p in k.KEYSPACE):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_no_module_but_the_keyspace_spells_a_key_by_hand() -> None:
    spelled = [
        hit
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if str(path.relative_to(ROOT)) != "bot/store/keys.py"
        for hit in _literal_keys(path)
    ]
    assert spelled == []
