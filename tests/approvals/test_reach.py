"""Issue 9, point 1: approvers are reached whether or not they ever typed to the bot. Through POST /api/messages with
the simulated tenant (its Teams app catalog and installations, and the install events Teams sends the bot) and the
recording Bot Connector (which opens a 1:1 chat only with a user who has the app).

Security-Operators (seed "demo"): approvers Bob (singleUser) and PIM-Approvers (Carol, Dave).
"""

from __future__ import annotations

from datetime import timedelta

from devtools.teams import activities as act
from devtools.teams.activities import ALICE, BOB, TeamsUser
from devtools.teams.connector import Recorded
from simtenant import SubjectSet
from simtenant.seed import ALICE as ALICE_ID
from simtenant.seed import CAROL as CAROL_ID
from simtenant.seed import DAVE as DAVE_ID
from simtenant.teams import teams_user_id
from tests.support.approvals import CAROL, DAVE, approval_cards, texts
from tests.support.cards import maybe_element
from tests.support.chat import cancel_typed
from tests.support.stack import TEAMS_APP_ID, Stack

ACTIVATE = "activate Security-Operators 1h because incident INC-9"
SELF = "TeamsAppInstallation.ReadWriteSelfForUser.All"


async def activate(stack: Stack, text: str = ACTIVATE) -> str:
    """Alice asks; the sentence telling her who was sent the request."""
    status, _ = await stack.post(act.message(stack.service_url, text, ALICE))
    assert status == 201
    [told] = [t for t in texts(stack, ALICE) if "sent your request" in t or "could not reach" in t][-1:]
    return told


def chat_of(stack: Stack, user: TeamsUser, app_id: str) -> str:
    installation = stack.sim.tenant.teams.installed(user.oid, app_id)
    assert installation is not None, f"{user.name} does not have the app"
    return installation.chat_id


def cards_in(stack: Stack, conversation_id: str) -> list[Recorded]:
    return [
        r
        for r in stack.connector.messages(conversation_id)
        if r.card is not None and maybe_element(r.card, "approve") is not None
    ]


def help_cards(stack: Stack, conversation_id: str) -> int:
    return sum(1 for r in stack.connector.messages(conversation_id) if r.card and maybe_element(r.card, "examples"))


def installs(stack: Stack) -> list[tuple[str, int]]:
    """(user id, status) of every install Graph was asked for."""
    return [
        (e["path"].split("/")[3], e["status"])
        for e in stack.sim.tenant.log.recent()
        if e["method"] == "POST" and e["path"].endswith("/teamwork/installedApps")
    ]


async def test_approvers_whose_only_activity_was_the_install_event_get_the_card(stack: Stack) -> None:
    # Bob's app was installed by a Teams admin's setup policy: Teams sent installationUpdate (add) and nothing else.
    # Carol's install arrived as the conversationUpdate with the bot in membersAdded. Neither typed a word.
    assert (await stack.post(act.installation(stack.service_url, BOB)))[0] in (200, 201)
    assert (await stack.post(act.bot_added(stack.service_url, CAROL)))[0] in (200, 201)

    told = await activate(stack)
    assert len(approval_cards(stack, BOB)) == 1
    assert len(approval_cards(stack, CAROL)) == 1
    assert "Bob Builder" in told and "Carol Chen" in told, told


async def test_an_install_event_from_another_tenant_binds_nobody(stack: Stack) -> None:
    foreign = act.installation(stack.service_url, BOB)
    foreign["channelData"]["tenant"]["id"] = "00000000-0000-0000-0000-0000000000ff"
    foreign["conversation"]["tenantId"] = "00000000-0000-0000-0000-0000000000ff"
    assert (await stack.post(foreign))[0] in (200, 201)
    assert stack.connector.messages() == []  # not even the help card: the bot does not serve that tenant

    await activate(stack)
    assert approval_cards(stack, BOB) == [] and approval_cards(stack, DAVE) == []


