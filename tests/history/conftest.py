from tests.support.history import export_stack
from tests.support.stack import stack

__all__ = ["export_stack", "stack"]
