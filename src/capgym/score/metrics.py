"""Per-position metrics of the actual next token, computed without keeping a full
log-softmax of the batch: log-probability, rank, entropy and top-k.

``rank`` counts the vocabulary entries whose logit is strictly larger than the actual
token's (0 = the model's top choice; ties go in the token's favour).

Rows are processed in slices small enough to stay in the CPU's cache, read in place
from the logits, each pass writing into buffers reused across slices (fresh
multi-megabyte tensors cost page faults on every allocation).  Large vocabularies find the top-k through the maxima of
blocks of 64 logits: the k best tokens lie in the k blocks with the largest maxima, so
only ``k * 64`` candidates are ranked exactly.

>>> import torch
>>> logits = torch.tensor([[2.0, 1.0, 0.0]])
>>> m = token_metrics(logits, torch.tensor([1]), k=2)
>>> int(m.rank[0]), m.topk_ids.tolist()
(1, [[0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BLOCK = 64  # logits per block in the top-k search
BLOCK_MIN_VOCAB = 4096  # below this, a plain topk is as fast
SLICE_BYTES = 8 << 20  # one slice of float32 logits (fewer, larger slices: less Python)


@dataclass
class TokenMetrics:
    """Metrics for N positions (CPU tensors)."""

    logprob: torch.Tensor  # [N] float32
    rank: torch.Tensor  # [N] int32
    entropy: torch.Tensor  # [N] float32
    topk_ids: torch.Tensor  # [N, k] int32
    topk_logprobs: torch.Tensor  # [N, k] float32

    @classmethod
    def empty(cls, n: int, k: int) -> TokenMetrics:
        """Uninitialised CPU tensors for ``n`` positions."""
        f, i = torch.float32, torch.int32
        return cls(
            torch.empty(n, dtype=f),
            torch.empty(n, dtype=i),
            torch.empty(n, dtype=f),
            torch.empty(n, k, dtype=i),
            torch.empty(n, k, dtype=f),
        )


def default_slice_rows(vocab: int) -> int:
    """Rows per slice so that one slice of float32 logits is about :data:`SLICE_BYTES`."""
    return max(8, SLICE_BYTES // (4 * vocab))


@torch.inference_mode()
def token_metrics(
    logits: torch.Tensor,
    targets: torch.Tensor,
    k: int = 5,
    rows: torch.Tensor | None = None,
    slice_rows: int | None = None,
) -> TokenMetrics:
    """Metrics of ``targets[i]`` under ``logits[rows[i]]`` (``logits``: ``[M, V]``).

    ``rows`` defaults to ``0..N-1``.  Work proceeds in slices of at most ``slice_rows``
    rows (default: :data:`SLICE_BYTES` of logits) so that only one slice's probabilities
    exist at a time; runs of consecutive ``rows`` are read in place, without a copy.
    """
    n, vocab = targets.shape[0], logits.shape[-1]
    k = min(k, vocab)
    out = TokenMetrics.empty(n, k)
    if n == 0:
        return out
    step = slice_rows or default_slice_rows(vocab)
    if logits.device.type != "cpu":
        step = max(step, 2048)  # GPUs want large launches; memory is not the issue
    bufs = _Buffers(max(2, min(step, n)), vocab, logits.device)
    targets = targets.to(logits.device)
    for at, row, length in _runs(rows, n):
        for lo in range(0, length, step):
            m = min(step, length - lo)
            x = logits[row + lo : row + lo + m].float()
            _slice_metrics(x, targets[at + lo : at + lo + m], k, bufs, out, at + lo)
    return out


def _runs(rows: torch.Tensor | None, n: int) -> list[tuple[int, int, int]]:
    """(index in ``rows``, first row, length) of each run of consecutive rows.

    >>> _runs(torch.tensor([4, 5, 6, 0, 9, 10]), 6)
    [(0, 4, 3), (3, 0, 1), (4, 9, 2)]
    """
    if rows is None:
        return [(0, 0, n)]
    r = rows.cpu().numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(r) != 1) + 1])
    ends = np.append(starts[1:], len(r))
    return [(int(a), int(r[a]), int(b - a)) for a, b in zip(starts, ends)]


class _Buffers:
    """Scratch tensors reused by every slice."""

    def __init__(self, rows: int, vocab: int, device: torch.device):
        self.d = torch.empty(rows, vocab, device=device)
        self.e = torch.empty(rows, vocab, device=device)


def _slice_metrics(
    x: torch.Tensor, t: torch.Tensor, k: int, bufs: _Buffers, out: TokenMetrics, lo: int
) -> None:
    m = x.shape[0]
    top_v, top_i = topk_rows(x, k)
    rmax = top_v[:, :1]
    target = x.gather(1, t[:, None])
    d, e = bufs.d[:m], bufs.e[:m]
    rank = torch.gt(x, target, out=d).sum(-1)  # 1.0/0.0 counts, exact below 2**24
    # shifted logits d = x - max; e = exp(d); entropy = log s - sum(e * d) / s.
    # Every term of sum(e * d) is <= 0, so nothing cancels even for large logits.
    torch.sub(x, rmax, out=d)
    torch.exp(d, out=e)
    s = _row_sums(bufs.e, m)
    torch.mul(e, d, out=e)
    ed = _row_sums(bufs.e, m)
    log_s = s.log()
    lse = rmax.squeeze(1) + log_s
    hi = lo + m
    out.logprob[lo:hi] = (target.squeeze(1) - lse).cpu()
    out.rank[lo:hi] = rank.to(torch.int32).cpu()
    out.entropy[lo:hi] = (log_s - ed / s).clamp_min(0).cpu()
    out.topk_ids[lo:hi] = top_i.to(torch.int32).cpu()
    out.topk_logprobs[lo:hi] = (top_v - lse[:, None]).cpu()


def _row_sums(buf: torch.Tensor, m: int) -> torch.Tensor:
    """Sums of the first ``m`` rows of ``buf``, the same for any number of threads.

    torch splits a reduction with a single output across threads (changing the order
    of the additions), but reduces each of several outputs on one thread; so a lone
    row is summed together with a spare row of the buffer, which is then dropped.
    """
    return buf[: max(m, 2)].sum(-1)[:m]


def topk_rows(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x.topk(k)`` (values and indices, best first) of every row of ``x [N, V]``.

    >>> x = torch.arange(10000.0).flip(0)[None]
    >>> topk_rows(x, 3)[1].tolist()
    [[0, 1, 2]]
    """
    vocab = x.shape[1]
    if vocab < BLOCK_MIN_VOCAB or x.device.type != "cpu":
        return x.topk(k, dim=-1)
    full = vocab // BLOCK
    block_max = x[:, : full * BLOCK].unflatten(1, (full, BLOCK)).amax(-1)
    if vocab > full * BLOCK:
        block_max = torch.cat([block_max, x[:, full * BLOCK :].amax(-1, keepdim=True)], 1)
    blocks = block_max.topk(min(k, block_max.shape[1]), dim=-1).indices
    cand = (blocks[:, :, None] * BLOCK + torch.arange(BLOCK, device=x.device)).flatten(1)
    valid = cand < vocab
    vals = x.gather(1, cand.clamp_max(vocab - 1)).masked_fill_(~valid, float("-inf"))
    top_v, where = vals.topk(k, dim=-1)
    return top_v, cand.gather(1, where)
