from tests.support.feed import env, feed_stack

__all__ = ["env", "feed_stack"]
