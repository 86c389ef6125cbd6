"""The baseline a competent researcher writes instead of capgym: twenty lines of torch.

Stories tokenised, cut into the same windows as capgym (so the same tokens are scored),
sorted by length and run in right-padded batches of 8 through the model's forward as a
user gets it (``scoring_forward`` where the model has one: HF models' SDPA, which
``transformers`` also picks by default), run eagerly; capgym runs capgym's own Llamas
through a TorchScript trace of the same module (:mod:`capgym.models.traced`, with its
compiled attention kernel for 8-wide heads, :mod:`capgym.models.kernels`), which
``forward=`` hands to this loop too when a benchmark wants to separate the two;
one ``log_softmax`` over the batch's logits, then the target's log-probability
(``gather``), its rank, the entropy and the top-5 of every real position in torch.
Nothing is written to disk; the outputs stay as tensors (capgym also builds and writes
the Parquet table with token pieces and character spans).

>>> from tests.spine.toy import ToyLM
>>> out = competent_score(ToyLM(), ["Hi there", "Hello"], k=2)
>>> sorted(out), out["rank"].shape == out["logprob"].shape
(['entropy', 'logprob', 'rank', 'story', 'topk_ids', 'topk_logprobs'], True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from capgym.models.base import LanguageModel
from capgym.score.precision import scoring_forward
from capgym.score.windows import plan_windows

BATCH = 8


@torch.inference_mode()
def competent_score(
    model: LanguageModel,
    texts: list[str],
    k: int = 5,
    batch: int = BATCH,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """logprob, rank, entropy and top-k of every predicted token, batch order
    (through ``forward``, default the model's eager ``scoring_forward``)."""
    forward = forward or scoring_forward(model)
    items = []
    for story, text in enumerate(texts):
        ids = model.encode(text).ids
        for w in plan_windows(len(ids), model.context_len):
            items.append((story, ids[w.start : w.end], w.first - w.start))
    items.sort(key=lambda it: -len(it[1]))
    out: dict[str, list[torch.Tensor]] = {c: [] for c in _COLUMNS}
    for lo in range(0, len(items), batch):
        group = items[lo : lo + batch]
        width = len(group[0][1])
        ids = torch.zeros(len(group), width, dtype=torch.long)
        mask = torch.zeros(len(group), width - 1, dtype=torch.bool)
        for b, (_, seq, first) in enumerate(group):
            ids[b, : len(seq)] = torch.tensor(seq)
            mask[b, first - 1 : len(seq) - 1] = True
        logp = torch.log_softmax(forward(ids)[:, :-1], dim=-1)[mask]  # [N, V]
        target = ids[:, 1:][mask]
        lp = logp.gather(1, target[:, None])
        top = logp.topk(k, dim=-1)
        out["story"].append(torch.tensor([s for s, _, _ in group]).repeat_interleave(mask.sum(1)))
        out["logprob"].append(lp.squeeze(1))
        out["rank"].append((logp > lp).sum(-1))
        out["entropy"].append(-(logp.exp() * logp).sum(-1))
        out["topk_ids"].append(top.indices)
        out["topk_logprobs"].append(top.values)
    return {c: torch.cat(v) for c, v in out.items()}


_COLUMNS = ("story", "logprob", "rank", "entropy", "topk_ids", "topk_logprobs")
