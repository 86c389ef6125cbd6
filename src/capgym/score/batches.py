"""Encoded chunks of stories and the padded batches a model runs on.

A chunk's stories are encoded once (ids and character spans as numpy arrays), cut into
windows (:mod:`capgym.score.windows`) and grouped by length into batches of at most a
token budget, longest first, so that padding stays small
(:func:`capgym.models.batching.batch_plan`, shared with the evaluate stage).

>>> import numpy as np
>>> from capgym.score.windows import Window
>>> chunk = EncodedChunk([7], [np.array([1, 5, 6])], [np.zeros((3, 2), np.int32)],
...                      [(0, Window(0, 3, 1))])
>>> b = make_batch(chunk, [0])
>>> b.tokens.tolist(), b.rows.tolist(), b.pos.tolist(), b.targets.tolist()
([[1, 5, 6]], [0, 1], [1, 2], [5, 6])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capgym.models.base import LanguageModel
from capgym.score.windows import Window, plan_windows


@dataclass(frozen=True)
class EncodedChunk:
    """Token ids and spans of a chunk's stories, and the windows to run."""

    story_ids: list[int]
    ids: list[np.ndarray]  # per story: int64 token ids (BOS first)
    spans: list[np.ndarray]  # per story: int32 [n, 2] character spans
    items: list[tuple[int, Window]]  # (story index within the chunk, window)

    @property
    def lengths(self) -> list[int]:
        """Window lengths, one per item (what batches are planned on)."""
        return [w.length for _, w in self.items]


def encode_chunk(model: LanguageModel, story_ids: list[int], texts: list[str]) -> EncodedChunk:
    """Encode stories with ``model``'s tokenizer and plan their windows."""
    ids, spans, items = [], [], []
    for si, text in enumerate(texts):
        enc = model.encode(text)
        ids.append(np.asarray(enc.ids, dtype=np.int64))
        spans.append(np.asarray(enc.spans, dtype=np.int32).reshape(-1, 2))
        items += [(si, w) for w in plan_windows(len(enc.ids), model.context_len)]
    return EncodedChunk(list(story_ids), ids, spans, items)


@dataclass(frozen=True)
class Batch:
    """Right-padded ids ``[B, W]`` and, per scored position, where its logits are."""

    tokens: np.ndarray  # int64 [B, W]
    rows: np.ndarray  # int64: row of ``logits.reshape(B * W, V)`` predicting the position
    story: np.ndarray  # int64: story index within the chunk
    pos: np.ndarray  # int64: position in the story's token sequence
    targets: np.ndarray  # int64: the actual token at ``pos``
    context_len: np.ndarray  # int64: tokens seen before ``pos``


def make_batch(chunk: EncodedChunk, item_indices: list[int]) -> Batch:
    """The padded batch of some items of ``chunk`` (padding id 0; models are causal)."""
    items = [chunk.items[i] for i in item_indices]
    width = max(w.length for _, w in items)
    tokens = np.zeros((len(items), width), dtype=np.int64)
    rows, story, pos, ctx = [], [], [], []
    for b, (si, w) in enumerate(items):
        tokens[b, : w.length] = chunk.ids[si][w.start : w.end]
        ps = np.arange(w.first, w.end)
        rows.append(b * width + ps - w.start - 1)
        story.append(np.full(len(ps), si))
        pos.append(ps)
        ctx.append(ps - w.start)
    p = np.concatenate(pos)
    s = np.concatenate(story)
    targets = np.concatenate([chunk.ids[si][w.first : w.end] for si, w in items])
    return Batch(tokens, np.concatenate(rows), s, p, targets, np.concatenate(ctx))
