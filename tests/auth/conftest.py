from tests.support.stack import prod, prod_sso, prod_stepup

__all__ = ["prod", "prod_sso", "prod_stepup"]
