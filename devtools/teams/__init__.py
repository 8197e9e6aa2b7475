"""Stand-ins of Teams' side of a bot, shared by the tests and the benchmark: Teams-shaped activities (`activities`)
and a recording Bot Connector (`connector`). Here, not under tests/, so that the benchmark imports no test code."""
