from tests.support.e2e import e2e_stack, fresh, http, pg, sim

__all__ = ["e2e_stack", "fresh", "http", "pg", "sim"]
