"""Per-position metrics of the actual next token, computed without keeping a full
log-softmax of the batch: log-probability, rank, entropy and top-k.

``rank`` counts the vocabulary entries whose logit is strictly larger than the actual
token's (0 = the model's top choice; ties go in the token's favour).

>>> import torch
>>> logits = torch.tensor([[2.0, 1.0, 0.0]])
>>> m = token_metrics(logits, torch.tensor([1]), k=2)
>>> int(m.rank[0]), m.topk_ids.tolist()
(1, [[0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TokenMetrics:
    """Metrics for N positions (CPU tensors)."""

    logprob: torch.Tensor  # [N] float32
    rank: torch.Tensor  # [N] int32
    entropy: torch.Tensor  # [N] float32
    topk_ids: torch.Tensor  # [N, k] int32
    topk_logprobs: torch.Tensor  # [N, k] float32


@torch.no_grad()
def token_metrics(
    logits: torch.Tensor,
    targets: torch.Tensor,
    k: int = 5,
    rows: torch.Tensor | None = None,
    slice_rows: int = 1024,
) -> TokenMetrics:
    """Metrics of ``targets[i]`` under ``logits[rows[i]]`` (``logits``: ``[M, V]``).

    ``rows`` defaults to ``0..N-1``.  Work proceeds in slices of ``slice_rows`` rows so
    that only one slice's probabilities exist at a time.
    """
    if rows is None:
        rows = torch.arange(targets.shape[0], device=logits.device)
    out = []
    for lo in range(0, rows.shape[0], slice_rows):
        x = logits.index_select(0, rows[lo : lo + slice_rows]).float()
        out.append(_slice_metrics(x, targets[lo : lo + slice_rows], k))
    if not out:
        z = torch.zeros(0)
        return TokenMetrics(z, z.int(), z, torch.zeros(0, k, dtype=torch.int32), torch.zeros(0, k))
    fields = TokenMetrics.__dataclass_fields__
    return TokenMetrics(*(torch.cat([getattr(o, f) for o in out]) for f in fields))


def _slice_metrics(x: torch.Tensor, t: torch.Tensor, k: int) -> TokenMetrics:
    t = t.to(x.device)
    lse = torch.logsumexp(x, dim=-1)
    target = x.gather(1, t[:, None]).squeeze(1)
    rank = (x > target[:, None]).sum(dim=-1, dtype=torch.int32)
    p = torch.exp(x - lse[:, None])
    entropy = lse - (p * x).sum(dim=-1)
    k = min(k, x.shape[1])
    top_v, top_i = x.topk(k, dim=-1)
    return TokenMetrics(
        logprob=(target - lse).cpu(),
        rank=rank.cpu(),
        entropy=entropy.clamp_min(0).cpu(),
        topk_ids=top_i.to(torch.int32).cpu(),
        topk_logprobs=(top_v - lse[:, None]).cpu(),
    )
