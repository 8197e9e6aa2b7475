"""`core.ports.PimDirectory` over Microsoft Graph: PIM for Groups reads (batched, cached) and self-service writes,
with Graph refusals translated into `core.errors` kinds."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta

from core.approvals import closed_reason, is_expired
from core.ending import EligibilityChange, Holdings, UserHoldings
from core.errors import (
    AlreadyActive,
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    DirectoryError,
    DirectoryUnavailable,
    DurationTooLong,
    DurationTooShort,
    EligibilityNotInEffect,
    ExtensionDenied,
    MissingApproverJustification,
    MissingInputs,
    NotActive,
    NotAnApprover,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    PimError,
    PolicyViolation,
    RequestNotFound,
    SelfServiceRefused,
    StepUpRequired,
    TooSoonToDeactivate,
)
from core.models import (
    APPROVAL_WINDOW,
    MINIMUM_ACTIVATION,
    Access,
    ActivationPolicy,
    ActiveAssignment,
    Approval,
    Decision,
    Eligibility,
    Group,
    PimRequest,
    RequestStatus,
    SentWrite,
    StageStatus,
    WriteKind,
)
from core.names import resolve
from core.ports import ActivationInput, Clock, GroupMembers, PolicyKey, PolicyQuery, UserSnapshot, WaitingRequests
from graph import wire
from graph.cache import Cache
from graph.client import BatchRequest, BatchResponse, GraphClient, JsonObject, odata_path
from graph.errors import GraphError, GraphTransportError, acrs_claims_request
from graph.failures import Failure, answer_lost, directory_error, translated, translating
from graph.known import KnownGroups, KnownGroupsStore
from graph.membership import MemberChecks
from graph.observe import about_pim_request
from graph.reads import read_batched

__all__ = ["GraphPimDirectory"]

log = logging.getLogger(__name__)

# Requests one `$batch` may carry (Graph's JSON batching limit).
_BATCH_ROOM = 20

# Answers of getByIds that mean "not with this app or in this cloud" rather than "not now": names are read per id.
_NOT_FOR_US = frozenset({400, 403, 404, 405, 501})


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class GraphPimDirectory:
    """PIM for Groups through Graph.

    Reads use the app-only token and are kept (`graph.cache`: a snapshot per user for a minute, a policy per group and
    access for five, display names for an hour); concurrent reads of the same key share one request. Writes use the
    acting user's delegated token. What is kept is dropped here, not by the caller: the user's snapshot after each of
    their writes (and when a write whose answer was lost is found), and every snapshot that shows a request waiting
    once a decision, a cancel or a read shows it no longer waits. A caller who must not answer "no" from a kept copy
    passes `recheck`.
    """

    def __init__(
        self,
        client: GraphClient,
        clock: Clock,
        *,
        snapshot_ttl: timedelta = timedelta(seconds=60),
        policy_ttl: timedelta = timedelta(minutes=5),
        names_ttl: timedelta = timedelta(hours=1),
        clock_skew: timedelta = timedelta(seconds=60),
        known_store: KnownGroupsStore | None = None,
        activation_timeout: float | None = None,
    ) -> None:
        """`known_store` keeps the groups seen in eligibilities across restarts (graph.known). `activation_timeout`:
        how long a selfActivate may take (PIM may call a custom extension meanwhile: GRAPH_ACTIVATION_TIMEOUT_SECONDS);
        None: the client's timeout."""
        self._client = client
        self._clock = clock
        self._activation_timeout = activation_timeout
        self._clock_skew = clock_skew  # tolerance between our clock and Graph's createdDateTime when reconciling

        def now() -> float:
            return clock.now().timestamp()

        names = names_ttl.total_seconds()
        self._snapshots: Cache[str, UserSnapshot] = Cache(snapshot_ttl.total_seconds(), clock=now)
        # The users whose snapshot, when it was read, showed a request waiting: the only ones `_closed_request` has
        # to look at (a superset: an entry whose snapshot went or was read again without one is dropped there).
        self._showing_pending: set[str] = set()
        self._policies: Cache[PolicyKey, ActivationPolicy] = Cache(policy_ttl.total_seconds(), clock=now)
        self._names: Cache[str, str] = Cache(names, clock=now)
        self._upns: Cache[str, str | None] = Cache(names, clock=now)
        self._context_names: Cache[str, str | None] = Cache(names, clock=now)
        self._get_by_ids_refused: Cache[str, bool] = Cache(names, clock=now, max_size=1)
        self._known = KnownGroups(known_store)  # the groups seen in anyone's eligibilities (graph.known)
        self._member_checks = MemberChecks(client)  # "is it in effect?", coalesced under load

    # -- reads ------------------------------------------------------------------------------------------------------

    async def snapshot(
        self,
        principal_id: str,
        *,
        fresh: bool = False,
        recheck: Callable[[UserSnapshot], bool] | None = None,
        policies: PolicyQuery | None = None,
    ) -> UserSnapshot:
        query = policies or PolicyQuery()
        keys = await self._policy_keys(query)
        kept = None if fresh else self._snapshots.peek(principal_id)
        if kept is not None and (recheck is None or not recheck(kept)):
            # The snapshot says what the user holds: a group known by name also as an access they do not hold (a
            # group others own) needs no policy read for them, doubted or not.
            keys = _held(keys, kept) if not query.keys else keys
            await self._read_policies([key for key in keys if self._kept_policy(key, query.recheck) is None])
            return self._with_policies(kept, keys, query.recheck)
        wanted = [key for key in keys if self._kept_policy(key, query.recheck) is None]
        # A read already under way (started after the last write we made) is fresh enough for everyone; the policies
        # it does not carry are read beside it.
        load = functools.partial(self._fetch_snapshot, principal_id, wanted)
        if self._snapshots.loading(principal_id):
            snapshot, _ = await asyncio.gather(
                self._snapshots.get(principal_id, load, fresh=True), self._read_policies(wanted)
            )
        else:
            snapshot = await self._snapshots.get(principal_id, load, fresh=True)
        return self._with_policies(snapshot, keys, query.recheck)

    async def _policy_keys(self, query: PolicyQuery) -> list[PolicyKey]:
        """The policies a query asks for: its keys, and those of the groups seen in anyone's eligibilities by the
        names it gives."""
        keys = dict.fromkeys(query.keys)
        known = await self._known.all() if query.names else []
        for name in query.names:
            for group, seen_as in known:
                if resolve(name, [group]) is not None:
                    keys[(group.id, query.access or seen_as)] = None
        return list(keys)

    def _kept_policy(
        self, key: PolicyKey, recheck: Callable[[ActivationPolicy], bool] | None
    ) -> ActivationPolicy | None:
        """The policy kept for `key`, unless the caller doubts it: then it is dropped, to be read again."""
        kept = self._policies.peek(key)
        if kept is not None and recheck is not None and recheck(kept):
            self._policies.discard(key)
            return None
        return kept

    def _with_policies(
        self, snapshot: UserSnapshot, keys: Sequence[PolicyKey], recheck: Callable[[ActivationPolicy], bool] | None
    ) -> UserSnapshot:
        """The snapshot with the policies asked for that could be read, and the others of its groups at hand."""
        found = {key: policy for key in keys if (policy := self._policies.peek(key)) is not None}
        for eligibility in snapshot.eligibilities:
            key = (eligibility.group.id, eligibility.access)
            if key not in found and (policy := self._policies.peek(key)) is not None:
                if recheck is None or not recheck(policy):
                    found[key] = policy
        return replace(snapshot, policies=found)

    async def _fetch_snapshot(self, principal_id: str, policies: Sequence[PolicyKey] = ()) -> UserSnapshot:
        """The user's three reads and the `policies` in one app-only `$batch`."""
        queries = {
            "eligible": wire.eligibility_schedules_query(principal_id),
            "active": wire.active_instances_query(principal_id),
            "pending": wire.pending_requests_query(principal_id),
        }
        policy_ids = {f"policy{n}": key for n, key in enumerate(policies[: _BATCH_ROOM - len(queries)], start=1)}
        requests = [BatchRequest(key, "GET", odata_path(*query)) for key, query in queries.items()]
        requests += [BatchRequest(i, "GET", odata_path(*wire.policy_query(*key))) for i, key in policy_ids.items()]
        with translating():
            responses = await self._client.batch(requests)
            pages = {key: responses[key].json() for key in queries}
            items = dict(
                zip(pages, await asyncio.gather(*(self._client.rest_of(page) for page in pages.values())), strict=True)
            )
        now = self._clock.now()
        eligibilities = [e for e in map(wire.parse_eligibility, items["eligible"]) if e is not None]
        active = [a for a in map(wire.parse_active, items["active"]) if a is not None]
        pending = [wire.parse_request(item) for item in items["pending"]]
        snapshot = UserSnapshot(
            eligibilities=tuple(e for e in eligibilities if e.end is None or now < e.end),
            active=tuple(a for a in active if a.end is None or now < a.end),
            pending=tuple(r for r in pending if r.status.is_pending),
        )
        self._remember_names(
            [(e.group.id, e.group.display_name) for e in snapshot.eligibilities]
            + [(a.group.id, a.group.display_name) for a in snapshot.active]
        )
        self._store_policies({key: responses[i] for i, key in policy_ids.items()})
        await self._known.saw((eligibility.group, eligibility.access) for eligibility in eligibilities)
        # After the last await: the cache keeps the snapshot as this returns, so a request closed in between cannot
        # find the user here and not yet in the cache, and leave them out of the set while their snapshot shows it.
        if snapshot.pending:
            self._note_pending(principal_id)
        else:
            self._showing_pending.discard(principal_id)
        return snapshot

    async def _read_policies(self, keys: Sequence[PolicyKey]) -> None:
        """Policies not cached, read together: one GET, or one `$batch` for several (≤ 20)."""
        if len(keys) == 1:
            await self.policy(*keys[0])
        elif keys:
            ids = {f"policy{n}": key for n, key in enumerate(keys[:_BATCH_ROOM], start=1)}
            with translating():
                responses = await self._client.batch(
                    [BatchRequest(i, "GET", odata_path(*wire.policy_query(*key))) for i, key in ids.items()]
                )
            self._store_policies({key: responses[i] for i, key in ids.items()})

    def _store_policies(self, responses: Mapping[PolicyKey, BatchResponse]) -> None:
        for (group_id, access), response in responses.items():
            if response.ok and isinstance(response.body, dict):
                self._policies.put((group_id, access), _policy(response.body, group_id, access))
            else:  # left uncached: whoever needs it reads it again and meets the failure itself
                log.info("policy read for group %s (%s) failed: %r", group_id, access.value, response.error)

    async def policy(
        self, group_id: str, access: Access, *, recheck: Callable[[ActivationPolicy], bool] | None = None
    ) -> ActivationPolicy:
        key = (group_id, access)
        self._kept_policy(key, recheck)
        return await self._policies.get(key, functools.partial(self._fetch_policy, group_id, access))

    async def _fetch_policy(self, group_id: str, access: Access) -> ActivationPolicy:
        path, params = wire.policy_query(group_id, access)
        with translating():
            page = await self._client.get(path, params=params)
        return _policy(page, group_id, access)

    async def authentication_context_name(self, context_id: str) -> str | None:
        """The display name of a Conditional Access authentication context (`c1` → "Sensitive admin actions"), read
        app-only (AuthenticationContext.Read.All or Policy.Read.ConditionalAccess) and kept like other names; None
        when the app may not read it or it has none, and that answer is kept too (no read per refusal)."""
        try:
            return await self._context_names.get(context_id, functools.partial(self._read_context_name, context_id))
        except DirectoryUnavailable as err:  # Graph did not answer: not kept, the next refusal may read it
            log.info("authentication context %s: no display name (%s)", context_id, err)
            return None

    async def _read_context_name(self, context_id: str) -> str | None:
        path = wire.authentication_context_path(context_id)
        if path is None:
            return None

        def unnamed(err: GraphError) -> None:
            log.info("authentication context %s: no display name (%s %s)", context_id, err.status, err.code)

        found = await translated(self._client.get(path), {}, otherwise=unnamed)
        return wire.parse_authentication_context_name(found) if found is not None else None

    async def lapsed_eligibilities(self, principal_id: str) -> Sequence[Eligibility]:
        path, params = wire.eligibility_requests_query(principal_id)
        with translating():
            items = await self._client.get_all(path, params=params)
        cached = self._snapshots.peek(principal_id)
        current = {(e.group.id, e.access) for e in cached.eligibilities} if cached is not None else set()
        lapsed = _lapsed(items, current, self._clock.now())
        self._remember_names([(e.group.id, e.group.display_name) for e in lapsed])
        return lapsed

    async def holdings(self, principal_ids: Sequence[str], *, eligibilities: bool = False) -> Holdings:
        """Per user, app-only and never from the cache: the assignment instances and, with `eligibilities`, the
        eligibility schedules and the eligibility request history (what ended). Each is a `$filter` by principalId
        (Graph requires a principalId or groupId filter and documents no `in` over several ids), 20 to a `$batch`,
        four batches at a time: ⌈U/20⌉ round trips for U users, ⌈3U/20⌉ with `eligibilities`, and one more request
        per extra page of a user's rows."""
        users = list(dict.fromkeys(principal_ids))
        queries = [wire.active_instances_query]
        if eligibilities:
            queries += [wire.eligibility_schedules_query, wire.eligibility_requests_query]
        owner: dict[str, str] = {}
        batch: list[BatchRequest] = []
        for n, user in enumerate(users):
            for q, query in enumerate(queries):
                owner[f"{n}-{q}"] = user
                batch.append(BatchRequest(f"{n}-{q}", "GET", odata_path(*query(user))))
        reads = await read_batched(self._client, batch, owner)
        now = self._clock.now()
        found: dict[str, UserHoldings] = {}
        for n, user in enumerate(users):
            if user.casefold() in reads.failed:
                continue
            rows = [reads.rows.get(f"{n}-{q}", []) for q in range(len(queries))]
            active = tuple(
                a for a in map(wire.parse_active, rows[0]) if a is not None and (a.end is None or now < a.end)
            )
            held: tuple[Eligibility, ...] = ()
            ended: tuple[Eligibility, ...] = ()
            if eligibilities:
                held = tuple(e for e in map(wire.parse_eligibility, rows[1]) if e is not None)
                current = {(e.group.id, e.access) for e in held if e.end is None or now < e.end}
                ended = tuple(_lapsed(rows[2], current, now))
            found[user] = UserHoldings(active, held, ended)
            groups = [a.group for a in active] + [e.group for e in (*held, *ended)]
            self._remember_names([(g.id, g.display_name) for g in groups])
        failed = {user: error for user in users if (error := reads.failed.get(user.casefold())) is not None}
        return Holdings(found, failed)

    async def request_eligibility_change(
        self, token: str, change: EligibilityChange, eligibility: Eligibility, principal_id: str, justification: str
    ) -> PimRequest:
        """POST a selfExtend or selfRenew eligibility schedule request as the user. Microsoft's page for
        privilegedAccessGroupEligibilityScheduleRequest lists only adminAssign, adminUpdate, adminRemove, selfActivate,
        selfDeactivate, adminExtend and adminRenew; selfExtend and selfRenew are in the shared scheduleRequestActions
        enum (CSDL) and documented for Entra roles ("For users to request to extend their expiring assignments",
        unifiedRoleEligibilityScheduleRequest), and the portal lets a user request both for groups (Entra docs,
        groups-renew-extend.md). A 400 or 403 that is not about the token is taken as Graph refusing the action for
        groups: SelfServiceRefused, and the user is sent to the portal."""
        body = wire.eligibility_change_body(change, eligibility, principal_id, justification, self._clock.now())
        try:
            created = await self._client.post(wire.ELIGIBILITY_REQUESTS, token=token, json=body)
        except GraphError as err:
            if err.status in (400, 403, 422) and not err.claims:
                log.info("PIM refused a %s of group %s: %r", change.value, eligibility.group.id, err)
                raise SelfServiceRefused(err.effective_code or str(err.status)) from err
            raise directory_error(err) from err
        except GraphTransportError as err:  # a lost answer: the user may ask again (PIM refuses a duplicate)
            raise directory_error(err) from err
        return wire.parse_request(created)

    async def display_names(self, object_ids: Sequence[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        missing: list[str] = []
        for object_id in dict.fromkeys(object_ids):
            cached = self._names.peek(object_id)
            if cached is not None:
                names[object_id] = cached
            else:
                missing.append(object_id)
        if not missing:
            return names
        found, unnamed = await self._names_by_ids(missing)
        if unnamed:
            found.update(await self._names_one_by_one(unnamed))
        self._remember_names(list(found.items()))
        names.update(found)
        return names

    async def _names_by_ids(self, object_ids: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """Names from getByIds, 1000 ids a call, and the ids still to look up one by one: those it returned without
        a name, or all of them while getByIds is refused. Ids it does not return are unknown (left out)."""
        if self._get_by_ids_refused.peek(wire.GET_BY_IDS):
            return {}, list(object_ids)
        chunks = [object_ids[i : i + wire.MAX_GET_BY_IDS] for i in range(0, len(object_ids), wire.MAX_GET_BY_IDS)]

        def refused(err: GraphError) -> None:
            # Its Learn page lists Directory.Read.All; an app granted only User.Read.All and GroupMember.Read.All may
            # be refused (403). Read the names one by one instead, and ask again in an hour (consent may be granted).
            log.info("directoryObjects/getByIds answered %s: names are read one by one for an hour", err.status)
            self._get_by_ids_refused.put(wire.GET_BY_IDS, True)

        reads = (
            self._client.post(wire.GET_BY_IDS, json=wire.directory_objects_by_ids(chunk), idempotent=True)
            for chunk in chunks
        )
        pages = await translated(asyncio.gather(*reads), dict.fromkeys(_NOT_FOR_US, refused))
        if pages is None:
            return {}, list(object_ids)
        wanted = {oid.casefold(): oid for oid in object_ids}
        found: dict[str, str] = {}
        unnamed: list[str] = []
        for page in pages:
            named, bare = wire.parse_display_names(page)
            found.update({wanted[oid.casefold()]: name for oid, name in named.items() if oid.casefold() in wanted})
            unnamed += [wanted[oid.casefold()] for oid in bare if oid.casefold() in wanted]
        return found, unnamed

    async def _names_one_by_one(self, object_ids: Sequence[str]) -> dict[str, str]:
        """Names read per id (in $batches of 20): `directoryObjects/{id}`, then the users and groups collections for
        the ids that came back 400."""
        found = await self._lookup_names(object_ids, lambda oid: [wire.directory_object_query(oid)])
        # directoryObjects/{id}?$select=displayName is refused by some deployments (displayName is not on the base
        # type); ask the derived collections for whatever came back 400.
        retry = [oid for oid, status in found.items() if isinstance(status, int) and status == 400]
        if retry:
            found.update(
                await self._lookup_names(
                    retry,
                    lambda oid: [
                        (f"/users/{oid}", {"$select": "id,displayName"}),
                        (f"/groups/{oid}", {"$select": "id,displayName"}),
                    ],
                )
            )
        return {oid: value for oid, value in found.items() if isinstance(value, str)}

    async def _lookup_names(
        self, object_ids: Sequence[str], queries: Callable[[str], list[wire.Query]]
    ) -> dict[str, str | int]:
        """Name per id, or the HTTP status of its (last) failed lookup."""
        requests: list[BatchRequest] = []
        owner: dict[str, str] = {}
        for object_id in object_ids:
            for query in queries(object_id):
                request_id = str(len(requests) + 1)
                owner[request_id] = object_id
                requests.append(BatchRequest(request_id, "GET", odata_path(*query)))
        with translating():
            responses = await self._client.batch(requests)
        found: dict[str, str | int] = {}
        for request_id, response in responses.items():
            object_id = owner[request_id]
            if isinstance(found.get(object_id), str):
                continue
            parsed = wire.parse_display_name(response.body) if response.ok and isinstance(response.body, dict) else None
            if parsed is not None:
                found[object_id] = parsed[1]
            elif not isinstance(found.get(object_id), int) or response.status != 404:
                found[object_id] = response.status
        return found

    async def user_principal_name(self, user_id: str) -> str | None:
        return await self._upns.get(user_id, functools.partial(self._read_user_principal_name, user_id))

    async def _read_user_principal_name(self, user_id: str) -> str | None:
        path, params = wire.user_principal_name_query(user_id)
        # 404: not in the directory (deleted, a guest of another tenant): no hint, and no asking again
        found = await translated(self._client.get(path, params=params), {404: lambda err: None})
        return wire.parse_user_principal_name(found) if found is not None else None

    def _remember_names(self, pairs: Sequence[tuple[str, str]]) -> None:
        for object_id, name in pairs:
            if name:
                self._names.put(object_id, name)

    def _forget(self, principal_id: str) -> None:
        """The user's PIM state changed (a write of theirs, or one whose outcome is being found out): their next
        snapshot is read from Graph, not from before the change."""
        self._snapshots.discard(principal_id)

    def _note_pending(self, principal_id: str) -> None:
        """Remember that `principal_id`'s snapshot shows a request waiting; those whose snapshot no longer does go
        whenever the set has outgrown the snapshots kept twice over (amortised O(1), and bounded when no request is
        ever closed)."""
        self._showing_pending.add(principal_id)
        if len(self._showing_pending) > 2 * len(self._snapshots) + 64:
            self._showing_pending = {p for p in self._showing_pending if self._pending_kept(p)}

    def _pending_kept(self, principal_id: str) -> Sequence[PimRequest]:
        """The requests waiting in the user's kept snapshot; none when no snapshot is kept (gone, expired)."""
        kept = self._snapshots.peek(principal_id)
        return kept.pending if kept is not None else ()

    def _closed_request(self, request_id: str) -> None:
        """A request stopped waiting (decided, cancelled, closed): a snapshot that still shows it waiting is dropped,
        so its requester's next command does not meet "already waiting".

        Only the snapshots read with a request waiting are looked at, not every one kept: the approval poll calls this
        for each request Graph no longer knows, which was a pass over up to 10,000 snapshots each time."""
        folded = request_id.casefold()
        for principal_id in list(self._showing_pending):
            pending = self._pending_kept(principal_id)
            if not pending:
                self._showing_pending.discard(principal_id)  # gone, expired, or read again since with none waiting
            elif any(p.id.casefold() == folded for p in pending):
                self._snapshots.discard(principal_id)
                self._showing_pending.discard(principal_id)

    # -- writes -----------------------------------------------------------------------------------------------------

    async def self_activate(self, token: str, request: ActivationInput) -> PimRequest:
        write = SentWrite(
            WriteKind.ACTIVATE,
            request.group_id,
            request.access,
            request.principal_id,
            self._clock.now(),
            request.justification,
        )
        return await self._self_service(token, write, wire.activation_body(request), request)

    async def self_deactivate(self, token: str, group_id: str, access: Access, principal_id: str) -> PimRequest:
        write = SentWrite(WriteKind.DEACTIVATE, group_id, access, principal_id, self._clock.now())
        return await self._self_service(token, write, wire.deactivation_body(group_id, access, principal_id), None)

    async def _self_service(
        self, token: str, write: SentWrite, body: JsonObject, activation: ActivationInput | None
    ) -> PimRequest:
        """POST the request as the user: Graph's refusal as its kind, a lost answer reconciled. Whatever came of it,
        the user's snapshot is read again next time (first of all by the refusal's look-ups)."""

        # A selfActivate on a policy with a PIM custom extension waits while PIM calls it (up to its timeout × (its
        # retries + 1), and the extension may be this bot, answering on another request meanwhile): the activation
        # gets its own, longer timeout, so the bot never gives up on a request PIM is still deciding.
        timeout = self._activation_timeout if write.kind is WriteKind.ACTIVATE else None

        async def post() -> JsonObject:
            return await self._client.post(wire.ASSIGNMENT_REQUESTS, token=token, json=body, read_timeout=timeout)

        try:
            created = wire.parse_request(await post())
        except (GraphError, GraphTransportError) as err:
            self._forget(write.principal_id)
            if answer_lost(err):
                return await self._reconciled(write, post, activation)
            raise await self._refusal(err, write, activation) from err
        self._forget(write.principal_id)
        about_pim_request(created.id)
        if write.kind is WriteKind.ACTIVATE and created.status is RequestStatus.DENIED:
            # A request PIM created already Denied can only be a custom extension's denial: one reading of what Graph
            # answers then (undocumented, simtenant.extensions "status"); Graph passes on no reasons in that form.
            raise ExtensionDenied(())
        return created

    async def _reconciled(
        self, write: SentWrite, post: Callable[[], Awaitable[JsonObject]], activation: ActivationInput | None
    ) -> PimRequest:
        """After a write whose outcome is unknown: if Graph holds a matching request made since we sent, that is the
        answer; only if none exists is the write sent once more. Never a blind second activation. When Graph cannot
        be read, or the second answer is lost too, the outcome stays unknown (`OutcomeUnknown`): never "nothing was
        changed" for a write that may have landed."""
        try:
            found = await self.find_write(write)
        except DirectoryError as exc:
            detail = f"outcome of {write.kind.value} unknown and could not be checked: {exc}"
            raise OutcomeUnknown(detail, write=write) from exc
        if found is not None:
            return found
        log.info("%s outcome was unknown and no request exists: sending it once more", write.kind.value)
        try:
            return wire.parse_request(await post())
        except (GraphError, GraphTransportError) as err:
            self._forget(write.principal_id)
            if answer_lost(err):
                raise _sent_twice(write.kind.value, err, write) from err
            refusal = await self._refusal(err, write, activation)
            if isinstance(refusal, AlreadyActive | PendingRequestExists | NotActive):
                # The first write may have landed since we looked: then it is the answer, not this refusal.
                with suppress(DirectoryError):
                    found = await self.find_write(write)
                if found is not None:
                    return found
            if isinstance(refusal, PendingRequestExists) and refusal.request_id is None:
                # PIM says a request is pending but shows none: the first write, still held by PIM (a custom
                # extension it is still calling: the bot's activation timeout is below the extension's timeout x
                # (retries + 1)). Its outcome is unknown, not "waiting for approval": followed up (bot.reconcile).
                detail = f"{write.kind.value} still held by PIM (pending, not yet readable)"
                raise OutcomeUnknown(detail, write=write) from err
            raise refusal from err

    async def find_write(self, write: SentWrite) -> PimRequest | None:
        action = wire.SELF_ACTIVATE if write.kind is WriteKind.ACTIVATE else wire.SELF_DEACTIVATE
        path, params = wire.requests_for_group_query(write.principal_id, write.group_id)
        with translating():
            items = await self._client.get_all(path, params=params)
        earliest = write.sent_at - self._clock_skew
        candidates: list[PimRequest] = []
        for item in items:
            if not wire.is_action(item.get("action"), action):
                continue
            request = wire.parse_request(item)
            if (
                request.access is write.access
                and request.principal_id.casefold() == write.principal_id.casefold()
                and request.group_id.casefold() == write.group_id.casefold()
                and request.created is not None  # createdDateTime is not filterable: filter here
                and request.created >= earliest
                and (write.justification is None or request.justification in (None, write.justification))
            ):
                candidates.append(request)
        if not candidates:
            return None
        found = max(candidates, key=lambda r: r.created or earliest)
        about_pim_request(found.id)
        log.info("%s outcome was unknown; found request %s (%s)", write.kind.value, found.id, found.raw_status)
        self._forget(write.principal_id)  # the write landed
        return found

    # -- scheduled activations and membership --------------------------------------------------------------------

    async def scheduled(self, principal_id: str) -> Sequence[tuple[PimRequest, Group]]:
        """The user's activations that have not started yet, read app-only now (never kept: a scheduled activation
        is shown and cancelled rarely, and must never be shown after it was cancelled).

        Two witnesses in one `$batch`, since Graph documents neither whether an activation's schedule exists before
        it starts nor which status its request shows until then: the user's activation schedules, and their requests
        in the statuses a request taken for later can have (`wire.SCHEDULED_REQUEST_STATUSES`). Either suffices;
        one read that fails costs nothing while another answers."""
        queries = {"schedules": wire.activated_schedules_query(principal_id)} | {
            status: wire.requests_in_status_query(principal_id, status) for status in wire.SCHEDULED_REQUEST_STATUSES
        }
        with translating():
            responses = await self._client.batch([BatchRequest(k, "GET", odata_path(*q)) for k, q in queries.items()])
            answered = {key: r for key, r in responses.items() if r.ok}
            if not answered:
                responses["schedules"].json()  # raises the schedules' refusal
            pages = {key: await self._client.rest_of(r.json()) for key, r in answered.items()}
        now = self._clock.now()
        found: dict[str, tuple[PimRequest, Group]] = {}
        for item in pages.get("schedules", []):
            if (scheduled := wire.parse_scheduled(item)) is not None:
                found[scheduled[0].id.casefold()] = scheduled
        for status in wire.SCHEDULED_REQUEST_STATUSES:
            for item in pages.get(status, []):
                request, group = wire.parse_request(item), wire.group_of(item)
                if group is not None and wire.is_action(request.action, wire.SELF_ACTIVATE):
                    found.setdefault(request.id.casefold(), (request, group))
        return [(r, g) for r, g in found.values() if r.start is not None and r.start > now]

    async def holds(self, group_id: str, principal_id: str, access: Access) -> bool:
        """Whether Graph's directory shows the user as a member (or owner) of the group now, app-only: the access
        PIM provisioned as the rest of Microsoft 365 reads it. Membership: one checkMemberGroups call (with others
        asked meanwhile in one $batch, graph.membership); ownership: the group's owners (one page)."""
        with translating():
            if access is Access.OWNER:
                path, params = wire.group_owners_query(group_id)
                items = await self._client.get_all(path, params=params)
                ids = {str(item.get("id") or "").casefold() for item in items}
                return principal_id.casefold() in ids
        return await self._member_checks.member(principal_id, group_id)

    # -- approvals ----------------------------------------------------------------------------------------------------

    async def request(self, request_id: str) -> PimRequest:
        about_pim_request(request_id)
        try:
            request = wire.parse_request(
                await translated(self._client.get(wire.request_path(request_id)), _not_found(request_id))
            )
        except RequestNotFound:
            self._closed_request(request_id)
            raise
        if not request.status.is_pending:
            self._closed_request(request_id)
        return request

    async def waiting_in_groups(self, group_ids: Sequence[str]) -> WaitingRequests:
        """`status eq 'PendingApproval'` per group (`$filter` by groupId, as Graph requires), 20 groups a `$batch`, a
        few batches at a time: ⌈G/20⌉ round trips for G groups, one more per extra page of a group's requests."""
        groups = list(dict.fromkeys(group_ids))
        owner = {str(n): group_id for n, group_id in enumerate(groups)}
        batch = [BatchRequest(key, "GET", odata_path(*wire.group_pending_query(g))) for key, g in owner.items()]
        reads = await read_batched(self._client, batch, owner)
        found = (wire.parse_request(row) for rows in reads.rows.values() for row in rows)
        waiting = tuple(r for r in found if r.status is RequestStatus.PENDING_APPROVAL)
        failed = {g: error for g in groups if (error := reads.failed.get(g.casefold())) is not None}
        return WaitingRequests(waiting, failed)

    async def group_members(self, group_id: str) -> Sequence[str]:
        return list((await self.members_of(group_id)).user_ids)

    async def members_of(self, group_id: str) -> GroupMembers:
        def deleted(err: GraphError) -> None:
            # A deleted (or mistyped) approver or admin group: nobody in it approves or administers.
            log.warning("group %s not found; it has no members", group_id)

        path, params = wire.group_members_query(group_id)
        items = await translated(self._client.get_all(path, params=params), {404: deleted})
        if items is None:
            return GroupMembers()
        users, groups = wire.member_ids(items)
        return GroupMembers(tuple(users), tuple(groups))

    async def find_groups(self, name_or_id: str) -> Sequence[Group]:
        text = name_or_id.strip()
        if not text:
            return []
        by_id = _GUID.fullmatch(text) is not None
        path, params = wire.group_query(text) if by_id else wire.groups_named_query(text)
        if by_id:
            group = await translated(self._client.get(path, params=params), {404: lambda err: None})
            items = [group] if group is not None else []
        else:
            items = await translated(self._client.get_all(path, params=params), {})
        found = [wire.parse_display_name(item) for item in items]
        return [Group(object_id, name) for object_id, name in (f for f in found if f is not None)]

    async def approval(self, token: str, request_id: str) -> Approval:
        item = await translated(self._client.get(wire.approval_path(request_id), token=token), _approval(request_id))
        return wire.parse_approval(item)

    async def decide(
        self, token: str, request_id: str, stage_id: str, decision: Decision, justification: str | None
    ) -> None:
        about_pim_request(request_id)
        try:
            await self._decide(token, request_id, stage_id, decision, justification)
        finally:  # decided now, or found decided or closed; or not, and the next read shows it waiting again
            self._closed_request(request_id)

    async def _decide(
        self, token: str, request_id: str, stage_id: str, decision: Decision, justification: str | None
    ) -> None:
        path, body = wire.stage_path(request_id, stage_id), wire.review_body(decision, justification)
        try:
            await self._client.patch(path, token=token, json=body)
            return
        except (GraphError, GraphTransportError) as err:
            if not answer_lost(err):
                raise await self._decision_refusal(err, token, request_id, decision) from err
            log.info("decision on approval %s: outcome unknown (%s); reading the approval", request_id, err)
        # The PATCH may have landed. Only if the stage is still open is it sent once more; otherwise the stage says
        # who decided (possibly this caller: the service compares `AlreadyDecided.by` with the actor).
        try:
            approval = await self.approval(token, request_id)
        except DirectoryError as exc:
            raise OutcomeUnknown(f"decision on {request_id}: answer lost, approval unreadable: {exc}") from exc
        stage = next((s for s in approval.stages if s.id.casefold() == stage_id.casefold()), None)
        if stage is None:
            raise RequestNotFound(request_id)
        if stage.decided or stage.status is not StageStatus.IN_PROGRESS:
            raise await self._closed(token, request_id)
        try:
            await self._client.patch(path, token=token, json=body)
        except (GraphError, GraphTransportError) as err:
            if answer_lost(err):
                raise _sent_twice(f"decision on {request_id}", err) from err
            raise await self._decision_refusal(err, token, request_id, decision) from err

    async def cancel(self, token: str, request_id: str) -> None:
        about_pim_request(request_id)
        try:
            await self._cancel(token, request_id)
        finally:  # cancelled now, or found closed; or not, and the next read shows it waiting again
            self._closed_request(request_id)

    async def _cancel(self, token: str, request_id: str) -> None:
        try:
            await self._client.post(wire.cancel_path(request_id), token=token)
            return
        except (GraphError, GraphTransportError) as err:
            refused = err if isinstance(err, GraphError) and err.status in (400, 409) else None
            if isinstance(err, GraphError) and err.status == 404:
                raise RequestNotFound(request_id) from err
            if refused is None and not answer_lost(err):
                raise directory_error(err) from err
            failure = err
        # Refused as not cancelable, or the answer was lost: the request's status says which.
        try:
            request = await self.request(request_id)
        except DirectoryError as exc:
            if refused is not None:
                raise directory_error(refused) from refused
            raise OutcomeUnknown(f"cancel of {request_id}: answer lost, request unreadable: {exc}") from exc
        if request.status is RequestStatus.PENDING_APPROVAL:
            if refused is not None:
                raise directory_error(refused) from refused
            try:
                await self._client.post(wire.cancel_path(request_id), token=token)
            except (GraphError, GraphTransportError) as err:
                if answer_lost(err):
                    raise _sent_twice(f"cancel of {request_id}", err) from err
                raise directory_error(err) from err
            return
        if request.status is RequestStatus.CANCELED and isinstance(failure, GraphTransportError):
            return  # ours landed
        self._forget(request.principal_id)
        raise _not_pending(request, self._clock.now()) from failure

    async def _decision_refusal(self, err: Failure, token: str, request_id: str, decision: Decision) -> PimError:
        if isinstance(err, GraphTransportError):
            return directory_error(err)
        log.info("PIM refused a decision on approval %s: %r", request_id, err)
        if err.status == 409:
            return await self._closed(token, request_id)
        if err.status == 400 and any(rule.casefold() == "justificationrule" for rule in err.failed_rules):
            return MissingApproverJustification(decision)
        if err.status == 400 and err.effective_code and not err.failed_rules:
            return PolicyViolation((err.effective_code,), err.message)
        return _approval(request_id).get(err.status, directory_error)(err)

    async def _closed(self, token: str, request_id: str) -> PimError:
        """Why a stage is not open (after a 409): who decided and when, expiry, or cancellation. Reads the approval
        with the caller's token and the request app-only; what cannot be read is left out."""
        approval, request = await asyncio.gather(
            self.approval(token, request_id), self.request(request_id), return_exceptions=True
        )
        known = request if isinstance(request, PimRequest) else None
        if isinstance(approval, Approval):
            reason = closed_reason(approval, known, self._clock.now())
            if reason is not None:
                return reason
        if known is not None:
            return _not_pending(known, self._clock.now())
        return AlreadyDecided()

    # -- Graph refusal → core error -----------------------------------------------------------------------------------

    async def _refusal(self, err: Failure, write: SentWrite, request: ActivationInput | None) -> PimError:
        if isinstance(err, GraphTransportError):
            return directory_error(err)
        group_id, access, principal_id = write.group_id, write.access, write.principal_id
        log.info("PIM refused a write for group %s (%s): %r", group_id, access.value, err)
        if err.is_acrs_failure or (err.status == 401 and err.claims):
            return await self._step_up_refusal(err, group_id, access)
        if err.is_code("RoleAssignmentRequestPolicyValidationFailed"):
            return await self._rule_refusal(err, group_id, access, principal_id, request)
        if "customextension" in err.effective_code.casefold():  # a code of its own, should Graph answer with one
            return ExtensionDenied(err.extension_reasons)
        if err.is_code("RoleAssignmentExists"):
            active = await self._active_lookup(principal_id, group_id, access)
            return AlreadyActive(active.end if active else None)
        if err.is_code("PendingRoleAssignmentRequest"):
            pending = await self._pending_lookup(principal_id, group_id, access)
            return PendingRequestExists(pending.id if pending else None)
        if err.is_code("RoleAssignmentDoesNotExist"):
            active = await self._active_lookup(principal_id, group_id, access)
            return NotActive(assigned_by_admin=active is not None and not active.activated)
        if err.is_code("ActiveDurationTooShort"):
            active = await self._active_lookup(principal_id, group_id, access)
            start = active.start if active else None
            earliest = start + MINIMUM_ACTIVATION if start else None
            return TooSoonToDeactivate(earliest, now=self._clock.now(), start=start, end=active.end if active else None)
        if err.is_code("InvalidRoleAssignmentRequest") and request and request.duration < MINIMUM_ACTIVATION:
            return DurationTooShort(request.duration)
        if err.status in (400, 422) and err.effective_code:
            return PolicyViolation((err.effective_code,), err.message)
        return directory_error(err)

    async def _step_up_refusal(self, err: GraphError, group_id: str, access: Access) -> StepUpRequired:
        """An authentication-context refusal (or a claims challenge): the claims request for the new sign-in, from
        the refusal when it carries one that reads, else built from the policy's authentication-context rule (real
        tenants URL-encode the claims; a form nobody has seen yet must still end in a sign-in Graph accepts)."""
        claims, context = err.claims, err.authentication_context
        if context is None and err.is_acrs_failure:
            policy = self._policies.peek((group_id, access))
            if policy is None:
                with suppress(DirectoryError):
                    policy = await self.policy(group_id, access)
            context = policy.authentication_context if policy else None
            if context is not None and claims is None:
                claims = acrs_claims_request(context)
        name = await self.authentication_context_name(context) if context else None
        return StepUpRequired(mfa=False, authentication_context=context, claims=claims, context_name=name)

    async def _rule_refusal(
        self,
        err: GraphError,
        group_id: str,
        access: Access,
        principal_id: str,
        request: ActivationInput | None,
    ) -> PimError:
        rules = err.failed_rules
        failed = {rule.casefold() for rule in rules}
        if any("customextension" in rule for rule in failed):
            # The group's PIM custom extension answered Denied. What Graph tells a selfActivate caller then is not
            # documented (pim-custom-extension.md Q7); read as PIM's other rule refusals, reasons as they come.
            return ExtensionDenied(err.extension_reasons)
        if "eligibilityrule" in failed:
            return await self._eligibility_refusal(principal_id, group_id, access)
        if "expirationrule" in failed:
            known = self._policies.peek((group_id, access))
            return DurationTooLong(request.duration if request else None, known.maximum_duration if known else None)
        if failed & {"justificationrule", "ticketingrule"}:
            return MissingInputs(justification="justificationrule" in failed, ticket="ticketingrule" in failed)
        if "mfarule" in failed:
            return StepUpRequired(mfa=True)
        return PolicyViolation(rules or (err.effective_code,), err.message)

    async def _eligibility_refusal(self, principal_id: str, group_id: str, access: Access) -> PimError:
        """EligibilityRule: not eligible at all, or eligible only at another time (not started yet / lapsed)."""
        snapshot, lapsed = await asyncio.gather(
            self.snapshot(principal_id), self.lapsed_eligibilities(principal_id), return_exceptions=True
        )
        now = self._clock.now()
        candidates: list[Eligibility] = []
        if isinstance(snapshot, UserSnapshot):
            candidates += snapshot.eligibilities
        if not isinstance(lapsed, BaseException):
            candidates += lapsed
        for eligibility in candidates:
            if _same(eligibility.group.id, eligibility.access, group_id, access):
                if not eligibility.in_effect(now):
                    return EligibilityNotInEffect(eligibility.start, eligibility.end, now)
        return NotEligible(self._names.peek(group_id) or group_id, access=access)

    async def _active_lookup(self, principal_id: str, group_id: str, access: Access) -> ActiveAssignment | None:
        held = await self._snapshot_if_readable(principal_id)
        return next((a for a in held.active if _same(a.group.id, a.access, group_id, access)), None) if held else None

    async def _pending_lookup(self, principal_id: str, group_id: str, access: Access) -> PimRequest | None:
        held = await self._snapshot_if_readable(principal_id)
        return next((p for p in held.pending if _same(p.group_id, p.access, group_id, access)), None) if held else None

    async def _snapshot_if_readable(self, principal_id: str) -> UserSnapshot | None:
        """The user's snapshot to explain a refusal with, or None: the refusal stands without its details."""
        try:
            return await self.snapshot(principal_id)
        except DirectoryError:
            return None


def _same(group_id: str, access: Access, wanted_group: str, wanted_access: Access) -> bool:
    return group_id.casefold() == wanted_group.casefold() and access is wanted_access


def _not_found(request_id: str) -> dict[int, Callable[[GraphError], PimError]]:
    return {404: lambda err: RequestNotFound(request_id)}


def _approval(request_id: str) -> dict[int, Callable[[GraphError], PimError]]:
    """Reading or deciding an approval: 404 → RequestNotFound; 403 → NotAnApprover unless the token itself lacks the
    permission (then the bot's registration is at fault, not the person)."""

    def forbidden(err: GraphError) -> PimError:
        return directory_error(err) if err.is_code("PermissionScopeNotGranted") else NotAnApprover(request_id)

    return {**_not_found(request_id), 403: forbidden}


def _sent_twice(what: str, err: Failure, write: SentWrite | None = None) -> OutcomeUnknown:
    return OutcomeUnknown(f"{what} sent twice, both answers lost: {err}", write=write)


def _not_pending(request: PimRequest, now: datetime) -> PimError:
    """Why a request no longer waits for approval, from its status alone."""
    if request.status is RequestStatus.DENIED:
        return AlreadyDecided(Decision.DENY)
    if request.status.is_active_grant or request.status is RequestStatus.REVOKED:
        return AlreadyDecided(Decision.APPROVE)
    if request.status in (RequestStatus.CANCELED, RequestStatus.FAILED) and is_expired(request, now):
        # PIM closes an undecided request after 24 h as Canceled or Failed (the status is undocumented).
        return ApprovalExpired(request.created + APPROVAL_WINDOW if request.created else None)
    return ApprovalClosed(request.raw_status or request.status.value)


def _lapsed(items: Sequence[JsonObject], current: set[tuple[str, Access]], now: datetime) -> list[Eligibility]:
    """The eligibilities the request history shows ended (latest first), except those of a group and access that is
    eligible again (`current`) or still: each group's latest window."""
    windows: dict[tuple[str, Access], list[Eligibility]] = {}
    for eligibility, request in wire.eligibility_changes(items):
        key = (eligibility.group.id, eligibility.access)
        if wire.is_removal(request):
            removed_at = eligibility.end
            windows[key] = [
                _ended(window, removed_at) if removed_at is not None else window for window in windows.get(key, [])
            ]
        else:
            windows.setdefault(key, []).append(eligibility)
    lapsed: list[Eligibility] = []
    for key, group_windows in windows.items():
        if not group_windows or key in current:
            continue
        if any(w.end is None or now < w.end for w in group_windows):
            continue  # still (or again, or not yet) eligible: superseded by a current window
        lapsed.append(max(group_windows, key=lambda w: w.end or now))
    lapsed.sort(key=lambda e: e.end or now, reverse=True)
    return lapsed


def _ended(window: Eligibility, at: datetime) -> Eligibility:
    end = at if window.end is None or at < window.end else window.end
    return Eligibility(
        group=window.group, access=window.access, start=window.start, end=end, inherited=window.inherited
    )


def _policy(page: JsonObject, group_id: str, access: Access) -> ActivationPolicy:
    policy = wire.parse_policy(page, group_id, access)
    if policy is None:
        # Not onboarded to PIM yet: nobody can be eligible, so the defaults only ever explain a refusal.
        log.warning("no PIM policy assignment for group %s (%s); using defaults", group_id, access.value)
        policy = ActivationPolicy(group_id=group_id, access=access)
    return policy


def _held(keys: Sequence[PolicyKey], snapshot: UserSnapshot) -> list[PolicyKey]:
    """The keys of groups named by the user that the snapshot shows them eligible for, with that access."""
    held = {(e.group.id.casefold(), e.access) for e in snapshot.eligibilities}
    return [key for key in keys if (key[0].casefold(), key[1]) in held]
