"""The baseline: scoring the way a notebook user would write it.

One story at a time, the full log-softmax of every position kept, and plain Python
loops for the rank and the top-k; the same model forward, the same windows (so the
same tokens are scored) and the same outputs as capgym's rows.

>>> from tests.spine.toy import ToyLM
>>> rows = naive_score(ToyLM(), ["Hi there"], k=2)
>>> len(rows), sorted(rows[0])[:3]
(8, ['context_len', 'entropy', 'logprob'])
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from capgym.models.base import LanguageModel
from capgym.models.bitllama import BitLinear, reference_bitlinear
from capgym.score.precision import scoring_forward
from capgym.score.windows import plan_windows


def naive_score(model: LanguageModel, texts: list[str], k: int = 5) -> list[dict[str, Any]]:
    """Rows (story, pos, token_id, logprob, rank, entropy, topk) of every predicted token."""
    rows = []
    forward = scoring_forward(model)  # the forward capgym runs
    for story, text in enumerate(texts):
        enc = model.encode(text)
        for w in plan_windows(len(enc.ids), model.context_len):
            ids = torch.tensor([enc.ids[w.start : w.end]])
            with torch.no_grad():
                logits = forward(ids)[0]
            logp = torch.log_softmax(logits, dim=-1)  # kept whole, as in a notebook
            for pos in range(w.first, w.end):
                dist = logp[pos - w.start - 1]
                target = enc.ids[pos]
                values = dist.tolist()
                lp = values[target]
                rank = 0
                for v in values:
                    if v > lp:
                        rank += 1
                top = sorted(range(len(values)), key=lambda i: -values[i])[:k]
                entropy = -(dist.exp() * dist).sum().item()
                rows.append(
                    {
                        "story": story,
                        "pos": pos,
                        "token_id": target,
                        "token": model.piece(target),
                        "logprob": lp,
                        "rank": rank,
                        "entropy": entropy,
                        "context_len": pos - w.start,
                        "topk_ids": top,
                        "topk_logprobs": [values[i] for i in top],
                    }
                )
    return rows


@contextmanager
def notebook_bitlinear() -> Iterator[None]:
    """BitLinear as a notebook port of runbit.c would run it: op by op, float matmul.

    capgym's BitLinear gives the same bits faster (shared int8 quantisation, int8
    matmul); inside this block every BitLinear uses :func:`reference_bitlinear`.
    """
    saved = BitLinear.__dict__["prepare"], BitLinear.forward  # the staticmethod itself
    BitLinear.prepare = staticmethod(lambda x: x)  # type: ignore[method-assign,assignment]
    BitLinear.forward = lambda self, x: reference_bitlinear(x, self.codes, self.scale)  # type: ignore[method-assign,assignment,misc]
    try:
        yield
    finally:
        BitLinear.prepare, BitLinear.forward = saved  # type: ignore[method-assign]
