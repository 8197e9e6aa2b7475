"""Issue 11, point 9: the step-up card gives way to "You're signed in" once the step-up page has signed the user in,
so its Sign in button (a used-up link by then) is not pressed again; a refused sign-in leaves it as it is."""

from __future__ import annotations

from devtools.teams.activities import ALICE, BOB
from simtenant.seed import PRIVILEGED_ROLE_ADMINS
from tests.support.cards import buttons, element
from tests.support.stepup import StepUpStack, stack

__all__ = ["stack"]


async def test_the_step_up_card_says_signed_in_once_the_page_signed_the_user_in(stack: StepUpStack) -> None:
    await stack.say("activate Privileged-Role-Admins 30m because x")
    [asked] = stack.connector.messages()
    link = stack.sign_in_link()

    status, _ = await stack.sign_in(link, BOB.oid)  # the wrong account: not signed in, the card stays
    assert status == 403
    assert [r for r in stack.connector.sent if r.method == "PUT"] == []

    await stack.say("activate Privileged-Role-Admins 30m because x")
    [_, again] = stack.connector.messages()
    status, _ = await stack.sign_in(stack.sign_in_link(), ALICE.oid)
    assert status == 200
    await stack.connector.wait_for(3)
    assert len(stack.activations(PRIVILEGED_ROLE_ADMINS)) == 1

    [update] = [r for r in stack.connector.sent if r.method == "PUT"]
    assert update.activity_id == again.activity_id != asked.activity_id
    card = update.card or {}
    assert element(card, "heading")["text"] == "You're signed in" and buttons(card) == [] and "actions" not in card
