from tests.bot.conftest import stack

__all__ = ["stack"]
