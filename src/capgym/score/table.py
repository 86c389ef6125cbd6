"""The ``scores`` rows of a chunk as an Arrow table, built with vectorised numpy/Arrow.

Per-position arrays from the batches (in batch order) are sorted by (story, pos) and
turned into the :data:`capgym.store.schema.SCORES` layout; token pieces come from a
per-vocabulary Arrow array with ``take``, never a Python loop over rows.

>>> import numpy as np
>>> _list_array(np.array([[1, 2], [3, 4]], np.int32), 2, pa.int32()).to_pylist()
[[1, 2], [3, 4]]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from capgym.score.batches import EncodedChunk
from capgym.store import schema

COLUMNS = ["story", "pos", "token_id", "context_len", "logprob", "rank", "entropy"]
COLUMNS += ["topk_ids", "topk_logprobs"]


def scores_table(
    chunk: EncodedChunk,
    cols: dict[str, np.ndarray],
    model: str,
    corpus: str,
    pieces: pa.Array,
) -> pa.Table:
    """Rows of one chunk; ``cols`` maps each of :data:`COLUMNS` to a per-position array
    (``story`` is the index within the chunk)."""
    n = len(cols["pos"])
    if n == 0:
        return schema.SCORES.empty_table()
    order = np.lexsort((cols["pos"], cols["story"]))
    c = {name: v[order] for name, v in cols.items()}
    sidx = c["story"]
    lengths = np.array([len(s) for s in chunk.spans], dtype=np.int64)
    base = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    all_spans = np.concatenate(chunk.spans)
    at = base[sidx] + c["pos"]
    token_id = c["token_id"].astype(np.int32)
    k = c["topk_ids"].shape[1]
    zeros = np.zeros(n, dtype=np.int32)
    return pa.table(
        {
            "model": pa.array([model], pa.string()).take(zeros),
            "corpus": pa.array([corpus], pa.string()).take(zeros),
            "story": pa.array(np.asarray(chunk.story_ids, dtype=np.int64)[sidx], pa.int64()),
            "pos": pa.array(c["pos"].astype(np.int32)),
            "token_id": pa.array(token_id),
            "token": pieces.take(pa.array(token_id)),
            "char_start": pa.array(all_spans[at, 0].astype(np.int32)),
            "char_end": pa.array(all_spans[at, 1].astype(np.int32)),
            "logprob": pa.array(c["logprob"].astype(np.float32)),
            "rank": pa.array(c["rank"].astype(np.int32)),
            "entropy": pa.array(c["entropy"].astype(np.float32)),
            "context_len": pa.array(c["context_len"].astype(np.int32)),
            "topk_ids": _list_array(c["topk_ids"].astype(np.int32), k, pa.int32()),
            "topk_logprobs": _list_array(c["topk_logprobs"].astype(np.float32), k, pa.float32()),
        },
        schema=schema.SCORES,
    )


def _list_array(m: np.ndarray, k: int, t: pa.DataType) -> pa.Array:
    offsets = pa.array(np.arange(0, m.shape[0] * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(m.reshape(-1), t))
