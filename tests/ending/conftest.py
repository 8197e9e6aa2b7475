from tests.support.stack import sso, stack

__all__ = ["sso", "stack"]
