"""One story, analysed once and shared by every tagger.

A :class:`Doc` holds the story's words with their sentence and quotation structure, its
noun-phrase contexts, and its character mentions (names and kinship words used as
names).  :meth:`capgym.tags.context.TagContext.doc` builds and caches it, so thirteen
taggers do not tokenize a story thirteen times.

>>> d = Doc.build('Tom said, "Hi, Sue!" Sue smiled.')
>>> [w for _, _, w in d.words]
['Tom', 'said', 'Hi', 'Sue', 'Sue', 'smiled']
>>> d.quotes
[(10, 19)]
>>> d.sent_start
[True, False, False, False, True, False]
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from capgym.tags.registry import Span
from capgym.tags.words import (
    CLOSED_CLASS,
    DETERMINERS,
    FAMILY,
    NOT_NAMES,
    NUMBERS,
    SEED_NAMES,
    TITLES,
    Word,
    lexicon,
    singular,
    tokenize_words,
)

_QUOTE_RE = re.compile(r'["“”\n]')
_ABBREVIATIONS = lexicon("mr mrs ms dr st")
_OPENERS = " \t\r\n([{:;,—-"
_NP_STARTERS = DETERMINERS | NUMBERS
_DEMONSTRATIVES = lexicon("this that these those")


def find_quotes(text: str) -> list[tuple[int, int]]:
    """Return ``(open, close)`` character positions of the quotations of ``text``.

    Straight quotes alternate, but a quote that looks like an opening one (after a space,
    before a letter) re-opens and one that looks like a closing one is ignored while no
    quotation is open, so a story cut mid-quotation does not flip every later pair.  A
    newline abandons an unclosed quotation.

    >>> find_quotes('He said, "Go!" Then "stop" and bye," she said.')
    [(9, 13), (20, 25)]
    """
    quotes: list[tuple[int, int]] = []
    opened = -1
    n = len(text)
    for m in _QUOTE_RE.finditer(text):
        pos, ch = m.start(), m.group()
        if ch == "\n":
            opened = -1
            continue
        before = text[pos - 1] if pos > 0 else " "
        after = text[pos + 1] if pos + 1 < n else " "
        looks_open = before in _OPENERS and not after.isspace()
        looks_close = not before.isspace() and (after.isspace() or not after.isalnum())
        if ch == "“" or (ch == '"' and opened < 0 and (looks_open or not looks_close)):
            opened = pos
        elif opened >= 0 and (ch == "”" or not looks_open or looks_close):
            quotes.append((opened, pos))
            opened = -1
        elif ch == '"' and looks_open:
            opened = pos
    return quotes


@dataclass(frozen=True)
class Mention:
    """A character mention: a name (possibly several words) or a kinship word used as one."""

    start: int
    end: int
    key: str  # the words joined by spaces: "Mr Brown", "Lily", "Mom"
    first: int  # index of its first and last word in Doc.words
    last: int
    kind: str  # "name" or "family"


@dataclass
class Doc:
    """A story's words and structure; see the module docstring."""

    text: str
    words: list[Word]
    lower: list[str]
    sent_start: list[bool]  # first word of a sentence (capitalisation says nothing)
    quote_start: list[bool]  # first word after an opening quote mark (double or single)
    gap_punct: list[bool]  # something other than spaces between this word and the previous
    sent_id: list[int]
    quote_of: list[int]  # index into quotes, or -1 outside quotations
    quotes: list[tuple[int, int]]
    mentions: list[Mention] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # char_start of each word

    @classmethod
    def build(
        cls,
        text: str,
        names: frozenset[str] = frozenset(),
        common_lower: frozenset[str] = frozenset(),
        with_mentions: bool = True,
    ) -> Doc:
        """Analyse ``text``; ``names`` and ``common_lower`` come from the reference corpus
        (corpus statistics pass ``with_mentions=False`` to skip character mentions).

        >>> Doc.build("Ann saw Bo. Bo ran.", names=frozenset()).mentions[0].key
        'Bo'
        """
        words = tokenize_words(text)
        lower = [w.lower().replace("’", "'") for _, _, w in words]
        starts = [s for s, _, _ in words]
        ends = [0] + [e for _, e, _ in words[:-1]]
        gaps = [text[pe:s] for pe, s in zip(ends, starts)]
        sent_start = [_ends_sentence(g) for g in gaps]
        for i, g in enumerate(gaps):
            if sent_start[i] and i > 0 and g.strip() == "." and lower[i - 1] in _ABBREVIATIONS:
                sent_start[i] = False
        if words:
            sent_start[0] = True
        sent_id = list(itertools.accumulate(sent_start, initial=-1))[1:]
        gap_punct = [bool(g) and not g.isspace() for g in gaps]
        quote_start = [_single_quote_opens(g, i) for i, g in enumerate(gaps)]
        quotes = find_quotes(text)
        quote_of = [-1] * len(words)
        for k, (o, c) in enumerate(quotes):
            lo, hi = bisect.bisect_right(starts, o), bisect.bisect_left(starts, c)
            quote_of[lo:hi] = [k] * (hi - lo)
            if lo < hi and starts[lo] == o + 1:
                quote_start[lo] = True
        doc = cls(text, words, lower, sent_start, quote_start, gap_punct, sent_id, quote_of, quotes)
        doc.starts = starts
        if with_mentions:
            doc.mentions = _find_mentions(doc, names, common_lower)
        return doc

    def word_range(self, start: int, end: int) -> range:
        """Indexes of the words lying inside the characters ``[start, end)``.

        >>> Doc.build("Once upon a time, Bo.").word_range(0, 16)
        range(0, 4)
        """
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        while hi > lo and self.words[hi - 1][1] > end:
            hi -= 1
        return range(lo, hi)

    def word_spans(self, start: int, end: int, **attrs: Any) -> list[Span]:
        """One :class:`Span` per word inside ``[start, end)``, each with ``attrs`` and its
        ``index`` within the range (so users can drop a formula's first word).

        >>> [(s.char_start, s.attrs) for s in Doc.build("One day, Bo ran.").word_spans(0, 7, k=1)]
        [(0, {'k': 1, 'index': 0}), (4, {'k': 1, 'index': 1})]
        """
        return [
            Span(self.words[i][0], self.words[i][1], {**attrs, "index": k})
            for k, i in enumerate(self.word_range(start, end))
        ]

    def np_determiner(self, i: int, agree: bool = True) -> int:
        """Index of the determiner or number opening a noun phrase that ends at word ``i``.

        Looks back over at most two open-class words ("a big red kite"); -1 if none.
        "this"/"that" open only a singular noun and "these"/"those" only a plural one: in
        "learned that onions" or "knew that helping others", "that" is a conjunction
        (``agree=False`` skips that check: the noun lexicon takes "said that stories
        were" as evidence that "stories" is a noun).

        >>> d = Doc.build("She saw a big red kite and it flew.")
        >>> d.np_determiner(5), d.np_determiner(8)
        (2, -1)
        >>> d = Doc.build("That toy is old. He knew that helping others is good.")
        >>> d.np_determiner(1), d.np_determiner(8)
        (0, -1)
        """
        for j in range(i - 1, max(i - 4, -1), -1):
            if self.gap_punct[j + 1]:
                return -1
            low = self.lower[j]
            if low in _DEMONSTRATIVES and agree:
                plural = singular(self.lower[i]) != self.lower[i]
                return j if plural == (low in ("these", "those")) else -1
            if low in _NP_STARTERS:
                return j
            if low in CLOSED_CLASS:
                return -1
        return -1

    def name_base(self, i: int) -> str:
        """Word ``i`` lower-cased without a possessive ending: "Lily's" -> "lily"."""
        low = self.lower[i]
        return low[:-2] if low.endswith("'s") and len(low) > 3 else low

    def cap_informative(self, i: int) -> bool:
        """Whether word ``i`` is capitalised where capitals are not required."""
        return self.words[i][2][:1].isupper() and not (self.sent_start[i] or self.quote_start[i])


