"""Issue 11, points 1 and 2: in `make demo` (python -m devtools.demo, started as a user would) the Playground's one
user, Alice, plays the approver and the admin, driven through the Playground's HTTP/WS API as the README says.

- Approver: `demo request` has Carol ask, in the simulated tenant with her own token, for Network-Admins (approved by
  Alice or Bob, with a reason). The bot's approval poll finds it as it finds a request made in the portal; Alice's card
  arrives in her chat, Approve without a reason asks for one, Approve with a reason activates Carol, and Bob's copy (in
  his own chat, which only the Playground's wire log shows) is updated too.
- Admin: `@PIM Bot feed here` in the team's channel, then the banner's own command (`python -m simtenant assign carol
  Teams-Admins`, run as printed) makes Carol eligible behind the bot's back; the feed card arrives as a new post.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from devtools.stack import DEMO_USERS, ROOT, Tenant
from tests.support.cards import card_text, element, maybe_element
from tests.support.demo_process import Demo, running_demo
from tests.support.e2e import SimControl
from tests.support.feed import stored
from tests.support.playground import PERSONAL, BotMessage, PlaygroundClient
from tests.support.waiting import eventually

pytestmark = [pytest.mark.playground, pytest.mark.asyncio(loop_scope="module")]

ALICE, BOB, CAROL = (u.oid for u in DEMO_USERS[:3])
CHANNEL = "channel-pim-approvals"  # devtools.stack.write_playground_config: the team's one channel
ASSIGN_LINE = "then, in another terminal:"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"


class Played:
    """The running demo, Alice's Playground client, the simulated tenant, and the Playground's wire log so far."""

    def __init__(self, demo: Demo, pg: PlaygroundClient, sim: SimControl) -> None:
        self.demo, self.pg, self.sim = demo, pg, sim
        self.wire: list[dict[str, Any]] = []

    async def record(self, log: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in log:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.wire.append(json.loads(frame.data).get("log") or {})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def played(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Played]:
    async with running_demo(tmp_path_factory.mktemp("demo-roles")) as demo:
        info = json.loads((demo.run / "simtenant" / "simtenant.json").read_text())
        tenant = Tenant(**{k: info[k] for k in Tenant.__dataclass_fields__})
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            pg = PlaygroundClient(demo.url, http, diagnostics=demo.bot_log_tail)
            await pg.connect()
            played = Played(demo, pg, SimControl(tenant, http))
            async with http.ws_connect(f"{demo.url}/_ws/log/stream") as log:
                recorder = asyncio.create_task(played.record(log))
                try:
                    await pg.sync()
                    yield played
                finally:
                    recorder.cancel()
                    await pg.close()


async def until(pg: PlaygroundClient, wanted: Any, within: float, conversation: str | None = PERSONAL) -> BotMessage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await pg.next_message(max(deadline - loop.time(), 0.1), conversation)
        if wanted(message):
            return message


def card_data(card: dict[str, Any], button: str) -> dict[str, Any]:
    data: dict[str, Any] = element(card, button)["data"]
    return data


async def test_alice_plays_the_approver_of_a_colleagues_request(played: Played) -> None:
    pg, sim = played.pg, played.sim
    await pg.say("demo request")
    told = await until(pg, lambda m: "just asked for" in m.text, within=20)
    assert told.text.startswith("Carol Chen just asked for Network-Admins"), told.text
    [request] = [r for r in await sim.assignment_requests(CAROL) if r["status"] == "PendingApproval"]
    assert request["createdBy"]["user"]["id"] == CAROL and request["action"] == "selfActivate"

    # The approval poll (every 5 s in the demo) finds it once it is 15 s old: the card arrives in Alice's chat.
    card = await until(pg, lambda m: m.card is not None and maybe_element(m.card, "approve") is not None, within=40)
    assert card.card is not None and "Carol Chen" in card_text(card.card) and "Network-Admins" in card_text(card.card)

    answer = await pg.invoke(card.message_id, "approve", card_data(card.card, "approve"))
    assert "reason" in element(answer["value"], "notice")["text"], answer  # the policy wants the approver's reason
    answer = await pg.invoke(
        card.message_id, "approve", {**card_data(card.card, "approve"), "reason": "change approved in CAB"}
    )
    assert element(answer["value"], "state")["text"].startswith("Approved by Alice Admin at "), answer
    assert (await sim.assignment_request(request["id"]))["status"] == "Provisioned"

    # Bob's copy, in his own chat (opened by the bot: he never wrote to it), shows the decision too.
    async def bobs_copy_updated() -> bool:
        to_bob = [e for e in played.wire if _conversation(e) in _chats_opened_with(BOB, played.wire)]
        return any('"approve"' in json.dumps(e) for e in to_bob) and any(
            "Approved by Alice Admin" in json.dumps(e) for e in to_bob
        )

    await eventually(bobs_copy_updated, 20, "Bob's copy updated")


def _conversation(entry: dict[str, Any]) -> str:
    """The conversation a request of the bot to the Playground went to."""
    body = (entry.get("request") or {}).get("body") or {}
    return str((body.get("conversation") or {}).get("id") or "")


def _chats_opened_with(user: str, wire: list[dict[str, Any]]) -> set[str]:
    """The 1:1 chats the bot opened with `user` (createConversation, answered with the chat's id)."""
    return {
        str(((e.get("response") or {}).get("body") or {}).get("id"))
        for e in wire
        if e.get("activityName") == "createConversation"
        and any(m.get("id") == user for m in ((e.get("request") or {}).get("body") or {}).get("members") or [])
    }


async def test_alice_plays_the_admin_and_sees_a_change_made_behind_the_bots_back(played: Played) -> None:
    pg, demo = played.pg, played.demo
    await pg.say("feed here", CHANNEL, mention=True)
    answer = await until(pg, lambda m: "now posts here" in m.text, within=20, conversation=None)
    assert answer.conversation_id.startswith(f"{CHANNEL};messageid=")  # in the command's thread

    async def baseline() -> bool:
        snapshot = (await stored(demo.run / "state.sqlite3", "feed/snapshot")).get("feed/snapshot") or {}
        return bool(snapshot.get("groups"))

    await eventually(baseline, 30, "the feed's baseline")
    # The banner's command, exactly as printed, from the project directory.
    [line] = [line for line in demo.output if ASSIGN_LINE in line]
    command = shlex.split(line.split(ASSIGN_LINE, 1)[1])
    assert command[1:5] == ["-m", "simtenant", "assign", "carol"] and command[5] == "Teams-Admins", command
    done = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("Erin Evans made Carol Chen eligible"), done

    post = await until(pg, lambda m: m.card is not None and "Teams Admins" in card_text(m.card), 40, conversation=None)
    assert post.conversation_id == CHANNEL  # a new post in the channel, where the Playground draws it
    text = card_text(post.card or {})
    assert "became eligible" in text and "Teams Admins" in text, text


async def test_alice_the_admin_gets_the_audit_export_summary_and_its_file_consent_card(played: Played) -> None:
    """The export reaches the Playground (0.2.28): the summary card, and the file consent card, which the Playground
    names only as a "File Consent Card" it does not draw (its bundle sends no `fileConsent/invoke`: the upload is
    tested against the Bot Connector stand-in, tests/history/test_audit_export_http.py)."""
    pg = played.pg
    today = datetime.now(UTC).date()
    await pg.say(f"audit export {(today - timedelta(days=7)).isoformat()} {today.isoformat()}")
    summary = await until(pg, lambda m: m.card is not None and "PIM audit export" in card_text(m.card), 40)
    assert "Activations" in card_text(summary.card or {})

    def consent_of(m: BotMessage) -> dict[str, Any] | None:
        attachments = (m.raw.get("message") or {}).get("attachments") or []
        return next((a for a in attachments if a.get("contentType") == FILE_CONSENT), None)

    message = await until(pg, lambda m: consent_of(m) is not None, 20)
    consent = consent_of(message) or {}
    # What the Playground shows of it (it keeps contentType and content; the attachment's name, which the bot sends,
    # is not in its message).
    assert consent["content"]["sizeInBytes"] > 0 and consent["content"]["acceptContext"]["exportId"]
