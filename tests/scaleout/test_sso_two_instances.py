"""Teams SSO on two bot instances (issue 13, point 5): the signin/tokenExchange invoke that Teams delivers more than
once (each signed-in Teams client sends it) arrives on both instances at once, and the token is exchanged once and
the command waiting for it runs once, across instances. Production settings: activities signed as the Bot Connector
signs them, the bot's own bearer on every token service call (tests.scaleout.cluster)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from devtools.azurite import Azurite
from devtools.teams import activities as act
from devtools.teams.activities import TeamsUser
from simtenant import seed
from tests.support.cluster import CONNECTION, Answer, Cluster, running_cluster

ROUNDS = 10
SEED = 20261209
OAUTH = "application/vnd.microsoft.card.oauth"


def _user(n: int) -> TeamsUser:
    return TeamsUser(f"eeeeeeee-0005-4000-8000-{n:012d}", f"Signer {n:02d}")


def conversation(user: TeamsUser) -> str:
    return str(act.personal_conversation(user)["id"])


def oauth_cards(cluster: Cluster, user: TeamsUser) -> list[dict[str, Any]]:
    return [
        a["content"]
        for r in cluster.connector.messages(conversation(user))
        for a in r.body.get("attachments") or []
        if a.get("contentType") == OAUTH
    ]


def result_cards(cluster: Cluster, user: TeamsUser) -> list[dict[str, Any]]:
    return [r.card for r in cluster.connector.messages(conversation(user)) if r.card is not None]


def activations_of(cluster: Cluster, user: TeamsUser) -> list[Any]:
    return [
        r
        for r in cluster.sim.tenant.requests_for("assignment")
        if r.principal_id == user.oid and r.action == "selfActivate"
    ]


async def token_exchange(cluster: Cluster, user: TeamsUser) -> dict[str, Any]:
    """What a Teams client sends once the user is signed in to it: the SSO token for the bot's API, under an id."""
    assert cluster.token_service is not None
    activity = act.message(cluster.service_url, "", user)
    activity.pop("text")
    token = await cluster.token_service.sso_token(user.oid)
    activity.update(
        type="invoke",
        name="signin/tokenExchange",
        value={"id": str(uuid.uuid4()), "connectionName": CONNECTION, "token": token},
    )
    return activity


async def delivered_twice(cluster: Cluster, activity: dict[str, Any], delays: tuple[float, float]) -> list[Answer]:
    async def deliver(delay: float) -> Answer:
        await asyncio.sleep(delay)
        return await cluster.post(activity)

    return list(await asyncio.gather(*(deliver(d) for d in delays)))


async def test_a_token_exchange_delivered_to_both_instances_at_once_is_exchanged_and_resumed_once(
    tmp_path: Path, azurite: Azurite
) -> None:
    rng = random.Random(SEED)
    async with running_cluster(tmp_path, azurite, sso=True) as cluster:
        assert cluster.token_service is not None
        tenant = cluster.sim.tenant
        users = [_user(n) for n in range(ROUNDS)]
        for n, user in enumerate(users):
            tenant.add_user(user.oid, user.name, f"signer-{n:02d}@{seed.DOMAIN}")
            tenant.add_eligibility(seed.EXCHANGE_ADMINS, user.oid, "member", start=tenant.now() - timedelta(days=1))

        for n, user in enumerate(users):
            # The first command needs the user's token: the bot asks to sign in and keeps the command.
            answer = await cluster.post(act.message(cluster.service_url, "activate Exchange-Admins 1h", user))
            assert answer.status == 201, answer.body
            assert len(oauth_cards(cluster, user)) == 1 and activations_of(cluster, user) == []

            exchanged_before = cluster.token_service.exchanges
            answers = await delivered_twice(
                cluster, await token_exchange(cluster, user), (rng.uniform(0, 0.02), rng.uniform(0, 0.02))
            )

            assert {a.instance for a in answers} == {0, 1}, answers
            assert [a.status for a in answers] == [200, 200], answers
            assert cluster.token_service.exchanges == exchanged_before + 1, f"round {n}"
            assert len(activations_of(cluster, user)) == 1, f"round {n}"
            [result] = result_cards(cluster, user)
            assert "Exchange-Admins" in str(result)
        assert cluster.token_service.refused == [] and cluster.connector.refused == []
