from tests.bot.conftest import stack
from tests.identity.conftest import sso, user_token_client

__all__ = ["sso", "stack", "user_token_client"]
