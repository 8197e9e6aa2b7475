"""Copy a deployment's state from one store to another: `python -m bot.store copy --from sqlite:PATH --to azureblob`.

`azureblob` is the store the AZURE_STORAGE_* settings name (as the bot reads them: AZURE_STORAGE_CONTAINER with
AZURE_STORAGE_ACCOUNT_URL or AZURE_STORAGE_CONNECTION_STRING); `sqlite:PATH` a SQLite file. Stop the bot first (a
record written meanwhile may be missed).

Idempotent and resumable: a key already in the target with the same value is left alone ("already there"), a missing
one is created only if still missing (If-None-Match), and a key whose value differs in the target is left as it is
and counted ("differs": the target was written by a bot already running on it; `--overwrite` replaces them). Run it
again after an interruption and it carries on. Leases are not copied (they belong to running processes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from bot.store import ANY, Conflict, Store
from bot.store import keys as keyspace
from bot.store.open import StoreLocation, open_store

__all__ = ["copy", "location_of", "main"]


def location_of(spec: str, env: Mapping[str, str]) -> StoreLocation:
    """`sqlite:PATH`, or `azureblob` (where the AZURE_STORAGE_* variables of `env` point)."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite" and where:
        return StoreLocation("sqlite", state_db=Path(where))
    if kind == "azureblob" and not where:
        container = env.get("AZURE_STORAGE_CONTAINER", "").strip()
        account_url = env.get("AZURE_STORAGE_ACCOUNT_URL", "").strip().rstrip("/")
        connection_string = env.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
        if not container or not (account_url or connection_string):
            raise ValueError(
                "azureblob needs AZURE_STORAGE_CONTAINER and AZURE_STORAGE_ACCOUNT_URL or "
                "AZURE_STORAGE_CONNECTION_STRING"
            )
        return StoreLocation(
            "azureblob", account_url=account_url, connection_string=connection_string, container=container
        )
    raise ValueError(f"{spec!r} is not a store: write sqlite:PATH or azureblob")


async def copy(source: Store, target: Store, *, overwrite: bool = False, progress: int = 1000) -> Counter[str]:
    """Every record of `source` (but leases) into `target`; the counts of copied / already there / differs /
    overwritten."""
    counts: Counter[str] = Counter()
    async for key, found in source.items(""):
        if key.startswith(keyspace.LEASES):
            continue
        try:
            await target.put_if(key, found.value, None)
            counts["copied"] += 1
        except Conflict:
            there = await target.get(key)
            if there is not None and there.value == found.value:
                counts["already there"] += 1
            elif overwrite:
                await target.put_if(key, found.value, ANY)
                counts["overwritten"] += 1
            else:
                counts["differs"] += 1
        done = sum(counts.values())
        if progress and done % progress == 0:
            print(f"  {done} records…", file=sys.stderr, flush=True)
    return counts


async def _run(args: argparse.Namespace) -> int:
    source_at, target_at = location_of(args.source, os.environ), location_of(args.target, os.environ)
    if source_at == target_at:
        print("the source and the target are the same store", file=sys.stderr)
        return 2
    source = await open_store(source_at)
    try:
        target = await open_store(target_at)
        try:
            print(f"copying {source_at.describe()} → {target_at.describe()}", flush=True)
            counts = await copy(source, target, overwrite=args.overwrite)
        finally:
            await target.aclose()
    finally:
        await source.aclose()
    print(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing to copy")
    if counts["differs"]:
        print(f"{counts['differs']} records differ in the target and were left as they are (--overwrite replaces them)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.store", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    copying = commands.add_parser("copy", help="copy every record from one store to another")
    copying.add_argument("--from", dest="source", required=True, help="sqlite:PATH or azureblob")
    copying.add_argument("--to", dest="target", required=True, help="sqlite:PATH or azureblob")
    copying.add_argument("--overwrite", action="store_true", help="replace records that differ in the target")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ValueError as e:
        parser.error(str(e))
    except Exception as e:  # a store that cannot be reached or opened: one line, not a stack trace
        print(f"copy failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
