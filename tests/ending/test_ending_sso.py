"""Keep it with Teams SSO (issue 14 point 3): when PIM will not schedule the next activation beside the running one,
the bot activates again at the end as the user, with the token the Bot Framework token service keeps for them (the
stand-in at OAUTH_URL), in a proactive turn of their chat: no sign-in asked again, the write made with their token."""

from __future__ import annotations

from devtools.teams import activities as act
from devtools.teams.activities import ALICE
from simtenant.seed import EXCHANGE_ADMINS
from tests.support.cards import element
from tests.support.chat import self_activations
from tests.support.sso import ask_to_activate, oauth_cards, token_exchange
from tests.support.stack import Stack, ending_cycle

MINUTE = 60.0


async def test_keep_it_at_the_end_uses_the_token_service_in_the_users_chat(sso: Stack) -> None:
    await ask_to_activate(sso)  # "activate Exchange-Admins 1h": sign-in card
    await sso.post(await token_exchange(sso))  # signed in; the activation is made
    sso.sim.tenant.advance(51 * MINUTE)
    before = len(sso.connector.messages())
    await ending_cycle(sso)
    sent = [r.card for r in sso.connector.messages()[before:] if r.card is not None]
    [card] = [c for c in sent if element(c, "heading")["text"] == "Exchange-Admins ends soon"]
    keep = element(card, "keep")
    data = {**keep["data"], "keepMinutes": "60", "justification": ""}
    status, body = await sso.post(act.card_execute(sso.service_url, keep["verb"], data, "card-1"))
    assert status == 200 and element(body["value"], "heading")["text"] == "Exchange-Admins: I will keep it"
    sso.sim.tenant.advance(10 * MINUTE)  # the first activation ends
    exchanges = sso.token_service.exchanges

    assert await ending_cycle(sso) == 1

    kept = self_activations(sso)[-1]
    assert (kept["status"], kept["scheduleInfo"]["expiration"]["duration"]) == ("Provisioned", "PT1H")
    assert sso.sim.tenant.is_member(EXCHANGE_ADMINS, ALICE.oid)
    write = [c for c in sso.graph_calls() if c["method"] == "POST" and c["path"].endswith("assignmentScheduleRequests")]
    assert write[-1]["status"] == 201
    assert len(oauth_cards(sso)) == 1 and sso.token_service.exchanges == exchanges  # no new sign-in
