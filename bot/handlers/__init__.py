"""One small handler per command and card verb; bot.handler.PimBot routes each activity to one of them with a
`bot.turn.Turn`.

* `activation` — `activate`, `deactivate` and their buttons; what became of a write whose answer was lost.
* `status` — `status` and its button.
* `usage` — `help`, the welcome, and the answer to text that was no command (a slip).
* `replies` — sending a card and keeping what it shows (the cards of PIM requests, made read-only once settled).

The approvals' commands (`approvals here`, `pending`, `cancel`, the approval card's buttons) live with the approvals
(bot.approvals.commands), the feed's (`feed here|off|status`) with the feed (bot.feed.commands), the sign-in round
trips in bot.signin.
"""
