from tests.support.stepup import stack

__all__ = ["stack"]
