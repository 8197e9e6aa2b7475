"""The admins' `audit export <from> <to> [group …]` (issue 14 point 5): a CSV of the monitored groups' PIM events,
delivered as a file in the admin's 1:1 chat the way Teams bots send files in personal scope.

1. `run`: only the bot's admins (core.admins, as `feed here` asks); typed in a channel it continues in the 1:1 chat
   (bot.handler), since Teams' bot file API works "only in the personal context" (Microsoft Learn, "Send and receive
   files using bot"). The monitored groups (the admin feed's: FEED_GROUPS and discovered ones), or those of them the
   command names, are read (graph.history: the audit log paced within its 5 requests per 10 s, and the schedule
   requests), the rows made and correlated (core.audit), the CSV kept under `export/{id}` (bot.store.keys), and two
   messages sent: the summary card and the **file consent card** (cards.export), whose context names the export.
2. `consent`: the `fileConsent/invoke` the admin's answer sends. Decline: the export is dropped and the admin told.
   Accept: the record is taken (deleted under its etag: a second accept finds nothing), the bytes are PUT to
   `uploadInfo.uploadUrl` (bot.transport.upload), and a **file info card** (cards.export) shows the file. The invoke
   is answered 200 with no body (bot.handler), as botbuilder's TeamsActivityHandler answers `fileConsent/invoke`.
   Only the admin the export was made for can take it; a stale one (over a day old) is refused.

The Microsoft 365 Agents Playground has no file consent: it shows the consent card as an attachment it cannot act on
(reported in the issue's note); the tests drive the exchange through the Bot Connector stand-in (devtools.teams).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from botbuilder.schema import Attachment

import cards
from bot.approvals.records import ApprovalRecords
from bot.store import Conflict, Store
from bot.store import keys as keyspace
from bot.transport.activity import FileConsent, file_consent_of
from bot.transport.upload import UploadFailed, upload
from bot.turn import Turn, admin_or_told
from cards import wording
from cards.export import export_summary_card, file_consent_card, file_info_card
from core.admins import Admins
from core.audit import AuditKind, ExportRow, ExportSource, export_rows, period_of, summarise, to_csv
from core.commands import AuditExport
from core.errors import DirectoryError
from core.feed import UnknownFeedGroups
from core.models import Group
from core.names import normalise
from core.ports import Clock

__all__ = ["EXPORT_TTL", "AuditExports"]

log = logging.getLogger(__name__)

EXPORT_TTL = timedelta(days=1)  # a consent card answered later than this finds its export gone
_BOM = "\ufeff"  # Excel reads a CSV as UTF-8 (names with accents) only with it


@dataclass(frozen=True, slots=True)
class _Kept:
    """An export waiting for its admin's answer (`export/{id}`)."""

    owner: str
    file_name: str
    csv: str
    made: datetime

    def to_json(self) -> dict[str, Any]:
        return {"owner": self.owner, "fileName": self.file_name, "csv": self.csv, "made": self.made.isoformat()}

    @classmethod
    def from_json(cls, value: Any) -> _Kept | None:
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(
                str(value["owner"]), str(value["fileName"]), str(value["csv"]), datetime.fromisoformat(value["made"])
            )
        except (KeyError, TypeError, ValueError):
            return None


