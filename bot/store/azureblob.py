"""The store on Azure Blob Storage: several bot instances share it (App Service scale-out, rolling deploys).

One block blob per key in one container, its value the record's compact JSON; everything bot.store.Store promises
maps onto one Blob Storage feature (https://learn.microsoft.com/rest/api/storageservices/):

* `put_if(key, value, None)` is Put Blob with `If-None-Match: *` (409 BlobAlreadyExists → Conflict); with an etag,
  `If-Match: etag` (412 ConditionNotMet → Conflict; Azure answers 404 when the blob is gone, also a Conflict);
  ANY is an unconditional Put Blob. The etag is the blob's ETag, quotes and all.
* `delete(key, etag)` is Delete Blob with `If-Match` (412 → Conflict, 404 → False).
* `keys(prefix)` is List Blobs with `prefix`, paged by the service (its `NextMarker`): "blobs are listed in
  alphabetical order", which for the names written here is the keys' code point order (below).
* The lease is a blob lease on a blob of its own, `keys.lease(name)` (a leased blob refuses writes without the
  lease id, so a data blob is never leased): Acquire Lease with a proposed lease id derived from the owner, so the
  same owner acquiring again gets it again, as on SQLite; Renew Lease with that id (Azure renews a lapsed lease
  nobody took: the contract's "a lapsed lease nobody took can be renewed"); Release Lease. A dead holder's lease
  lapses on the service's clock after its duration (15 to 60 s: bot.store's LEASE_TTL_MIN/MAX are these).
* 500/503 and timeouts are retried by the SDK's own retry policy, bounded (RETRIES tries, exponential back-off),
  then raise; a conflict is never retried here (Store.update re-reads and re-applies).

Key → blob name. Blob names may hold any Unicode character, but HTTP clients and the service remove `.` and `..`
path segments, and Azurite (the emulator the tests run on) reads `\\` as `/`. So three characters are written as
`%XX` (their code point in hex): `%` itself, `.` and `\\`. Escaping each character the same way wherever it stands
keeps prefixes prefixes (the keys starting with p are the names starting with escape(p)), so listing by prefix is
exact. It changes the listing order only among keys that differ at one of those three characters (`%2E` sorts before
`-`, where `.` sorted after it); nothing in the bot depends on that order.

Settings: `STORE=azureblob` with `AZURE_STORAGE_CONNECTION_STRING` (Azurite, or an account key) or
`AZURE_STORAGE_ACCOUNT_URL` (`https://{account}.blob.core.windows.net`) and a token credential (azure-identity's
`DefaultAzureCredential`: the App Service's managed identity, workload identity, or a developer's sign-in), and
`AZURE_STORAGE_CONTAINER`. The identity needs the role "Storage Blob Data Contributor" on the container (or the
account: then the bot may create the container at start).
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient, ContainerClient

from bot.store import ANY, Conflict, Json, Lease, Store, StoreError, Versioned, check_key, check_lease, encode
from bot.store import keys as keyspace
from core.ports import Clock

__all__ = ["AzureBlobStore", "blob_name", "key_of"]

RETRIES: Final = 4  # tries of a request the service answered 500/503 or did not answer in time
CONNECT_SECONDS: Final = 5
READ_SECONDS: Final = 15
BLOCK_BYTES: Final = 512 * 1024
_ESCAPED: Final = {"%": "%25", ".": "%2E", "\\": "%5C"}
_LEASE_NAMESPACE: Final = uuid.UUID("5b0e4f0e-6a3c-4d57-9d55-8f2a4a8a1c1e")  # lease ids: uuid5 of name and owner


def blob_name(key: str) -> str:
    """The blob name of `key` (module doc: `%`, `.` and `\\` as `%XX`)."""
    return "".join(_ESCAPED.get(c, c) for c in key)


def key_of(name: str) -> str:
    """The key of blob `name` (the inverse of blob_name)."""
    out: list[str] = []
    i = 0
    while i < len(name):
        if name[i] == "%":
            out.append(chr(int(name[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class AzureBlobStore(Store):
    """bot.store.Store on one Azure Blob Storage container (module doc). `clock` only dates the leases it hands out
    (`Lease.expires`); the service's clock decides when a lease lapses."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        clock: Clock | None = None,
        owned: tuple[Any, ...] = (),
    ) -> None:
        self._container = container
        self._clock = clock or _SystemClock()
        self._owned = owned  # clients and credentials to close with the store
        self._closed = False

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str, *, clock: Clock | None = None) -> Self:
        service = BlobServiceClient.from_connection_string(connection_string, **_client_options())
        return cls(service.get_container_client(container), clock=clock, owned=(service,))

    @classmethod
    def from_account_url(
        cls, account_url: str, container: str, credential: AsyncTokenCredential, *, clock: Clock | None = None
    ) -> Self:
        service = BlobServiceClient(account_url, credential=credential, **_client_options())
        return cls(service.get_container_client(container), clock=clock, owned=(service, credential))

    async def ensure_container(self) -> None:
        """Create the container if it is missing and the identity may; StoreError naming the role otherwise."""
        name = self._container.container_name
        try:
            if await self._container.exists():
                return
            await self._container.create_container()
        except ResourceExistsError:
            return  # another instance created it meanwhile
        except ClientAuthenticationError as e:
            raise StoreError(f"Azure Blob Storage did not accept the bot's credentials: {_reason(e)}") from None
        except HttpResponseError as e:
            raise StoreError(_refusal(e, name)) from None
        except AzureError as e:  # no answer after the SDK's retries (DNS, firewall, outage), or no credential
            raise StoreError(f"cannot reach Azure Blob Storage ({type(e).__name__}): {e.message}") from None

    # ---- the interface ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> Versioned | None:
        blob = self._container.get_blob_client(blob_name(check_key(key)))
        try:
            download = await blob.download_blob()
            data = await download.readall()
        except ResourceNotFoundError:
            return None
        return Versioned(json.loads(data), str(download.properties.etag))

    async def put_if(self, key: str, value: Json, etag: str | None) -> str:
        data = encode(check_key(key), value).encode()
        blob = self._container.get_blob_client(blob_name(key))
        conditions: dict[str, Any]
        if etag is None:
            conditions = {"overwrite": False}  # If-None-Match: *
        elif etag == ANY:
            conditions = {"overwrite": True}
        else:
            conditions = {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            # A stream, not bytes: aiohttp warns that a large bytes body blocks the loop (the SDK rewinds it to retry).
            written = await blob.upload_blob(io.BytesIO(data), length=len(data), content_settings=_JSON, **conditions)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            raise Conflict(key) from None
        return str(written["etag"])

    async def delete(self, key: str, etag: str | None = None) -> bool:
        blob = self._container.get_blob_client(blob_name(check_key(key)))
        conditions: dict[str, Any] = {}
        if etag is not None and etag != ANY:
            conditions = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await blob.delete_blob(**conditions)
        except ResourceNotFoundError:
            return False
        except ResourceModifiedError:
            # 412 for another version, and (Azurite; Azure answers 404) for a blob that is gone: only the first is a
            # conflict, as on every backend.
            if await blob.exists():
                raise Conflict(key) from None
            return False
        return True

    async def keys(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[str]:
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return
        listed = 0
        pages = self._container.list_blob_names(name_starts_with=blob_name(prefix) or None)
        async for name in pages:
            yield key_of(name)
            listed += 1
            if limit is not None and listed >= limit:
                return

    async def items(self, prefix: str, *, limit: int | None = None) -> AsyncIterator[tuple[str, Versioned]]:
        # List Blobs returns no content: each value is a Get Blob (a key deleted between the two is not listed).
        listed = 0
        async for key in self.keys(prefix):
            found = await self.get(key)
            if found is None:
                continue
            yield key, found
            listed += 1
            if limit is not None and listed >= limit:
                return

    async def acquire(self, name: str, owner: str, ttl: timedelta) -> Lease | None:
        check_lease(name, owner, ttl)
        blob = self._container.get_blob_client(blob_name(keyspace.lease(name)))
        lease_id = str(uuid.uuid5(_LEASE_NAMESPACE, f"{name}\n{owner}"))
        try:
            await blob.upload_blob(b"{}", overwrite=False, content_settings=_JSON)
        except ResourceExistsError:
            pass  # the lease's blob is there (held or not)
        except HttpResponseError as e:
            if e.status_code != 412:  # 412 LeaseIdMissing: there and leased, which the acquire below sees
                raise
        leases = BlobLeaseClient(blob, lease_id)
        expires = self._clock.now() + ttl
        try:
            await leases.acquire(lease_duration=int(ttl.total_seconds()))
        except (ResourceExistsError, HttpResponseError) as e:
            if _status(e) == 409:  # LeaseAlreadyPresent: another owner holds it
                return None
            raise
        return Lease(name, owner, expires, ttl, lease_id)

    async def renew(self, lease: Lease) -> Lease | None:
        blob = self._container.get_blob_client(blob_name(keyspace.lease(lease.name)))
        expires = self._clock.now() + lease.ttl
        try:
            await BlobLeaseClient(blob, lease.token).renew()
        except (ResourceNotFoundError, ResourceExistsError, HttpResponseError) as e:
            if _status(e) in (404, 409, 412):  # taken by another owner after it lapsed, or the blob is gone
                return None
            raise
        return Lease(lease.name, lease.owner, expires, lease.ttl, lease.token)

    async def release(self, lease: Lease) -> bool:
        blob = self._container.get_blob_client(blob_name(keyspace.lease(lease.name)))
        try:
            await BlobLeaseClient(blob, lease.token).release()
        except (ResourceNotFoundError, ResourceExistsError, HttpResponseError) as e:
            if _status(e) in (404, 409, 412):
                return False
            raise
        return True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._container.close()
        for owned in self._owned:
            await owned.close()


def _client_options() -> dict[str, Any]:
    # The SDK's ExponentialRetry: 500, 503 and timeouts are retried, at most RETRIES times; 409/412 never are.
    return {
        "retry_total": RETRIES,
        "retry_connect": RETRIES,
        "retry_read": RETRIES,
        "connection_timeout": CONNECT_SECONDS,
        "read_timeout": READ_SECONDS,
        # Values above this go as blocks (Put Block, then a conditional Put Block List: still one atomic write), so no
        # request body is over aiohttp's 1 MiB "large raw bytes body" warning (it blocks the event loop to send one).
        "max_single_put_size": BLOCK_BYTES,
        "max_block_size": BLOCK_BYTES,
    }


def _refusal(error: HttpResponseError, container: str) -> str:
    """Why Blob Storage refused the container, in the words an operator acts on. Azure answers 403 with error code
    AuthenticationFailed for a wrong key, SAS or token, AuthorizationPermissionMismatch for a missing data role, and
    AuthorizationFailure for other refusals (firewall, network rules); Azurite answers a wrong key with
    AuthorizationFailure and "Server failed to authenticate the request" (seen in its tests here), so the message
    decides too. https://learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes"""
    code = str(getattr(error, "error_code", "") or "").lower().replace("_", "")
    message = str(getattr(error, "reason", "") or "") + " " + str(error.message or "")
    if error.status_code == 401 or code == "authenticationfailed" or "failed to authenticate" in message.lower():
        return f"Azure Blob Storage did not accept the bot's credentials ({_reason(error)}): check the key or SAS"
    if code == "authorizationpermissionmismatch":
        return (
            f"the bot's identity may not use the container {container!r}: give it the role 'Storage Blob Data "
            "Contributor' on the container (or on the storage account, to let the bot create it)"
        )
    if error.status_code == 403:
        return (
            f"Azure Blob Storage refused the container {container!r} ({_reason(error)}): the identity needs the role "
            "'Storage Blob Data Contributor', and the account's firewall must let this host in"
        )
    return f"Azure Blob Storage refused the container {container!r}: {_reason(error)}"


def _status(error: Exception) -> int | None:
    return getattr(error, "status_code", None)


def _reason(error: HttpResponseError) -> str:
    return f"{error.status_code} {getattr(error, 'error_code', '') or ''}".strip()


_JSON: Final = ContentSettings(content_type="application/json")

# The SDK logs every request and response at INFO (azure.core's HttpLoggingPolicy): a line per store call would drown
# the bot's own log. Its warnings and errors still show.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
