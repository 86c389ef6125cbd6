"""DuckDB latency of typical explorer/explain queries on a synthetic run store.

Three models x ``tokens`` rows each, generated with numpy in the ``scores`` schema
(shared 512-piece vocabulary, so the models join on (corpus, story, pos)), written as
the engine writes them (zstd Parquet parts of ~128 stories), then queried through
:meth:`capgym.store.RunStore.connect` like the explorer does.

>>> import tempfile
>>> r = build_store(tempfile.mkdtemp(), tokens=3000)
>>> r["rows"]
9000
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from capgym.store import open_run, schema
from capgym.store.run import write_parquet_atomic

MODELS = ("model-a", "model-b", "model-c")
CORPUS = "synthetic"
VOCAB = 512
STORIES_PER_PART = 128

QUERIES: dict[str, str] = {
    "mean NLL per model": "SELECT model, -avg(logprob) AS nll FROM scores GROUP BY model",
    "confident-correct, story range, page 50 of 100 rows": """
        SELECT story, pos, token, exp(logprob) AS p FROM scores
        WHERE model = 'model-a' AND rank = 0 AND logprob >= ln(0.5)
          AND story BETWEEN 2000 AND 6000
        ORDER BY story, pos LIMIT 100 OFFSET 5000""",
    "two models joined, top 50 logprob differences": """
        SELECT a.story, a.pos, a.token, a.logprob - b.logprob AS diff
        FROM scores a JOIN scores b USING (corpus, story, pos)
        WHERE a.model = 'model-a' AND b.model = 'model-b'
        ORDER BY diff DESC LIMIT 50""",
    "top residue tokens (confident, grouped by token)": """
        SELECT token, count(*) AS n, avg(exp(logprob)) AS p FROM scores
        WHERE model = 'model-a' AND rank = 0 AND logprob >= ln(0.5)
        GROUP BY token ORDER BY n DESC LIMIT 20""",
    "one story's token view (all columns)": """
        SELECT * FROM scores WHERE model = 'model-b' AND corpus = 'synthetic'
          AND story = 7777 ORDER BY pos""",
}


def _story_lengths(tokens: int, rng: np.random.Generator) -> np.ndarray:
    lengths = rng.integers(120, 660, size=tokens // 200 + 10)  # mean ~390, like TinyStories
    total = np.cumsum(lengths)
    n = int(np.searchsorted(total, tokens)) + 1
    lengths = lengths[:n].copy()
    lengths[-1] -= int(total[n - 1] - tokens)
    return lengths[lengths > 0]


def _part(
    model: str, stories: np.ndarray, lengths: np.ndarray, pieces: pa.Array, seed: int
) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = int(lengths.sum())
    story = np.repeat(stories, lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = (np.arange(n) - starts + 1).astype(np.int32)
    # Zipf-distributed ranks over the merged pieces (ids 259+), as in real stories
    merged = np.random.default_rng(1).permutation(np.arange(259, VOCAB))
    token_id = merged[np.minimum(rng.zipf(1.3, n) - 1, len(merged) - 1)].astype(np.int32)
    piece_len = pc.utf8_length(pieces).to_numpy(zero_copy_only=False)[token_id]
    cum = np.cumsum(piece_len)
    char_end = (cum - (cum - piece_len)[starts]).astype(np.int32)
    logprob = -rng.exponential(1.3, n).astype(np.float32)
    rank = np.where(logprob > -0.7, 0, rng.geometric(0.25, n)).astype(np.int32)
    topk = rng.integers(0, VOCAB, (n, 5)).astype(np.int32)
    topk[rank == 0, 0] = token_id[rank == 0]
    toplp = np.sort(-rng.exponential(2.0, (n, 5)).astype(np.float32), axis=1)[:, ::-1]
    toplp[:, 0] = np.maximum(toplp[:, 0], logprob)
    zeros = np.zeros(n, np.int32)
    return pa.table(
        {
            "model": pa.array([model]).take(zeros),
            "corpus": pa.array([CORPUS]).take(zeros),
            "story": pa.array(story.astype(np.int64)),
            "pos": pa.array(pos),
            "token_id": pa.array(token_id),
            "token": pieces.take(pa.array(token_id)),
            "char_start": pa.array((char_end - piece_len).astype(np.int32)),
            "char_end": pa.array(char_end),
            "logprob": pa.array(logprob),
            "rank": pa.array(rank),
            "entropy": pa.array(rng.gamma(2.0, 0.8, n).astype(np.float32)),
            "context_len": pa.array(pos),
            "topk_ids": _lists(topk, pa.int32()),
            "topk_logprobs": _lists(np.ascontiguousarray(toplp), pa.float32()),
        },
        schema=schema.SCORES,
    )


def _lists(m: np.ndarray, t: pa.DataType) -> pa.Array:
    offsets = pa.array(np.arange(0, m.size + 1, m.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(m.reshape(-1), t))


def _pieces() -> pa.Array:
    try:
        from capgym.models import load_model

        model = load_model("stories260K")
        return pa.array([model.piece(i) for i in range(VOCAB)], pa.string())
    except Exception:  # noqa: BLE001  (assets missing: synthetic pieces do as well)
        return pa.array([f"t{i}" for i in range(VOCAB)], pa.string())


def build_store(folder: str | Path, tokens: int, seed: int = 0) -> dict[str, Any]:
    """Write the synthetic run (``tokens`` rows per model); returns its size facts."""
    run = open_run(folder)
    rng = np.random.default_rng(seed)
    lengths = _story_lengths(tokens, rng)
    ids = np.arange(len(lengths), dtype=np.int64)
    run.add_stories(CORPUS, ids.tolist(), ["x" * int(n) for n in lengths])
    pieces = _pieces()
    total_bytes = 0
    for m, model in enumerate(MODELS):
        key = f"synthetic-{model}"
        run.begin_score_set(key, {"model": model, "corpus": CORPUS})
        for c, lo in enumerate(range(0, len(ids), STORIES_PER_PART)):
            sl = slice(lo, lo + STORIES_PER_PART)
            table = _part(model, ids[sl], lengths[sl], pieces, seed * 1000 + m * 100_000 + c)
            path = run.score_set_dir(key) / f"part-{c:05d}.parquet"
            write_parquet_atomic(table, path)
            total_bytes += path.stat().st_size
        run.finish_score_set(key, int(lengths.sum()))
    rows = len(MODELS) * int(lengths.sum())
    return {"rows": rows, "bytes": total_bytes, "bytes_per_token": total_bytes / rows}


def query_latencies(folder: str | Path, repeats: int = 5) -> dict[str, float]:
    """Median milliseconds of each of :data:`QUERIES` (after one warm-up run)."""
    con = open_run(folder).connect()
    out = {}
    try:
        for name, sql in QUERIES.items():
            con.execute(sql).fetchall()
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - t)
            out[name] = 1000 * statistics.median(times)
    finally:
        con.close()
    return out
