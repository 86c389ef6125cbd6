"""closing-quote: the quote mark that ends a quotation.

Once a character has said a complete sentence ('"Can I play?'), the closing quote mark
is nearly certain; predicting it means tracking that a quotation is open and that its
sentence is finished.

Span: the closing quote character (straight '"' or '”') of every quotation with at
least one word inside.  Quotations are paired as in :func:`capgym.tags.doc.find_quotes`
(never across a newline).  attrs: ``open_char`` (position of the opening mark),
``words`` (words inside) and ``end_punct`` (the character before the closing mark).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger


@tagger("closing-quote", doc=__doc__)
def closing_quote(text: str, ctx: TagContext) -> Iterable[Span]:
    """The closing mark of every quotation.

    >>> [(s.char_start, s.attrs["open_char"]) for s in closing_quote('"Hi!" he said.',
    ...                                                                TagContext())]
    [(4, 0)]
    """
    doc = ctx.doc(text)
    spans = []
    for o, c in doc.quotes:
        n_words = len(doc.word_range(o + 1, c))
        if n_words:
            attrs = {"open_char": o, "words": n_words, "end_punct": text[c - 1]}
            spans.append(Span(c, c + 1, attrs))
    return spans
