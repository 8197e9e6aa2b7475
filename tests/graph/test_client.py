import json
import uuid
from typing import Any

import httpx
import pytest

from graph.client import BatchRequest, GraphClient, odata_path
from graph.errors import GraphError, GraphTransportError
from graph.observe import GraphCall
from tests.fakes.graphstub import APP_TOKEN, BASE, GraphStub, Reply, Sleeps, app_token, error, wrapped

REQUESTS = "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests"


def make_client(stub: GraphStub | httpx.MockTransport, sleeps: Sleeps | None = None, **kwargs: float) -> GraphClient:
    transport = stub.transport() if isinstance(stub, GraphStub) else stub
    return GraphClient(
        httpx.AsyncClient(transport=transport),
        BASE,
        app_token,
        sleep=sleeps or Sleeps(),
        jitter=lambda: 0.5,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_every_request_carries_a_fresh_client_request_id_and_the_right_token() -> None:
    stub = GraphStub()
    stub.on("GET", "/me", {"id": "me"})
    client = make_client(stub)
    await client.get("/me")
    await client.get("/me", token="user-token")
    ids = [r.headers["client-request-id"] for r in stub.http_requests]
    assert len(set(ids)) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    assert [r.headers["Authorization"] for r in stub.http_requests] == [f"Bearer {APP_TOKEN}", "Bearer user-token"]


async def test_odata_parameters_are_encoded_readably() -> None:
    stub = GraphStub()
    stub.on("GET", REQUESTS, {"value": []})
    await make_client(stub).get(REQUESTS, params={"$filter": "principalId eq 'a b' and status eq 'PendingApproval'"})
    assert str(stub.http_requests[0].url).endswith(
        "?$filter=principalId%20eq%20'a%20b'%20and%20status%20eq%20'PendingApproval'"
    )
    assert stub.calls[0].query == {"$filter": "principalId eq 'a b' and status eq 'PendingApproval'"}
    assert odata_path("/x?a=1", {"$top": "5"}) == "/x?a=1&$top=5"


async def test_sovereign_cloud_base_url_is_used_as_given() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    client = GraphClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), "https://graph.microsoft.us/v1.0/", app_token
    )
    await client.get("/groups/g")
    assert seen == ["https://graph.microsoft.us/v1.0/groups/g"]


async def test_get_all_follows_next_links_verbatim() -> None:
    next_link = f"{BASE}{REQUESTS}?$filter=groupId%20eq%20'g'&$skiptoken=a%2Bb%3D%3D"

    def pages(call):  # type: ignore[no-untyped-def]
        if "$skiptoken" in call.query:
            assert call.query["$skiptoken"] == "a+b=="
            return {"value": [{"id": "3"}]}
        return {"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": next_link}

    stub = GraphStub()
    stub.on("GET", REQUESTS, pages)
    items = await make_client(stub).get_all(REQUESTS, params={"$filter": "groupId eq 'g'"})
    assert [i["id"] for i in items] == ["1", "2", "3"]
    assert str(stub.http_requests[1].url) == next_link


async def test_429_is_retried_after_the_retry_after_seconds() -> None:
    answers = [error(429, "TooManyRequests", headers={"Retry-After": "2"}), Reply(200, {"ok": True})]
    stub = GraphStub()
    stub.on("GET", "/me", lambda call: answers.pop(0))
    sleeps = Sleeps()
    assert await make_client(stub, sleeps).get("/me") == {"ok": True}
    assert sleeps.waits == [2.0]
    ids = {r.headers["client-request-id"] for r in stub.http_requests}
    assert len(ids) == 1  # one logical request, one id across its retries


async def test_retry_after_beyond_the_wait_cap_raises_at_once() -> None:
    stub = GraphStub()
    stub.on("GET", "/me", error(429, "TooManyRequests", headers={"Retry-After": "120"}))
    sleeps = Sleeps()
    with pytest.raises(GraphError) as caught:
        await make_client(stub, sleeps, max_retry_wait=10).get("/me")
    assert caught.value.status == 429 and caught.value.retry_after == 120
    assert sleeps.waits == [] and stub.round_trips == 1


async def test_backoff_without_retry_after_is_exponential_and_bounded_by_attempts() -> None:
    stub = GraphStub()
    stub.on("GET", "/me", error(503, "ServiceUnavailable"))
    sleeps = Sleeps()
    with pytest.raises(GraphError) as caught:
        await make_client(stub, sleeps, max_attempts=4).get("/me")
    assert caught.value.status == 503
    assert stub.round_trips == 4
    assert sleeps.waits == [0.375, 0.75, 1.5]  # base 0.5 doubling; jitter fixed at 0.5 → 3/4 of each ceiling


