"""Views of a run: token views (report, explorer, Jupyter) and the explorer web app.

>>> from capgym.view import Tok, token_view
>>> token_view("Hi", [Tok(1, 0, 2, -0.5)], id_prefix="x").id
'x'
"""

from __future__ import annotations

from capgym.view.data import StoryData, story_view
from capgym.view.tokens import Tag, Tok, TokenView, diff_view, page, token_view

__all__ = ["StoryData", "Tag", "Tok", "TokenView", "diff_view", "page", "story_view", "token_view"]
