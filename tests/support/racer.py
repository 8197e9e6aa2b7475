"""A second process on the store under test (tests/store/test_contract.py). Prints "ready", waits for a line on
stdin, then:

  python -m tests.support.racer SPEC update KEY COUNT TAG   COUNT updates of KEY: n + 1, TAG-i appended to "seen"
  python -m tests.support.racer SPEC lease NAME OWNER NOW   takes the lease NAME for 15 s at NOW (ISO time), prints
                                                          "held" and waits to be killed
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.support.store_backends import START, open_spec


def bump(tag: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An update that counts and names itself (the race tests check that none is lost)."""

    def change(value: dict[str, Any]) -> dict[str, Any]:
        return {"n": value["n"] + 1, "seen": [*value["seen"], tag]}

    return change


async def main(spec: str, mode: str, *args: str) -> None:
    now = datetime.fromisoformat(args[2]) if mode == "lease" else START
    store = open_spec(spec, now)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    if mode == "update":
        key, count, tag = args[0], int(args[1]), args[2]
        for i in range(count):
            await store.update(key, bump(f"{tag}-{i}"), create={"n": 0, "seen": []})
        print("done", flush=True)
    elif mode == "lease":
        lease = await store.acquire(args[0], args[1], timedelta(seconds=15))
        print("held" if lease is not None else "refused", flush=True)
        await asyncio.Event().wait()
    await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
