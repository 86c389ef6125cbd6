"""Words and word classes without an NLP library.

Taggers, residue mining and word-level diffs all need the same two things: the words of
a story with their character offsets, and a rough word class.  Both are built from
closed-class lexicons and capitalisation, so nothing is downloaded and nothing is
loaded at import time.

>>> tokenize_words("Tom's kite flew.")
[(0, 5, "Tom's"), (6, 10, 'kite'), (11, 15, 'flew')]
>>> word_class("she")
'pronoun'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def lexicon(words: str) -> frozenset[str]:
    """A frozen set of the space-separated ``words``: how the lexicons below are written.

    >>> sorted(lexicon("b a"))
    ['a', 'b']
    """
    return frozenset(words.split())


# A word is a run of letters with inner apostrophes ("didn't"), or a run of digits.
WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+")

PRONOUNS = lexicon(
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers"
    " herself it its itself we us our ours ourselves they them their theirs themselves"
    " everyone everybody everything someone somebody something anyone anybody anything"
    " nobody nothing noone"
)
DETERMINERS = lexicon(
    "a an the this that these those some any every each no another all both many much few"
    " several my your his her its our their"
)
PREPOSITIONS = lexicon(
    "in on at to from with by for of about into onto over under behind near through across"
    " around up down out off after before between inside outside above below along past"
    " towards toward without upon like until since beside against among within"
)
CONJUNCTIONS = lexicon("and but or so because if when while then than as though although nor")
AUXILIARIES = lexicon(
    "is am are was were be been being have has had do does did will would can could shall"
    " should may might must isn't aren't wasn't weren't hasn't haven't hadn't don't doesn't"
    " didn't won't wouldn't can't couldn't shouldn't mustn't i'm you're he's she's it's"
    " we're they're i've you've we've they've i'll you'll he'll she'll we'll they'll"
    " let's that's there's what's i'd you'd he'd she'd we'd they'd"
)
OTHER_FUNCTION = lexicon(
    "not very too just also there here what who whom whose which why how where yes no oh"
    " wow please now never always again away back even only still soon ever really quite"
    " maybe ok okay hi hello bye goodbye sorry thank thanks"
)
NUMBERS = lexicon(
    "one two three four five six seven eight nine ten eleven twelve twenty hundred first"
    " second third last"
)
CLOSED_CLASS = PRONOUNS | DETERMINERS | PREPOSITIONS | CONJUNCTIONS | AUXILIARIES | OTHER_FUNCTION

# Kinship words that TinyStories uses like names ("Mom said", "Thank you, Dad").
FAMILY = lexicon(
    "mom dad mommy daddy mama papa mum mummy grandma grandpa granny nana grandmother grandfather"
)
# Words that, when capitalised, start a multi-word name ("Mr. Brown", "Aunt May").
TITLES = lexicon(
    "mr mrs ms miss dr aunt uncle auntie captain king queen prince princess sir lady"
    " grandma grandpa granny"
)
# Capitalised mid-sentence but not a character.
NOT_NAMES = lexicon(
    "i christmas halloween easter monday tuesday wednesday thursday friday saturday sunday"
    " january february march april may june july august september october november december"
    " english tv ok okay god let"
)
SPEECH_VERBS = lexicon(
    "said says asked asks replied shouted yelled cried exclaimed whispered called answered"
    " laughed screamed added explained agreed giggled sang suggested begged"
)

Word = tuple[int, int, str]


def tokenize_words(text: str) -> list[Word]:
    """Return the words of ``text`` as ``(char_start, char_end, word)``, in order.

    A word is a run of letters with inner apostrophes (``didn't``), or a run of digits;
    punctuation and whitespace are not words.

    >>> tokenize_words("Hi, Sue!  It's 3 o'clock.")
    [(0, 2, 'Hi'), (4, 7, 'Sue'), (10, 14, "It's"), (15, 16, '3'), (17, 24, "o'clock")]
    """
    return [(m.start(), m.end(), m.group()) for m in WORD_RE.finditer(text)]


@dataclass(frozen=True)
class WordContext:
    """What :func:`word_class` may know about a word's position and its corpus.

    ``sentence_initial`` makes capitalisation uninformative; ``after_determiner`` makes
    an unknown word a noun; ``names`` and ``nouns`` are lower-cased lexicons learned from
    a corpus (see :class:`capgym.tags.context.TagContext`).
    """

    sentence_initial: bool = False
    after_determiner: bool = False
    names: frozenset[str] = field(default_factory=frozenset)
    nouns: frozenset[str] = field(default_factory=frozenset)


def word_class(word: str, context: WordContext | None = None) -> str:
    """Return a coarse word class of ``word`` in ``context``.

    One of ``pronoun determiner preposition conjunction auxiliary function number name
    family noun other``.  Closed classes come from built-in lexicons; ``name`` is a
    capitalised word that is not sentence-initial or one in ``context.names``; ``noun``
    is a word in ``context.nouns`` or right after a determiner.

    >>> word_class("Lily", WordContext(sentence_initial=False))
    'name'
    >>> word_class("kite", WordContext(after_determiner=True))
    'noun'
    >>> word_class("the")
    'determiner'
    """
    ctx = context or WordContext()
    low = word.lower()
    # "her" and "that" are both pronoun/determiner and conjunction/determiner; the
    # order of this table picks the class that residue groups read most naturally.
    for cls, lexicon in (
        ("pronoun", PRONOUNS),
        ("determiner", DETERMINERS),
        ("preposition", PREPOSITIONS),
        ("conjunction", CONJUNCTIONS),
        ("auxiliary", AUXILIARIES),
        ("function", OTHER_FUNCTION),
        ("number", NUMBERS),
    ):
        if low in lexicon:
            return cls
    if word.isdigit():
        return "number"
    if low in FAMILY:
        return "family"
    if low in ctx.names or (
        word[:1].isupper() and not ctx.sentence_initial and low not in NOT_NAMES
    ):
        return "name"
    if low in ctx.nouns or ctx.after_determiner:
        return "noun"
    return "other"


_PLURAL_IRREGULAR = {
    "children": "child",
    "men": "man",
    "women": "woman",
    "mice": "mouse",
    "feet": "foot",
    "teeth": "tooth",
    "geese": "goose",
    "people": "person",
    "leaves": "leaf",
    "wolves": "wolf",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "shelves": "shelf",
    "loaves": "loaf",
    "halves": "half",
    "calves": "calf",
    "elves": "elf",
    "scarves": "scarf",
    "oxen": "ox",
    "fish": "fish",
    "sheep": "sheep",
    "deer": "deer",
}
_NOT_PLURAL = lexicon(
    "is was has his its this us bus yes gas dress grass glass class boss kiss news"
)


def singular(word: str) -> str:
    """Return the singular of a lower-case English noun form (the word itself if singular).

    Rules cover regular ``-s``/``-es``/``-ies`` plurals and a table of irregular ones;
    a verb like ``plays`` is stripped too, so callers check noun-hood themselves.

    >>> [singular(w) for w in ["puppies", "boxes", "kites", "children", "dress"]]
    ['puppy', 'box', 'kite', 'child', 'dress']
    """
    if word in _PLURAL_IRREGULAR:
        return _PLURAL_IRREGULAR[word]
    if word in _NOT_PLURAL or len(word) < 3 or word.endswith(("ss", "us", "is", "'s")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


_MALE_NAMES = "tim tom timmy tommy ben max jack bob joe john billy jimmy leo"
_FEMALE_NAMES = (
    "lily sue sara sarah anna amy lucy mia emma jane mary kate ella sally molly rosie zoe lisa"
    " jenny"
)
# The commonest TinyStories names: names even with no reference corpus.
SEED_NAMES = lexicon(_MALE_NAMES + " " + _FEMALE_NAMES)
_MALE = (
    "he him his himself boy man father dad daddy papa brother son king prince uncle husband"
    " grandpa grandfather mr sir wizard knight gentleman grandson nephew " + _MALE_NAMES
)
_FEMALE = (
    "she her hers herself girl woman mother mom mommy mama mum mummy sister daughter queen"
    " princess aunt auntie wife grandma grandmother granny nana lady mrs miss ms witch mermaid"
    " fairy granddaughter niece " + _FEMALE_NAMES
)
# Built-in gender of pronouns, kinship and person nouns, titles and the commonest
# TinyStories names; the rest of the names get theirs from the reference corpus.
GENDER: dict[str, str] = {w: "m" for w in _MALE.split()} | {w: "f" for w in _FEMALE.split()}
PERSON_NOUNS = lexicon(
    "boy girl man woman mother father mom dad mommy daddy mama papa mum mummy brother"
    " sister son daughter king queen prince princess uncle aunt auntie wife husband grandpa"
    " grandma grandfather grandmother granny nana lady wizard knight witch mermaid fairy"
)
# Nouns for beings that can be "they" subjects: people and TinyStories animals (singular).
ANIMATE = PERSON_NOUNS | lexicon(
    "friend kid child baby people person family parent twin neighbor neighbour teacher doctor"
    " farmer worker student player team animal bird dog cat bunny rabbit bear fish monkey"
    " horse frog turtle duck pig cow sheep goat chicken hen mouse puppy kitten squirrel fox"
    " owl lion tiger elephant giraffe bee ant butterfly bug ladybug dragon fairy elf giant"
    " monster dinosaur penguin whale dolphin shark snake worm spider deer wolf kangaroo zebra"
    " swan goose crab caterpillar pet"
)
