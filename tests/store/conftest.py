from tests.support.store_backends import azurite, backend, store

__all__ = ["azurite", "backend", "store"]
