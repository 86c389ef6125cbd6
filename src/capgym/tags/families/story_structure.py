"""story-structure: discourse moves at their usual place in a story.

TinyStories follow a plan: a setup, then "One day" starts the event, "But" or
"Suddenly" brings the problem, "Then"/"After that" move it on, "Finally"/"In the end"
resolve it.  Predicting the move needs a sense of the story's progress.  (Paragraph
breaks are layout, not discourse: they are the ``formatting`` family.)

Span: each word of a discourse marker that opens a narrative sentence (outside
quotations, not the story's first sentence) where that move usually happens:
``event-onset`` ("One day", "One sunny morning", before 70% of the story), ``problem``
("But", "Suddenly", "However", "Unfortunately", "All of a sudden", 10-90%),
``sequence`` ("Then", "After that", "The next day", "Later", "Soon", "After a while",
"Next"), ``resolution`` ("Finally", "In the end", "At last", after 40%).  attrs:
``move``, ``marker``, ``sentence`` (index), ``rel_pos``, ``index`` (word index within
the marker).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger

_DAY = r"one (?:\w+ )?(?:day|morning|night|evening|afternoon)"
_MOVES: list[tuple[str, re.Pattern[str], float, float]] = [
    ("event-onset", re.compile(_DAY + r"\b"), 0.0, 0.7),
    (
        "problem",
        re.compile(r"(?:but|suddenly|however|unfortunately|all of a sudden)\b"),
        0.1,
        0.9,
    ),
    (
        "sequence",
        re.compile(r"(?:then|after that|the next (?:day|morning)|later|soon|after a while|next)\b"),
        0.0,
        1.0,
    ),
    ("resolution", re.compile(r"(?:finally|in the end|at last)\b"), 0.4, 1.0),
]


@tagger("story-structure", doc=__doc__)
def story_structure(text: str, ctx: TagContext) -> Iterable[Span]:
    """Discourse markers at sentence starts.

    >>> text = "Ann had a dog. One day, the dog ran off. But Ann found it.\\n\\nThey were happy."
    >>> [s.attrs["move"] for s in story_structure(text, TagContext()) if s.attrs["index"] == 0]
    ['event-onset', 'problem']
    """
    doc = ctx.doc(text)
    n = max(len(text), 1)
    lowered = text.lower()
    spans: list[Span] = []
    for i, (s, _, _) in enumerate(doc.words):
        if not doc.sent_start[i] or doc.sent_id[i] == 0 or doc.quote_of[i] >= 0:
            continue
        rel = s / n
        for move, pattern, lo, hi in _MOVES:
            m = pattern.match(lowered, s)
            if m and lo <= rel < hi:
                marker = " ".join(m.group().split())
                spans += doc.word_spans(
                    s,
                    m.end(),
                    move=move,
                    marker=marker,
                    sentence=doc.sent_id[i],
                    rel_pos=round(rel, 2),
                )
                break
    return spans
