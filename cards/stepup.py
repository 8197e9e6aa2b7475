"""The step-up sign-in card: what the PIM policy demands, and a button opening the bot's sign-in page; and what a
sign-in card (this one, or Teams SSO's OAuth card) becomes once the user has signed in.

Element ids: `heading`, `intro`, `how`, `actions` and the button `sign-in` (Action.OpenUrl; the page runs the
Entra sign-in with the claims challenge, then the bot retries the request by itself). Signed in: `heading`, `who`.
"""

from __future__ import annotations

from cards.common import card, heading, text
from cards.elements import ActionOpenUrl, JsonDict, to_json
from cards.wording import SIGNED_IN, signed_in_as, step_up_requirement
from core.errors import StepUpRequired

__all__ = ["signed_in_card", "step_up_card"]


def step_up_card(error: StepUpRequired, group_name: str, url: str) -> JsonDict:
    """`url` is the bot's /auth/stepup/start link for this request (opaque, single use, short-lived)."""
    requirement = step_up_requirement(error, group_name)
    body = [
        heading("heading", f"Sign in again to activate {group_name}"),
        text("intro", requirement),
        text(
            "how",
            "Select Sign in, complete the sign-in in your browser, then come back: "
            "I'll finish the activation for you, there is no need to send it again.",
            subtle=True,
        ),
    ]
    result = card(body, f"{requirement} Open {url} to sign in; I'll then finish the activation.")
    result["actions"] = [to_json(ActionOpenUrl(id="sign-in", title="Sign in", url=url))]
    return result


def signed_in_card(name: str) -> JsonDict:
    """Replaces a sign-in card once the user has signed in: no button is left to press a second time."""
    who = signed_in_as(name) if name else ""
    body = [heading("heading", SIGNED_IN)] + ([text("who", who, subtle=True)] if who else [])
    return card(body, f"{SIGNED_IN} as {name}." if name else f"{SIGNED_IN}.")
