"""DuckDB coverage and word alignment equal a straightforward Python computation."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.diff.units import word_units
from capgym.explain.align import word_functions, words_frame
from capgym.explain.coverage import build_confident, build_hits, shares

CAPS = ["x", "y", "word-completion"]
EXPL = ["bigram", "induction"]


@st.composite
def stories(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores (with empty spans), tags and explains of 1-2 random stories."""
    scores, tags, explains = [], [], []
    for story in range(draw(st.integers(1, 2))):
        lengths = draw(st.lists(st.integers(0, 3), min_size=1, max_size=12))
        at = 0
        for pos, n in enumerate(lengths, start=1):
            lp = draw(st.floats(-3.0, 0.0))
            rank = draw(st.integers(0, 2))
            scores.append(("m", "c", story, pos, pos, "t", at, at + n, lp, rank))
            for e in EXPL:
                if draw(st.booleans()):
                    explains.append(("m", "c", story, pos, e))
            at += n
        for _ in range(draw(st.integers(0, 4))):
            s = draw(st.integers(0, at))
            e = draw(st.integers(s, at + 1))
            tags.append(("c", story, s, e, draw(st.sampled_from(CAPS)), "{}"))
    cols = ["model", "corpus", "story", "pos", "token_id", "token", "char_start", "char_end"]
    return (
        pd.DataFrame(scores, columns=cols + ["logprob", "rank"]),
        pd.DataFrame(
            tags, columns=["corpus", "story", "char_start", "char_end", "capability", "attrs"]
        ),
        pd.DataFrame(explains, columns=["model", "corpus", "story", "pos", "explainer"]),
    )


def naive_shares(scores: pd.DataFrame, tags: pd.DataFrame, explains: pd.DataFrame,
                 thr: float) -> dict[str, tuple[int, float, int]]:  # fmt: skip
    """name -> (n, mass, n_exclusive) over the confident positions, by plain loops."""
    names: dict[tuple[int, int], set[str]] = {}
    mass: dict[tuple[int, int], float] = {}
    for r in scores.itertuples():
        if r.rank != 0 or r.logprob < math.log(thr) - 1e-6:
            continue
        es, ee = (r.char_start, r.char_end) if r.char_end > r.char_start else (
            max(r.char_start - 1, 0), max(r.char_start, 1))  # fmt: skip
        key = (r.story, r.pos)
        mass[key] = math.exp(r.logprob)
        found = set()
        for g in tags[tags.story == r.story].itertuples():
            overlap = es < max(g.char_end, g.char_start + 1) and g.char_start < ee
            if overlap and (g.capability != "word-completion" or es >= g.char_start):
                found.add(g.capability)
        ex = explains[(explains.story == r.story) & (explains.pos == r.pos)]
        found |= set(ex.explainer)
        names[key] = found
    out: dict[str, tuple[int, float, int]] = {}
    for key, found in names.items():
        for name in found:
            n, m, x = out.get(name, (0, 0.0, 0))
            out[name] = (n + 1, m + mass[key], x + (len(found) == 1))
    for total, group in (("any capability", set(CAPS)), ("any explainer", set(EXPL))):
        hit = [k for k, f in names.items() if f & group]
        out[total] = (len(hit), sum(mass[k] for k in hit), 0)
    covered = [k for k, f in names.items() if f]
    out["any"] = (len(covered), sum(mass[k] for k in covered), 0)
    out["residue"] = (len(names) - len(covered), sum(mass.values()) - out["any"][1], 0)
    named = set(CAPS) - {"word-completion"}
    layers = {  # the coverage layers, each a plain predicate on the names found
        "named capabilities": lambda f: bool(f & named),
        "named + explainers": lambda f: bool(f & (named | set(EXPL))),
        "named + explainers + word-completion": bool,
        "explainers only": lambda f: bool(f & set(EXPL)) and not f & set(CAPS),
    }
    for total, covers in layers.items():
        hit = [k for k, f in names.items() if covers(f)]
        out[total] = (len(hit), sum(mass[k] for k in hit), 0)
    return out


@settings(max_examples=60, deadline=None)
@given(stories(), st.sampled_from([0.2, 0.5]))
def test_coverage_equals_python(data: tuple[pd.DataFrame, ...], thr: float) -> None:
    scores, tags, explains = data
    con = duckdb.connect()
    con.register("scores", scores)
    con.register("tags", tags)
    con.register("explains", explains)
    build_confident(con, "m", ["c"], thr)
    build_hits(con, "m", ["c"])
    got = shares(con, ["c"])
    expected = naive_shares(scores, tags, explains, thr)
    for r in got.itertuples():
        n, m, x = expected.get(r.name, (0, 0.0, 0))
        assert r.n == n, r.name
        assert abs(r.mass - m) < 1e-9, r.name
        if r.kind != "total":
            assert r.n_exclusive == x, r.name


WORDS = ["ab", "c", "ddd", ".", ",", " ", " ", "\n"]


