"""The approval flow killed at every step (issue 10, point 9): the bot runs as a subprocess on a SQLite file and
SIGKILLs itself at a chosen point (PIMBOT_TEST_APPROVAL_KILL_AT), is started again on the same file, and then nothing
is orphaned, every approver's card ends right and exactly one decision reaches the tenant (its request log).

The points, one request each (Security-Operators: Bob and Carol get cards; each request by its own requester):
- `activated`: after the activation POST, before the request is recorded. The poller of the next process finds the
  request waiting in PIM and sends its cards, once; the requester's card sent before the kill is the one kept.
- `claimed`: after Bob's click claimed the decision, before the PATCH. The next process recognises the claim as dead
  at once: Carol's click, right after the restart, decides (no "try again").
- `decided`: after Bob's PATCH landed, before it was recorded. The next process's poller records it with its approver,
  read from the approval's stages as Bob, and every copy (Bob's own, whose click was never answered, too) says so.
- `spread`: after the first copy was updated following Bob's decision. The next process's poller finishes the updates
  at once (the spread's process is gone), and the requester is told once (twice only if the kill fell between
  telling them and noting it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from devtools.stack import Tenant, bot_environment, free_port
from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, TeamsUser
from devtools.teams.connector import FakeConnector, Recorded, running_connector
from simtenant import seed
from tests.support.approvals import CAROL, conversation, waiting_cards
from tests.support.cards import element, maybe_element
from tests.support.feed import killed
from tests.support.processes import start_bot, tenant_process
from tests.support.state import StateFile
from tests.support.waiting import eventually

RUTH = TeamsUser("eeeeeeee-0005-4000-8000-000000000001", "Ruth Requester")
SAM = TeamsUser("eeeeeeee-0005-4000-8000-000000000002", "Sam Requester")
TINA = TeamsUser("eeeeeeee-0005-4000-8000-000000000003", "Tina Requester")


class Bot:
    """The bot subprocess on one state file, started again after every kill."""

    def __init__(self, tenant: Tenant, connector: FakeConnector, tmp: Path) -> None:
        self.tenant, self.connector = tenant, connector
        self.db, self.log = tmp / "state.sqlite3", tmp / "bot.log"
        self.port = str(free_port())
        self.proc: asyncio.subprocess.Process | None = None

    def env(self, kill_at: str) -> dict[str, str]:
        extra = {"APPROVAL_POLL_SECONDS": "5", "BOT_ADMINS": ALICE.oid}
        if kill_at:
            extra["PIMBOT_TEST_APPROVAL_KILL_AT"] = kill_at
        return bot_environment(self.tenant, int(self.port), self.db, extra)

    async def start(self, kill_at: str = "") -> None:
        self.proc = await start_bot(self.env(kill_at), self.log)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def killed(self) -> None:
        assert self.proc is not None
        await killed(self.proc)

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """POST an activity; (0, None) when the process died before answering."""
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"http://127.0.0.1:{self.port}/api/messages", json=activity) as r:
                    body = await r.json(content_type=None) if r.content_length != 0 else None
                    return r.status, body
        except aiohttp.ClientError:
            return 0, None


async def control(tenant: Tenant, method: str, path: str, body: Any = None) -> Any:
    ctx = ssl.create_default_context(cafile=tenant.ca_file)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{tenant.control_url}{path}", json=body, ssl=ctx) as r:
            assert r.status < 300, await r.text()
            return await r.json(content_type=None)


async def seed_requesters(tenant: Tenant) -> None:
    for n, person in enumerate((RUTH, SAM, TINA)):
        await control(tenant, "POST", "/seed/add_user", {"user_id": person.oid, "display_name": person.name,
                                                          "user_principal_name": f"req{n}@{seed.DOMAIN}"})  # fmt: skip
        body = {"group_id": seed.SECURITY_OPERATORS, "principal_id": person.oid, "access": "member"}
        await control(tenant, "POST", "/seed/add_eligibility", body)


async def decisions(tenant: Tenant, request_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stage PATCHes of a request in the tenant's request log: (landed, refused)."""
    entries = (await control(tenant, "GET", "/requests"))["requests"]
    mine = [e for e in entries if e["method"] == "PATCH" and request_id in e["path"].lower()]
    return [e for e in mine if e["status"] < 300], [e for e in mine if e["status"] >= 300]


