"""Word statistics of a reference corpus, counted in one pass.

Taggers that need corpus knowledge (which capitalised words are names, which words are
nouns, which word sequences are fixed expressions, which nouns go together) read it
from :class:`CorpusStats` through :class:`capgym.tags.context.TagContext`, which counts
once per corpus and derives the lexicons lazily.

>>> st = CorpusStats.from_texts(["Once upon a time, a girl named Lily had a kite. Lily ran."])
>>> st.unigrams["lily"], st.named["lily"], st.vocab[st.ids[1]]
(2, 1, 'once')
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from capgym.tags.doc import Doc
from capgym.tags.phrases import BOUNDARY, encode
from capgym.tags.words import CLOSED_CLASS, GENDER, NOT_NAMES, NUMBERS

_GENDERED_PRONOUNS = {w: g for w, g in GENDER.items() if w in CLOSED_CLASS}
_NOT_NAME_WORDS = CLOSED_CLASS | NOT_NAMES | NUMBERS


@dataclass
class CorpusStats:
    """Counts over a reference corpus; all words lower-cased."""

    n_docs: int = 0
    unigrams: Counter[str] = field(default_factory=Counter)
    lower_form: Counter[str] = field(default_factory=Counter)  # written in lower case
    cap_mid: Counter[str] = field(default_factory=Counter)  # capitalised mid-sentence
    named: Counter[str] = field(default_factory=Counter)  # right after "named"/"called"
    np_end: Counter[str] = field(default_factory=Counter)  # w in "the w ," / "a w and"
    gender: dict[str, Counter[str]] = field(default_factory=dict)  # next he/she after a word
    doc_freq: Counter[str] = field(default_factory=Counter)
    doc_words: list[frozenset[str]] = field(default_factory=list)
    # The corpus as one array of word ids, a boundary (id 0) before every sentence.
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    vocab: list[str] = field(default_factory=list)

    @property
    def n_words(self) -> int:
        """Number of words counted."""
        return sum(self.unigrams.values())

    @classmethod
    def from_texts(cls, texts: list[str] | tuple[str, ...]) -> CorpusStats:
        """Count everything the taggers need over ``texts``.

        >>> CorpusStats.from_texts(["The dog ran to the dog."]).np_end["dog"]
        1
        """
        st = cls(n_docs=len(texts))
        sentences: list[list[str]] = []
        for text in texts:
            doc = Doc.build(text, with_mentions=False)
            _count_doc(st, doc)
            for low, starts in zip(doc.lower, doc.sent_start):
                if starts:
                    sentences.append([BOUNDARY])
                sentences[-1].append(low)
        st.ids, st.vocab = encode(sentences)
        return st


def _count_doc(st: CorpusStats, doc: Doc) -> None:
    """Add one document's words to ``st``."""
    lower, words = doc.lower, doc.words
    st.unigrams.update(lower)
    st.doc_words.append(frozenset(lower))
    st.doc_freq.update(st.doc_words[-1])
    pron_pos = [i for i, w in enumerate(lower) if w in _GENDERED_PRONOUNS]
    cap_pos: list[int] = []
    n = len(words)
    for i, (_, _, w) in enumerate(words):
        low = lower[i]
        if w[:1].islower():
            st.lower_form[low] += 1
        elif low not in _NOT_NAME_WORDS:
            cap_pos.append(i)
            base = doc.name_base(i)
            if doc.cap_informative(i):
                st.cap_mid[base] += 1
            if i > 0 and lower[i - 1] in ("named", "called"):
                st.named[base] += 1
        # Only "det w ," and "det w and" count: with an adjective between, the last word
        # may be the verb of a subject ("the bird flew.").
        if low in CLOSED_CLASS or i == 0 or doc.np_determiner(i, agree=False) != i - 1:
            continue
        if i + 1 == n or doc.gap_punct[i + 1] or lower[i + 1] in CLOSED_CLASS:
            st.np_end[low] += 1
    # The first he/she-type pronoun after a capitalised word, before the next capitalised
    # word, is a cheap vote on that word's gender.
    for k, i in enumerate(cap_pos):
        nxt_cap = cap_pos[k + 1] if k + 1 < len(cap_pos) else n
        p = bisect.bisect_right(pron_pos, i)
        if p < len(pron_pos) and pron_pos[p] < min(nxt_cap, i + 15):
            votes = st.gender.setdefault(lower[i], Counter())
            votes[_GENDERED_PRONOUNS[lower[pron_pos[p]]]] += 1
