"""The directory's "is it in effect?" check (GraphPimDirectory.holds, membership) for many users at once (issue 16): a
check asked while another is on its way waits for it to land and then goes with the others that waited, as one
app-only `$batch` of checkMemberGroups items; alone, it is the plain POST. A failure answers only the checks it
concerns, a cancelled check costs the others nothing, and a slow answer holds the waiting checks back only so long."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import httpx
import pytest

from core.errors import DirectoryUnavailable, PermissionDenied, Throttled
from core.models import Access
from graph.client import GraphClient
from graph.pim import GraphPimDirectory
from tests.fakes.graphstub import BASE, Call, FixedClock, GraphStub, Reply, Sleeps, app_token, error

GROUP = "e1e1"
CHECK = r"/users/([^/]+)/checkMemberGroups"


def members(*user_ids: str) -> object:
    """checkMemberGroups as Graph answers it: of the ids asked, those the user is a member of."""

    def answer(call: Call) -> Reply:
        user = call.path.split("/")[2]
        return Reply(200, {"value": list(call.body["groupIds"]) if user in user_ids else []})

    return answer


class Held:
    """A transport in front of the stub that holds the requests for `users` (plain or the whole `$batch` that carries
    one of them) until `release` is set: the first check is on its way while the others are asked."""

    def __init__(self, stub: GraphStub, users: Iterable[str]) -> None:
        self.stub, self.users, self.release = stub, set(users), asyncio.Event()

    def transport(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            content = request.content.decode()
            if any(f"/users/{u}/" in str(request.url) or f"/users/{u}/" in content for u in self.users):
                await self.release.wait()
            return self.stub.handle(request)

        return httpx.MockTransport(handle)


def directory(transport: httpx.AsyncBaseTransport) -> GraphPimDirectory:
    client = GraphClient(httpx.AsyncClient(transport=transport), BASE, app_token, sleep=Sleeps())
    return GraphPimDirectory(client, FixedClock())


def batches_answered(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[GraphStub, Held]:
    """A stub where u1 is a member and every `$batch` is answered by `answer` (recorded as sent); u1's check held."""
    stub = GraphStub()
    stub.on("POST", CHECK, members("u1"))
    original = stub.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$batch"):
            stub.http_requests.append(request)
            return answer(request)
        return original(request)

    stub.handle = handle  # type: ignore[method-assign]
    return stub, Held(stub, ["u1"])


async def overlapping(pim: GraphPimDirectory, held: Held, others: list[str]) -> tuple[bool, list[object]]:
    """u1's check on its way (held), then the others asked, then u1's answer let through: u1's answer and theirs (or
    their errors)."""
    first = asyncio.create_task(pim.holds(GROUP, "u1", Access.MEMBER))
    await asyncio.sleep(0.01)
    asked = [asyncio.create_task(pim.holds(GROUP, u, Access.MEMBER)) for u in others]
    await asyncio.sleep(0.01)
    held.release.set()
    return await first, list(await asyncio.gather(*asked, return_exceptions=True))


async def test_checks_asked_while_one_is_on_its_way_go_together_as_one_batch() -> None:
    stub = GraphStub()
    stub.on("POST", CHECK, members("u1", "u3", "u5"))
    held = Held(stub, ["u1"])
    pim = directory(held.transport())
    first = asyncio.create_task(pim.holds(GROUP, "u1", Access.MEMBER))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(pim.holds(GROUP, u, Access.MEMBER)) for u in ("u2", "u3", "u4", "u5")]
    await asyncio.sleep(0.01)
    assert stub.round_trips == 0  # the others wait for the first to land
    held.release.set()
    assert await first is True
    assert [await o for o in others] == [False, True, False, True]
    assert stub.round_trips == 2
    alone, *batched = stub.sent("POST", "checkMemberGroups")
    assert not alone.in_batch and alone.path == "/users/u1/checkMemberGroups"
    assert [c.path for c in batched] == [f"/users/{u}/checkMemberGroups" for u in ("u2", "u3", "u4", "u5")]
    assert all(c.in_batch and c.body == {"groupIds": [GROUP]} for c in batched)
    assert all(r.headers["Authorization"] == "Bearer app-token" for r in stub.http_requests)  # app-only, as alone


async def test_a_check_asked_alone_is_the_plain_post() -> None:
    stub = GraphStub()
    stub.on("POST", CHECK, members("u1"))
    pim = directory(stub.transport())
    assert await pim.holds(GROUP, "u1", Access.MEMBER)
    assert not await pim.holds(GROUP, "u2", Access.MEMBER)  # after the first landed: alone again
    assert stub.round_trips == 2 and not any(c.in_batch for c in stub.calls)


async def test_more_than_twenty_waiting_go_in_batches_of_twenty() -> None:
    stub = GraphStub()
    stub.on("POST", CHECK, members(*(f"u{n}" for n in range(0, 60, 2))))
    held = Held(stub, ["u0"])
    pim = directory(held.transport())
    first = asyncio.create_task(pim.holds(GROUP, "u0", Access.MEMBER))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(pim.holds(GROUP, f"u{n}", Access.MEMBER)) for n in range(1, 46)]
    await asyncio.sleep(0.01)
    held.release.set()
    assert await first
    assert [await o for o in others] == [n % 2 == 0 for n in range(1, 46)]
    # 45 waiting: two full batches went at once, the last 5 when one of them (or the first) landed
    assert sorted(r.url.path.endswith("$batch") for r in stub.http_requests) == [
        False, True, True, True
    ]  # fmt: skip
    assert len([c for c in stub.calls if c.in_batch]) == 45


