"""Opening the configured store: the one place that knows which backends exist (app.py and the copy tool use it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store import Store
from core.ports import Clock

__all__ = ["StoreLocation", "open_store"]


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is: `kind` "sqlite" (the file `state_db`) or "azureblob" (`container` in the account of
    `account_url`, signed in with DefaultAzureCredential, or of `connection_string`)."""

    kind: str
    state_db: Path = Path("var/state.sqlite3")
    account_url: str = ""
    connection_string: str = ""
    container: str = ""

    def describe(self) -> str:
        """Where it is, without secrets (for the log and the copy tool)."""
        if self.kind == "sqlite":
            return f"SQLite file {self.state_db}"
        account = self.account_url or "the account of AZURE_STORAGE_CONNECTION_STRING"
        return f"Azure Blob Storage container {self.container!r} in {account}"


async def open_store(location: StoreLocation, *, clock: Clock | None = None) -> Store:
    """The store at `location`, ready: a Blob container is created if missing and allowed (StoreError naming the role
    the identity lacks otherwise)."""
    if location.kind == "sqlite":
        from bot.store.sqlite import SqliteStore

        return SqliteStore(location.state_db, clock=clock)
    if location.kind != "azureblob":
        raise ValueError(f"unknown store kind {location.kind!r}")
    # Imported here: a SQLite deployment never loads the Azure SDK (start-up time, memory).
    from bot.store.azureblob import AzureBlobStore

    if location.connection_string:
        store = AzureBlobStore.from_connection_string(location.connection_string, location.container, clock=clock)
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
        store = AzureBlobStore.from_account_url(location.account_url, location.container, credential, clock=clock)
    try:
        await store.ensure_container()
    except BaseException:
        await store.aclose()
        raise
    return store