def cards_of(connector: FakeConnector, user: TeamsUser, request_id: str) -> list[Recorded]:
    found = []
    for r in connector.messages(conversation(user)):
        button = maybe_element(r.card or {}, "approve") if r.card else None
        if button is not None and button["data"]["requestId"] == request_id:
            found.append(r)
    return found


def latest(connector: FakeConnector, card: Recorded) -> dict[str, Any]:
    """What a sent card shows now: its last update, else itself."""
    updates = [r for r in connector.sent if r.method == "PUT" and r.activity_id == card.activity_id and r.card]
    return (updates[-1] if updates else card).card or {}


async def request_of(bot: Bot, requester: TeamsUser) -> str:
    status, _ = await bot.post(
        act.message(bot.connector.url, "activate Security-Operators 1h because drill", requester)
    )
    assert status == 201
    [card] = [
        r for r in bot.connector.messages(conversation(requester)) if r.card and "outcome-0-cancel" in str(r.card)
    ]
    return str(element(card.card or {}, "outcome-0-cancel")["data"]["requestId"])


async def click(bot: Bot, user: TeamsUser, card: Recorded, reason: str) -> tuple[int, Any]:
    button = element(card.card or {}, "approve")
    data = {**button["data"], "reason": reason}
    return await bot.post(act.card_execute(bot.connector.url, button["verb"], data, card.activity_id, user))


async def record_of(db: Path, request_id: str) -> dict[str, Any]:
    store = StateFile(db)
    try:
        key = f"request/{request_id}"
        return dict((await store.read([key])).get(key) or {})
    finally:
        store.close()


