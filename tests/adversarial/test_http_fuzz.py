"""The HTTP body fuzzer (issue 10, point 9): Teams-shaped activities with wrong types at every path, deep nesting,
huge and chunked bodies, control characters, raw JSON tokens; in development mode (every body reaches the parser and
the bot) and with production settings (unauthenticated: refused before anything runs; signed: the bot's answer).

Every case: no 5xx, no traceback in stderr or the logs; unauthenticated or with a serviceUrl that is not an http(s)
URL, nothing sent (and, unauthenticated, no Graph call). `pytest tests/adversarial --long` runs twenty times as many
cases; the figures are printed at the end."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.transport.routes import MAX_BODY, MAX_DEPTH
from devtools.teams import activities as act
from tests.support.adversarial import Budget, Served
from tests.support.bodies import (
    Mutation,
    in_a_new_conversation,
    mutate,
    mutations,
    nested,
    paths,
    render,
    service_url_ok,
    templates,
)

JSON = {"Content-Type": "application/json"}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def fuzz_settings(cases: int) -> settings:
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def post_case(
    served: Served,
    capfd: pytest.CaptureFixture[str],
    figures: Counter[str],
    body: bytes | Callable[[], AsyncIterator[bytes]],
    headers: dict[str, str],
) -> int:
    """One case: no 5xx, no traceback in stderr or the logs."""
    status, text = served.post(body, headers)
    figures["cases"] += 1
    figures[f"status {status}"] += 1
    shown = body[:300] if isinstance(body, bytes) else "(chunked)"
    assert status < 500, (status, text, shown)
    _, err = capfd.readouterr()
    assert "Traceback" not in err, (err[-3000:], shown)
    assert served.problems.take() == [], shown
    return status


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# ---- development mode: every body reaches the parser, every activity the bot ------------------------------------


def test_wrong_types_at_every_path_never_a_5xx(
    dev: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    kinds = templates(dev.service_url)

    @fuzz_settings(budget.cases(200))
    @given(st.sampled_from(kinds), mutations)
    def case(template: dict[str, Any], changes: list[Mutation]) -> None:
        activity = mutate(in_a_new_conversation(template), changes)
        before = dev.sent()
        status = post_case(dev, capfd, figures, render(activity), JSON)
        if not service_url_ok(activity):
            assert status >= 400 and dev.sent() == before, (status, activity.get("serviceUrl"))

    case()


WRONG = [None, 7, [], {}, -1.5, True, "", ["x"], {"x": {}}]


def test_every_path_of_a_message_and_a_card_click_with_every_wrong_type(
    dev: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    """Exhaustive where the random walk above samples: each path, deleted and given each wrong type. The normal run
    walks a typed command and an Action.Execute click with four wrong types; --long every kind with all nine."""
    kinds = templates(dev.service_url)
    wrong = WRONG if budget.long else WRONG[:4]
    if not budget.long:
        kinds = [kinds[0], next(k for k in kinds if k.get("name") == "adaptiveCard/action")]
    for template in kinds:
        for at in range(len(paths(template))):
            for change in [Mutation(at, delete=True), *(Mutation(at, value) for value in wrong)]:
                activity = mutate(in_a_new_conversation(template), [change])
                before = dev.sent()
                status = post_case(dev, capfd, figures, render(activity), JSON)
                if not service_url_ok(activity):
                    assert status >= 400 and dev.sent() == before


def test_deep_nesting_anywhere_is_refused_400_beyond_the_limit(
    dev: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    kinds = templates(dev.service_url)

    @fuzz_settings(budget.cases(50))
    @given(
        st.sampled_from(kinds),
        st.integers(min_value=0, max_value=10_000),
        st.one_of(st.integers(min_value=MAX_DEPTH - 3, max_value=MAX_DEPTH + 3), st.integers(65, 40_000)),
        st.sampled_from(["array", "object"]),
    )
    def case(template: dict[str, Any], at: int, depth: int, kind: str) -> None:
        body = nested(in_a_new_conversation(template), at, depth, kind)
        status = post_case(dev, capfd, figures, body, JSON)
        if depth > MAX_DEPTH:  # the placeholder sits at least one level inside the activity
            assert status in (400, 413), (status, depth)

    case()


def test_control_characters_in_a_command_never_reach_a_reply(
    dev: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    words = st.sampled_from(["activate", "Exchange-Admins", "1h", "because", "ticket", "INC-1", "help", "status"])
    controls = st.text(st.characters(codec="utf-8", categories=["Cc"]), min_size=1, max_size=3)
    text = st.lists(st.one_of(words, controls), min_size=1, max_size=12).map("".join)

    @fuzz_settings(budget.cases(60))
    @given(text, st.booleans())
    def case(typed: str, in_channel: bool) -> None:
        make = act.channel_message if in_channel else act.message
        before = len(dev.stack.connector.sent)
        post_case(dev, capfd, figures, render(in_a_new_conversation(make(dev.service_url, typed))), JSON)
        replies = [r.body for r in dev.stack.connector.sent[before:]]
        assert not [s for s in _strings(replies) if CONTROL.search(s)], typed

    case()


@pytest.mark.parametrize("size", [MAX_BODY - 1000, MAX_BODY + 1, 600_000])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("shape", ["a long command", "garbage"])
def test_huge_and_chunked_bodies_get_413_or_an_answer(
    dev: Served, capfd: pytest.CaptureFixture[str], figures: Counter[str], size: int, chunked: bool, shape: str
) -> None:
    if shape == "garbage":
        body = (b"{" + b"\x00\xff[" * size)[:size]
    else:
        pad = "activate Exchange-Admins 1h because " + "x" * size
        body = render(act.message(dev.service_url, pad))
        body = render(act.message(dev.service_url, pad[: len(pad) - (len(body) - size)]))
    payload: bytes | Callable[[], AsyncIterator[bytes]] = body
    if chunked:

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 16_384):
                yield body[i : i + 16_384]

        payload = chunks
    status = post_case(dev, capfd, figures, payload, JSON)
    if len(body) > MAX_BODY:
        assert status == 413
    else:
        assert status == (201 if shape == "a long command" else 400)


# ---- production settings ------------------------------------------------------------------------------------------


def test_unauthenticated_bodies_are_refused_and_nothing_runs(
    prod: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    kinds = templates(prod.service_url)
    stack = prod.stack
    headers = st.sampled_from(
        [
            {},
            {"Authorization": ""},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer not-a-jwt"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
            {"Authorization": "Bearer " + "A" * 8000},
        ]
    )
    other_audience = st.just("other")  # a real signature for another bot: minted per case below

    @fuzz_settings(budget.cases(150))
    @given(st.sampled_from(kinds), mutations, st.one_of(headers, other_audience), st.booleans())
    def case(template: dict[str, Any], changes: list[Mutation], header: Any, deep: bool) -> None:
        activity = mutate(in_a_new_conversation(template), changes)
        if header == "other":
            minted = stack.ids.channel.activity_token("11111111-2222-4333-8444-555555555555", prod.service_url)
            header = {"Authorization": f"Bearer {minted}"}
        body = nested(activity, len(changes), 990, "array") if deep and isinstance(activity, dict) else render(activity)
        sent, calls = prod.sent(), prod.graph_calls()
        status = post_case(prod, capfd, figures, body, {**JSON, **header})
        assert status == 401, status
        assert (prod.sent(), prod.graph_calls()) == (sent, calls)

    case()


def test_signed_bodies_with_wrong_types_never_a_5xx(
    prod: Served, budget: Budget, capfd: pytest.CaptureFixture[str], figures: Counter[str]
) -> None:
    kinds = templates(prod.service_url)
    stack = prod.stack

    @fuzz_settings(budget.cases(150))
    @given(st.sampled_from(kinds), mutations)
    def case(template: dict[str, Any], changes: list[Mutation]) -> None:
        activity = mutate(in_a_new_conversation(template), changes)
        url = activity.get("serviceUrl") if isinstance(activity, dict) else None
        token = stack.ids.channel.activity_token(stack.app_id, url if isinstance(url, str) else prod.service_url)
        before = prod.sent()
        status = post_case(prod, capfd, figures, render(activity), {**JSON, "Authorization": f"Bearer {token}"})
        if not service_url_ok(activity):
            assert status >= 400 and prod.sent() == before

    case()
