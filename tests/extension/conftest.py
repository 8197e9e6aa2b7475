from tests.support.extension import extension_stack
from tests.support.stack import stack

__all__ = ["extension_stack", "stack"]
