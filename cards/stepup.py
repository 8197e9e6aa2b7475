"""The step-up sign-in card: what the PIM policy demands, and a button opening the bot's sign-in page.

Element ids: `heading`, `intro`, `how`, `actions` and the button `sign-in` (Action.OpenUrl; the page runs the
Entra sign-in with the claims challenge, then the bot retries the request by itself).
"""

from __future__ import annotations

from cards.common import card, heading, text
from cards.elements import ActionOpenUrl, JsonDict, to_json
from cards.wording import step_up_requirement
from core.errors import StepUpRequired

__all__ = ["step_up_card"]


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
