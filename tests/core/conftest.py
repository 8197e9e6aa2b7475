from tests.support.core_fakes import clock, directory, service, tokens

__all__ = ["clock", "directory", "service", "tokens"]