async def test_a_refused_item_fails_only_its_own_check() -> None:
    stub = GraphStub()

    def answer(call: Call) -> Reply:
        user = call.path.split("/")[2]
        if user == "u2":
            return error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if user == "u3":
            return error(404, "Request_ResourceNotFound", f"Resource '{user}' does not exist.")
        return Reply(200, {"value": list(call.body["groupIds"])})

    stub.on("POST", CHECK, answer)
    held = Held(stub, ["u1"])
    first, results = await overlapping(directory(held.transport()), held, ["u2", "u3", "u4"])
    assert first
    assert isinstance(results[0], PermissionDenied)
    assert isinstance(results[1], DirectoryUnavailable) and "404" in str(results[1])
    assert results[2] is True


async def test_a_batch_graph_refuses_whole_fails_each_of_its_checks_with_its_own_error() -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=error(429, "TooManyRequests", "Too many requests").body,
                              headers={"Retry-After": "120"})  # fmt: skip

    _, held = batches_answered(refuse)
    first, results = await overlapping(directory(held.transport()), held, ["u2", "u3"])
    assert first
    assert all(isinstance(r, Throttled) for r in results)
    assert results[0] is not results[1]  # each caller raises its own error, not one object shared between tasks


async def test_a_cancelled_check_costs_the_others_nothing() -> None:
    stub = GraphStub()
    stub.on("POST", CHECK, members("u3"))
    held = Held(stub, ["u1"])
    pim = directory(held.transport())
    first = asyncio.create_task(pim.holds(GROUP, "u1", Access.MEMBER))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(pim.holds(GROUP, "u2", Access.MEMBER))
    kept = asyncio.create_task(pim.holds(GROUP, "u3", Access.MEMBER))
    await asyncio.sleep(0.01)
    gone.cancel()
    held.release.set()
    assert not await first
    assert await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert [c.path for c in stub.calls if c.in_batch] == []  # u3 alone: a batch of one is the plain POST
    assert [c.path for c in stub.calls] == ["/users/u1/checkMemberGroups", "/users/u3/checkMemberGroups"]


async def test_a_slow_answer_holds_the_waiting_checks_back_only_so_long() -> None:
    stub = GraphStub()
    stub.on("POST", CHECK, members("u2"))
    held = Held(stub, ["u1"])  # never released until the end: Graph hangs on this one
    pim = directory(held.transport())
    first = asyncio.create_task(pim.holds(GROUP, "u1", Access.MEMBER))
    await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(pim.holds(GROUP, "u2", Access.MEMBER), timeout=5)
    waited = asyncio.get_running_loop().time() - started
    assert 0.2 <= waited < 2.0  # the patience (0.5 s), not the hung call's
    assert not first.done()
    held.release.set()
    assert not await first


async def test_an_item_graph_could_not_answer_is_sent_again_as_the_plain_call_would_be() -> None:
    stub = GraphStub()
    answered = members("u2")
    busy = {"u2": 1}

    def answer(call: Call) -> Reply:
        user = call.path.split("/")[2]
        if busy.get(user):
            busy[user] -= 1
            return error(503, "serviceNotAvailable", "Service unavailable", {"Retry-After": "1"})
        return answered(call)  # type: ignore[operator,no-any-return]

    stub.on("POST", CHECK, answer)
    held = Held(stub, ["u1"])
    first, results = await overlapping(directory(held.transport()), held, ["u2", "u3"])
    assert not first
    assert results == [True, False]  # checkMemberGroups only reads: a 503 is retried, as alone
    assert [c.path for c in stub.calls if c.in_batch] == [
        "/users/u2/checkMemberGroups", "/users/u3/checkMemberGroups", "/users/u2/checkMemberGroups"
    ]  # fmt: skip


GARBLED = [{"responses": [{"id": "0", "status": 200, "body": {"value": 7}}]}, {"responses": "?"}, [], RuntimeError]


@pytest.mark.parametrize("batch", GARBLED)
async def test_an_answer_we_cannot_read_leaves_each_waiting_check_unchecked_not_cancelled(batch: object) -> None:
    """A garbled batch answer, or a failure no layer below expected (the last case), is "could not check" for each
    check that waited: never a hang, never a cancellation of the caller's turn."""

    def garble(_: httpx.Request) -> httpx.Response:
        if batch is RuntimeError:
            raise RuntimeError("something no layer below expected")
        return httpx.Response(200, json=batch)

    _, held = batches_answered(garble)
    first, results = await overlapping(directory(held.transport()), held, ["u2", "u3"])
    assert first
    assert results[0] is False or isinstance(results[0], DirectoryUnavailable)  # "value" not a list: no group shown
    assert isinstance(results[1], DirectoryUnavailable)  # no answer for it in the batch
