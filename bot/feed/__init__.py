"""The admin feed (issue 5): Graph changes and approval outcomes become channel posts, exactly once, durably.

* `desk` — FeedDesk: the cycle and what the `feed here|off|status` commands do;
* `commands` — those commands, each given a turn by the router (bot.handler);
* `store` — the feed's records, one frozen dataclass and one codec each;
* `lease` — one poller at a time, on the store's lease primitive;
* `watermark` — PIM's audit log, read from its watermark, and the groups it names (FEED_DISCOVER);
* `outcomes` — approval outcomes told by the approval desk and by the audit log, settled once;
* `outbox` — events queued, posted in order, each marked posted once.
"""

from bot.feed.desk import FeedDesk, FeedSettings, FeedSource
from bot.feed.outcomes import AUDIT_WAIT, SettledApproval
from bot.feed.store import FeedChannel, channel_of_reference
from bot.feed.watermark import PimAuditLog

__all__ = [
    "AUDIT_WAIT",
    "FeedChannel",
    "FeedDesk",
    "FeedSettings",
    "FeedSource",
    "PimAuditLog",
    "SettledApproval",
    "channel_of_reference",
]
