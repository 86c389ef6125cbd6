"""The model's own state at a position: its final residual stream, as the unembedding sees it.

For a predicted token at ``pos`` (the ``scores`` convention: BOS is position 0), the
state is the input of the model's output layer at sequence index ``pos - 1`` (the final
hidden state after the final norm, the vector the logits of ``pos`` are read from).
It is captured with a forward hook on the output layer
(:func:`capgym.models.modules.output_layer`), so no model code changes.  The token ids
are the ones scoring stored (:func:`stored_ids`), not a new encoding of the text; long
stories are run in the same windows as scoring (:mod:`capgym.score.windows`), and the
windows of many stories go through the model together in right-padded batches
(:func:`capgym.models.batching.batch_plan`): the model is causal, so padding after a
window changes none of its states.  :func:`model_states` also reads, from the same
forwards, where each head looks from each position (:mod:`capgym.models.attention`
captures the patterns; :mod:`capgym.cluster.attention` summarises a row).

>>> import torch
>>> layer = torch.nn.Linear(3, 2)
>>> hook_input(layer, lambda: layer(torch.ones(1, 4, 3))).shape
torch.Size([1, 4, 3])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
import torch

from capgym.cluster.attention import head_features, key_masks, token_classes
from capgym.errors import StoreError, UsageError
from capgym.models.attention import capture_patterns
from capgym.models.base import LanguageModel
from capgym.models.batching import batch_plan
from capgym.models.modules import output_layer
from capgym.score import ScoreSettings, Window, plan_windows, token_budget

__all__ = ["final_states", "hook_input", "model_states", "output_layer", "stored_ids"]

Key = tuple[str, int]


def hook_input(layer: torch.nn.Module, run: Callable[[], object]) -> torch.Tensor:
    """The input ``layer`` receives while ``run()`` executes (its last call)."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
    if not seen:
        raise UsageError("the model never called its output layer")
    return seen[-1]


def stored_ids(
    con: duckdb.DuckDBPyConnection, model: str, positions: pd.DataFrame
) -> dict[Key, list[int]]:
    """The token ids ``model`` was scored on, per story of ``positions`` (corpus, story,
    pos), at positions 1 .. the story's last row (position 0, BOS, is never stored)."""
    con.register("_ids_wanted", positions[["corpus", "story", "pos"]])
    try:
        got = con.execute(
            """
            WITH k AS (SELECT corpus, story, max(pos) AS last FROM _ids_wanted GROUP BY ALL)
            SELECT s.corpus, s.story, list(s.token_id ORDER BY s.pos) AS ids,
                   min(s.pos) AS lo, max(s.pos) AS hi
            FROM scores s JOIN k ON s.model = ? AND s.corpus = k.corpus
             AND s.story = k.story AND s.pos <= k.last
            GROUP BY ALL
            """,
            [model],
        ).fetchall()
    finally:
        con.unregister("_ids_wanted")
    out: dict[Key, list[int]] = {}
    for corpus, story, ids, lo, hi in got:
        if lo != 1 or hi != len(ids):
            raise StoreError(f"the scores of '{model}' miss positions of story {story} of "
                             f"'{corpus}'; score it again")  # fmt: skip
        out[(str(corpus), int(story))] = [int(i) for i in ids]
    return out


def final_states(
    lm: LanguageModel,
    ids: Mapping[Key, Sequence[int]],
    positions: pd.DataFrame,
    batch_tokens: int | None = None,
) -> np.ndarray:
    """Final hidden states (float32 ``[len(positions), dim]``) of ``lm`` at ``positions``
    (corpus, story, pos), in the order of the rows; ``ids[(corpus, story)]`` is the
    story's token sequence from position 0 (BOS) on.  ``batch_tokens`` bounds a forward's
    ids (batch size x its longest window; default: scoring's budget for this model and
    device; 1: one forward per window, as a story-by-story loop does).

    Raises :class:`UsageError` when a position lies past the story's ids.
    """
    return model_states(lm, ids, positions, batch_tokens)[0]