class AuditExports:
    """`monitored`: the admin feed's groups (None: no feed set up, nothing to export); `names`: display names by
    object id (the service's); `session`: the HTTP session the bytes are PUT with."""

    def __init__(
        self,
        source: ExportSource | None,
        admins: Admins,
        store: Store,
        clock: Clock,
        session: aiohttp.ClientSession | None,
        *,
        monitored: Callable[[], Awaitable[list[Group]]] | None,
        names: Callable[[Sequence[str]], Awaitable[dict[str, str]]],
        max_days: int = 92,
        records: ApprovalRecords | None = None,
        loopback_http: bool = False,
    ) -> None:
        self._source = source
        self._admins = admins
        self._store = store
        self._clock = clock
        self._session = session
        self._monitored = monitored
        self._names = names
        self._max_days = max_days  # AUDIT_EXPORT_MAX_DAYS; 0: the export is off
        self._records = records  # the bot's own approval records: the reason of a decision made in Teams
        # An upload URL over plain http on loopback: only in development (the Bot Connector stand-in); Teams' is https.
        self._loopback_http = loopback_http

    # -- the command ----------------------------------------------------------------------------------------------

    async def run(self, turn: Turn, command: AuditExport) -> None:
        if not await admin_or_told(turn, self._admins, "audit export"):
            return
        if self._max_days == 0:
            await turn.send_text(wording.EXPORT_OFF)
            return
        days = (command.end - command.start).days + 1
        if days > self._max_days:
            await turn.send_text(wording.export_too_long(days, self._max_days))
            return
        if self._source is None or self._monitored is None or self._session is None:
            await turn.send_text(wording.EXPORT_NO_GROUPS)
            return
        try:
            groups = _chosen(await self._monitored(), command.groups)
        except _Unknown as e:
            await turn.send_text(wording.export_unknown_groups(e.names, e.monitored))
            return
        except UnknownFeedGroups as e:
            await turn.send_text(wording.feed_groups_unknown(e.missing, list(e.ambiguous)))
            return
        except DirectoryError as e:
            await turn.send_text(cards.explain(e, turn.actor.time_style))
            return
        if not groups:
            await turn.send_text(wording.EXPORT_NO_GROUPS)
            return
        now = self._clock.now()
        period = period_of(command.start, command.end, now)
        if period.start >= now:
            await turn.send_text(wording.EXPORT_IN_THE_FUTURE)
            return
        await turn.send_text(wording.export_reading(len(groups)))
        try:
            data = await self._source.export([g.id for g in groups], period)
        except DirectoryError as e:
            log.warning("audit export for %s failed: %s", turn.actor.object_id, e)
            await turn.send_text(cards.explain(e, turn.actor.time_style))
            return
        rows, unplaced = export_rows(data, [g.id for g in groups], period)
        rows = await self._with_reasons(rows)
        names = await self._display_names(
            groups, {v for r in rows for v in (r.principal_id, r.actor_id, r.approver_id)}
        )
        csv_text = _BOM + to_csv(rows, names)
        file_name = f"pim-audit-{command.start.isoformat()}-to-{command.end.isoformat()}.csv"
        export_id = uuid.uuid4().hex
        await self._store.put_if(
            keyspace.export(export_id), _Kept(turn.actor.object_id, file_name, csv_text, now).to_json(), None
        )
        summary = summarise(rows, unplaced, data, period, groups)
        log.info(
            "audit export %s for %s: %d rows, %d groups, %d audit pages", export_id, turn.actor.object_id, len(rows),
            len(groups), data.pages,
        )  # fmt: skip
        await turn.send_card(export_summary_card(summary, file_name, turn.actor.time_style))
        consent = file_consent_card(
            file_name,
            len(csv_text.encode("utf-8")),
            wording.export_file_description(summary.rows),
            {"exportId": export_id},
        )
        await turn.send_attachment(_attachment(consent))

    async def _with_reasons(self, rows: list[ExportRow]) -> list[ExportRow]:
        """An approval or denial made in Teams has its approver's reason in the bot's records (`request/{id}`);
        Microsoft documents no audit entry field for it, so where the log gave none the record's is used."""
        if self._records is None:
            return rows
        decided = {AuditKind.APPROVED.value, AuditKind.DENIED.value}
        wanted = {r.request_id for r in rows if r.event in decided and not r.reason and r.request_id}
        reasons: dict[str, tuple[str, str]] = {}
        for request_id in wanted:
            record = await self._records.get(request_id)
            if record is not None and record.decision is not None and record.decision.reason:
                reasons[request_id] = (record.decision.reason, record.decision.by_name)
        out = []
        for r in rows:
            found = reasons.get(r.request_id) if r.event in decided and not r.reason else None
            if found is not None:
                r = replace(r, reason=found[0], approver_name=r.approver_name or found[1])
            out.append(r)
        return out

    async def _display_names(self, groups: Sequence[Group], ids: set[str]) -> dict[str, str]:
        names = {g.id: g.display_name for g in groups}
        wanted = sorted(i for i in ids if i and i != "PIM" and i not in names)
        try:
            names.update(await self._names(wanted) if wanted else {})
        except DirectoryError as e:  # the file without names beats no file
            log.warning("audit export: display names not read (%s)", e)
        return names

    # -- the answer to the file consent card ----------------------------------------------------------------------

    async def consent(self, turn: Turn) -> None:
        """A `fileConsent/invoke` (module doc). Whatever happens, the admin is told in the chat."""
        answer = file_consent_of(turn.activity)
        if answer is not None and answer.upload is not None and not self._allowed(answer.upload.upload_url):
            log.warning("refused the upload URL of a fileConsent/invoke (activity %s): not https", turn.activity.id)
            answer = None
        if answer is None:
            log.info("ignored a fileConsent/invoke without a usable value (activity %s)", turn.activity.id)
            await turn.send_text(wording.EXPORT_BAD_CONSENT)
            return
        export_id = answer.context.get("exportId")
        key = keyspace.export(export_id) if isinstance(export_id, str) and export_id else None
        stored = await self._store.get(key) if key else None
        kept = _Kept.from_json(stored.value) if stored is not None else None
        if key is None or stored is None or kept is None:
            await turn.send_text(wording.EXPORT_GONE)
            return
        if kept.owner.casefold() != turn.actor.object_id.casefold():
            log.warning("%s answered the file card of %s's export %s", turn.actor.object_id, kept.owner, export_id)
            await turn.send_text(wording.EXPORT_NOT_YOURS)
            return
        try:
            await self._store.delete(key, stored.etag)  # taken once: a second answer finds nothing
        except Conflict:
            return  # another delivery of this answer took it
        if self._clock.now() - kept.made > EXPORT_TTL:
            await turn.send_text(wording.EXPORT_GONE)
            return
        if not answer.accepted:
            log.info("%s declined the file of audit export %s", turn.actor.object_id, export_id)
            await turn.send_text(wording.export_declined(kept.file_name))
            return
        await self._upload(turn, answer, kept)

    def _allowed(self, url: str) -> bool:
        """Teams' upload URL is OneDrive's, over https; plain http only to loopback, and only in development."""
        if url.startswith("https://"):
            return True
        return self._loopback_http and url.startswith(("http://127.0.0.1:", "http://localhost:"))

    async def _upload(self, turn: Turn, answer: FileConsent, kept: _Kept) -> None:
        assert answer.upload is not None and self._session is not None
        try:
            await upload(self._session, answer.upload.upload_url, kept.csv.encode("utf-8"))
        except UploadFailed as e:
            log.warning("audit export upload for %s failed: %s", turn.actor.object_id, e)
            await turn.send_text(wording.export_upload_failed(kept.file_name))
            return
        info = answer.upload
        name = info.name or kept.file_name
        await turn.send_text(wording.export_uploaded(name))
        await turn.send_attachment(
            _attachment(file_info_card(name, info.content_url, info.unique_id, info.file_type or "csv"))
        )


def _attachment(card: Mapping[str, Any]) -> Attachment:
    return Attachment(
        content_type=card["contentType"],
        name=card.get("name"),
        content=card.get("content"),
        content_url=card.get("contentUrl"),
    )


class _Unknown(Exception):
    def __init__(self, names: list[str], monitored: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names
        self.monitored = monitored


def _chosen(monitored: Sequence[Group], asked: Sequence[str]) -> list[Group]:
    """The monitored groups the command names (by name, without case or separators, or by object id); all of them
    when it names none. Raises _Unknown for a name that is no monitored group's."""
    if not asked:
        return list(monitored)
    chosen: list[Group] = []
    unknown: list[str] = []
    for name in asked:
        match = [
            g for g in monitored if normalise(g.display_name) == normalise(name) or g.id.casefold() == name.casefold()
        ]
        if not match:
            unknown.append(name)
        for g in match:
            if g not in chosen:
                chosen.append(g)
    if unknown:
        raise _Unknown(unknown, [g.display_name for g in monitored])
    return chosen
