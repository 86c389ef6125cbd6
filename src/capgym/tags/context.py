"""What a tagger may know beyond its story: lexicons and statistics of a reference corpus.

A :class:`TagContext` is made once per tagging run from the reference texts the caller
passes (the training sample by default in the CLI).  Everything is computed lazily, on
first use, and then shared by all stories and taggers.

>>> ctx = TagContext(["A girl named Mia had a ball. Mia threw the ball. She ran."])
>>> "mia" in ctx.names, "ball" in ctx.nouns, ctx.gender_of("Mia")
(True, True, 'f')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cached_property

import numpy as np

from capgym.tags.doc import Doc
from capgym.tags.phrases import Phrase, find_phrases
from capgym.tags.stats import CorpusStats
from capgym.tags.words import CLOSED_CLASS, FAMILY, GENDER, NOT_NAMES, NUMBERS, TITLES

# Thresholds of the corpus-derived lexicons; see each property for its rule.
MIN_PHRASE_COUNT = 8
MIN_PHRASE_PROB = 0.6
MIN_PHRASE_LIFT = 40.0
MIN_ASSOC_DOCS = 5
MIN_ASSOC_PMI = math.log(6.0)
MIN_ASSOC_COND = 0.3
MIN_COMPLETION_PROB = 0.9
MIN_PREFIX_COUNT = 5


class TagContext:
    """Reference-corpus knowledge shared by all taggers of one run.

    ``reference_texts`` is any list of stories in the same style as the tagged ones; an
    empty list gives empty lexicons, and taggers then fall back on in-story evidence.
    """

    def __init__(self, reference_texts: Iterable[str] = (), doc_cache: int = 64) -> None:
        self.reference_texts: tuple[str, ...] = tuple(reference_texts)
        self._docs: dict[str, Doc] = {}
        self._doc_cache = doc_cache

    def __repr__(self) -> str:
        return f"TagContext({len(self.reference_texts)} reference texts)"

    @cached_property
    def stats(self) -> CorpusStats:
        """Raw counts over the reference texts (computed on first use)."""
        return CorpusStats.from_texts(self.reference_texts)

    def doc(self, text: str) -> Doc:
        """The analysed :class:`Doc` of ``text``, cached for the taggers of the same story.

        >>> TagContext().doc("Hi, Bo.").words
        [(0, 2, 'Hi'), (4, 6, 'Bo')]
        """
        doc = self._docs.get(text)
        if doc is None:
            if len(self._docs) >= self._doc_cache:
                self._docs.clear()
            doc = self._docs[text] = Doc.build(text, self.names, self.common_lower)
        return doc

    @cached_property
    def names(self) -> frozenset[str]:
        """Lower-cased names: capitalised mid-sentence at least twice and rarely written in
        lower case, or seen right after "named"/"called"."""
        st = self.stats
        excluded = CLOSED_CLASS | NOT_NAMES | FAMILY | TITLES | NUMBERS
        mid = {w for w, c in st.cap_mid.items() if c >= 2 and st.lower_form[w] * 2 <= c}
        named = {w for w, c in st.named.items() if st.lower_form[w] <= c + st.cap_mid[w]}
        return frozenset((mid | named) - excluded)

    @cached_property
    def common_lower(self) -> frozenset[str]:
        """Words more often written in lower case than capitalised mid-sentence."""
        st = self.stats
        return frozenset(w for w, c in st.lower_form.items() if c > st.cap_mid[w])

    @cached_property
    def nouns(self) -> frozenset[str]:
        """Words that end a determiner-led noun phrase at least twice and in >= 15% of uses."""
        st = self.stats
        return frozenset(
            w
            for w, c in st.np_end.items()
            if c >= 2 and c >= 0.15 * st.unigrams[w] and w not in CLOSED_CLASS | NUMBERS
        )

    def gender_of(self, word: str) -> str | None:
        """``"m"``/``"f"`` for a person word or name, from built-ins then corpus votes.

        >>> TagContext().gender_of("queen")
        'f'
        """
        low = word.lower()
        if low in GENDER:
            return GENDER[low]
        votes = self.stats.gender.get(low)
        if not votes or low not in self.names:
            return None
        g, c = votes.most_common(1)[0]
        return g if c >= 2 and c >= 0.8 * sum(votes.values()) else None

    @cached_property
    def prefix_counts(self) -> dict[str, int]:
        """Reference words (lower-cased, with repeats) starting with each prefix (a word
        starts with itself: "rhino" competes with "rhinoceros" after "rhino")."""
        out: dict[str, int] = {}
        for w, c in self.stats.unigrams.items():
            for k in range(1, len(w) + 1):
                out[w[:k]] = out.get(w[:k], 0) + c
        return out

    def completion(self, word: str) -> tuple[int, float, int] | None:
        """``(k, P(word | word[:k]), count of word[:k])`` for the shortest prefix of the
        lower-case ``word`` that determines it (see the word-completion family), else None.

        >>> TagContext(["The elephant ate. The elephant ran. An egg."] * 3).completion("elephant")
        (2, 1.0, 6)
        >>> TagContext(["An egg. An elf."] * 5).completion("egg")  # "e" is egg or elf
        (2, 1.0, 5)
        """
        c = self.stats.unigrams.get(word, 0)
        if c == 0:
            return None
        counts = self.prefix_counts
        for k in range(1, len(word)):
            n = counts.get(word[:k], 0)
            if n >= MIN_PREFIX_COUNT and c >= MIN_COMPLETION_PROB * n:
                return k, c / n, n
        return None

    @cached_property
    def phrases(self) -> dict[tuple[str, ...], Phrase]:
        """Contexts that predict their next word: count >= MIN_PHRASE_COUNT, probability
        >= MIN_PHRASE_PROB and lift >= MIN_PHRASE_LIFT.  A function word needs two or more
        context words, and the lift rule keeps out "the", "a", "to" and "and": "went to -> the"
        is grammar, "picked it -> up" and "all of a -> sudden" are phrases."""
        st = self.stats
        return find_phrases(st.ids, st.vocab, MIN_PHRASE_COUNT, MIN_PHRASE_PROB, MIN_PHRASE_LIFT)

    @cached_property
    def associations(self) -> dict[str, dict[str, float]]:
        """Noun pairs that share stories far more than chance: ``assoc[later][cue] = PMI``.

        Over nouns in at least MIN_ASSOC_DOCS and at most 20% of reference stories, a pair
        needs MIN_ASSOC_DOCS shared stories, PMI >= MIN_ASSOC_PMI and P(later | cue) >=
        MIN_ASSOC_COND.
        """
        st = self.stats
        d = st.n_docs
        vocab = sorted(
            w
            for w in self.nouns
            if MIN_ASSOC_DOCS <= st.doc_freq[w] <= 0.2 * d and w not in self.names
        )
        if d == 0 or not vocab:
            return {}
        index = {w: k for k, w in enumerate(vocab)}
        x = np.zeros((d, len(vocab)), dtype=np.float32)
        for row, words in enumerate(st.doc_words):
            cols = [index[w] for w in words if w in index]
            x[row, cols] = 1.0
        co = x.T @ x
        df = np.diag(co).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.log(co * d / np.outer(df, df))
            cond = co / df[:, None]  # cond[cue, later] = P(later | cue)
        ok = (co >= MIN_ASSOC_DOCS) & (pmi >= MIN_ASSOC_PMI) & (cond >= MIN_ASSOC_COND)
        np.fill_diagonal(ok, False)
        out: dict[str, dict[str, float]] = {}
        for cue, later in zip(*np.nonzero(ok)):
            out.setdefault(vocab[later], {})[vocab[cue]] = round(float(pmi[cue, later]), 2)
        return out