def model_states(
    lm: LanguageModel,
    ids: Mapping[Key, Sequence[int]],
    positions: pd.DataFrame,
    batch_tokens: int | None = None,
    attention: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(final states, attention features)`` at ``positions``, from the same forwards
    (see :func:`final_states`).  With ``attention``, the second is float32
    ``[len(positions), layers x heads x len(FEATURES)]``: each head's pattern from the
    position, summarised by :func:`capgym.cluster.attention.head_features` (layer-major,
    then head, then feature); without it, ``None``.
    """
    layer = output_layer(lm)
    rows = positions.reset_index(drop=True)
    pos = rows["pos"].to_numpy(np.int64)
    stories: list[tuple[Sequence[int], np.ndarray]] = []  # (ids, row indexes) per story
    windows: list[tuple[int, Window]] = []  # (index into stories, window)
    for (corpus, story), index in rows.groupby(["corpus", "story"], sort=False).indices.items():
        seq, n = ids[(str(corpus), int(story))], int(pos[index].max()) + 1
        if n > len(seq):
            raise UsageError(f"position {n - 1} of story {story} of '{corpus}' lies past its "
                             "token ids; cluster with the model the run was scored with")  # fmt: skip
        windows += [(len(stories), w) for w in plan_windows(n, lm.context_len)]
        stories.append((seq[:n], index))
    budget = batch_tokens or token_budget(lm, ScoreSettings())
    states: dict[int, np.ndarray] = {}
    heads: _Heads | None = _Heads(lm, pos) if attention else None
    for batch in batch_plan([w.length for _, w in windows], budget):
        _run_batch(lm, layer, [windows[i] for i in batch], stories, states, heads)
    dim = next(iter(states.values())).shape[1] if states else 0
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for k, (_seq, index) in enumerate(stories):
        out[index] = states[k][pos[index] - 1]
    return out, heads.table(len(rows)) if heads is not None else None


class _Heads:
    """Collects :func:`head_features` of the clustered positions, window by window."""

    def __init__(self, lm: LanguageModel, pos: np.ndarray) -> None:
        self.lm, self.pos = lm, pos
        self.quote, self.stop = token_classes([lm.piece(i) for i in range(lm.vocab_size)])
        self.parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # layer -> (rows, f)

    def run(self, x: torch.Tensor, batch: list[tuple[int, Window]],
            stories: list[tuple[Sequence[int], np.ndarray]],
            forward: Callable[[], object]) -> None:  # fmt: skip
        """``forward()`` with each layer's pattern reduced to the features of the
        positions each window of ``batch`` scores."""
        picks = []
        for row, (k, w) in enumerate(batch):
            index = stories[k][1]
            mine = index[(self.pos[index] >= w.first) & (self.pos[index] < w.end)]
            queries = self.pos[mine] - 1 - w.start
            ids = x[row].tolist()
            masks = (
                key_masks(ids, queries, x.shape[1], self.quote, self.stop) if len(mine) else None
            )
            picks.append((mine, queries, ids, masks))
        # the pattern is computed only at the query rows some window of the batch needs
        wanted = torch.as_tensor(np.unique(np.concatenate([p[1] for p in picks])))
        where = [torch.as_tensor(np.searchsorted(wanted.numpy(), p[1])) for p in picks]

        def sink(layer: int, pattern: torch.Tensor) -> None:
            for row, (mine, queries, ids, masks) in enumerate(picks):
                if len(mine):
                    f = head_features(pattern[row][:, where[row]].cpu(), ids, queries,
                                      self.quote, self.stop, masks)  # fmt: skip
                    self.parts.setdefault(layer, []).append((mine, f.reshape(len(mine), -1)))

        with capture_patterns(self.lm, sink, queries=wanted):
            forward()

    def table(self, n: int) -> np.ndarray:
        blocks = []
        for layer in sorted(self.parts):
            width = self.parts[layer][0][1].shape[1]
            block = np.zeros((n, width), dtype=np.float32)
            for mine, f in self.parts[layer]:
                block[mine] = f
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((n, 0), dtype=np.float32)


def _run_batch(
    lm: LanguageModel,
    layer: torch.nn.Module,
    batch: list[tuple[int, Window]],
    stories: list[tuple[Sequence[int], np.ndarray]],
    states: dict[int, np.ndarray],
    heads: _Heads | None = None,
) -> None:
    """One right-padded forward over ``batch``'s windows; each window's states (at the
    sequence indexes predicting its scored positions) go into ``states[story]``, and
    with ``heads`` its positions' attention features into ``heads``."""
    x = torch.zeros((len(batch), max(w.length for _, w in batch)), dtype=torch.long)
    for row, (k, w) in enumerate(batch):
        x[row, : w.length] = torch.as_tensor(list(stories[k][0][w.start : w.end]))

    def run() -> None:
        if heads is None:
            lm.forward(x)
        else:
            heads.run(x, batch, stories, lambda: lm.forward(x))

    h = hook_input(layer, run).float().cpu().numpy()
    for row, (k, w) in enumerate(batch):
        if k not in states:
            states[k] = np.zeros((len(stories[k][0]), h.shape[-1]), dtype=np.float32)
        # the window scores positions [first, end): their states are at first - 1 .. end - 2
        states[k][w.first - 1 : w.end - 1] = h[row, w.first - 1 - w.start : w.end - 1 - w.start]
