"""repeated-name: a character's name mentioned again (induction-like copying).

Once "Roxy" has appeared, a later "Roxy" can be copied from the context, however many
tokens the name takes.  This is the cleanest probe of in-context copying in TinyStories.

Span: every mention of a character name after its first mention in the story, the whole
name ("Mr. Brown" is one mention; the possessive "'s" of "Roxy's" is not part of it).
Names are capitalised words used mid-sentence, words after "named"/"called", names
learned from the reference corpus, titles + name, and capitalised kinship words used as
names ("Mom").  attrs: ``name``, ``kind`` ("name"/"family"), ``n_previous`` (earlier
mentions), ``first_char`` (start of the first mention), ``prev_char`` (start of the
previous mention), ``distance_chars`` and ``distance_words`` (from the previous mention's
start).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.doc import Mention
from capgym.tags.registry import Span, tagger


@tagger("repeated-name", doc=__doc__)
def repeated_name(text: str, ctx: TagContext) -> Iterable[Span]:
    """Later mentions of each character name.

    >>> [s.attrs["n_previous"] for s in repeated_name("Roxy ran. Then Roxy and Roxy sat.",
    ...                                              TagContext())]
    [1, 2]
    """
    seen: dict[str, list[Mention]] = {}
    spans = []
    for m in ctx.doc(text).mentions:
        earlier = seen.setdefault(m.key, [])
        if earlier:
            prev = earlier[-1]
            attrs = {
                "name": m.key,
                "kind": m.kind,
                "n_previous": len(earlier),
                "first_char": earlier[0].start,
                "prev_char": prev.start,
                "distance_chars": m.start - prev.start,
                "distance_words": m.first - prev.first,
            }
            spans.append(Span(m.start, m.end, attrs))
        earlier.append(m)
    return spans