def until(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()

    return wrapped


def all_end(connector: FakeConnector, copies: list[Recorded], starts: str) -> bool:
    return all(str((maybe_element(latest(connector, c), "state") or {}).get("text")).startswith(starts) for c in copies)


def told(connector: FakeConnector, user: TeamsUser, what: str) -> int:
    return sum(what in str(r.body.get("text") or "") for r in connector.messages(conversation(user)))


async def test_kill_9_at_each_step_of_an_approval_orphans_nothing_and_decides_once(
    tmp_path: Path, figures: Counter[str]
) -> None:
    started = time.perf_counter()
    async with tenant_process(tmp_path / "sim") as tenant, running_connector() as connector:
        await seed_requesters(tenant)
        bot = Bot(tenant, connector, tmp_path)
        try:
            # -- activated: killed after the activation POST, before the record -------------------------------------
            await bot.start(kill_at="activated")
            for user in (BOB, CAROL):
                assert (await bot.post(act.message(connector.url, "help", user)))[0] == 201
            await bot.post(act.message(connector.url, "activate Security-Operators 1h because drill"))
            await bot.killed()
            [alice_card] = [r for r in connector.messages(conversation(ALICE)) if r.card]
            first = str(element(alice_card.card or {}, "outcome-0-cancel")["data"]["requestId"])
            assert cards_of(connector, BOB, first) == [] and await record_of(bot.db, first) == {}

            await bot.start(kill_at="claimed")
            await control(tenant, "POST", "/clock", {"advance_seconds": 20})  # older than the adoption grace
            adopted = until(lambda: len(cards_of(connector, BOB, first)) == len(cards_of(connector, CAROL, first)) == 1)
            await eventually(adopted, 30, "the cards of the request the killed process never recorded")
            assert "found" in await record_of(bot.db, first)
            assert waiting_cards(connector, ALICE, first) == [alice_card]  # the card sent before the kill is kept
            figures["activated: adopted"] += 1

            # -- claimed: killed after Bob's claim, before his PATCH -----------------------------------------------
            second = await request_of(bot, RUTH)
            [bob_card], [carol_card] = cards_of(connector, BOB, second), cards_of(connector, CAROL, second)
            assert (await click(bot, BOB, bob_card, "ok"))[0] == 0
            await bot.killed()
            assert "claim" in await record_of(bot.db, second)

            await bot.start()
            status, body = await click(bot, CAROL, carol_card, "ok from Carol")
            assert status == 200
            assert str(element(body["value"], "state")["text"]).startswith("Approved by Carol Chen at ")
            landed, _ = await decisions(tenant, second)
            assert [e["oid"] for e in landed] == [CAROL.oid]
            await eventually(
                until(lambda: all_end(connector, [bob_card], "Approved by Carol Chen")), 30, "Bob's copy updated"
            )
            figures["claimed: next click decided at once"] += 1

            # -- decided: killed after Bob's PATCH landed, before it was recorded -------------------------------
            await bot.stop()
            await bot.start(kill_at="decided")
            third = await request_of(bot, SAM)
            [bob_card], [carol_card] = cards_of(connector, BOB, third), cards_of(connector, CAROL, third)
            assert (await click(bot, BOB, bob_card, "ok from Bob"))[0] == 0
            await bot.killed()
            assert "decision" not in await record_of(bot.db, third)

            await bot.start()
            copies = [bob_card, carol_card]
            await eventually(
                until(lambda: all_end(connector, copies, "Approved by Bob Builder")), 30, "the poller to settle it"
            )
            landed, refused = await decisions(tenant, third)
            assert [e["oid"] for e in landed] == [BOB.oid] and refused == []
            assert told(connector, SAM, "was approved by Bob Builder") == 1
            figures["decided: settled by the poller, named"] += 1

            async def settled(request_id: str) -> bool:
                """Decided, and no claim, spread or fan-out left owed (each mark is dropped after what it guards)."""
                record = await record_of(bot.db, request_id)
                return bool(record.get("decision")) and not {"claim", "spread", "fanOut"} & set(record)

            # -- spread: killed after the first copy was updated following Bob's decision -----------------------
            await bot.stop()
            await bot.start(kill_at="spread")
            fourth = await request_of(bot, TINA)
            [bob_card], [carol_card] = cards_of(connector, BOB, fourth), cards_of(connector, CAROL, fourth)
            status, body = await click(bot, BOB, bob_card, "ok from Bob")
            assert status == 200 and str(element(body["value"], "state")["text"]).startswith("Approved by Bob")
            await bot.killed()

            await bot.start()
            await eventually(
                until(lambda: all_end(connector, [bob_card, carol_card], "Approved by Bob Builder")
                      and told(connector, TINA, "was approved by Bob Builder") >= 1),
                30,
                "the poller to finish the card updates",
            )  # fmt: skip
            await eventually(lambda: settled(fourth), 10, "the spread's mark dropped after its updates")
            landed, _ = await decisions(tenant, fourth)
            assert len(landed) == 1
            assert 1 <= told(connector, TINA, "was approved by Bob Builder") <= 2
            [tina_card] = waiting_cards(connector, TINA, fourth)
            assert element(latest(connector, tina_card), "outcome-0-state")["text"] == "Approved"
            figures["spread: finished by the poller"] += 1

            # -- the first request, adopted after its kill, decides like any other ------------------------------
            [carol_card] = cards_of(connector, CAROL, first)
            status, body = await click(bot, CAROL, carol_card, "ok")
            assert status == 200
            [bob_card] = cards_of(connector, BOB, first)
            await eventually(
                until(lambda: all_end(connector, [bob_card], "Approved by Carol Chen")), 30, "Bob's copy updated"
            )
            assert element(latest(connector, alice_card), "outcome-0-state")["text"] == "Approved"
            for request_id in (first, second, third, fourth):  # the marks go after the updates they guard
                await eventually(lambda: settled(request_id), 10, f"the marks of {request_id} dropped")  # noqa: B023
                landed, _ = await decisions(tenant, request_id)
                assert len(landed) == 1, request_id
                record = await record_of(bot.db, request_id)
                assert record.get("decision") and not {"claim", "spread", "fanOut"} & set(record), record
        finally:
            await bot.stop()
        log = bot.log.read_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    figures["cases"] = 4
    figures["seconds"] = round(time.perf_counter() - started)
