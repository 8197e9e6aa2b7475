from tests.support.renderer import card_renderer

__all__ = ["card_renderer"]