async def test_three_approvers_who_never_wrote_a_word_are_all_reached(stack: Stack) -> None:
    assert stack.sim.teams_events is not None
    # Dave had the app before this bot ran here: nobody told the bot (published then without its endpoint).
    early = await stack.sim_control(
        "POST", "/teams/apps", {"display_name": act.BOT_NAME, "bot_id": act.BOT_ID, "external_id": TEAMS_APP_ID}
    )
    await stack.sim_control("POST", "/teams/installations", {"user": DAVE.oid, "app": early["id"]})
    app_id = await stack.publish_bot()  # the admin's upload, now with the messaging endpoint: the same catalog app
    assert app_id == early["id"]
    # Bob's app comes from a setup policy: Teams tells the bot, which stores his chat; he never types.
    await stack.sim_control("POST", "/teams/installations", {"user": BOB.oid, "app": app_id})
    await stack.sim.teams_events.idle()
    # Carol has nothing: the bot installs the app for her.

    told = await activate(stack)
    assert told.startswith(
        "I sent your request for Security-Operators to Bob Builder, Carol Chen and Dave Diaz in Teams."
    ), told
    for user in (BOB, CAROL, DAVE):
        [card] = cards_in(stack, chat_of(stack, user, app_id))
        assert card.card is not None and maybe_element(card.card, "deny") is not None
    assert installs(stack) == [(CAROL_ID, 201), (DAVE_ID, 409)]  # Bob's chat was known: no Graph call for him

    # Teams tells the bot of Carol's installation, too: her chat is then known with her Teams id. Bob, whose app a
    # policy installed, was welcomed with the help card; Carol, whom the bot installed itself for, was not: the approval
    # card is her first message.
    await stack.sim.teams_events.idle()
    delivered = [a for a, status in stack.sim.teams_events.delivered if status in (200, 201)]
    assert {a["from"]["aadObjectId"] for a in delivered} == {BOB.oid, CAROL.oid}
    assert [help_cards(stack, chat_of(stack, u, app_id)) for u in (BOB, CAROL, DAVE)] == [1, 0, 0]

    # A second request finds every chat stored: nothing is installed again, and the card refreshes for all three.
    status = await cancel_typed(stack)
    assert status == 201
    await activate(stack)
    assert installs(stack) == [(CAROL_ID, 201), (DAVE_ID, 409)]
    last = cards_in(stack, chat_of(stack, CAROL, app_id))[-1].card or {}
    assert set(last["refresh"]["userIds"]) >= {teams_user_id(BOB.oid), teams_user_id(CAROL.oid)}


async def test_without_the_install_permission_each_approver_is_named(stack: Stack) -> None:
    stack.sim.tenant.apps[stack.sim.client_id.lower()].roles -= {SELF}  # before the bot's first token
    await stack.publish_bot()
    await stack.post(act.message(stack.service_url, "help", BOB))

    told = await activate(stack)
    assert "to Bob Builder in Teams" in told, told
    assert (
        "I could not reach Carol Chen and Dave Diaz in Teams: I am not allowed to add myself to people's Teams" in told
    ), told
    assert told.endswith("PIM notifies approvers by e-mail.")
    assert [status for _, status in installs(stack)] == [403, 403]