@st.composite
def two_tokenizations(draw: st.DrawFn) -> tuple[str, list[int], list[int]]:
    text = "".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14)))
    cuts = list(range(1, len(text)))
    a = sorted(draw(st.sets(st.sampled_from(cuts)))) if cuts else []
    b = sorted(draw(st.sets(st.sampled_from(cuts)))) if cuts else []
    return text, a, b


def _tokens(model: str, text: str, cuts: list[int], lps: list[float]) -> list[tuple]:
    bounds = [0, *cuts, len(text)]
    return [
        (model, "c", 0, i + 1, 0, "t", s, e, lps[i % len(lps)], 0)
        for i, (s, e) in enumerate(itertools.pairwise(bounds))
    ]


def naive_units(text: str, cuts: dict[str, list[int]], lps: dict[str, list[float]]):  # type: ignore[no-untyped-def]
    words = word_functions()[0](text)
    inside = {k for s, e, _ in words for k in range(s, e)}
    symbols = [k + 1 for k, ch in enumerate(text) if not ch.isspace() and k not in inside]
    ends = sorted([e for _, e, _ in words] + symbols)
    n_regions = len(ends) + 1
    merged = set()
    toks = {}
    for m in ("A", "B"):
        bounds = [0, *cuts[m], len(text)]
        toks[m] = []
        for i, (s, e) in enumerate(itertools.pairwise(bounds)):
            r1, r2 = bisect_right(ends, s), bisect_right(ends, e - 1)
            merged |= set(range(r1, r2))
            toks[m].append((r1, lps[m][i % len(lps[m])]))
    unit_of, u = [], 0
    for r in range(n_regions):
        if r > 0 and (r - 1) not in merged:
            u += 1
        unit_of.append(u)
    sums: dict[str, dict[int, list[float]]] = {"A": {}, "B": {}}
    for m in ("A", "B"):
        for r, lp in toks[m]:
            sums[m].setdefault(unit_of[r], []).append(lp)
    units = sorted(set(sums["A"]) & set(sums["B"]))
    return [(u, sum(sums["A"][u]), sum(sums["B"][u]), len(sums["A"][u]), len(sums["B"][u]))
            for u in units]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(two_tokenizations())
def test_word_units_equal_python(data: tuple[str, list[int], list[int]]) -> None:
    text, ca, cb = data
    lps = {"A": [-0.1, -0.7, -1.3], "B": [-0.2, -0.05]}
    rows = _tokens("A", text, ca, lps["A"]) + _tokens("B", text, cb, lps["B"])
    cols = ["model", "corpus", "story", "pos", "token_id", "token", "char_start", "char_end",
            "logprob", "rank"]  # fmt: skip
    con = duckdb.connect()
    con.register("scores", pd.DataFrame(rows, columns=cols))
    con.register("_words", words_frame(pd.DataFrame({"corpus": ["c"], "story": [0],
                                                      "text": [text]})))  # fmt: skip
    word_units(con, "A", "B", ["c"], 0.5)
    got = con.execute("SELECT unit, lp_a, lp_b, n_a, n_b FROM units ORDER BY unit").fetchall()
    expected = naive_units(text, {"A": ca, "B": cb}, lps)
    assert [(u, na, nb) for u, _, _, na, nb in got] == [(u, na, nb) for u, _, _, na, nb in expected]
    for g, e in zip(got, expected):
        assert abs(g[1] - e[1]) < 1e-9 and abs(g[2] - e[2]) < 1e-9


@settings(max_examples=60, deadline=None)
@given(two_tokenizations(), st.booleans())
def test_numpy_and_sql_token_words_agree(data: tuple[str, list[int], list[int]], two: bool) -> None:
    from capgym.explain.align import token_word_rows, token_words_sql

    text, cuts, _ = data
    texts = [text, text[::-1]] if two else [text]
    stories = pd.DataFrame({"corpus": ["c"] * len(texts), "story": [3, 1][: len(texts)],
                            "text": texts})  # fmt: skip
    words = words_frame(stories)
    rows = []
    for story, t in zip(stories.story, texts):
        bounds = [0, *[c for c in cuts if c < len(t)], len(t)]
        rows += [("c", story, i, s, e) for i, (s, e) in enumerate(itertools.pairwise(bounds))]
        rows.append(("c", story, len(bounds), len(t), len(t)))  # an empty span at the end
    tokens = pd.DataFrame(rows, columns=["corpus", "story", "pos", "char_start", "char_end"])
    first, last = token_word_rows(tokens, words)
    con = duckdb.connect()
    con.register("t", tokens)
    con.register("w", words)
    sql = token_words_sql("SELECT * FROM t", "SELECT * FROM w")
    got = con.execute(f"SELECT * FROM ({sql}) ORDER BY story, pos").df()
    mine = tokens.assign(word_idx=words.word_idx.to_numpy()[first],
                         last_word_idx=words.word_idx.to_numpy()[last])  # fmt: skip
    mine = mine.sort_values(["story", "pos"]).reset_index(drop=True)
    assert got["word_idx"].tolist() == mine["word_idx"].tolist()
    assert got["last_word_idx"].tolist() == mine["last_word_idx"].tolist()