async def test_total_wait_cap_stops_retries() -> None:
    stub = GraphStub()
    stub.on("GET", "/me", error(504, "GatewayTimeout", headers={"Retry-After": "4"}))
    sleeps = Sleeps()
    with pytest.raises(GraphError):
        await make_client(stub, sleeps, max_attempts=5, max_retry_wait=10).get("/me")
    assert sleeps.waits == [4.0, 4.0] and stub.round_trips == 3


async def test_a_write_is_not_retried_after_a_read_timeout() -> None:
    posts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(GraphTransportError) as caught:
        await make_client(httpx.MockTransport(handler)).post(REQUESTS, json={"action": "selfActivate"})
    assert caught.value.maybe_sent and caught.value.timeout
    assert len(posts) == 1


async def test_a_write_is_retried_when_the_connection_never_opened() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"id": "r1"})

    assert await make_client(httpx.MockTransport(handler)).post(REQUESTS, json={}) == {"id": "r1"}
    assert len(attempts) == 2


async def test_a_read_is_retried_after_a_read_timeout() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"value": []})

    assert await make_client(httpx.MockTransport(handler)).get(REQUESTS) == {"value": []}
    assert len(attempts) == 2


async def test_a_write_is_retried_on_429_but_not_on_503() -> None:
    throttled = [error(429, "TooManyRequests", headers={"Retry-After": "1"}), Reply(201, {"id": "r"})]
    stub = GraphStub()
    stub.on("POST", REQUESTS, lambda call: throttled.pop(0))
    assert await make_client(stub).post(REQUESTS, json={}) == {"id": "r"}

    unavailable = GraphStub()
    unavailable.on("POST", REQUESTS, error(503, "ServiceUnavailable"))
    with pytest.raises(GraphError):
        await make_client(unavailable).post(REQUESTS, json={})
    assert unavailable.round_trips == 1


async def test_batch_is_chunked_at_twenty_and_answers_by_id() -> None:
    stub = GraphStub()
    stub.on("GET", "/directoryObjects/[^/]+", lambda call: {"id": call.path.rsplit("/", 1)[1]})
    requests = [BatchRequest(str(i), "GET", f"/directoryObjects/o{i}") for i in range(45)]
    responses = await make_client(stub).batch(requests)
    assert stub.round_trips == 3
    sizes = sorted(len(json.loads(r.content)["requests"]) for r in stub.http_requests)
    assert sizes == [5, 20, 20]
    assert {k: v.json()["id"] for k, v in responses.items()} == {str(i): f"o{i}" for i in range(45)}


async def test_dependent_batch_items_stay_in_one_chunk() -> None:
    stub = GraphStub()
    stub.on("GET", "/x/[0-9]+", {})
    requests = [BatchRequest(str(i), "GET", f"/x/{i}") for i in range(19)]
    requests += [BatchRequest("a", "GET", "/x/100"), BatchRequest("b", "GET", "/x/101", depends_on=("a",))]
    await make_client(stub).batch(requests)
    chunks = [[item["id"] for item in json.loads(r.content)["requests"]] for r in stub.http_requests]
    assert any({"a", "b"} <= set(chunk) for chunk in chunks)
    assert all(len(chunk) <= 20 for chunk in chunks)


async def test_inner_errors_are_parsed_not_raised() -> None:
    stub = GraphStub()
    stub.on("GET", "/groups/ok", {"id": "ok"})
    stub.on("GET", "/groups/no", wrapped(403, "PermissionScopeNotGranted", "missing scope"))
    responses = await make_client(stub).batch(
        [BatchRequest("1", "GET", "/groups/ok"), BatchRequest("2", "GET", "/groups/no")]
    )
    assert responses["1"].ok and responses["1"].json() == {"id": "ok"}
    assert responses["2"].error is not None and responses["2"].error.effective_code == "PermissionScopeNotGranted"
    with pytest.raises(GraphError):
        responses["2"].json()


async def test_inner_429_is_resent_alone_with_its_dependants_after_retry_after() -> None:
    first = [True]

    def policy(call):  # type: ignore[no-untyped-def]
        if first.pop() if first else False:
            return error(429, "TooManyRequests", headers={"Retry-After": "3"})
        return {"value": []}

    stub = GraphStub()
    stub.on("GET", "/policies/x", policy)
    stub.on("GET", "/groups/g", {"id": "g"})
    stub.on("POST", REQUESTS, Reply(201, {"id": "r"}))
    sleeps = Sleeps()
    responses = await make_client(stub, sleeps).batch(
        [
            BatchRequest("policy", "GET", "/policies/x"),
            BatchRequest("activate", "POST", REQUESTS, body={}, depends_on=("policy",)),
            BatchRequest("group", "GET", "/groups/g"),
        ]
    )
    assert sleeps.waits == [3.0]
    assert {k: v.status for k, v in responses.items()} == {"policy": 200, "activate": 201, "group": 200}
    assert len(stub.sent("GET", "/groups/g")) == 1  # not re-sent
    assert len(stub.sent("POST", REQUESTS)) == 1


