"""The cards of an access about to end (issue 14 points 3 and 4), and their answers.

`ending_soon_card`: an activation ends within the warning: when (in the reader's zone, said with it), a choice of
how long to keep it, **Keep it** (`keep`, verb keepActive: the same group again from when this one ends) and
**I'm done** (`done`, the Deactivate verb: it ends now). `kept_card`: PIM scheduled the next activation;
`keep_planned_card`: PIM would not schedule it beside the running one, so the bot activates again when it ends.

`eligibility_card`: the user's own eligibility ends soon (**Ask to extend**, `ask`, verb askExtend) or ended lately
(**Ask to renew**, verb askRenew), with the reason for the admin (`changeReason`) and **Open PIM** (`open-pim`).
`change_asked_card` and `change_refused_card` answer the click.

Element ids: `heading`, `ends`, `note`, `keep-duration`, `ticket` (only where the policy wants a ticket), `actions`
(`keep`, `done`, `ask`, `open-pim`), `reason`,
`problem`, `request`; each Action.Execute has its Action.Submit twin `…-submit`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cards.actions import (
    CHANGE_REASON_INPUT,
    JUSTIFICATION_INPUT,
    JUSTIFICATION_MAX,
    KEEP_INPUT,
    Verb,
    deactivate_button,
    deactivate_data,
    execute_button,
)
from cards.common import actions, card, heading, request_footnote, text
from cards.elements import ActionOpenUrl, CardElement, InputChoiceSet, InputText, JsonDict
from cards.needs_input import ticket_input
from cards.times import Tz
from cards.wording import PIM_ACTIVATE_URL, access_label, explain, format_duration, format_time
from core.ending import ChangeAsked, EligibilityChange, EligibilityNotice, NoticeKind, days_left
from core.errors import RequestRefused
from core.models import Access, ActiveAssignment, Group

__all__ = [
    "KEEP_CHOICES",
    "change_asked_card",
    "change_refused_card",
    "eligibility_card",
    "ending_soon_card",
    "keep_planned_card",
    "kept_card",
]

# How long Keep it may ask for; a choice over the group's maximum is answered with the policy's refusal and a button
# for the maximum (the activation card's), as a typed command would be.
KEEP_CHOICES = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4), timedelta(hours=8))
_DEFAULT_KEEP = timedelta(hours=1)
_POLICY_APPLIES = "The group's PIM policy applies as to any activation: it may ask for approval or a reason."


def ending_soon_card(active: ActiveAssignment, tz: Tz, now: datetime, *, ticket_required: bool = False) -> JsonDict:
    """ "X ends soon": when, Keep it for a chosen time, I'm done. `ticket_required`: the group's policy wants a ticket
    number (Ticketing), so the card asks for it as the needs-input card does and Keep it sends it; a reason box is
    always there (a policy may want one)."""
    group, access = active.group, active.access
    assert active.end is not None
    minutes = max(1, round((active.end - now) / timedelta(minutes=1)))
    ends = (
        f"Your {access_label(access).lower()} access to {group.display_name} ends at "
        f"{format_time(active.end, tz, reference=now)}, in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    choose = InputChoiceSet(
        id=KEEP_INPUT,
        label="Keep it for",
        value=str(_DEFAULT_KEEP // timedelta(minutes=1)),
        choices=[{"title": format_duration(d), "value": str(d // timedelta(minutes=1))} for d in KEEP_CHOICES],
    )
    reason = InputText(
        id=JUSTIFICATION_INPUT,
        label="Reason (if the group's policy asks for one)",
        placeholder="e.g. INC-4711 still open",
        max_length=JUSTIFICATION_MAX,
    )
    data = deactivate_data(group, access)
    keep = execute_button("keep", "Keep it", Verb.KEEP_ACTIVE, data, style="positive")
    done = deactivate_button("done", group, access, title="I'm done", inputs=False)  # the inputs are Keep it's
    body: list[CardElement] = [
        heading("heading", f"{group.display_name} ends soon"),
        text("ends", ends),
        choose,
        reason,
        *([ticket_input()] if ticket_required else []),
        actions("actions", [keep, done]),
        text(
            "note", f"Keep it activates {group.display_name} again from when this ends. {_POLICY_APPLIES}", subtle=True
        ),
    ]
    return card(body, f"{group.display_name} ends soon")


def kept_card(group: Group, access: Access, start: datetime, end: datetime, tz: Tz, request_id: str) -> JsonDict:
    """PIM holds the next activation, scheduled to start when the running one ends."""
    said = (
        f"Kept: your {access_label(access).lower()} access to {group.display_name} continues from "
        f"{format_time(start, tz)} until {format_time(end, tz)} ({format_duration(end - start)}). PIM starts it "
        "by itself."
    )
    body = [
        heading("heading", f"{group.display_name}: kept"),
        text("ends", said),
        request_footnote("request", request_id),
    ]
    return card(body, said)


def keep_planned_card(group: Group, access: Access, start: datetime, duration: timedelta | None, tz: Tz) -> JsonDict:
    """PIM takes no second activation of a group while one runs: the bot activates again itself at `start`."""
    how_long = f"for {format_duration(duration)}" if duration is not None else "for the policy's maximum"
    said = (
        f"I will activate {group.display_name} ({access_label(access).lower()}) again {how_long} at "
        f"{format_time(start, tz)}, when this activation ends: PIM does not take a second activation of a group while "
        "one is running, so it cannot be scheduled now. I will tell you here how it went."
    )
    body = [
        heading("heading", f"{group.display_name}: I will keep it"),
        text("ends", said),
        text("note", _POLICY_APPLIES, subtle=True),
    ]
    return card(body, said)


def eligibility_card(notice: EligibilityNotice, tz: Tz, now: datetime, *, problem: str | None = None) -> JsonDict:
    """Your eligibility ends soon (Ask to extend) or ended (Ask to renew). `problem`: said above the input (the click
    came without a reason)."""
    e = notice.eligibility
    assert e.end is not None
    name, access = e.group.display_name, e.access
    ending = notice.kind is NoticeKind.ENDING
    when = format_time(e.end, tz, reference=now)
    if ending:
        days = days_left(e.end, now)
        left = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        title = f"Your eligibility for {name} ends soon"
        said = f"Your eligibility for {access_label(access).lower()} access to {name} ends on {when}, {left}."
        ask_title, verb = "Ask to extend", Verb.ASK_EXTEND
    else:
        title = f"Your eligibility for {name} has ended"
        said = (
            f"Your eligibility for {access_label(access).lower()} access to {name} ended on {when}. It can still be "
            "renewed for 30 days after it ended."
        )
        ask_title, verb = "Ask to renew", Verb.ASK_RENEW
    reason = InputText(
        id=CHANGE_REASON_INPUT,
        label="Reason for your administrator",
        placeholder="Why do you still need it? e.g. on-call rotation until March",
        is_multiline=True,
        max_length=JUSTIFICATION_MAX,
        is_required=True,
        error_message="Please say why you still need it.",
    )
    ask = execute_button("ask", ask_title, verb, deactivate_data(e.group, access), style="positive")
    portal = ActionOpenUrl(id="open-pim", title="Open PIM", url=PIM_ACTIVATE_URL)
    body: list[CardElement] = [heading("heading", title), text("ends", said)]
    if problem:
        body.append(text("problem", problem, color="Attention"))
    body += [
        reason,
        actions("actions", [ask, portal]),
        text(
            "note",
            "An administrator decides in PIM; you keep your access until then only if it has not ended.",
            subtle=True,
        ),
    ]
    return card(body, said)


def change_asked_card(asked: ChangeAsked, tz: Tz) -> JsonDict:
    """The ask is with PIM, for an administrator."""
    e = asked.eligibility
    what = "extend" if asked.change is EligibilityChange.EXTEND else "renew"
    said = (
        f"Asked: your request to {what} your eligibility for {access_label(e.access).lower()} access to "
        f"{e.group.display_name} is with PIM. An administrator decides there; PIM e-mails you the outcome."
    )
    body = [
        heading("heading", f"{e.group.display_name}: asked to {what}"),
        text("ends", said),
        request_footnote("request", asked.request.id),
    ]
    return card(body, said)


def change_refused_card(eligibility_group: str, access: Access, error: RequestRefused, tz: Tz) -> JsonDict:
    """Graph (or the bot's own check) did not take the ask: why, and the portal, where the user can ask instead."""
    said = explain(error, tz, group_name=eligibility_group, access=access)
    portal = ActionOpenUrl(id="open-pim", title="Open PIM", url=PIM_ACTIVATE_URL)
    body = [heading("heading", f"{eligibility_group}: not asked"), text("ends", said), actions("actions", [portal])]
    return card(body, said)
