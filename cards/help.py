"""The usage card: what the bot understands, with examples. Shown for `help` (a slip gets cards.slip instead).

In a channel or group chat (`where`) it offers what is answered there: the admin commands (channels only) and help;
the intro says that commands about the user's own access are answered in the 1:1 chat.

Element ids: `heading`, `reason` (only with a reason), `intro`, `examples` and per example i `example-{i}`,
`example-{i}-command`, `example-{i}-meaning`; for admins in the 1:1 chat `admin` with `admin-heading` and the admin
commands `admin-{i}`, `admin-{i}-command`, `admin-{i}-meaning`; in the demo's 1:1 chat `demo` with `demo-intro` and
the button `demo-request` (in the ActionSet `demo-actions`); then `footer` (1:1 only: durations and time zones).
"""

from __future__ import annotations

from collections.abc import Sequence

from cards.actions import run_button
from cards.common import actions, card, container, heading, text
from cards.elements import CardElement, JsonDict
from cards.text import ADMIN_EXAMPLES, CHANNEL_EXAMPLES, EXAMPLES, GROUP_CHAT_EXAMPLES, help_text
from cards.wording import ADMIN_COMMANDS_INTRO, DEMO_BUTTON, DEMO_INTRO, help_intro_shared

__all__ = ["help_card"]


def help_card(
    reason: str | None = None, *, where: str = "personal", admin: bool = False, demo: bool = False
) -> JsonDict:
    """Usage with examples; `reason` (e.g. "That button did not work: …") comes first when given. `where`: the
    Teams conversation type the card goes to (`personal`, `channel`, `groupChat`); `admin`: the reader may run the
    admin commands, which the 1:1 help then lists too (a channel's help shows them to everyone: they work there);
    `demo`: the bot runs in the demo (BOT_DEMO), and the 1:1 help offers a button that has a colleague ask for a group
    the reader approves."""
    personal = where == "personal"
    body: list[CardElement] = []
    if reason:
        body.append(text("reason", reason, weight="Bolder"))
    body.append(heading("heading", "What I can do"))
    if personal:
        body.append(
            text("intro", "I activate your eligible PIM group memberships just in time. Write to me like this:")
        )
    else:
        body.append(text("intro", help_intro_shared(where)))
    shown = EXAMPLES if personal else CHANNEL_EXAMPLES if where == "channel" else GROUP_CHAT_EXAMPLES
    body.append(container("examples", _examples("example", shown)))
    if personal and admin:
        admin_items = [text("admin-heading", ADMIN_COMMANDS_INTRO, weight="Bolder")]
        body.append(container("admin", admin_items + _examples("admin", ADMIN_EXAMPLES), separator=True))
    if personal and demo:
        button = actions("demo-actions", [run_button("demo-request", DEMO_BUTTON, "demo request")])
        body.append(container("demo", [text("demo-intro", DEMO_INTRO), button], separator=True))
    if personal:
        body.append(
            text(
                "footer",
                "Durations: 30m, 90m, 1h30m, 2h. Without one, the policy maximum is used. Times are shown in your "
                "time zone. Before an activation or an eligibility of yours ends, I send you a card to keep it, end "
                "it or ask for more.",
                subtle=True,
                spacing="Medium",
            )
        )
    return card(body, help_text(reason, where, admin=personal and admin))


def _examples(prefix: str, shown: Sequence[tuple[str, str]]) -> list[CardElement]:
    return [
        container(
            f"{prefix}-{i}",
            [
                text(f"{prefix}-{i}-command", command, font="Monospace", weight="Bolder"),
                text(f"{prefix}-{i}-meaning", meaning, subtle=True, spacing="None"),
            ],
            spacing="Small",
        )
        for i, (command, meaning) in enumerate(shown)
    ]