def _find_mentions(doc: Doc, names: frozenset[str], common_lower: frozenset[str]) -> list[Mention]:
    """Character mentions: capitalised name words, titles + names, capitalised kinship words.

    A possessive ending is not part of the mention: in "Lily's kite" the mention is "Lily".
    """
    words = doc.words
    base = [doc.name_base(i) for i in range(len(words))]
    caps = [w[:1].isupper() for _, _, w in words]
    mid_caps: dict[str, int] = {}
    initial_caps: dict[str, int] = {}
    story_names: set[str] = set()
    lower_forms = {b for b, c in zip(base, caps) if not c}
    for i in range(len(words)):
        b = base[i]
        if not caps[i] or b in _NOT_NAME or len(b) < 2:
            continue
        if b in names or b in SEED_NAMES or (i > 0 and doc.lower[i - 1] in ("named", "called")):
            story_names.add(b)
        elif doc.cap_informative(i):
            mid_caps[b] = mid_caps.get(b, 0) + 1
            if b not in common_lower:
                story_names.add(b)
        elif b not in common_lower:
            initial_caps[b] = initial_caps.get(b, 0) + 1
    # A word capitalised twice mid-sentence and never in lower case is a name, and so is
    # one that only starts sentences ("Roxy ran. Roxy sat.") if the corpus never writes
    # it in lower case.
    story_names.update(w for w, c in mid_caps.items() if c >= 2 and w not in lower_forms)
    story_names.update(w for w, c in initial_caps.items() if c >= 2 and w not in lower_forms)

    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        kind = ""
        if caps[i] and base[i] in story_names:
            kind = "name"
        elif caps[i] and base[i] in FAMILY and not _after_determiner(doc, i):
            kind = "family"
        if caps[i] and base[i] in TITLES and _continues_name(doc, i, base, story_names):
            kind = "name"
        if not kind:
            i += 1
            continue
        j = i
        while kind == "name" and _continues_name(doc, j, base, story_names):
            j += 1
        key = " ".join([words[k][2] for k in range(i, j)] + [_strip_possessive(words[j][2])])
        end = words[j][0] + len(_strip_possessive(words[j][2]))
        mentions.append(Mention(words[i][0], end, key, i, j, kind))
        i = j + 1
    return mentions


