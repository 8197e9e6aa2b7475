import asyncio
import json
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from core.errors import DirectoryUnavailable, PermissionDenied
from graph.auth import AppTokenSource, SimulatedTenantTokens
from graph.client import GraphClient
from graph.errors import GraphError
from tests.fakes.graphstub import BASE

CONTROL = "https://sim.test/_sim"
ALICE = "aaaaaaaa-0000-4000-8000-000000000001"


async def test_app_token_is_acquired_off_the_event_loop() -> None:
    threads: list[int] = []

    def acquire() -> Mapping[str, Any]:
        threads.append(threading.get_ident())
        return {"access_token": "app", "expires_in": 3599, "token_type": "Bearer"}

    assert await AppTokenSource(acquire)() == "app"
    assert threads != [threading.get_ident()]


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        ({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}, PermissionDenied),
        ({"error": "unauthorized_client", "error_description": "AADSTS700016"}, PermissionDenied),
        ({"error": "temporarily_unavailable", "error_description": "try later"}, DirectoryUnavailable),
        ({}, DirectoryUnavailable),
    ],
)
async def test_msal_error_dicts_become_directory_errors(result: Mapping[str, Any], kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        await AppTokenSource(lambda: result)()
    if result:
        assert str(result["error"]) in str(caught.value)


async def test_msal_exceptions_become_directory_unavailable() -> None:
    def acquire() -> Mapping[str, Any]:
        raise ConnectionError("login.microsoftonline.com unreachable")

    with pytest.raises(DirectoryUnavailable):
        await AppTokenSource(acquire)()


class TokenEndpoint:
    def __init__(self, expires_in: int = 3600) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == f"{CONTROL}/token"
        body = json.loads(request.content)
        self.bodies.append(body)
        return httpx.Response(200, json={"access_token": f"tok-{len(self.bodies)}", "expires_in": self.expires_in})


async def test_simulated_tenant_tokens_are_minted_once_per_user_and_refreshed_before_expiry() -> None:
    endpoint = TokenEndpoint(expires_in=600)
    now = [1000.0]
    tokens = SimulatedTenantTokens(
        httpx.AsyncClient(transport=httpx.MockTransport(endpoint)), CONTROL + "/", monotonic=lambda: now[0]
    )
    first, again = await asyncio.gather(tokens.token_for(ALICE, "tenant"), tokens.token_for(ALICE, "tenant"))
    assert first == again == "tok-1"
    assert endpoint.bodies == [{"oid": ALICE, "mfa": False, "acrs": []}]
    now[0] += 600 - 61
    assert await tokens.token_for(ALICE, "tenant") == "tok-1"
    now[0] += 2  # inside the refresh margin
    assert await tokens.token_for(ALICE, "tenant") == "tok-2"


async def test_mfa_tokens_by_setting_and_by_step_up() -> None:
    endpoint = TokenEndpoint()
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    await SimulatedTenantTokens(http, CONTROL, mfa=True).token_for(ALICE, "tenant")
    plain = SimulatedTenantTokens(http, CONTROL)
    await plain.token_for(ALICE, "tenant")
    stepped = await plain.step_up_token(ALICE, acrs=["c1"])
    assert stepped != await plain.token_for(ALICE, "tenant")  # cached separately per claim set
    assert [(b["mfa"], b["acrs"]) for b in endpoint.bodies] == [(True, []), (False, []), (True, ["c1"])]


async def test_unknown_user_is_permission_denied() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(404, json={})))
    with pytest.raises(PermissionDenied):
        await SimulatedTenantTokens(http, CONTROL).token_for("nobody", "tenant")


# ---- the app token on Graph requests: an httpx auth flow ------------------------------------------------------------


class Msal:
    """msal's two calls as app.py binds them: a token from its cache (a new one once the cached one is dropped)."""

    def __init__(self) -> None:
        self.issued = 1
        self.dropped = 0

    def acquire(self) -> Mapping[str, Any]:
        return {"access_token": f"app-{self.issued}", "expires_in": 3599}

    def forget(self) -> None:
        self.dropped += 1
        self.issued += 1


def stale(request: httpx.Request) -> httpx.Response:
    if request.headers["Authorization"] == "Bearer app-1":
        return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})
    return httpx.Response(200, json={"id": "g"})


async def test_an_app_token_graph_refuses_is_dropped_and_the_request_sent_once_more_with_a_fresh_one() -> None:
    msal = Msal()
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        return stale(request)

    client = GraphClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), BASE, AppTokenSource(msal.acquire, msal.forget)
    )

    assert await client.get("/groups/g") == {"id": "g"}
    assert (sent, msal.dropped) == (["Bearer app-1", "Bearer app-2"], 1)


@pytest.mark.parametrize("case", ["refused again", "claims challenge", "delegated token", "nothing to drop"], ids=str)
async def test_a_401_goes_to_the_caller_after_one_refresh_and_without_one_when_refreshing_cannot_help(
    case: str,
) -> None:
    msal = Msal()
    challenge = {"WWW-Authenticate": 'Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="'}
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        headers = challenge if case == "claims challenge" else {}
        return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken"}}, headers=headers)

    source = AppTokenSource(msal.acquire, None if case == "nothing to drop" else msal.forget)
    client = GraphClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), BASE, source)

    with pytest.raises(GraphError) as caught:
        await client.get("/groups/g", token="user-token" if case == "delegated token" else None)

    assert caught.value.status == 401
    expected = {
        "refused again": ["Bearer app-1", "Bearer app-2"],
        "claims challenge": ["Bearer app-1"],
        "delegated token": ["Bearer user-token"],
        "nothing to drop": ["Bearer app-1"],
    }
    assert sent == expected[case]
    assert msal.dropped == (1 if case == "refused again" else 0)


async def test_the_app_token_is_kept_until_shortly_before_msal_would_refresh_it() -> None:
    now = [0.0]
    calls: list[float] = []

    def acquire() -> Mapping[str, Any]:
        calls.append(now[0])
        return {"access_token": f"app-{len(calls)}", "expires_in": 3599, "refresh_in": 1799}

    source = AppTokenSource(acquire, margin=300, monotonic=lambda: now[0])
    assert [await source(), await source()] == ["app-1", "app-1"] and calls == [0.0]  # msal asked once
    now[0] = 1498.0
    assert await source() == "app-1"
    now[0] = 1500.0  # refresh_in less the margin: msal is asked again
    assert await source() == "app-2" and calls == [0.0, 1500.0]


async def test_an_app_token_without_a_lifetime_is_not_kept() -> None:
    calls: list[int] = []

    def acquire() -> Mapping[str, Any]:
        calls.append(1)
        return {"access_token": "app", "expires_in": "soon"}

    source = AppTokenSource(acquire)
    assert [await source(), await source()] == ["app", "app"] and len(calls) == 2
