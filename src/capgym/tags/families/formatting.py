"""formatting: the layout of the text, here the newlines of a paragraph break.

TinyStories separate paragraphs with a blank line; after a finished sentence the model
has to decide whether the paragraph goes on or a new one starts.  That is layout, not a
discourse move, so it is a family of its own (it was 57% of story-structure's tags).

Span: the newline characters of every paragraph break after a finished sentence (the
whole run of newlines after ``.``, ``!``, ``?`` or a closing quote, when more text
follows).  attrs: ``newlines`` (how many), ``paragraph`` (1 for the first break, ...)
and ``rel_pos`` (break start / story length).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger

_BREAK = re.compile(r"(?<=[.!?\"”])[ \t]*(\n+)(?=[ \t]*\S)")


@tagger("formatting", doc=__doc__)
def formatting(text: str, ctx: TagContext) -> Iterable[Span]:
    """The newlines of each paragraph break.

    >>> [(s.char_start, s.attrs["newlines"]) for s in formatting("Hi.\\n\\nBye.", TagContext())]
    [(3, 2)]
    """
    n = max(len(text), 1)
    spans = []
    for k, m in enumerate(_BREAK.finditer(text)):
        s, e = m.span(1)
        attrs = {"newlines": e - s, "paragraph": k + 1, "rel_pos": round(s / n, 2)}
        spans.append(Span(s, e, attrs))
    return spans
