"""The bot as Entra PIM's custom extension (issue 15): `POST /api/pim/evaluate` (endpoint), its contract (contract:
the path, the caller token's rules, the answer's shape), the token check (tokens), the answers kept per request
(records), and what a decision tells the admin feed and the requester."""
