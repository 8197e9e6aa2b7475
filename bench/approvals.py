"""The approval figures of `python -m bench` (issue 4): fan-out of one request to 60 approvers, and click latency.

Seeded through the simulated tenant's `/_sim/seed/...` API (nothing added to its seed specs): 60 approver users in a
group Bench-Approvers, a group Bench-Fanout whose member policy requires approval by groupMembers(Bench-Approvers)
with the approver's reason, and one requester per request, each eligible for Bench-Fanout. Every approver says `help`
first, so the bot holds a 1:1 reference for each of the 60.

* **Fan-out:** from sending a requester's `activate Bench-Fanout 1h because bench` until the 60th approval card has
  arrived at the connector stand-in (its arrival timestamps, wall clock, same machine). Target ≤ 1 s.
* **Click:** an approver's Approve (an `adaptiveCard/action` invoke, each on a new request and by a different approver,
  so each click also fetches that approver's delegated token) → the HTTP response carrying the final card; and from
  the click until the last of the other 59 copies was updated (PUTs at the connector): every other click as soon as
  the 60th card arrived, the others READ_PAUSE_S later (as a person reads the card first). The same click on a request
  with **one** copy (a group Bench-Solo-k per click whose policy names one approver, singleUser, a different one each
  time: also a cold token), alternating with the 60-copy clicks, is the yardstick: the invoke must not wait for the
  other copies (issue 9, point 6), so 60 copies answer no slower than 1.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load import median, percentile
from devtools.teams.activities import TeamsUser, card_execute, message

APPROVERS = 60
FANOUT_TARGET_S = 1.0
CLICK_TARGET_S = 0.3  # click → invoke response, p99, 60 copies (and no slower than with 1 copy)
COPIES_TARGET_S = 1.5  # click → all other copies updated, p99
# Every other 60-copy click waits this long after the last card arrived, as an approver reading the card would: by then
# the app's send window (30 Bot Connector calls per second, bot.transport.sendlimit) no longer holds the fan-out's own
# sends.
READ_PAUSE_S = 1.1
GROUP = "eeeeeeee-0000-4000-8000-000000000001"
APPROVER_GROUP = "eeeeeeee-0000-4000-8000-000000000002"
GROUP_NAME = "Bench-Fanout"
ACTIVATE = f"activate {GROUP_NAME} 1h because bench"


def approver(n: int) -> TeamsUser:
    return TeamsUser(f"eeeeeeee-0000-4000-8001-{n:012d}", f"Bench Approver {n:02d}")


def requester(n: int) -> TeamsUser:
    return TeamsUser(f"eeeeeeee-0000-4000-8002-{n:012d}", f"Bench Requester {n:03d}")


def solo_group(k: int) -> tuple[str, str]:
    """The group of the k-th one-copy click (id, name): its policy names one approver."""
    return f"eeeeeeee-0000-4000-8003-{k:012d}", f"Bench-Solo-{k:02d}"


def solo_approver(k: int) -> TeamsUser:
    """Taken from the end of the approvers, so none of them clicked (or fetched a token) in the 60-copy clicks."""
    return approver(APPROVERS - (k - 1) % APPROVERS)


@dataclass
class ApprovalFigures:
    fanout_s: list[float] = field(default_factory=list)  # activation sent → 60th approval card arrived
    fanout_turn_s: list[float] = field(default_factory=list)  # the activation turn's HTTP response time
    click_s: list[float] = field(default_factory=list)  # invoke sent → HTTP response (60 copies)
    copies_s: list[float] = field(default_factory=list)  # invoke sent (after READ_PAUSE_S) → last other copy updated
    copies_at_once_s: list[float] = field(default_factory=list)  # the same, clicked as soon as the 60th card arrived
    solo_click_s: list[float] = field(default_factory=list)  # invoke sent → HTTP response (1 copy)
    updated_before_answer: list[int] = field(default_factory=list)  # per click: other copies updated before it
    problems: list[str] = field(default_factory=list)

    @staticmethod
    def ms(values: list[float], p: float) -> float:
        return percentile(values, p) * 1000 if values else float("nan")

    def fanout_median_ms(self) -> float:
        return median(self.fanout_s) * 1000 if self.fanout_s else float("nan")

    def fanout_max_ms(self) -> float:
        return max(self.fanout_s) * 1000 if self.fanout_s else float("nan")


class ApprovalBench:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        control: aiohttp.ClientSession,
        control_url: str,
        bot_url: str,
        connector_url: str,
        fanouts: int,
        clicks: int,
    ) -> None:
        self.http = http
        self.control = control
        self.control_url = control_url.rstrip("/")
        self.bot_url = bot_url
        self.connector_url = connector_url  # ends with "/"
        self.fanouts = fanouts
        self.clicks = clicks
        self.figures = ApprovalFigures()
        self._requesters = 0

    # -- plumbing ------------------------------------------------------------------------------------------------------

    async def seed(self, helper: str, **kwargs: Any) -> None:
        async with self.control.post(f"{self.control_url}/seed/{helper}", json=kwargs) as r:
            if r.status >= 300:
                raise RuntimeError(f"/_sim/seed/{helper} {kwargs} -> {r.status}: {await r.text()}")

    async def say(self, user: TeamsUser, text: str) -> int:
        body = json.dumps(message(self.connector_url, text, user)).encode()
        async with self.http.post(self.bot_url, data=body, headers={"Content-Type": "application/json"}) as r:
            await r.read()
            return r.status

    async def events(self, reset: bool = False) -> list[dict[str, Any]]:
        if reset:
            async with self.http.post(f"{self.connector_url}events/reset", params={"record": "1"}) as r:
                r.raise_for_status()
            return []
        async with self.http.get(f"{self.connector_url}events") as r:
            r.raise_for_status()
            data: list[dict[str, Any]] = await r.json()
            return data

    async def wait_events(self, done: Any, within: float = 20) -> list[dict[str, Any]]:
        """Poll the connector's timeline until done(events) holds (bounded; polling does not affect the timestamps)."""
        deadline = time.monotonic() + within
        while True:
            events = await self.events()
            if done(events) or time.monotonic() > deadline:
                return events
            await asyncio.sleep(0.02)

    # -- the run -------------------------------------------------------------------------------------------------------

    async def run(self) -> ApprovalFigures:
        await self.prepare()
        for i in range(self.fanouts):
            await self.fanout(i)
        for k in range(self.clicks):
            await self.click(k)
            await self.solo_click(k + 1)
        await self.http.post(f"{self.connector_url}events/reset")  # stop recording
        return self.figures

    async def prepare(self) -> None:
        members = [approver(n).oid for n in range(1, APPROVERS + 1)]
        for n in range(1, APPROVERS + 1):
            await self.seed("add_user", user_id=approver(n).oid, display_name=approver(n).name)
        await self.seed("add_group", group_id=APPROVER_GROUP, display_name="Bench-Approvers", members=members)
        await self.approval_group(GROUP, GROUP_NAME, ["groupMembers", APPROVER_GROUP, "Bench-Approvers"])
        for n in range(1, self.fanouts + self.clicks + 1):
            await self.seed("add_user", user_id=requester(n).oid, display_name=requester(n).name)
            await self.seed("add_eligibility", group_id=GROUP, principal_id=requester(n).oid, access="member")
        for k in range(1, self.clicks + 1):
            group_id, name = solo_group(k)
            who = solo_approver(k)
            asker = requester(self.fanouts + self.clicks + k)
            await self.seed("add_user", user_id=asker.oid, display_name=asker.name)
            await self.approval_group(group_id, name, ["singleUser", who.oid, who.name])
            await self.seed("add_eligibility", group_id=group_id, principal_id=asker.oid, access="member")
        statuses = await asyncio.gather(*(self.say(approver(n), "help") for n in range(1, APPROVERS + 1)))
        if any(s != 201 for s in statuses):
            raise RuntimeError(f"approvers' `help` answered {sorted(set(statuses))}")

    async def approval_group(self, group_id: str, name: str, approver_set: list[str]) -> None:
        """A group whose member activations need the approval (and the reason) of `approver_set` (a subject set)."""
        await self.seed("add_group", group_id=group_id, display_name=name)
        await self.seed(
            "set_policy",
            group_id=group_id,
            access="member",
            activation_max="PT2H",
            approval_required=True,
            approver_justification_required=True,
            primary_approvers=[approver_set],
        )

    async def request(self) -> tuple[TeamsUser, float, list[dict[str, Any]]] | None:
        """A new requester activates Bench-Fanout; returns (requester, seconds to the 60th card, the cards)."""
        self._requesters += 1
        user = requester(self._requesters)
        await self.events(reset=True)
        t0 = time.time()
        status = await self.say(user, ACTIVATE)
        turn = time.time() - t0
        events = await self.wait_events(lambda es: sum(e["approval"] for e in es) >= APPROVERS)
        cards = [e for e in events if e["approval"] and e["method"] == "POST"]
        if status != 201 or len(cards) != APPROVERS:
            self.figures.problems.append(
                f"{user.name}: the activation answered HTTP {status} and {len(cards)} of {APPROVERS} approval cards "
                "reached the connector stand-in"
            )
            return None
        self.figures.fanout_turn_s.append(turn)
        return user, max(e["t"] for e in cards) - t0, cards

    async def solo_click(self, k: int) -> None:
        """The k-th Approve on a request with one copy: only the clicker's card, so nothing else to update."""
        group_id, name = solo_group(k)
        who, asker = solo_approver(k), requester(self.fanouts + self.clicks + k)
        await self.events(reset=True)
        status = await self.say(asker, f"activate {name} 1h because bench")
        events = await self.wait_events(lambda es: any(e["approval"] for e in es))
        mine = [e for e in events if e["approval"] and e["conversation"] == f"a:personal-{who.oid}"]
        if status != 201 or len(mine) != 1:
            self.figures.problems.append(
                f"one-copy click {k}: HTTP {status}, {len(mine)} approval cards for {who.name}"
            )
            return
        clicked, approved, answer = await self.approve(who, mine[0])
        if not approved:
            self.figures.problems.append(f"one-copy click {k}: no final card: {str(answer)[:200]}")
            return
        self.figures.solo_click_s.append(clicked)

    async def approve(self, who: TeamsUser, card: dict[str, Any]) -> tuple[float, bool, Any]:
        """`who` clicks Approve on `card`: (seconds to the HTTP response, whether it carried the final card, body)."""
        data = {**_approve_data(card["body"]), "reason": "bench"}
        invoke = json.dumps(card_execute(self.connector_url, "approve", data, card["id"], who)).encode()
        t0 = time.time()
        async with self.http.post(self.bot_url, data=invoke, headers={"Content-Type": "application/json"}) as r:
            answer = await r.json(content_type=None) if r.status == 200 else await r.text()
        clicked = time.time() - t0
        final = (answer.get("value") or {}) if isinstance(answer, dict) else {}
        return clicked, r.status == 200 and "Approved by" in json.dumps(final), answer

    async def fanout(self, i: int) -> None:
        done = await self.request()
        if done is not None:
            self.figures.fanout_s.append(done[1])

    async def click(self, k: int) -> None:
        done = await self.request()
        if done is None:
            return
        _, _, cards = done
        who = approver(k % APPROVERS + 1)
        mine = [c for c in cards if c["conversation"] == f"a:personal-{who.oid}"]
        if len(mine) != 1:
            self.figures.problems.append(f"click {k + 1}: {who.name} got {len(mine)} approval cards")
            return
        card = mine[0]
        paused = k % 2 == 1
        if paused:
            await asyncio.sleep(READ_PAUSE_S)
        t0 = time.time()
        clicked, approved, answer = await self.approve(who, card)
        others = {c["id"] for c in cards} - {card["id"]}
        events = await self.wait_events(lambda es: others <= {e["id"] for e in es if e["method"] == "PUT"})
        puts = [e for e in events if e["method"] == "PUT" and e["id"] in others]
        updated = len({e["id"] for e in puts})
        if not approved or updated != len(others):
            self.figures.problems.append(
                f"click {k + 1}: final card {'ok' if approved else 'missing'}, "
                f"{updated} of {len(others)} other copies updated: {str(answer)[:200]}"
            )
            return
        self.figures.click_s.append(clicked)
        (self.figures.copies_s if paused else self.figures.copies_at_once_s).append(max(e["t"] for e in puts) - t0)
        # Same clock (this machine's wall clock) at both ends: a copy updated before the answer arrived here.
        self.figures.updated_before_answer.append(len({e["id"] for e in puts if e["t"] < t0 + clicked}))


def _approve_data(card: dict[str, Any]) -> dict[str, Any]:
    """The data of the card's `approve` action (found anywhere in the activity)."""
    stack: list[Any] = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("id") == "approve" and isinstance(node.get("data"), dict):
                return dict(node["data"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise ValueError("no approve action in the approval card")
