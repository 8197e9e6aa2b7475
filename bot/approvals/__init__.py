"""Inline approvals (issue 4): approval cards to the approvers, decisions made as the clicking approver, every copy
kept true.

* `records` — the typed records (the request, each copy of its card, the claim, the decision) and their keys;
* `desk` — a waiting request's fan-out, and an approver's click (`ApprovalDesk`, the handler's entry point);
* `settle` — a decision or closing recorded once, spread to every copy, the requester told (clicks, `cancel` and the
  poller alike);
* `poller` — outside decisions, requests made in the portal, expiry, reminders, work a stopped process left;
* `commands` — `approvals here|off|status`, `pending`, `cancel` and the card's buttons, each given a turn by the
  router (bot.handler);
* `cancel` — the requester's `cancel`; `channels` — approvals channels; `reach` — approvers who never wrote to the
  bot; `views` — what a record looks like on a card; `work` — marks of work in progress and whether they still hold.
"""

from bot.approvals.desk import ApprovalDesk
from bot.approvals.poller import ADOPT_AFTER
from bot.approvals.records import ApprovalRecords, ApprovalRequest

__all__ = ["ADOPT_AFTER", "ApprovalDesk", "ApprovalRecords", "ApprovalRequest"]
