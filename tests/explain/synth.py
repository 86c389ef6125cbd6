"""A tiny synthetic run store: stories, hand-made scores of word-piece "models", tags.

Nothing here needs a real model: tokens are regex pieces (``" cat"``, ``"."``) with ids
from a shared vocabulary, and each test chooses the probabilities.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from capgym.explain import NgramReference
from capgym.store import RunStore, open_run, schema

PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")
Vocab = dict[str, int]


def pieces(text: str) -> list[tuple[int, int, str]]:
    """Word pieces with their leading spaces: ``"a cat."`` -> ``a``, `` cat``, ``.``."""
    return [(m.start(), m.end(), m.group()) for m in PIECE_RE.finditer(text)]


def split_pieces(text: str, splits: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """Like :func:`pieces` but a piece listed in ``splits`` becomes several tokens."""
    out = []
    for s, e, p in pieces(text):
        parts = splits.get(p.strip(), None)
        if not parts:
            out.append((s, e, p))
            continue
        lead = len(p) - len(p.lstrip())
        at = s
        for k, part in enumerate(parts):
            n = len(part) + (lead if k == 0 else 0)
            out.append((at, at + n, text[at : at + n]))
            at += n
    return out


def score_rows(
    model: str,
    corpus: str,
    story: int,
    toks: list[tuple[int, int, str]],
    vocab: Vocab,
    prob: Callable[[int, str], tuple[float, int]],
) -> list[dict[str, object]]:
    """Scores rows: pos 1.. for each token; ``prob(pos, piece) -> (p, rank)``."""
    import math

    rows = []
    for i, (s, e, p) in enumerate(toks, start=1):
        tid = vocab.setdefault(p, len(vocab) + 3)
        pr, rank = prob(i, p)
        rows.append(
            {
                "model": model, "corpus": corpus, "story": story, "pos": i, "token_id": tid,
                "token": p, "char_start": s, "char_end": e, "logprob": math.log(pr),
                "rank": rank, "entropy": 1.0, "context_len": i, "topk_ids": [tid],
                "topk_logprobs": [math.log(pr)],
            }
        )  # fmt: skip
    return rows


def add_scores(run: RunStore, model: str, corpus: str, rows: list[dict[str, object]],
               tokenizer_hash: str = "tok-a") -> None:  # fmt: skip
    """Register a complete score set of ``rows`` for (model, corpus)."""
    key = f"{model}-{corpus}".replace("/", "_")
    run.add_model_info(model, {"tokenizer": tokenizer_hash, "tokenizer_hash": tokenizer_hash})
    run.begin_score_set(key, {"model": model, "corpus": corpus})
    table = pa.Table.from_pylist(rows, schema=schema.SCORES)
    run.write_score_part(key, 0, table)
    run.finish_score_set(key, len(rows))


def add_tags(run: RunStore, corpus: str, tags: list[tuple[int, int, int, str]]) -> None:
    """Tags ``(story, char_start, char_end, capability)`` of ``corpus``."""
    df = pd.DataFrame(tags, columns=["story", "char_start", "char_end", "capability"])
    df.insert(0, "corpus", corpus)
    df["attrs"] = "{}"
    run.write_table(
        "tags", corpus, pa.Table.from_pandas(df, schema=schema.TAGS, preserve_index=False)
    )


def new_run(path: Path, corpus: str, texts: list[str]) -> RunStore:
    run = open_run(path)
    run.add_stories(corpus, list(range(len(texts))), texts)
    return run


# A run for checking coverage end to end: word pieces split inside words (so
# word-completion tags, which start after the determining prefix, here its first
# letter, cover only later pieces), a byte-continuation token with an
# empty span after "ê", an empty tag span, probabilities exactly at the threshold.
COVERAGE_TEXTS = [
    "Lily saw a kite. Lily saw it fly.",
    'Tom had a crêpe. "Yum!" said Tom.',
    "The dog ran. The dog ran fast.\n\nThe end.",
]
COVERAGE_SPLITS = {"kite": ["ki", "te"], "fly": ["f", "ly"], "Tom": ["T", "om"],
                   "fast": ["fa", "st"]}  # fmt: skip
COVERAGE_TAGS = [
    (0, 17, 21, "repeated-name"), (0, 12, 15, "word-completion"),
    (0, 30, 32, "word-completion"), (0, 15, 16, "story-structure"), (0, 16, 16, "empty-span"),
    (1, 1, 3, "word-completion"), (1, 11, 15, "word-completion"), (1, 17, 18, "quote"),
    (1, 22, 23, "quote"), (1, 29, 32, "repeated-name"), (2, 17, 20, "repeated-noun"),
    (2, 26, 29, "word-completion"), (2, 30, 32, "story-structure"),
]  # fmt: skip
_PROBS = [0.5, 0.95, 0.7, 0.3, 0.55, 0.9, 0.62]


def coverage_tokens(text: str) -> list[tuple[int, int, str]]:
    """Word pieces of ``text`` (some words split) plus an empty-span continuation token
    after each piece holding a non-ASCII character, as byte-level tokenizers give."""
    out = []
    for s, e, p in split_pieces(text, COVERAGE_SPLITS):
        out.append((s, e, p))
        if not p.isascii():
            out.append((e, e, "<cont>"))
    return out


def coverage_run(
    path: Path, models: tuple[str, ...] = ("A", "B")
) -> tuple[RunStore, NgramReference]:
    """A run with :data:`COVERAGE_TEXTS` scored by ``models`` (different probabilities)
    and tagged with :data:`COVERAGE_TAGS`; returns it and an n-gram reference fitted on
    its own token ids, so every explainer fires somewhere."""
    run = new_run(path, "c", COVERAGE_TEXTS)
    vocab: Vocab = {}
    seqs: list[list[int]] = []
    for k, model in enumerate(models, start=1):
        rows = []
        for story, text in enumerate(COVERAGE_TEXTS):
            rows += score_rows(
                model,
                "c",
                story,
                coverage_tokens(text),
                vocab,
                lambda pos, _, k=k: (_PROBS[(pos * k) % 7], int(pos % 5 == 0)),
            )
            if k == 1:
                seqs.append([int(r["token_id"]) for r in rows if r["story"] == story])
        add_scores(run, model, "c", rows)
    add_tags(run, "c", COVERAGE_TAGS)
    return run, NgramReference.fit(seqs, min_count=1)
