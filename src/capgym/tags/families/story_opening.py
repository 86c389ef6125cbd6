"""story-opening: the opening formula of a story.

TinyStories begin with a handful of formulas ("Once upon a time", "One day,", "Long
ago", "There was once"), and after "Once upon a time," usually "there was a".  A model
that has learned the genre predicts them from the start of the text alone.

Span: each word of the formula, only when it starts the story (after leading spaces),
and each word of a following "there was/lived a" (after an optional setting like ", in
a big forest,").  attrs: ``formula`` (lower-cased), ``part`` ("formula" or
"continuation") and ``index`` (word index within the part; 0 is the word that opens it).
"One day" in mid-story is not an opening (see story-structure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger

_ADJ = (
    "sunny|bright|cold|hot|warm|rainy|snowy|beautiful|nice|fine|cloudy|windy|dark|summer"
    "|winter|spring|autumn|fall|lovely|quiet|special|happy|clear|breezy|chilly|foggy"
)
_OPENING = re.compile(
    r"\A\s*(?P<formula>once upon a time"
    r"|once,? there (?:was|were|lived)(?: (?:a|an)\b)?"
    rf"|one (?:(?:{_ADJ}) )?(?:day|morning|night|evening|afternoon)"
    r"|(?:a )?long,? (?:long )?(?:time )?ago"
    r"|there (?:once )?(?:was|were|lived)(?: once)?(?: (?:a|an)\b)?)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(
    r",?\s*(?:(?:in|on|at|near) (?:a|an|the) [\w ]{1,40}?,\s*)?"
    r"(?P<cont>there (?:was|were|lived) (?:a|an)\b)",
    re.IGNORECASE,
)


@tagger("story-opening", doc=__doc__)
def story_opening(text: str, ctx: TagContext) -> Iterable[Span]:
    """Words of the story's opening formula.

    >>> [s.attrs["formula"] for s in story_opening("Once upon a time, there was a cat.",
    ...                                            TagContext())][:1]
    ['once upon a time']
    """
    m = _OPENING.match(text)
    if not m:
        return []
    doc = ctx.doc(text)
    formula = " ".join(m.group("formula").lower().split())
    spans = doc.word_spans(*m.span("formula"), formula=formula, part="formula")
    if not formula.startswith("there") and not formula.endswith(("a", "an")):
        c = _CONTINUATION.match(text, m.end())
        if c:
            cont = " ".join(c.group("cont").lower().split())
            spans += doc.word_spans(*c.span("cont"), formula=cont, part="continuation")
    return spans
