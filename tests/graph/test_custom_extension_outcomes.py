"""What the bot's Graph layer makes of a selfActivate that PIM put to the group's custom extension (issue 15): the
simulated tenant calls an operator's endpoint (a stand-in) and answers the bot as Graph would. A denial becomes
ExtensionDenied with the reasons in every form the tenant may answer; AutoApproved is an activation; and an activation
that waits for a slow extension outlasts the client's usual timeout instead of being given up as lost."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

import simtenant
from cards.wording import explain
from core.errors import ExtensionDenied
from core.models import Access, RequestStatus
from core.ports import ActivationInput
from graph import AppTokenSource, GraphClient, GraphPimDirectory, SimulatedTenantTokens
from graph.errors import GraphError
from simtenant import seed
from tests.support.pim_endpoint import Endpoint, decision, link_in_tenant
from tests.support.tenant import GRAPH_DEFAULT, msal_app

HOUR = timedelta(hours=1)


class Rig:
    def __init__(self, sim: Any, http: httpx.AsyncClient, client: GraphClient) -> None:
        self.sim, self.http, self.client = sim, http, client
        self.tokens = SimulatedTenantTokens(http, sim.control_url)

    def directory(self, activation_timeout: float | None = None) -> GraphPimDirectory:
        return GraphPimDirectory(self.client, self.sim.tenant.clock, activation_timeout=activation_timeout)

    async def activate(self, group: str, directory: GraphPimDirectory | None = None, **kw: Any) -> Any:
        token = await self.tokens.token_for(seed.ALICE, self.sim.tenant_id)
        request = ActivationInput(group, Access.MEMBER, seed.ALICE, self.sim.tenant.now(), HOUR, "INC-1", **kw)
        return await (directory or self.directory()).self_activate(token, request)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    tenant = simtenant.build_tenant("demo")
    tenant.clock.freeze()
    async with simtenant.run_simtenant(tenant=tenant) as sim:
        # The client's usual timeout is short (1 s): the slow-extension test shows the activation's own outlasting it.
        async with httpx.AsyncClient(verify=sim.ssl_context(), timeout=1.0) as http:
            async with msal_app(sim) as app:
                token = AppTokenSource(functools.partial(app.acquire_token_for_client, scopes=GRAPH_DEFAULT))
                yield Rig(sim, http, GraphClient(http, sim.graph_base_url, token, max_retry_wait=1.0))


@pytest.mark.parametrize("style", ["policy", "text"])
async def test_a_denial_is_extension_denied_with_the_reasons(rig: Rig, endpoint: Endpoint, style: str) -> None:
    await rig.http.post(f"{rig.sim.control_url}/settings", json={"extension_denial_style": style})
    endpoint.answers = [decision("Denied", "Ticket INC-1 is closed", "Open an incident first")]
    link_in_tenant(rig.sim.tenant, seed.EXCHANGE_ADMINS, endpoint.url)
    with pytest.raises(ExtensionDenied) as caught:
        await rig.activate(seed.EXCHANGE_ADMINS)
    assert caught.value.reasons == ("Ticket INC-1 is closed", "Open an incident first")
    said = explain(caught.value.for_group("Exchange-Admins", Access.MEMBER), None)
    assert said == (
        "Exchange-Admins was denied by the activation rules: Ticket INC-1 is closed. Open an incident first."
    )


async def test_a_request_created_denied_is_a_denial_without_reasons(rig: Rig, endpoint: Endpoint) -> None:
    await rig.http.post(f"{rig.sim.control_url}/settings", json={"extension_denial_style": "status"})
    endpoint.answers = [decision("Denied", "No")]
    link_in_tenant(rig.sim.tenant, seed.EXCHANGE_ADMINS, endpoint.url)
    with pytest.raises(ExtensionDenied) as caught:
        await rig.activate(seed.EXCHANGE_ADMINS)
    assert caught.value.reasons == ()
    assert "denied by the activation rules" in explain(caught.value.for_group("Exchange-Admins", Access.MEMBER), None)


async def test_auto_approved_is_an_activation_without_approval(rig: Rig, endpoint: Endpoint) -> None:
    endpoint.answers = [decision("AutoApproved", "On call")]
    link_in_tenant(rig.sim.tenant, seed.SECURITY_OPERATORS, endpoint.url)
    request = await rig.activate(seed.SECURITY_OPERATORS)
    assert request.status is RequestStatus.PROVISIONED


async def test_an_activation_waits_for_a_slow_extension_past_the_clients_timeout(rig: Rig, endpoint: Endpoint) -> None:
    async def slow(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        await asyncio.sleep(1.5)  # longer than the client's 1 s
        return decision("Approved")

    endpoint.answers = [slow]
    link_in_tenant(rig.sim.tenant, seed.EXCHANGE_ADMINS, endpoint.url, timeout_ms=3000)
    request = await rig.activate(seed.EXCHANGE_ADMINS, rig.directory(activation_timeout=4.0))
    assert request.status is RequestStatus.PROVISIONED
    assert len(endpoint.calls) == 1  # one request: the write was neither given up nor sent twice


async def test_a_denial_under_a_code_of_its_own_is_extension_denied_too(rig: Rig) -> None:
    """Should Graph answer a denial with an error code naming the extension (one more undocumented form)."""
    rig.sim.tenant.add_fault(
        method="POST", path=".*/assignmentScheduleRequests$", status=400, code="CustomExtensionEvaluationDenied",
        message='The custom extension denied the request. Reasons: ["Not on call"]', times=1,
    )  # fmt: skip
    with pytest.raises(ExtensionDenied) as caught:
        await rig.activate(seed.EXCHANGE_ADMINS)
    assert caught.value.reasons == ("Not on call",)


@pytest.mark.parametrize(
    ("message", "reasons"),
    [
        ('The following policy rules failed: ["CustomExtensionRule"] Reasons: ["a","b"]', ("a", "b")),
        ("The following policy rules failed: CustomExtensionRule - a; b", ("a", "b")),
        ('The following policy rules failed: ["CustomExtensionRule"]', ()),
        ("reason: not today", ()),
    ],
)
def test_the_reasons_are_read_from_each_message_form(message: str, reasons: tuple[str, ...]) -> None:
    assert GraphError(400, "RoleAssignmentRequestPolicyValidationFailed", message).extension_reasons == reasons
