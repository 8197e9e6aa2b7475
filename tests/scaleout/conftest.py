from tests.support.store_backends import azurite

__all__ = ["azurite"]
