"""word-completion: finishing a word whose prefix determines the rest of it.

Long or rare words ("rhinoceros") are split into several tokens; once a prefix is there
("rhin"), the rest of the word may be determined, and predicting it is completion, not
choice.  A prefix that leaves several words open (" g" -> "irl" / "ive" / "ot") is a
word choice and is *not* a completion.

Rule (stated on the reference corpus, lower-cased whole words): the prefix ``w[:k]``
*determines* the word ``w`` when at least MIN_PREFIX_COUNT reference words start with
``w[:k]`` and the prefix-conditional probability
``P(w | w[:k]) = count(w) / count(words starting with w[:k])`` is at least
MIN_COMPLETION_PROB (0.9).  ``k`` ranges over 1 .. len(w) - 1 and the probability never
falls as ``k`` grows, so the determined part of the word is everything after the
shortest determining prefix ``w[:k]``.

Span: the determined rest of the word, after its shortest determining prefix,
``[start + k, end)``, for words of two or more characters whose reference prefix
determines them (a word with no such prefix, e.g. a name or a word absent from the
reference corpus, gets no span).  Rule for consumers: a token is a word-completion when
it starts inside the span (``char_start <= token_start < char_end``); a token that
starts before it (" g" + "irl" when "g" still allows "give") is a word choice.
Tokenizers differ, so the tagger marks characters and leaves the pieces to
the consumer.  attrs: ``word``, ``prefix`` (the determining prefix), ``prob``
(P(word | prefix), 3 decimals) and ``count`` (reference words with that prefix).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger


@tagger("word-completion", doc=__doc__)
def word_completion(text: str, ctx: TagContext) -> Iterable[Span]:
    """The determined rest of each word, after its shortest determining prefix.

    >>> ctx = TagContext(["A rhinoceros ran."] * 6 + ["The rhino ran."])
    >>> text = "A rhinoceros."
    >>> [(text[s.char_start : s.char_end], s.attrs["prefix"], s.attrs["prob"])
    ...  for s in word_completion(text, ctx)]
    [('eros', 'rhinoc', 1.0)]
    """
    spans = []
    for s, e, w in ctx.doc(text).words:
        if e - s < 2:
            continue
        found = ctx.completion(w.lower().replace("’", "'"))
        if found is not None:
            k, prob, count = found
            attrs = {"word": w, "prefix": w[:k], "prob": round(prob, 3), "count": count}
            spans.append(Span(s + k, e, attrs))
    return spans
