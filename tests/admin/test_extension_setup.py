"""`python -m admin extension setup` against the simulated tenant: the operator signs in with the device code flow
(msal, the tenant's real token endpoint), the extension is created through Graph beta and linked to the group's
policy, a second run updates instead of duplicating, the wrong person is told why, and --dry-run sends nothing."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from admin.extension import main
from simtenant import RunningSimTenant
from simtenant.extensions import PRE_APPROVAL_RULE
from simtenant.seed import ALICE, ERIN, SECURITY_OPERATORS
from tests.support.tenant import Client

URL = "https://bot.contoso.com/api/pim/evaluate"
APP_ID_URI = "api://bot.contoso.com/4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def args(sim: RunningSimTenant, *extra: str, group: str = "Security-Operators") -> list[str]:
    return [
        "extension", "setup", "--group", group, "--url", URL, "--resource-id", APP_ID_URI,
        "--tenant", sim.tenant_id, "--authority-host", sim.authority_host,
        "--graph-url", sim.graph_base_url.replace("/v1.0", "/beta"), "--ca-file", sim.ca_file, *extra,
    ]  # fmt: skip


async def run(client: Client, argv: list[str], signs_in: str | None = ERIN) -> tuple[int, str]:
    """Run the command in a thread (it has its own event loop); `signs_in` completes its device-code sign-in."""
    out = io.StringIO()
    command = asyncio.create_task(asyncio.to_thread(main, argv, {}, out=out))
    if signs_in is not None:
        shown_by = None  # the operator types the code once the command has shown it: it asks the tenant first
        while not command.done():
            pending = await client.control("GET", "/devicecode")
            if pending.body["pending"]:
                code = pending.body["pending"][0]["user_code"]
                shown_by = shown_by or time.monotonic() + 10
                if code in out.getvalue():
                    approved = await client.control("POST", "/devicecode", json={"user_code": code, "user": signs_in})
                    assert approved.status == 200
                    break
                assert time.monotonic() < shown_by, f"the code {code} was never shown: {out.getvalue()!r}"
            await asyncio.sleep(0.05)
    return await asyncio.wait_for(command, 60), out.getvalue()


def graph_writes(sim: RunningSimTenant) -> list[dict[str, Any]]:
    return [e for e in sim.tenant.log.recent() if e["method"] in ("POST", "PATCH") and e["route"] != "token"]


async def test_setup_creates_the_extension_and_links_it_as_the_signed_in_administrator(client: Client) -> None:
    sim = client.sim
    status, output = await run(client, args(sim, "--timeout", "15", "--retries", "1"))
    assert status == 0, output
    [ext] = sim.tenant.custom_extensions.values()
    assert (ext.target_url, ext.resource_id, ext.timeout_ms, ext.max_retries) == (URL, APP_ID_URI, 15000, 1)
    assert ext.resource_type == "entraGroups"
    rule = sim.tenant.policy(SECURITY_OPERATORS, "member").extension_rules[PRE_APPROVAL_RULE]  # type: ignore[union-attr]
    assert rule.extension_id == ext.id and rule.enabled
    assert f"Custom extension {ext.id} created" in output and "Security-Operators" in output
    writes = graph_writes(sim)
    assert [w["path"].split("/")[1] for w in writes] == ["beta", "beta"]  # on beta, as the how-to requires
    assert all(w["caller"] == "user" and w["oid"] == ERIN for w in writes)  # delegated, as Erin

    again, output = await run(client, args(sim, "--timeout", "20"))
    assert again == 0, output
    assert [e.id for e in sim.tenant.custom_extensions.values()] == [ext.id]  # updated, not duplicated
    assert sim.tenant.custom_extensions[ext.id.lower()].timeout_ms == 20000
    assert f"Custom extension {ext.id} updated" in output


async def test_the_owner_policy_of_a_group_named_by_its_id(client: Client) -> None:
    sim = client.sim
    status, output = await run(client, args(sim, "--access", "owner", group=SECURITY_OPERATORS))
    assert status == 0, output
    assert sim.tenant.policy(SECURITY_OPERATORS, "owner").extension_rules  # type: ignore[union-attr]
    assert not sim.tenant.policy(SECURITY_OPERATORS, "member").extension_rules  # type: ignore[union-attr]


async def test_someone_without_the_role_is_told_what_is_needed_and_nothing_changes(client: Client) -> None:
    status, output = await run(client, args(client.sim), signs_in=ALICE)
    assert status == 1
    assert "Privileged Role Administrator" in output and "403" in output
    assert client.sim.tenant.custom_extensions == {}


async def test_an_unknown_group_is_named_and_nothing_is_created(client: Client) -> None:
    status, output = await run(client, args(client.sim, group="No-Such-Group"))
    assert status == 1
    assert "No group is named 'No-Such-Group'" in output
    assert client.sim.tenant.custom_extensions == {}


async def test_dry_run_prints_the_requests_and_sends_nothing(client: Client) -> None:
    before = client.sim.tenant.stats.to_json()
    status, output = await run(client, args(client.sim, "--dry-run"), signs_in=None)
    assert status == 0, output
    assert "POST " + client.sim.graph_base_url.replace("/v1.0", "/beta") in output
    assert "/identityGovernance/privilegedAccess/customExtensions" in output
    assert f"PATCH {client.sim.graph_base_url.replace('/v1.0', '/beta')}/policies/roleManagementPolicies/" in output
    assert (
        PRE_APPROVAL_RULE in output and '"timeoutInMilliseconds": 10000' in output and '"maximumRetries": 2' in output
    )
    assert client.sim.tenant.stats.to_json() == before  # no sign-in, no Graph call
    assert client.sim.tenant.custom_extensions == {}


async def test_values_graph_would_refuse_are_caught_before_anything_is_sent(client: Client) -> None:
    status, output = await run(
        client,
        args(client.sim, "--timeout", "90", "--retries", "7", "--url", "http://bot.contoso.com/x"),
        signs_in=None,
    )
    assert status == 2
    assert "--timeout 90" in output and "--retries 7" in output and "https" in output
    assert client.sim.tenant.stats.to_json()["token_requests"] == 0


async def test_a_worst_case_longer_than_the_bots_activation_timeout_is_warned_about(client: Client) -> None:
    status, output = await run(
        client, args(client.sim, "--timeout", "30", "--retries", "2", "--dry-run"), signs_in=None
    )
    assert status == 0
    assert "warning: PIM may wait 90 s" in output and "GRAPH_ACTIVATION_TIMEOUT_SECONDS" in output
