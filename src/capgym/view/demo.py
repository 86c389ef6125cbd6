"""A tiny fabricated run store, for tests, docstring examples and demos of the views.

Three models over six short stories: two share a word-level tokenizer (so they compare
token by token), the third is character-level (so it compares by character spans).
The numbers are seeded noise, not model output; the tables follow the store schemas.

>>> import tempfile
>>> run = demo_run(tempfile.mkdtemp())
>>> sorted(run.sql("SELECT DISTINCT model FROM scores").model)
['char-c', 'tiny-a', 'tiny-b']
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from capgym.store import RunStore, open_run
from capgym.store import schema as S

CORPUS = "demo"

STORIES = [
    (
        'Once upon a time, Tom had a red kite. Tom said, "Look at my kite!"\n'
        "Lily smiled. Lily & Tom played <all> day."
    ),
    (
        'Sam found a big box. Sam opened it. Inside was a puppy. "Wow!" said Sam.\n\n'
        "The puppy licked Sam's face. Sam was happy."
    ),
    'Mia liked the café. Mia’s mom bought her a cake. Mia ate the cake and said "Thank you, Mom."',
    (
        "Ben and Anna went to the park. Ben saw a dog. Anna saw a cat. Ben said 1 < 2 "
        "and Anna laughed."
    ),
    (
        'The sun was hot. Max wanted to swim. Max jumped in the pool. "Splash!" went the '
        "water.\nMax laughed and laughed."
    ),
    (
        "Zoe had a little red ball. She threw the ball to Rex. Rex caught the ball. Zoe "
        'clapped: "Good dog, Rex!"'
    ),
]

_WORD_RE = re.compile(r"\n|[ ]?[A-Za-z']+|[ ]?\d+|[ ]?[!-/:-@\[-`{-~]|\s|.", re.DOTALL)


@dataclass(frozen=True)
class DemoModel:
    """A fabricated model: a name, a size, a tokenizer kind and a skill level."""

    name: str
    n_params: int
    tokenizer: str  # "words" or "chars"
    skill: float  # larger = more confident and more often right


MODELS = (
    DemoModel("tiny-a", 100_000, "words", 0.6),
    DemoModel("tiny-b", 1_000_000, "words", 1.4),
    DemoModel("char-c", 500_000, "chars", 1.0),
)


def tokenize(text: str, kind: str) -> list[tuple[str, int, int]]:
    """(piece, char_start, char_end) covering ``text`` exactly; a non-ASCII character
    gets an extra continuation token with an empty span, as byte-level tokenizers do.

    >>> tokenize("Hi é", "words")
    [('Hi', 0, 2), (' ', 2, 3), ('é', 3, 4), ('<0x..>', 4, 4)]
    """
    spans = [(m.start(), m.end()) for m in _WORD_RE.finditer(text)] if kind == "words" else None
    if spans is None:
        spans = [(i, i + 1) for i in range(len(text))]
    out: list[tuple[str, int, int]] = []
    for a, b in spans:
        out.append((text[a:b], a, b))
        if not text[a:b].isascii():
            out.append(("<0x..>", b, b))
    return out


def _scores(model: DemoModel, stories: list[str], rng: random.Random) -> pd.DataFrame:
    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    toks = [tokenize(t, model.tokenizer) for t in stories]
    for tt in toks:
        for piece, _, _ in tt:
            vocab.setdefault(piece, len(vocab))
    ids = list(vocab.values())[3:]
    rows = []
    for story, tt in enumerate(toks):
        for i, (piece, a, b) in enumerate(tt):
            tid = vocab[piece]
            lp = -abs(rng.gauss(0, 1)) * 2.5 / model.skill
            if i == 0:
                lp -= 2.0
            rank = 0 if lp > math.log(0.3) else rng.randint(1, 12)
            alts = [x for x in rng.sample(ids, min(6, len(ids))) if x != tid][:4]
            above = [min(-0.01, lp + 0.3 * (j + 1)) for j in range(rank)]
            top = sorted(above + [lp] + [lp - 0.4 * (j + 1) for j in range(4)], reverse=True)
            topk_ids = alts[:rank] + [tid] + alts[rank:] if rank < 5 else alts + [vocab["<unk>"]]
            rows.append(
                {
                    "model": model.name, "corpus": CORPUS, "story": story, "pos": i + 1, "token_id": tid,
                    "token": piece, "char_start": a, "char_end": b, "logprob": lp, "rank": rank,
                    "entropy": abs(rng.gauss(1.5, 0.8)), "context_len": i + 1,
                    "topk_ids": topk_ids[:5], "topk_logprobs": top[:5],
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _tags(stories: list[str]) -> pd.DataFrame:
    rows = []
    for story, text in enumerate(stories):
        seen: set[str] = set()
        for m in re.finditer(r"[A-Z][a-z]+", text):
            if m.group() in seen and m.start() > 0:
                attrs = {"name": m.group(), "distance": "near" if m.start() < 60 else "far"}
                rows.append((story, m.start(), m.end(), "repeated-name", attrs))
            seen.add(m.group())
        opened = False
        for m in re.finditer('"', text):
            if opened:
                rows.append((story, m.start(), m.end(), "closing-quote", {"kind": "double"}))
            opened = not opened
    return pd.DataFrame(
        [
            {"corpus": CORPUS, "story": s, "char_start": a, "char_end": b, "capability": c,
                 "attrs": json.dumps(x)}
            for s, a, b, c, x in rows
        ]
    )  # fmt: skip


def _result(
    model: str, task: str, eid: str, ld: float, lp: float, meta: Mapping[str, object]
) -> dict[str, object]:
    return {
        "model": model, "task": task, "example_id": eid, "prob": math.exp(lp), "logprob": lp,
        "first_logprob": lp, "rank": 0 if ld > 0 else 1, "beats_wrong": float(ld > 0),
        "logit_diff_at_decision": ld, "seq_logprob_diff": ld, "seq_logprob_diff_per_token": ld,
        "first_logprob_diff": ld, "single_token_contrast": 1.0, "n_wrong": 1,
        "n_answer_tokens": 1, "meta": json.dumps(meta),
    }  # fmt: skip


def _results(rng: random.Random) -> pd.DataFrame:
    """Gym results: far antecedents are harder (a non-uniform slice) and a distractor
    sentence (a red-team perturbation of the first 12 examples) costs about one nat."""
    rows = []
    for model in MODELS:
        for task, cap, shift in (
            ("name-choice", "repeated-name", 1.0),
            ("quote-close", "closing-quote", 0.3),
        ):
            for i in range(40):
                far = i % 2 == 0
                ld = rng.gauss(shift * model.skill + 0.4 - (1.6 if far else 0.0), 0.8)
                lp = -abs(rng.gauss(0.5, 0.5)) / model.skill
                meta = {
                    "capability": cap,
                    "distance": "far" if far else "near",
                    "source": "template",
                }
                rows.append(_result(model.name, task, f"{task}-{i}", ld, lp, meta))
                if i < 12:
                    pmeta = {**meta, "perturbation": "distractor", "base_id": f"{task}-{i}"}
                    rows.append(
                        _result(
                            model.name, task, f"{task}-{i}~distractor", ld - 1.0, lp - 0.5, pmeta
                        )
                    )
    return pd.DataFrame(rows)


def _explains(scores: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in scores.itertuples():
        t = tags[(tags.story == r.story) & (tags.char_start >= r.char_start)]
        t = t[t.char_start < max(r.char_end, r.char_start + 1)]
        for cap in t.capability:
            rows.append((r.model, r.corpus, r.story, r.pos, f"tag:{cap}"))
        if r.token in (" the", " a", "."):
            rows.append((r.model, r.corpus, r.story, r.pos, "ngram"))
    return pd.DataFrame(rows, columns=["model", "corpus", "story", "pos", "explainer"])


def demo_run(
    path: str | os.PathLike[str],
    models: tuple[DemoModel, ...] = MODELS,
    stories: list[str] | None = None,
    tags: bool = True,
    results: bool = True,
    explains: bool = True,
    seed: int = 0,
) -> RunStore:
    """Fabricate a run folder at ``path`` (scores always; tags, results, explains on
    request, with explains the coverage and residue tables of the explain stage) and
    return it opened."""
    rng = random.Random(seed)
    stories = stories or STORIES
    run = open_run(path)
    run.add_stories(CORPUS, list(range(len(stories))), stories)
    all_scores = []
    for m in models:
        df = _scores(m, stories, rng)
        all_scores.append(df)
        key = f"demo-{m.name}"
        run.add_model_info(
            m.name,
            {"n_params": m.n_params, "architecture": "demo", "tokenizer": m.tokenizer,
             "context_len": 512, "source": "capgym.view.demo"},
        )  # fmt: skip
        run.begin_score_set(key, {"model": m.name, "corpus": CORPUS})
        run.write_score_part(
            key, 0, pa.Table.from_pandas(df, schema=S.SCORES, preserve_index=False)
        )
        run.finish_score_set(key, len(df))
    tag_df = _tags(stories)
    if tags:
        run.write_table(
            "tags", CORPUS, pa.Table.from_pandas(tag_df, schema=S.TAGS, preserve_index=False)
        )
    if results:
        res = pa.Table.from_pandas(_results(rng), schema=S.RESULTS, preserve_index=False)
        run.write_table("results", "demo", res)
    if explains:
        ex = _explains(pd.concat(all_scores), tag_df)
        run.write_table("explains", "demo", pa.Table.from_pandas(ex, preserve_index=False))
        from capgym.explain import coverage_report

        for m in models:  # the coverage and residue tables, as `capgym explain` writes them
            coverage_report(run, m.name)
    return run


_WORDS = [" Once", " upon", " a", " time", ",", " there", " was", " little", " girl", " named",
          " Lily", ".", " She", " loved", " to", " play", " with", " her", " dog", "\n"]  # fmt: skip


def _big_part(
    name: str, story_ids: range, toks: int, skill: float, rng: np.random.Generator
) -> pa.Table:
    n = len(story_ids) * toks
    idx = np.concatenate([_story_ids(s, toks) for s in story_ids])
    lens = np.array([len(w) for w in _WORDS])[idx].reshape(-1, toks)
    ends = np.cumsum(lens, axis=1).ravel()
    starts = ends - lens.ravel()
    lp = -np.abs(rng.normal(0, 2.0 / skill, n)).astype(np.float32)
    rank = np.where(lp > np.log(0.4), 0, rng.integers(1, 20, n)).astype(np.int32)
    top_ids = rng.integers(3, 3 + len(_WORDS), (n, 5)).astype(np.int32)
    top_lp = np.sort(-np.abs(rng.normal(0, 2, (n, 5))), axis=1)[:, ::-1].astype(np.float32)
    pos = np.tile(np.arange(1, toks + 1, dtype=np.int32), len(story_ids))
    cols = {
        "model": pa.array([name] * n), "corpus": pa.array(["big"] * n),
        "story": pa.array(np.repeat(np.array(story_ids, dtype=np.int64), toks)), "pos": pa.array(pos),
        "token_id": pa.array((idx + 3).astype(np.int32)), "token": pa.array([_WORDS[i] for i in idx]),
        "char_start": pa.array(starts.astype(np.int32)), "char_end": pa.array(ends.astype(np.int32)),
        "logprob": pa.array(lp), "rank": pa.array(rank),
        "entropy": pa.array((rng.random(n) * 3).astype(np.float32)), "context_len": pa.array(pos),
        "topk_ids": pa.FixedSizeListArray.from_arrays(pa.array(top_ids.ravel()), 5),
        "topk_logprobs": pa.FixedSizeListArray.from_arrays(pa.array(top_lp.ravel()), 5),
    }  # fmt: skip
    return pa.table(cols).cast(S.SCORES)


def _story_ids(story: int, toks: int) -> np.ndarray:
    return np.random.default_rng(story).integers(0, len(_WORDS), toks)


def synthetic_run(
    path: str | os.PathLike[str],
    n_models: int = 4,
    n_stories: int = 2500,
    tokens: int = 200,
    seed: int = 0,
) -> RunStore:
    """A large fabricated run (``n_models * n_stories * tokens`` score rows, tags on every
    " Lily") for checking that the explorer and the report stay responsive.

    >>> import tempfile
    >>> run = synthetic_run(tempfile.mkdtemp(), n_models=2, n_stories=10, tokens=20)
    >>> int(run.sql("SELECT count(*) AS n FROM scores").n[0])
    400
    """
    rng = np.random.default_rng(seed)
    run = open_run(path)
    texts = ["".join(_WORDS[i] for i in _story_ids(s, tokens)) for s in range(n_stories)]
    run.add_stories("big", list(range(n_stories)), texts)
    for m in range(n_models):
        name, key = f"synthetic-{m}", f"synthetic-{m}"
        info = {"n_params": 10 ** (5 + m), "architecture": "synthetic", "tokenizer": "words",
                "context_len": 512, "source": "capgym.view.demo"}  # fmt: skip
        run.add_model_info(name, info)
        run.begin_score_set(key, {"model": name, "corpus": "big"})
        for k, lo in enumerate(range(0, n_stories, 500)):
            part = _big_part(name, range(lo, min(lo + 500, n_stories)), tokens, m + 1.0, rng)
            run.write_score_part(key, k, part)
        run.finish_score_set(key, n_stories * tokens)
    lily = _WORDS.index(" Lily")
    rows = [
        {"corpus": "big", "story": s, "char_start": m.start() + 1, "char_end": m.end(),
         "capability": "repeated-name", "attrs": "{}"}
        for s, t in enumerate(texts) for m in re.finditer(re.escape(_WORDS[lily]), t)
    ]  # fmt: skip
    run.write_table("tags", "big", pa.Table.from_pylist(rows, schema=S.TAGS))
    return run
