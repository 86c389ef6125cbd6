"""word-completion: finishing a word that a tokenizer splits into pieces.

Long or rare words ("rhinoceros", "Roxy") are split into several tokens; once the first
piece is there, the rest is nearly determined.  Taggers are tokenizer-independent, so
this family marks whole words and leaves the pieces to the consumer.

Span: every word of two or more characters (letters with inner apostrophes, or digits),
the whole word.  Rule for consumers: a token is a word-completion if its ``char_start``
lies strictly inside a tagged span (``char_start < token_start < char_end``), i.e. it is
inside the word and does not start at the word's start.  A token whose text begins with
a space before the word ("▁rh") starts before the word and is not a completion.
attrs: ``word``.
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger


@tagger("word-completion", doc=__doc__)
def word_completion(text: str, ctx: TagContext) -> Iterable[Span]:
    """Every word of two or more characters.

    >>> [(s.char_start, s.char_end) for s in word_completion("A rhino ran.", TagContext())]
    [(2, 7), (8, 11)]
    """
    return [Span(s, e, {"word": w}) for s, e, w in ctx.doc(text).words if e - s >= 2]
