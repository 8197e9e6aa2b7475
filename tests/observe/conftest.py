from tests.support.stack import stack

__all__ = ["stack"]
