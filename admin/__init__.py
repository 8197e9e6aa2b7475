"""Operator commands that ship with the bot (`python -m admin …`): one-off set-up in the tenant, run by an
administrator with their own delegated sign-in, never by the bot process."""
