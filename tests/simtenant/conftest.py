from tests.support.pim_endpoint import endpoint
from tests.support.tenant import client, sim

__all__ = ["client", "endpoint", "sim"]
