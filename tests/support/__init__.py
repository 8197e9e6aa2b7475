"""The test harness: what test modules share, so that no test module imports another.

`stack` builds the bot stack (the simulated tenant, the Bot Connector stand-in, the bot on a local port) in one place,
for every token mode; the other modules are helpers by subject (chat, cards, approvals, feed, sso, step-up …).
Stand-ins of Microsoft services live in tests/fakes (and, shared with the benchmark, in devtools/teams)."""
