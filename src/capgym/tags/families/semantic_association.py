"""semantic-association: a word primed by an earlier related word ("beach ... sand").

Once a story is at the beach, "sand", "waves" and "shells" become likely; at a birthday,
"cake" and "presents".  The model predicts a word it has not seen in the story from the
topic that earlier words set.

Span: the first occurrence in the story of a word (no inflection of it earlier) that
belongs to a topic cluster together with a different word seen earlier in the story:
the hand lexicon ``CLUSTERS`` below, or, for nouns outside it, a pair of nouns that
share reference-corpus stories far more than chance
(:attr:`capgym.tags.context.TagContext.associations`).  attrs: ``word``, ``cue`` (the
earliest related earlier word), ``cue_char``, ``cluster`` (lexicon topic, or "corpus"),
``source`` ("lexicon"/"corpus"), ``distance_words``, and ``pmi`` for corpus pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from capgym.tags.context import TagContext
from capgym.tags.families.repeated_noun import GENERIC_NOUNS
from capgym.tags.registry import Span, tagger
from capgym.tags.words import lexicon, singular

CLUSTERS: dict[str, str] = {
    "beach": "beach sand sea ocean wave shell sandcastle seashell swimsuit seagull crab",
    "birthday": "birthday cake party present gift candle balloon card celebrate",
    "rain": "rain umbrella wet puddle cloud storm thunder lightning raincoat drop",
    "snow": "snow snowman winter sled mitten scarf snowflake snowball ice",
    "garden": "garden flower plant seed soil dig bee butterfly grow bloom",
    "baking": "kitchen bake oven cookie flour dough bowl spoon cake",
    "bedtime": "bed sleep pillow blanket dream bedtime yawn tired",
    "night sky": "sky star moon rocket space planet astronaut",
    "school": "school teacher class classroom desk homework",
    "farm": "farm farmer cow pig horse barn hen chicken tractor sheep goat",
    "playground": "park swing slide playground sandbox",
    "fishing": "fish fishing pond lake boat net hook",
    "forest": "forest tree wood leaf branch squirrel owl",
    "vehicles": "car drive road wheel truck bus driver",
    "sickness": "doctor sick medicine hurt nurse bandage hospital fever",
    "music": "music sing song dance drum piano guitar",
    "bath": "bath soap bubble towel wash tub",
    "royalty": "king queen castle princess prince crown knight throne",
    "treasure": "treasure map pirate gold chest island ship",
    "art": "paint brush crayon draw picture paper color",
    "shop": "store shop buy money coin",
    "breakfast": "breakfast cereal milk toast egg juice",
    "fire": "fire smoke firefighter burn",
    "circus": "circus clown juggle tent",
    "zoo": "zoo lion elephant giraffe monkey zebra",
}
# Nouns that co-occur with a cue through a fixed phrase ("the moral of the story") or a
# story frame rather than a topic.
NOT_TOPICAL = GENERIC_NOUNS | lexicon("story moral lesson friend friends mom dad mommy daddy")
_WORD_CLUSTERS: dict[str, list[str]] = {}
for _topic, _words in CLUSTERS.items():
    for _w in _words.split():
        _WORD_CLUSTERS.setdefault(_w, []).append(_topic)


@tagger("semantic-association", doc=__doc__)
def semantic_association(text: str, ctx: TagContext) -> Iterable[Span]:
    """First mentions primed by an earlier word of the same topic.

    >>> [(s.attrs["word"], s.attrs["cue"]) for s in semantic_association(
    ...     "We went to the beach. The sand was hot.", TagContext())]
    [('sand', 'beach')]
    """
    doc = ctx.doc(text)
    assoc = ctx.associations
    seen: dict[str, int] = {}  # lower-case word -> first index
    topic_cue: dict[str, int] = {}  # topic -> first word index of a cue
    spans = []
    for i, low in enumerate(doc.lower):
        base = _base(low)
        if seen.keys() & _forms(base):  # "sleep" after "sleeping" is a repeat, not a prime
            seen.setdefault(low, i)
            continue
        seen[low] = i
        topics = _WORD_CLUSTERS.get(base, [])
        attrs = _lexicon_cue(doc.lower, topics, topic_cue, base)
        topical = low in assoc and low not in NOT_TOPICAL and not doc.cap_informative(i)
        if attrs is None and not topics and topical:
            attrs = _corpus_cue(assoc[low], seen, i)
        for t in topics:
            topic_cue.setdefault(t, i)
        if attrs is None:
            continue
        j = attrs.pop("cue_index")
        attrs |= {
            "word": low,
            "cue": doc.lower[j],
            "cue_char": doc.words[j][0],
            "distance_words": i - j,
        }
        spans.append(Span(doc.words[i][0], doc.words[i][1], attrs))
    return spans


def _lexicon_cue(
    lower: list[str], topics: list[str], topic_cue: dict[str, int], base: str
) -> dict[str, Any] | None:
    for t in topics:
        j = topic_cue.get(t)
        if j is not None and _base(lower[j]) != base:
            return {"cluster": t, "source": "lexicon", "cue_index": j}
    return None


def _corpus_cue(cues: dict[str, float], seen: dict[str, int], i: int) -> dict[str, Any] | None:
    found = [(seen[c], c) for c in cues if c in seen and seen[c] < i]
    if not found:
        return None
    j, cue = min(found)
    return {"cluster": "corpus", "source": "corpus", "cue_index": j, "pmi": cues[cue]}


def _base(low: str) -> str:
    """The cluster form of a word: its singular, or its stem without -ing/-ed."""
    sg = singular(low)
    if sg in _WORD_CLUSTERS:
        return sg
    for suffix in ("ing", "ed"):
        if low.endswith(suffix) and len(low) > len(suffix) + 2:
            stem = low[: -len(suffix)]
            for cand in (stem, stem + "e", stem[:-1]):
                if cand in _WORD_CLUSTERS:
                    return cand
    return sg


def _forms(base: str) -> set[str]:
    """Inflected forms of ``base`` that count as the same word."""
    forms = {base, base + "s", base + "es", base + "d", base + "ed", base + "ing"}
    forms |= {base[:-1] + "ing", base[:-1] + "ies", base + base[-1:] + "ing"}
    return forms | {base + base[-1:] + "ed"}
