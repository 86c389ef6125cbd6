"""Stage ``tags``: mark the character spans of stories that a capability predicts.

Each capability is a *tagger* (see :mod:`capgym.tags.registry`) that reads a story in
context and returns spans of the word or symbol to be predicted; the built-in families
live one per module in :mod:`capgym.tags.families`.  :func:`tag` runs them into a table
with the ``TAGS`` schema of :mod:`capgym.store.schema`.

>>> import pandas as pd
>>> stories = pd.DataFrame({"corpus": ["c"], "story": [0], "text": ['"Hi," said Tom.']})
>>> t = tag(stories, taggers=["closing-quote"])
>>> t.column("char_start").to_pylist(), t.column("capability").to_pylist()
([4], ['closing-quote'])
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from capgym.errors import UsageError
from capgym.progress import task_progress
from capgym.store.schema import TAGS
from capgym.tags.context import TagContext
from capgym.tags.registry import (
    Span,
    Tagger,
    get_tagger,
    load_user_taggers,
    pattern_tagger,
    registered_taggers,
    tagger,
)
from capgym.tags.runner import TagWarning, run_taggers

__all__ = [
    "Span",
    "TagContext",
    "TagWarning",
    "Tagger",
    "get_tagger",
    "load_user_taggers",
    "pattern_tagger",
    "registered_taggers",
    "tag",
    "tag_warnings",
    "tagger",
]

WARNINGS_KEY = b"capgym.tag_warnings"


def tag(
    stories: pd.DataFrame,
    taggers: list[str] | None = None,
    user_taggers: list[str | Path] | None = None,
    reference_texts: list[str] | None = None,
    progress: bool = False,
) -> pa.Table:
    """Tag ``stories`` (columns corpus, story, text) with the named taggers (default: all).

    ``user_taggers`` are files or folders of extra taggers; ``reference_texts`` give the
    corpus statistics (names, nouns, common phrases); without them the stories themselves
    are the reference.  Returns a ``TAGS`` table sorted by corpus, story, char_start,
    capability.  Misbehaving taggers do not stop the run: their warnings are logged and
    attached to the table (read them with :func:`tag_warnings`).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"corpus": ["c"], "story": [1], "text": ["Once upon a time."]})
    >>> tag(df, taggers=["story-opening"]).num_rows
    4
    """
    missing = {"corpus", "story", "text"} - set(stories.columns)
    if missing:
        raise UsageError(f"stories lack column(s) {sorted(missing)}; need corpus, story, text")
    for path in user_taggers or []:
        load_user_taggers(path)
    chosen = [get_tagger(n) for n in taggers] if taggers is not None else registered_taggers()
    texts = [t if isinstance(t, str) else "" for t in stories["text"].tolist()]
    refs = texts if reference_texts is None else list(reference_texts)
    rows = list(zip(stories["corpus"].astype(str).tolist(), stories["story"].tolist(), texts))
    cols, warnings = run_taggers(_progress(rows, progress), chosen, TagContext(refs))
    table = pa.Table.from_pydict(cols, schema=TAGS)
    table = table.sort_by(
        [(k, "ascending") for k in ("corpus", "story", "char_start", "capability", "char_end")]
    )
    meta = {WARNINGS_KEY: json.dumps([w.__dict__ for w in warnings]).encode()}
    return table.replace_schema_metadata(meta)


def tag_warnings(table: pa.Table) -> list[TagWarning]:
    """The warnings :func:`tag` attached to ``table`` (empty if none or another table).

    >>> import pandas as pd
    >>> tag_warnings(tag(pd.DataFrame({"corpus": [], "story": [], "text": []})))
    []
    """
    raw = (table.schema.metadata or {}).get(WARNINGS_KEY)
    return [TagWarning(**w) for w in json.loads(raw)] if raw else []


def _progress(
    rows: list[tuple[str, int, str]], show: bool
) -> Iterator[tuple[str, int, str]] | list[tuple[str, int, str]]:
    """``rows``, advancing a progress bar on stderr when ``show``."""
    if not show:
        return rows

    def gen() -> Iterator[tuple[str, int, str]]:
        with task_progress("tag", len(rows)) as advance:
            for row in rows:
                yield row
                advance(1)

    return gen()