_NOT_NAME = CLOSED_CLASS | NOT_NAMES | FAMILY | TITLES | NUMBERS


def _ends_sentence(gap: str) -> bool:
    """Whether the text between two words ends a sentence (or a line)."""
    return "." in gap or "!" in gap or "?" in gap or "\n" in gap


def _single_quote_opens(gap: str, i: int) -> bool:
    """Whether ``gap`` ends with a single quote that opens a quotation ("said 'Let's")."""
    if not gap or (gap[-1] != "'" and gap[-1] != "‘"):
        return False
    return len(gap) == 1 and i == 0 or len(gap) >= 2 and gap[-2] in _OPENERS


def _after_determiner(doc: Doc, i: int) -> bool:
    """Whether word ``i`` directly follows a determiner ("his Mom" is not a name use)."""
    return i > 0 and not doc.gap_punct[i] and doc.lower[i - 1] in DETERMINERS


def _strip_possessive(word: str) -> str:
    return word[:-2] if len(word) > 3 and word[-2:] in ("'s", "’s") else word


def _continues_name(doc: Doc, j: int, base: list[str], story_names: set[str]) -> bool:
    """Whether word ``j + 1`` extends the name ending at word ``j`` ("Mr. Brown", "Lily Rose")."""
    if j + 1 >= len(doc.words) or base[j] != doc.lower[j]:  # "Lily's Rose" is two things
        return False
    gap = doc.text[doc.words[j][1] : doc.words[j + 1][0]]
    if gap != " " and not (gap == ". " and doc.lower[j] in _ABBREVIATIONS):
        return False
    if not doc.words[j + 1][2][:1].isupper() or base[j + 1] in _NOT_NAME:
        return False
    if base[j] in TITLES:
        return True
    return base[j + 1] in story_names and not doc.sent_start[j + 1]
