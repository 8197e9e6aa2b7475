from tests.support.pim_endpoint import endpoint

__all__ = ["endpoint"]