async def test_inner_429_beyond_the_cap_is_returned_with_its_retry_after() -> None:
    stub = GraphStub()
    stub.on("GET", "/groups/g", error(429, "TooManyRequests", headers={"Retry-After": "60"}))
    responses = await make_client(stub, max_retry_wait=10).batch([BatchRequest("1", "GET", "/groups/g")])
    assert responses["1"].error is not None and responses["1"].error.retry_after == 60
    assert stub.round_trips == 1


class Routes:
    """A CallObserver that keeps what each answered call was counted as."""

    def __init__(self) -> None:
        self.answered_routes: list[str] = []

    def answered(self, call: GraphCall, seconds: float | None) -> None:
        self.answered_routes.append(call.route)

    def failed(self, method: str, route: str, error: str) -> None:
        raise AssertionError(f"no call fails here: {method} {route} {error}")

    def retrying(self, method: str, route: str, reason: str) -> None:
        raise AssertionError(f"no call is retried here: {method} {route} {reason}")


async def test_calls_to_many_urls_and_to_the_same_again_each_go_to_their_own_url_counted_by_their_route() -> None:
    # More URLs than the client keeps parsed, then the first (long gone) and the last (kept) again.
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"value": []})

    routes = Routes()
    client = GraphClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), BASE, app_token, observer=routes)
    users = [f"user{n}@contoso.com" for n in range(300)]
    calls = [*users, *users[:2], *users[-2:]]
    for user in calls:
        await client.post(f"/users/{user}/checkMemberGroups", json={"groupIds": ["g"]}, idempotent=True)
    for n in range(3):
        await client.get(REQUESTS, params={"$filter": f"principalId eq 'p{n}'"})
    assert seen == [f"{BASE}/users/{u}/checkMemberGroups" for u in calls] + [
        f"{BASE}{REQUESTS}?$filter=principalId%20eq%20'p{n}'" for n in range(3)
    ]
    assert routes.answered_routes == ["/users/{id}/checkMemberGroups"] * len(calls) + [REQUESTS] * 3


# (method, path, GraphClient.request's keywords): JSON or no body, a caller's own Content-Type, query parameters.
BUILT = [
    ("POST", REQUESTS, {"json": {"justification": "café ☕", "n": 1}, "read_timeout": 60.0}),
    (
        "POST",
        REQUESTS,
        {"token": "user-token", "json": {"x": 1}, "headers": {"content-type": "text/plain", "Prefer": "x"}},
    ),
    ("POST", "/users/u/checkMemberGroups", {}),
    ("GET", "/groups", {"params": {"$filter": "id eq 'g'"}, "headers": {"ConsistencyLevel": "eventual"}}),
    ("PATCH", "/groups/g", {"json": [1, 2]}),
    ("POST", "/groups/g/owners/$ref", {"json": {}, "headers": {"Content-Length": "2"}}),
    ("DELETE", "/groups/g/owners/u/$ref", {}),
]


@pytest.mark.parametrize("client_options", [{}, {"headers": {"User-Agent": "pim-bot"}}, {"cookies": {"a": "b"}}])
@pytest.mark.parametrize(("method", "path", "options"), BUILT)
async def test_requests_go_out_exactly_as_httpx_would_build_them(
    method: str, path: str, options: dict[str, Any], client_options: dict[str, Any]
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    http = httpx.AsyncClient(
        transport=httpx.MockTransport(handler), timeout=httpx.Timeout(10.0, connect=5.0), **client_options
    )
    client = GraphClient(http, BASE, app_token)
    await client.request(method, path, **options)
    [request] = sent
    token = options.get("token")
    headers = {
        "Accept": "application/json",
        "client-request-id": request.headers["client-request-id"],
        "return-client-request-id": "true",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(options.get("headers", {}))
    read_timeout = options.get("read_timeout")
    expected = http.build_request(
        method,
        client.url(path, options.get("params")),
        headers=headers,
        json=options.get("json"),
        timeout=httpx.USE_CLIENT_DEFAULT if read_timeout is None else httpx.Timeout(read_timeout, connect=5.0),
    )
    if token is None:
        expected.headers["Authorization"] = f"Bearer {APP_TOKEN}"  # what TokenAuth's flow adds
    assert request.method == expected.method and request.url == expected.url
    assert request.headers.raw == expected.headers.raw
    assert request.content == expected.content
    assert request.extensions["timeout"] == expected.extensions["timeout"]
