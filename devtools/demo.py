"""`make demo`: the simulated tenant, the bot and the Agents Playground, wired together. Ctrl-C stops all three."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devtools.stack import (
    ROOT,
    bot_environment,
    bot_process,
    playground,
    publish_bot_app,
    simulated_tenant,
    write_playground_config,
)


def main() -> None:
    # DEMO_STATE_DIR: where state and logs go (tests/e2e runs the demo in a temporary directory, beside a real one).
    var = Path(os.environ.get("DEMO_STATE_DIR") or ROOT / "var" / "demo")
    bot_port = int(os.environ.get("BOT_PORT", "3978"))
    ui_port = int(os.environ.get("PLAYGROUND_PORT", "56150"))
    stop = False

    def _interrupt(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _interrupt)
    with simulated_tenant(var / "simtenant") as (tenant, _):
        env = bot_environment(tenant, bot_port, var / "state.sqlite3")
        with bot_process(env, var / "bot.log"):
            publish_bot_app(tenant)  # approvers who never wrote to the bot get the card: it installs its app for them
            pg_dir = var / "playground"
            write_playground_config(pg_dir, tenant.tenant_id)
            with playground(pg_dir, bot_port, ui_port):
                print(
                    "\n".join(
                        [
                            "",
                            "PIM bot demo is running against the simulated tenant (contoso.test).",
                            f"  Open the Agents Playground:  http://127.0.0.1:{ui_port}",
                            "  You are Alice Admin. Try:     activate Exchange-Admins 2h",
                            '                                activate "Teams Admins" 90m because INC-4711',
                            "                                activate Security-Operators 1h because patching",
                            "                                  (Bob, Carol and Dave, who never wrote to the bot, get "
                            "the approval card in their own chats)",
                            "                                status    |    deactivate Exchange-Admins    |    help",
                            f"  Logs: {var}/bot.log, {var}/simtenant/simtenant.log",
                            "Press Ctrl-C to stop.",
                        ]
                    ),
                    flush=True,
                )
                try:
                    while not stop:
                        time.sleep(0.5)
                except KeyboardInterrupt:
                    pass
    print("Stopped.")


if __name__ == "__main__":
    main()
