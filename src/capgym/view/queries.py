"""The explorer's queries: request parameters validated into typed filters, and SQL
with every value bound as a parameter.

Names that go into SQL text (sort keys, directions) come from fixed whitelists; models,
corpora, capabilities and explainers must be ones the run has; numbers are parsed
and range-checked; everything else is a bound parameter.

>>> meta = Meta(["a", "b"], ["c"], ["cap"], ["ex"])
>>> q = PositionQuery.parse({"model": ["a"], "pmax": ["0.5"], "sort": ["prob"]}, meta)
>>> sql, params = q.sql()
>>> params[:4], "ORDER BY s.prob ASC" in sql
(['a', 'a', 0.0, 0.5], True)
>>> PositionQuery.parse({"model": ["zzz"]}, meta)
Traceback (most recent call last):
...
capgym.view.queries.BadRequest: unknown model 'zzz'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from capgym.store.confident import CONFIDENT, confident_sql

T = TypeVar("T", int, float)

Params = Mapping[str, Sequence[str]]
MAX_PAGE_SIZE = 200
MAX_TEXT = 200


class BadRequest(ValueError):
    """A request parameter is missing, malformed or not one of the allowed values."""


def model_pair(p: Params, meta: Meta) -> tuple[str, str | None]:
    """The validated ``model`` (default: the first scored one) and optional ``compare``
    (None when it names ``model`` itself: there is nothing to compare)."""
    model = member(p, "model", meta.models, meta.models[0] if meta.models else None)
    if model is None:
        raise BadRequest("the run has no scored models")
    compare = member(p, "compare", meta.models)
    return model, compare if compare != model else None


@dataclass(frozen=True)
class Meta:
    """What the run holds: the allowed values of the name parameters."""

    models: list[str]
    corpora: list[str]
    capabilities: list[str]
    explainers: list[str]


def _one(p: Params, name: str) -> str | None:
    v = p.get(name)
    if not v:
        return None
    s = v[0]
    if len(s) > MAX_TEXT:
        raise BadRequest(f"parameter '{name}' is longer than {MAX_TEXT} characters")
    return s if s != "" else None


def member(p: Params, name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
    """A value that must be one of ``allowed`` (or absent)."""
    v = _one(p, name)
    if v is None:
        return default
    if v not in allowed:
        raise BadRequest(f"unknown {name} {v!r}")
    return v


def integer(p: Params, name: str, default: int, lo: int, hi: int) -> int:
    """An integer parameter within [lo, hi]."""
    return _bounded(p, name, default, lo, hi, int, "an integer")


def number(p: Params, name: str, default: float, lo: float, hi: float) -> float:
    """A finite number parameter within [lo, hi]."""
    return _bounded(p, name, default, lo, hi, float, "a number")


def _bounded(p: Params, name: str, default: T, lo: T, hi: T,
             parse: Callable[[str], T], kind: str) -> T:  # fmt: skip
    v = _one(p, name)
    if v is None:
        return default
    try:
        x = parse(v)
    except ValueError:
        raise BadRequest(f"parameter '{name}' must be {kind}") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise BadRequest(f"parameter '{name}' must be between {lo} and {hi}")
    return x


def flag(p: Params, name: str) -> bool:
    v = _one(p, name)
    if v is None:
        return False
    if v not in ("0", "1", "true", "false"):
        raise BadRequest(f"parameter '{name}' must be 0 or 1")
    return v in ("1", "true")


def text(p: Params, name: str) -> str | None:
    return _one(p, name)


# sort key -> (expression inside the page query, the same over its result ``p``)
SORTS = {
    "pos": ("s.corpus {d}, s.story {d}, s.pos {d}", "p.corpus {d}, p.story {d}, p.pos {d}"),
    "prob": ("s.prob {d}", "p.prob {d}"),
    "logprob": ("s.logprob {d}", "p.logprob {d}"),
    "rank": ("s.rank {d}", "p.rank {d}"),
    "entropy": ("s.entropy {d}", "p.entropy {d}"),
    "diff": ("(b.logprob - s.logprob) {d}", "p.diff {d}"),
    "absdiff": ("abs(b.logprob - s.logprob) {d}", "abs(p.diff) {d}"),
}
CORRECT = ("any", "yes", "no")


@dataclass(frozen=True)
class Page:
    """What every page query has: the model (and one to compare), a corpus, a text
    search, the sort key and direction, and the page."""

    model: str
    compare: str | None = None
    corpus: str | None = None
    q: str | None = None
    sort: str = ""
    desc: bool = False
    page: int = 0
    page_size: int = 50


def page_args(p: Params, meta: Meta, sorts: Sequence[str], default: str,
              needs_compare: Sequence[str]) -> dict[str, Any]:  # fmt: skip
    """The :class:`Page` fields of a request; a sort key in ``needs_compare`` without a
    second model is a :class:`BadRequest`."""
    model, compare = model_pair(p, meta)
    sort = member(p, "sort", list(sorts), default) or default
    if sort in needs_compare and not compare:
        raise BadRequest(f"sort '{sort}' needs a second model (compare)")
    return {
        "model": model,
        "compare": compare if compare != model else None,
        "corpus": member(p, "corpus", meta.corpora),
        "q": text(p, "q"),
        "sort": sort,
        "desc": member(p, "order", ["asc", "desc"], "asc") == "desc",
        "page": integer(p, "page", 0, 0, 10_000_000),
        "page_size": integer(p, "page_size", 50, 1, MAX_PAGE_SIZE),
    }


@dataclass(frozen=True)
class PositionQuery(Page):
    """A page of positions of one model, filtered and sorted."""

    sort: str = "pos"
    capability: str | None = None
    explainer: str | None = None
    pmin: float = 0.0
    pmax: float = 1.0
    correct: str = "any"
    token: str | None = None
    residue: bool = False
    story: int | None = None

    @classmethod
    def parse(cls, p: Params, meta: Meta) -> PositionQuery:
        return cls(
            **page_args(p, meta, list(SORTS), "pos", ("diff", "absdiff")),
            capability=member(p, "capability", meta.capabilities),
            explainer=member(p, "explainer", meta.explainers),
            pmin=number(p, "pmin", 0.0, 0.0, 1.0),
            pmax=number(p, "pmax", 1.0, 0.0, 1.0),
            correct=member(p, "correct", CORRECT, "any") or "any",
            token=text(p, "token"),
            residue=flag(p, "residue"),
            story=None if _one(p, "story") is None else integer(p, "story", 0, 0, 2**62),
        )

    def _where(self) -> tuple[str, list[Any]]:
        w = ["s.model = ?", "s.prob BETWEEN ? AND ?"]
        params: list[Any] = [self.model, self.pmin, self.pmax]
        for col, val in (("s.corpus", self.corpus), ("s.story", self.story)):
            if val is not None:
                w.append(f"{col} = ?")
                params.append(val)
        if self.correct != "any":
            w.append("s.rank = 0" if self.correct == "yes" else "s.rank > 0")
        if self.capability:
            w.append("EXISTS (SELECT 1 FROM x_pos_caps c WHERE c.model = s.model AND c.corpus = s.corpus "
                     "AND c.story = s.story AND c.pos = s.pos AND c.capability = ?)")  # fmt: skip
            params.append(self.capability)
        if self.explainer:
            w.append("EXISTS (SELECT 1 FROM x_explains e WHERE e.model = s.model AND e.corpus = s.corpus "
                     "AND e.story = s.story AND e.pos = s.pos AND e.explainer = ?)")  # fmt: skip
            params.append(self.explainer)
        if self.residue:
            w.append(f"s.rank = 0 AND {confident_sql('s.logprob', '?')} AND NOT s.covered")
            params.append(CONFIDENT)
        if self.token:
            w.append("contains(lower(s.text), lower(?))")
            params.append(self.token)
        if self.q:
            w.append("EXISTS (SELECT 1 FROM x_stories t WHERE t.corpus = s.corpus AND t.story = s.story "
                     "AND contains(lower(t.text), lower(?)))")  # fmt: skip
            params.append(self.q)
        return " AND ".join(w), params

    def _from(self) -> tuple[str, list[Any]]:
        if not self.compare:
            return "x_scores s", []
        # Same tokenizer or not: compare where both predicted exactly the same text span.
        return (
            (
                "x_scores s JOIN x_scores b ON b.model = ? AND b.corpus = s.corpus AND b.story = s.story "
                "AND b.char_start = s.char_start AND b.char_end = s.char_end AND s.char_end > s.char_start"
            ),
            [self.compare],
        )

    def sql(self) -> tuple[str, list[Any]]:
        """The page's rows: position, token, metrics, [B's metrics], capabilities, context."""
        frm, p1 = self._from()
        where, p2 = self._where()
        d = "DESC" if self.desc else "ASC"
        order, outer_order = (x.format(d=d) for x in SORTS[self.sort])
        extra = (
            ", b.prob AS prob_b, b.rank AS rank_b, b.logprob - s.logprob AS diff"
            if self.compare
            else ""
        )
        inner = (
            f"SELECT s.corpus, s.story, s.pos, s.char_start, s.char_end, s.text AS token, s.prob, "
            f"s.logprob, s.rank, s.entropy, s.covered{extra} FROM {frm} WHERE {where} "
            f"ORDER BY {order}, s.corpus, s.story, s.pos LIMIT ? OFFSET ?"
        )
        outer = (
            "SELECT p.*, "
            "(SELECT list(DISTINCT c.capability ORDER BY c.capability) FROM x_pos_caps c WHERE c.model = ? "
            "AND c.corpus = p.corpus AND c.story = p.story AND c.pos = p.pos) AS capabilities, "
            "substring(t.text, greatest(1, p.char_start - 59), p.char_start - greatest(0, p.char_start - 60)) AS before, "
            "substring(t.text, p.char_end + 1, 25) AS after "
            f"FROM ({inner}) p JOIN x_stories t USING (corpus, story)"
        )
        params = [self.model, *p1, *p2, self.page_size, self.page * self.page_size]
        return f"{outer} ORDER BY {outer_order}, p.corpus, p.story, p.pos", params

    def count_sql(self) -> tuple[str, list[Any]]:
        frm, p1 = self._from()
        where, p2 = self._where()
        return f"SELECT count(*) FROM {frm} WHERE {where}", [*p1, *p2]


STORY_SORTS = {"story": "corpus {d}, story {d}", "nll": "nll {d}", "diff": "diff {d}"}


@dataclass(frozen=True)
class StoryQuery(Page):
    """A page of stories with the model's NLL per token (and the change to ``compare``)."""

    sort: str = "story"

    @classmethod
    def parse(cls, p: Params, meta: Meta) -> StoryQuery:
        return cls(**page_args(p, meta, list(STORY_SORTS), "story", ("diff",)))

    def _body(self) -> tuple[str, list[Any]]:
        cols = ("a.corpus, a.story, a.n_tokens, a.nll / a.n_tokens AS nll_per_token, "
                "a.nll / t.n_chars AS nll_per_char, t.n_chars, a.nll / t.n_chars AS nll")  # fmt: skip
        join, join_params = "", []
        if self.compare:
            join = (
                " JOIN x_story_stats b ON b.model = ? AND b.corpus = a.corpus AND b.story = a.story"
            )
            join_params = [self.compare]
            cols += ", b.nll / t.n_chars AS nll_per_char_b, (a.nll - b.nll) / t.n_chars AS diff"
        where, params = ["a.model = ?"], [self.model]
        if self.corpus:
            where.append("a.corpus = ?")
            params.append(self.corpus)
        if self.q:
            where.append("contains(lower(t.text), lower(?))")
            params.append(self.q)
        sql = (
            f"SELECT {cols}, substring(t.text, 1, 90) AS start FROM x_story_stats a "
            f"JOIN x_stories t ON t.corpus = a.corpus AND t.story = a.story{join} "
            f"WHERE {' AND '.join(where)}"
        )
        return sql, [*join_params, *params]

    def sql(self) -> tuple[str, list[Any]]:
        body, params = self._body()
        order = STORY_SORTS[self.sort].format(d="DESC" if self.desc else "ASC")
        return f"SELECT * FROM ({body}) ORDER BY {order}, corpus, story LIMIT ? OFFSET ?", [
            *params, self.page_size, self.page * self.page_size,
        ]  # fmt: skip

    def count_sql(self) -> tuple[str, list[Any]]:
        body, params = self._body()
        return f"SELECT count(*) FROM ({body})", params
