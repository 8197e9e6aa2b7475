from tests.support.tenant import client, sim

__all__ = ["client", "sim"]
