"""The model's own state at a position: its final residual stream, as the unembedding sees it.

For a predicted token at ``pos`` (the ``scores`` convention: BOS is position 0), the
state is the input of the model's output layer at sequence index ``pos - 1`` (the final
hidden state after the final norm, the vector the logits of ``pos`` are read from).
It is captured with a forward hook on the output layer, so no model code changes;
long stories are run in the same windows as scoring (:mod:`capgym.score.windows`).

>>> import torch
>>> layer = torch.nn.Linear(3, 2)
>>> hook_input(layer, lambda: layer(torch.ones(1, 4, 3))).shape
torch.Size([1, 4, 3])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from capgym.errors import UsageError
from capgym.models.base import LanguageModel
from capgym.score.windows import plan_windows


def output_layer(lm: LanguageModel) -> torch.nn.Module:
    """The module that turns the final hidden state into logits (llama2.c ``output``, a
    Hugging Face model's output embeddings)."""
    module = getattr(lm, "module", None)
    if module is not None and hasattr(module, "output"):
        return module.output  # type: ignore[no-any-return]
    model = getattr(lm, "model", None)
    if model is not None and hasattr(model, "get_output_embeddings"):
        out = model.get_output_embeddings()
        if out is not None:
            return out  # type: ignore[no-any-return]
    raise UsageError(f"cannot find the output layer of {type(lm).__name__} to read its states")


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


def final_states(
    lm: LanguageModel, texts: dict[tuple[str, int], str], positions: pd.DataFrame
) -> np.ndarray:
    """Final hidden states (float32 ``[len(positions), dim]``) of ``lm`` at ``positions``
    (corpus, story, pos, token_id), in the order of the rows.

    Raises :class:`UsageError` when the model's encoding of a story disagrees with the
    stored token ids (the run was scored with another tokenizer).
    """
    layer = output_layer(lm)
    out: np.ndarray | None = None
    rows = positions.reset_index(drop=True)
    for (corpus, story), group in rows.groupby(["corpus", "story"], sort=False):
        ids = lm.encode(texts[(str(corpus), int(story))]).ids
        pos = group["pos"].to_numpy(np.int64)
        if pos.max() >= len(ids) or np.any(np.asarray(ids)[pos] != group["token_id"].to_numpy()):
            raise UsageError(
                f"{lm.name} encodes story {story} of '{corpus}' differently from the scores; "
                "cluster with the model the run was scored with"
            )
        states = _story_states(lm, layer, ids, int(pos.max()) + 1)
        if out is None:
            out = np.zeros((len(rows), states.shape[1]), dtype=np.float32)
        out[group.index.to_numpy()] = states[pos - 1]
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _story_states(lm: LanguageModel, layer: torch.nn.Module, ids: list[int], n: int) -> np.ndarray:
    """States at sequence indexes 0 .. n - 2 (those predicting positions 1 .. n - 1)."""
    seq = torch.tensor([ids[:n]], dtype=torch.long)
    states: np.ndarray | None = None
    for w in plan_windows(n, lm.context_len):
        h = hook_input(layer, lambda w=w: lm.forward(seq[:, w.start : w.end]))[0].float().cpu()
        if states is None:
            states = np.zeros((n, h.shape[-1]), dtype=np.float32)
        # the window scores positions [first, end): their states are at first - 1 .. end - 2
        states[w.first - 1 : w.end - 1] = h[w.first - 1 - w.start : w.end - 1 - w.start].numpy()
    return states if states is not None else np.zeros((n, 0), dtype=np.float32)
