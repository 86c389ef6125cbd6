"""Packing sequences of different lengths into forward batches under a token budget.

Shared by every stage that runs a model over many sequences (scoring's windows, the
evaluate stage's examples): sorted longest first, so that padding stays small.
:func:`activation_width` tells how wide a model's per-token activations are, from
which scoring picks a budget that keeps one batch's activations in a core's cache.

>>> batch_plan([3, 8, 5, 2], budget=10)
[[1], [2, 0], [3]]
"""

from __future__ import annotations

from torch import nn

from capgym.models.base import LanguageModel


def batch_plan(lengths: list[int], budget: int) -> list[list[int]]:
    """Group items (by index) into batches: longest first, ``len(batch) * max_len <= budget``.

    >>> batch_plan([3, 8, 5, 2], budget=10)
    [[1], [2, 0], [3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1) * width > budget:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def module_width(module: nn.Module, vocab: int) -> int:
    """Widest per-token activation of ``module``'s weight matrices: the largest side of
    any 2-D parameter outside embeddings that is not the vocabulary (the MLP's hidden
    width in a transformer; the vocabulary-sized logits are budgeted separately).

    >>> module_width(nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 32), nn.Linear(32, 50)), 50)
    32
    """
    widths = [
        d
        for m in module.modules()
        if not isinstance(m, nn.Embedding)
        for p in m.parameters(recurse=False)
        if p.ndim == 2
        for d in p.shape
        if d != vocab
    ]
    return max(widths, default=0)


def activation_width(model: LanguageModel) -> int | None:
    """:func:`module_width` of a model's torch module (``LlamaLM.module``, ``HFLM.model``);
    None for a model that exposes no module (its batches keep the default budget)."""
    for attr in ("module", "model"):
        module = getattr(model, attr, None)
        if isinstance(module, nn.Module):
            return module_width(module, model.vocab_size) or None
    return None
