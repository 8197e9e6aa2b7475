"""The admins' `audit export` (issue 14 point 5): the summary card, and the two Teams file cards that deliver the CSV
in the admin's 1:1 chat.

Teams bots send a file in personal scope in three steps (Microsoft Learn, "Send and receive files using bot",
https://learn.microsoft.com/microsoftteams/platform/bots/how-to/bots-filesv4; MicrosoftDocs/msteams-docs
`msteams-platform/bots/how-to/bots-filesv4.md`): a **file consent card** (`application/vnd.microsoft.teams.card.file.
consent`: the file's `name` on the attachment; `description`, `sizeInBytes`, `acceptContext`, `declineContext` in its
content) asks the user; their answer comes as a `fileConsent/invoke` (bot.exports); after the upload the bot sends a
**file info card** (`application/vnd.microsoft.teams.card.file.info`: `contentUrl` and `name` on the attachment,
`uniqueId` and `fileType` in its content) that opens the file. The manifest's bot declares `supportsFiles: true`,
without which none of this works (same page).

Summary element ids: `heading`, `period`, `coverage` (what the audit log could still tell), `groups`, `counts`
(FactSet), `rows`, `file` (what comes next), `notes` (unplaced entries, a refused log, groups not read, waits).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cards.common import card, facts, heading, text
from cards.elements import CardElement, JsonDict
from cards.times import Tz
from cards.wording import format_time
from core.audit import SUMMARY_COUNTS, ExportSummary

__all__ = ["FILE_CONSENT", "FILE_INFO", "export_summary_card", "file_consent_card", "file_info_card"]

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


def file_consent_card(name: str, size: int, description: str, context: Mapping[str, Any]) -> JsonDict:
    """The attachment asking to upload `name` (`size` bytes) to the user's OneDrive; `context` comes back in the
    invoke whether they accept or decline (acceptContext / declineContext)."""
    return {
        "contentType": FILE_CONSENT,
        "name": name,
        "content": {
            "description": description,
            "sizeInBytes": size,
            "acceptContext": dict(context),
            "declineContext": dict(context),
        },
    }


def file_info_card(name: str, content_url: str, unique_id: str, file_type: str) -> JsonDict:
    """The attachment that shows the uploaded file (from the invoke's uploadInfo)."""
    return {
        "contentType": FILE_INFO,
        "contentUrl": content_url,
        "name": name,
        "content": {"uniqueId": unique_id, "fileType": file_type},
    }


def export_summary_card(summary: ExportSummary, file_name: str, tz: Tz) -> JsonDict:
    period = summary.period
    last_day = period.end - timedelta(microseconds=1)
    span = f"{period.start.date().isoformat()} to {last_day.date().isoformat()} (UTC)"
    body: list[CardElement] = [
        heading("heading", "PIM audit export"),
        text("period", f"From {span}.", spacing="None"),
    ]
    if summary.audit_refused:
        coverage = "I may not read PIM's audit log (AuditLog.Read.All): the file has the schedule requests only."
    elif period.audit_covers_all:
        coverage = "PIM's audit log still covers the whole period."
    else:
        coverage = (
            f"PIM's audit log keeps 30 days: it covers only from {format_time(period.audit_from, tz)}. "
            "Before that, the file has the schedule requests Graph still lists."
        )
    body.append(text("coverage", coverage, subtle=True))
    names = ", ".join(g.display_name for g in summary.groups) or "none"
    body.append(text("groups", f"Groups: {names}", spacing="Small"))
    body.append(facts("counts", [(label, str(summary.counts.get(label, 0))) for label, _ in SUMMARY_COUNTS]))
    body.append(text("rows", f"{summary.rows} row{'s' if summary.rows != 1 else ''} in all.", subtle=True))
    body.append(text("file", f"Accept the file card to get {file_name} in your OneDrive.", spacing="Small"))
    notes: list[str] = []
    if summary.unplaced:
        notes.append(f"{summary.unplaced} audit entries named no group I could be sure of and are left out.")
    if summary.failed_groups:
        notes.append(f"The requests of {len(summary.failed_groups)} group(s) could not be read.")
    if summary.throttled_waits:
        notes.append(f"The audit log asked me to wait {summary.throttled_waits} time(s); nothing is missing.")
    if notes:
        body.append(text("notes", " ".join(notes), subtle=True, size="Small"))
    counts = ", ".join(f"{label}: {summary.counts.get(label, 0)}" for label, _ in SUMMARY_COUNTS)
    return card(body, f"PIM audit export {span}: {counts}. {coverage}")