async def test_an_app_missing_from_the_catalog_is_named_and_not_looked_up_again_at_once(stack: Stack) -> None:
    told = await activate(stack)
    assert (
        "could not reach Bob Builder, Carol Chen and Dave Diaz in Teams: my app is not in your organisation's" in told
    )
    assert installs(stack) == []
    catalog_reads = [e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/appCatalogs/teamsApps")]
    assert len(catalog_reads) == 1

    status = await cancel_typed(stack)
    assert status == 201
    await activate(stack)
    assert len([e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/appCatalogs/teamsApps")]) == 1


async def test_a_blocked_bot_and_a_silent_graph_are_named_per_approver(stack: Stack) -> None:
    app_id = await stack.publish_bot()
    await stack.sim_control("POST", "/teams/installations", {"user": DAVE.oid, "app": app_id})
    await stack.sim.teams_events.idle()
    stack.connector.block(chat_of(stack, DAVE, app_id))  # Dave blocked the bot
    stack.sim.tenant.add_fault(method="POST", path=f"users/{BOB.oid}/teamwork/installedApps", status=503, times=None)

    told = await activate(stack)
    assert "I sent your request for Security-Operators to Carol Chen in Teams." in told, told
    assert "I could not reach Bob Builder in Teams just now: Teams did not answer." in told
    assert "Teams did not accept the card for Dave Diaz" in told
    assert len(cards_in(stack, chat_of(stack, CAROL, app_id))) == 1


async def test_when_teams_will_not_open_the_chat_yet_the_chat_graph_shows_is_used(stack: Stack) -> None:
    app_id = await stack.publish_bot()
    stack.connector.personal_chat = lambda bot, member: None  # every 1:1 create_conversation: 403, as while an install
    # settles (the roster does not list the bot yet)

    told = await activate(stack)
    assert "to Bob Builder, Carol Chen and Dave Diaz in Teams" in told, told
    refused = [a for a in stack.connector.attempts if a.status == 403 and not a.conversation_id]
    assert len(refused) == 3
    chat_reads = [e for e in stack.sim.tenant.log.recent() if e["path"].endswith("/chat") and e["status"] == 200]
    assert len(chat_reads) == 3
    for user in (BOB, CAROL, DAVE):
        assert len(cards_in(stack, chat_of(stack, user, app_id))) == 1


async def test_a_user_without_the_app_gets_no_chat_from_the_bot_connector(stack: Stack) -> None:
    # The stand-in refuses a 1:1 conversation with someone who does not have the app, as Teams does.
    app_id = await stack.publish_bot()
    stack.sim.tenant.add_fault(
        method="POST", path=f"users/{CAROL.oid}/teamwork/installedApps", status=409, code="Conflict", times=None
    )  # Graph claims the app is there, but it is not (and lists no installation of it)
    told = await activate(stack)
    assert "I could not reach Carol Chen in Teams: I could not open a chat with them." in told, told
    assert stack.sim.tenant.teams.installed(CAROL.oid, app_id) is None
    refused = [a for a in stack.connector.attempts if a.status == 403]
    assert len(refused) == 1


async def test_twenty_five_approvers_who_never_wrote_are_installed_in_batches(stack: Stack) -> None:
    tenant = stack.sim.tenant
    group, approvers = "eeeeeeee-0000-4000-8000-0000000000a1", "eeeeeeee-0000-4000-8000-0000000000a2"
    tenant.add_group(group, "Crowd-Approved")
    tenant.add_group(approvers, "Crowd")
    users = [f"eeeeeeee-0000-4000-8003-{n:012d}" for n in range(25)]
    for n, user in enumerate(users):
        tenant.add_user(user, f"Crowd Member {n:02d}", f"crowd{n:02d}@contoso.test")
        tenant.add_member(approvers, user)
    tenant.set_policy(
        group, "member", activation_max="PT2H", approval_required=True,
        primary_approvers=[SubjectSet("groupMembers", approvers, "Crowd")],
    )  # fmt: skip
    tenant.add_eligibility(group, ALICE_ID, "member", start=tenant.now() - timedelta(days=1))
    app_id = await stack.publish_bot()

    told = await activate(stack, "activate Crowd-Approved 1h because drill")
    assert told.startswith("I sent your request for Crowd-Approved to ") and "could not" not in told, told
    assert sorted(installs(stack)) == sorted((u, 201) for u in users)
    for user in users:
        installation = tenant.teams.installed(user, app_id)
        assert installation is not None and len(cards_in(stack, installation.chat_id)) == 1
    inner = [e for e in tenant.log.recent() if "/teamwork/installedApps" in e["path"]]
    assert inner and all(e["inner"] for e in inner)  # all through $batch (20 a batch), none one by one
