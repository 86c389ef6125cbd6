"""An example user tagger: the comma right after a character's name ("Tom, look!").

Found as the top residue group of stories260K (commas), written as one small file:

    capgym tag --user-taggers examples/comma_after_name.py
    capgym explain --model stories260K
"""

from __future__ import annotations

from collections.abc import Iterator

from capgym.tags import Span, TagContext, tagger


@tagger("comma-after-name")
def comma_after_name(text: str, ctx: TagContext) -> Iterator[Span]:
    """The comma that follows a name mention (an addressee or a listed character)."""
    for m in ctx.doc(text).mentions:
        if text[m.end : m.end + 1] == ",":
            yield Span(m.end, m.end + 1, {"name": m.key})
