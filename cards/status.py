"""The reply to `status`: what is active, what waits for approval, what the user can activate.

Element ids: `heading`; sections `active`, `pending`, `eligible` with headings `{section}-heading`, an empty state
`{section}-empty` (and `scheduled`, activations PIM took for a later start, each with `scheduled-{i}-cancel`), rows
`{section}-{i}` (ColumnSet) holding `{section}-{i}-title`, `{section}-{i}-detail` and, for
activations the user can end, `active-{i}-actions` with the button `active-{i}-deactivate`; for eligibilities the user
can activate now, `eligible-{i}-actions` with the button `eligible-{i}-activate` (the policy's maximum duration).
An eligibility that ends within ELIGIBILITY_SOON (14 days, when PIM mails its own notice) says so in its detail,
`eligible-{i}-ending`.
"""

from __future__ import annotations

from datetime import timedelta

from cards.actions import activate_button, cancel_button, deactivate_button
from cards.common import actions, card, columns, container, heading, text
from cards.elements import CardElement, JsonDict
from cards.text import SUGGESTED_DURATION, sorted_view, summary_text, typed_command
from cards.times import Tz
from cards.wording import access_label, format_duration, format_time, nothing_active
from core.ending import ELIGIBILITY_SOON, days_left
from core.models import Access, ActiveAssignment, Eligibility, PimRequest
from core.outcomes import StatusView

__all__ = ["status_card"]


def status_card(view: StatusView, tz: Tz) -> JsonDict:
    active, pending, eligible = sorted_view(view)
    body: list[CardElement] = [heading("heading", "Your PIM groups")]

    rows: list[CardElement] = [text("active-heading", "Active", weight="Bolder")]
    if not active:
        first = next((e for e in eligible if view.can_activate(e)), None)
        example = None
        if first is not None:
            example = typed_command("activate", first.group.display_name, SUGGESTED_DURATION, owner=_owner(first))
        rows.append(text("active-empty", nothing_active(example), subtle=True))
    rows += [_active_row(a, f"active-{i}", view, tz) for i, a in enumerate(active)]
    body.append(container("active", rows, spacing="Medium"))

    if view.scheduled:
        later = sorted(view.scheduled, key=lambda r: (r.start or view.now, r.group_id))
        rows = [text("scheduled-heading", "Scheduled", weight="Bolder")]
        rows += [_scheduled_row(r, f"scheduled-{i}", view, tz) for i, r in enumerate(later)]
        body.append(container("scheduled", rows, separator=True, spacing="Medium"))

    if pending:
        rows = [text("pending-heading", "Waiting for approval", weight="Bolder")]
        rows += [_pending_row(p, f"pending-{i}", view, tz) for i, p in enumerate(pending)]
        body.append(container("pending", rows, separator=True, spacing="Medium"))

    rows = [text("eligible-heading", "Eligible", weight="Bolder")]
    if not eligible:
        rows.append(
            text(
                "eligible-empty",
                "You are not eligible for any group in PIM. Your administrator can make you eligible.",
                subtle=True,
            )
        )
    rows += [_eligible_row(e, f"eligible-{i}", view, tz) for i, e in enumerate(eligible)]
    body.append(container("eligible", rows, separator=True, spacing="Medium"))
    return card(body, summary_text(view, tz))


def _row(
    rid: str, title: str, detail: str, extra: list[CardElement] | None = None, warning: CardElement | None = None
) -> CardElement:
    lines = [text(f"{rid}-title", title), text(f"{rid}-detail", detail, subtle=True, spacing="None")]
    if warning is not None:
        lines.append(warning)
    cols = [(f"{rid}-text", "stretch", lines)]
    if extra:
        cols.append((f"{rid}-action", "auto", extra))
    return columns(rid, cols)


def _active_row(a: ActiveAssignment, rid: str, view: StatusView, tz: Tz) -> CardElement:
    title = f"{a.group.display_name} · {access_label(a.access)}"
    if a.activated:
        detail = f"until {format_time(a.end, tz, reference=view.now)}" if a.end else "no end date"
        button = deactivate_button(f"{rid}-deactivate", a.group, a.access)
        return _row(rid, title, detail, [actions(f"{rid}-actions", [button])])
    if a.end is None:
        detail = "permanent, assigned by an admin"
    else:
        detail = f"until {format_time(a.end, tz, reference=view.now)}, assigned by an admin"
    return _row(rid, title, detail)


def _pending_row(p: PimRequest, rid: str, view: StatusView, tz: Tz) -> CardElement:
    name = view.group_names.get(p.group_id, p.group_id)
    parts = []
    if p.start is not None and p.start > view.now + timedelta(minutes=5):  # scheduled: starts then, once approved
        parts.append(f"to start {format_time(p.start, tz, reference=view.now)}")
    if p.created is not None:
        parts.append(f"requested {format_time(p.created, tz, reference=view.now)}")
    if p.duration is not None:
        parts.append(f"for {format_duration(p.duration)}")
    return _row(rid, f"{name} · {access_label(p.access)}", ", ".join(parts) or "waiting for approval")


def _scheduled_row(r: PimRequest, rid: str, view: StatusView, tz: Tz) -> CardElement:
    """An activation PIM took for a later start, with PIM's own word for where it is (ScheduleCreated, Granted, …)
    and its Cancel button."""
    name = view.group_names.get(r.group_id, r.group_id)
    parts = [f"starts {format_time(r.start, tz, reference=view.now)}" if r.start else "starts later"]
    if r.ends is not None:
        parts.append(f"until {format_time(r.ends, tz, reference=r.start or view.now)}")
    if r.raw_status:
        parts.append(f"PIM: {r.raw_status}")
    button = cancel_button(f"{rid}-cancel", r.id, "Cancel")
    return _row(rid, f"{name} · {access_label(r.access)}", ", ".join(parts), [actions(f"{rid}-actions", [button])])


def _eligible_row(e: Eligibility, rid: str, view: StatusView, tz: Tz) -> CardElement:
    parts = []
    if e.start is not None and view.now < e.start:
        parts.append(f"starts {format_time(e.start, tz, reference=view.now)}")
    parts.append(f"until {format_time(e.end, tz, reference=view.now)}" if e.end else "permanent")
    detail = ", ".join(parts)
    if e.inherited:
        # core.models.Eligibility does not say which group grants it; name it once the domain carries it.
        detail += " (through a group you are a member of)"
    extra: list[CardElement] | None = None
    ending: CardElement | None = None
    if e.end is not None and view.now < e.end <= view.now + ELIGIBILITY_SOON:
        days = days_left(e.end, view.now)
        left = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        ending = text(f"{rid}-ending", f"Eligibility ends {left}", color="Warning", spacing="None")
    if view.can_activate(e):
        # No duration: the policy's maximum (the answer says so); a policy that wants a justification or a ticket
        # answers the click with the card that asks for them.
        extra = [actions(f"{rid}-actions", [activate_button(f"{rid}-activate", "Activate", e.group, e.access, None)])]
    return _row(rid, f"{e.group.display_name} · {access_label(e.access)}", detail, extra, ending)


def _owner(e: Eligibility) -> bool:
    return e.access is Access.OWNER
