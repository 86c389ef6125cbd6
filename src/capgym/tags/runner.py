"""Run taggers over stories, keeping good spans and reporting bad taggers.

A tagger that raises, or returns a span outside its story or with attrs that are not
JSON, is reported as a :class:`TagWarning` naming the tagger and the story; the spans of
the other taggers (and its own good spans) are kept.

>>> from capgym.tags.registry import Span, Tagger
>>> bad = Tagger("bad-demo", lambda text, ctx: [Span(0, 99)], "", "here")
>>> cols, warns = run_taggers([("c", 1, "Hi.")], [bad], ctx=None)
>>> len(cols["char_start"]), str(warns[0])
(0, "tagger 'bad-demo' on story c/1: span [0, 99) outside the story (length 3)")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, Tagger

log = logging.getLogger("capgym.tags")
MAX_LOGGED_PER_TAGGER = 5


@dataclass(frozen=True)
class TagWarning:
    """A tagger misbehaved on one story."""

    tagger: str
    corpus: str
    story: int
    message: str

    def __str__(self) -> str:
        return f"tagger {self.tagger!r} on story {self.corpus}/{self.story}: {self.message}"


def run_taggers(
    stories: Iterable[tuple[str, int, str]],
    taggers: list[Tagger],
    ctx: TagContext | None,
) -> tuple[dict[str, list[Any]], list[TagWarning]]:
    """Tag every ``(corpus, story, text)``; return TAGS columns and the warnings.

    >>> from capgym.tags.registry import get_tagger
    >>> cols, _ = run_taggers([("c", 0, '"Hi," he said.')], [get_tagger("closing-quote")],
    ...                       TagContext())
    >>> cols["char_start"], cols["capability"]
    ([4], ['closing-quote'])
    """
    cols: dict[str, list[Any]] = {
        k: [] for k in ("corpus", "story", "char_start", "char_end", "capability", "attrs")
    }
    warnings: list[TagWarning] = []
    logged: dict[str, int] = {}

    def warn(t: Tagger, corpus: str, story: int, message: str) -> None:
        w = TagWarning(t.name, corpus, story, message)
        warnings.append(w)
        logged[t.name] = logged.get(t.name, 0) + 1
        if logged[t.name] <= MAX_LOGGED_PER_TAGGER:
            log.warning("%s", w)
        elif logged[t.name] == MAX_LOGGED_PER_TAGGER + 1:
            log.warning("tagger %r: more warnings not logged (see tag_warnings)", t.name)

    dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
    for corpus, story, text in stories:
        for t in taggers:
            for problem, span in _checked(t, text, ctx):
                if problem:
                    warn(t, corpus, story, problem)
                    continue
                assert span is not None
                try:
                    attrs = dumps(dict(span.attrs))
                except (TypeError, ValueError) as err:
                    warn(t, corpus, story, f"attrs of span {_fmt(span)} are not JSON: {err}")
                    continue
                cols["corpus"].append(corpus)
                cols["story"].append(story)
                cols["char_start"].append(span.char_start)
                cols["char_end"].append(span.char_end)
                cols["capability"].append(t.name)
                cols["attrs"].append(attrs)
    return cols, warnings


def _checked(t: Tagger, text: str, ctx: TagContext | None) -> Iterator[tuple[str, Span | None]]:
    """Yield ``("", span)`` for good spans and ``(problem, None)`` for bad behaviour.

    A tagger tags a character range at most once: later spans with the same range are
    dropped.  Out-of-range spans are reported once per story.
    """
    n = len(text)
    seen: set[tuple[int, int]] = set()
    out_of_range = 0
    try:
        for span in t.fn(text, ctx):  # type: ignore[arg-type]
            s, e = getattr(span, "char_start", None), getattr(span, "char_end", None)
            if not isinstance(s, int) or not isinstance(e, int):
                yield f"returned {span!r}, not a Span with integer offsets", None
                return
            if not 0 <= s < e <= n:
                out_of_range += 1
                if out_of_range == 1:
                    yield f"span [{s}, {e}) outside the story (length {n})", None
                continue
            if (s, e) not in seen:
                seen.add((s, e))
                yield "", span
    except (Exception, SystemExit) as err:  # noqa: BLE001 -- a user tagger may raise anything
        yield f"raised {type(err).__name__}: {' '.join(str(err).split())}", None


def _fmt(span: Span) -> str:
    return f"[{span.char_start}, {span.char_end})"
