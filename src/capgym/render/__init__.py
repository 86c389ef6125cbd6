"""Token views: how capgym draws a story's tokens, for the report, explain and the explorer.

The one renderer below every stage that shows tokens (explain's Jupyter views, the
atlas, the explorer): monospace boxes coloured by probability, a hover with the top-k,
capability underlines, two models compared by aligned character spans.

>>> from capgym.render import Tok, token_view
>>> token_view("Hi", [Tok(1, 0, 2, -0.5)], id_prefix="x").id
'x'
"""

from __future__ import annotations

from capgym.render.data import StoryData, story_view
from capgym.render.tokens import Tag, Tok, TokenView, diff_view, page, token_view

__all__ = ["StoryData", "Tag", "Tok", "TokenView", "diff_view", "page", "story_view", "token_view"]
