"""The admin feed names the people in a burst of changes with one Graph request (POST /directoryObjects/getByIds),
not one per person; a principal the directory no longer knows is shown by its id."""

from __future__ import annotations

from pathlib import Path

from simtenant import seed
from simtenant.seed import EXCHANGE_ADMINS
from tests.support.cards import card_text
from tests.support.feed import feed_here, for_days, running_feed_stack

GHOST = "dddddddd-0000-4000-8000-00000000dead"


async def test_a_burst_of_40_people_is_named_with_one_graph_request(tmp_path: Path) -> None:
    async with running_feed_stack(tmp_path) as stack:
        tenant = stack.sim.tenant
        tenant.apps[stack.sim.client_id.lower()].roles = frozenset([*seed.APP_ROLES, "Directory.Read.All"])
        await feed_here(stack)
        now = await stack.now()
        people = {f"dddddddd-0000-4000-8000-{n:012d}": f"Temp {n}" for n in range(40)}
        for user, name in people.items():
            tenant.add_user(user, name)
            await stack.admin("eligibility", "adminAssign", user, EXCHANGE_ADMINS, **for_days(now, 7))
        tenant.add_user(GHOST, "Gone Soon")
        await stack.admin("eligibility", "adminAssign", GHOST, EXCHANGE_ADMINS, **for_days(now, 7))
        del tenant.users[GHOST]  # deleted from the directory before the feed looked
        tenant.stats.reset()
        assert await stack.cycle() >= 1  # a digest
        text = " ".join(card_text(p.card or {}) for p in stack.channel_posts())
        assert all(name in text for name in people.values()), text
        assert "unknown user (dddddddd…)" in text  # its id, shortened as the feed's cards show ids
        routes = tenant.stats.by_route
        assert routes["POST directoryObjects/getByIds"] == 1
        assert not [r for r in routes if r.startswith(("GET directoryObjects/", "GET users/", "GET groups/{id}"))]
