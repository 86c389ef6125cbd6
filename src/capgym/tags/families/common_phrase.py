"""common-phrase: the predictable continuation of a fixed expression or skip-gram.

"hide and -> seek", "all of a -> sudden", "picked it -> up", "as fast as he -> could":
after the first words of a fixed expression, the rest follows.  The expressions are
found from reference-corpus statistics, not only from a hand list.

Span: a word that its left context predicts in the reference corpus
(:attr:`capgym.tags.context.TagContext.phrases`): an n-gram context of 1-3 words or a
skip-gram context with one skipped word ("as * as he -> could"), seen at least
MIN_PHRASE_COUNT times, giving the word probability >= MIN_PHRASE_PROB and lift >=
MIN_PHRASE_LIFT (so "went to -> the" is grammar, not a phrase); the shortest matching
context is reported.  Contexts do not cross sentence boundaries.  A small seed list
(``SEEDS``) adds the predictable part of a few expressions ("as fast // as he could",
"see something up // close", "in front // of").
attrs: ``phrase`` (context words + word, "*" for a skipped word), ``source`` ("corpus"
or "seed"), and for corpus phrases ``prob``, ``lift``, ``count``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.phrases import BOUNDARY
from capgym.tags.registry import Span, tagger

# Seed expressions (regexes): "//" splits the cue from the predictable part that is tagged.
SEEDS = [
    "hide // and seek",
    "once // upon a time",
    "happily // ever after",
    "all of // a sudden",
    "each // other",
    "no matter // what",
    "thank // you",
    r"as \w+ // as (?:he|she|they|i|we|you|it) (?:could|can)",
    "over // and over",
    "again // and again",
    "more // and more",
    "up and // down",
    "back and // forth",
    "ice // cream",
    "teddy // bear",
    "a lot // of",
    "lots // of",
    "at the same // time",
    r"(?:see|look at|saw|looked at) (?:\w+ ){1,2}up // close",
    "from far // away",
    "far, far // away",
    "out of // breath",
    "in front // of",
    "on top // of",
    "in the middle // of",
    "for the first // time",
    "once in a // while",
    "make a // wish",
    "give it a // try",
    "fast // asleep",
    "fell // asleep",
    "safe and // sound",
    "sooner or // later",
    "little by // little",
    "step by // step",
    "side by // side",
    "hand in // hand",
    "the rest // of",
]


def _seed_regex(k: int, seed: str) -> str:
    cue, rest = (part.strip() for part in seed.split("//"))
    return rf"\b{cue} (?P<rest{k}>{rest})\b"


_SEEDS = re.compile("|".join(_seed_regex(k, s) for k, s in enumerate(SEEDS)), re.IGNORECASE)


@tagger("common-phrase", doc=__doc__)
def common_phrase(text: str, ctx: TagContext) -> Iterable[Span]:
    """Words predicted by a fixed-expression context.

    >>> ctx = TagContext(["They played hide and seek."] * 10 + ["A dog and a cat ran."] * 100)
    >>> [(s.char_start, s.attrs["phrase"], s.attrs["source"]) for s in common_phrase(
    ...     "We like hide and seek.", ctx)]
    [(17, 'hide and seek', 'corpus'), (13, 'hide and seek', 'seed')]
    """
    doc = ctx.doc(text)
    phrases = ctx.phrases
    seq: list[str] = []
    spans: list[Span] = []
    tagged: set[int] = set()
    for i, low in enumerate(doc.lower):
        if doc.sent_start[i]:
            seq.append(BOUNDARY)
        p = len(seq)
        seq.append(low)
        if not phrases:
            continue
        b3, b2, b1 = (seq[p - 3] if p >= 3 else ""), (seq[p - 2] if p >= 2 else ""), seq[p - 1]
        b4 = seq[p - 4] if p >= 4 else ""
        for key in ((b1,), (b2, b1), (b3, "*", b1), (b3, b2, b1), (b4, "*", b2, b1)):
            ph = phrases.get(key)
            if ph is not None and ph.word == low and "" not in key:
                attrs = {
                    "phrase": " ".join(w for w in (*key, low) if w != BOUNDARY),
                    "source": "corpus",
                    "prob": ph.prob,
                    "lift": ph.lift,
                    "count": ph.count,
                }
                spans.append(Span(doc.words[i][0], doc.words[i][1], attrs))
                tagged.add(i)
                break
    for m in _SEEDS.finditer(text):
        phrase = " ".join(m.group().lower().split())
        rest = next(k for k, v in m.groupdict().items() if v is not None)
        for i in doc.word_range(*m.span(rest)):
            if i not in tagged:
                attrs = {"phrase": phrase, "source": "seed"}
                spans.append(Span(doc.words[i][0], doc.words[i][1], attrs))
    return spans
