"""Reduced-precision scoring: tokens/s and agreement with float32, per model and dtype.

    python benchmarks/gpu.py                       # CUDA when available, else CPU
    python benchmarks/gpu.py --device cpu --stories 200 --models stories260K,bitllama-3M

Every batch of the scoring engine's plan (same windows, same padding) runs in float32
and in each dtype, and the two are compared position by position:

* ``rank``: share of positions whose rank equals float32's (target: >= 99.9%);
  ``rank<10``: the same among positions whose float32 rank is below 10;
  ``top1``: share whose top-1 token is float32's; ``dlogprob``: largest |difference|.
* ``rescore``: share of the forward's tokens in windows that a *verified* mode would
  rerun in float32 (a causal model's float32 logits at a position need the float32
  forward of its whole window).  A position is uncertain when another logit lies
  within ``bound * max|z|`` of the target's; ``bound`` is the largest error of
  ``z_j - z_t`` relative to ``max|z|`` seen on these very positions, the tightest bound
  that catches every disagreement, so a usable verified mode (with a margin) reruns more.
* ``tokens/s``: forward + metrics per scored position (no tokenising or writing), after
  a warm-up batch, timed batch by batch interleaved with float32 (same load).

Dtypes: capgym's (:mod:`capgym.score.precision`) and two diagnostics, ``bfloat16x1``
(bf16 matmul inputs, float32 sums, outputs and everything else) and ``bfloat16+head``
(autocast with the classifier in float32).  Random-weight models have nearly flat
distributions, where mid-vocabulary ranks hinge on ~1e-5 logit differences; the trained
models (stories260K, bitllama-3M) show the realistic case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CAPGYM_ASSETS", str(ROOT.parent / "shared" / "assets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.models.base import LanguageModel
from capgym.models.batching import batch_plan
from capgym.score import ScoreSettings, token_metrics
from capgym.score.batches import Batch, encode_chunk, make_batch
from capgym.score.engine import token_budget
from capgym.score.precision import Precision, SplitBF16

MODELS = ["stories260K", "bitllama-3M", "random:TinyStories-1M", "random:TinyStories-33M"]
DTYPES = ["bfloat16x3", "bfloat16", "float16", "bfloat16x1", "bfloat16+head"]
Forward = Callable[[LanguageModel, torch.Tensor], torch.Tensor]


class Float32Classifier(TorchFunctionMode):
    """Runs any linear layer with at least ``vocab`` outputs (the classifier) outside autocast."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear and args[1].shape[0] >= self.vocab:
            with torch.autocast(args[0].device.type, enabled=False):
                return func(args[0].float(), args[1].float(), *args[2:], **kwargs)
        return func(*args, **kwargs)


def forward_of(dtype: str, vocab: int) -> Forward:
    """The forward of a capgym dtype or of a diagnostic one."""
    if dtype == "bfloat16x1":
        split = SplitBF16(terms=1)

        def x1(model: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
            with split:
                return model.forward(ids)

        return x1
    if dtype == "bfloat16+head":

        def head(model: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
            with torch.autocast(ids.device.type, dtype=torch.bfloat16), Float32Classifier(vocab):
                return model.forward(ids)

        return head
    return Precision(dtype).forward


def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, float]:
    """Agreement of ``got`` with the float32 columns ``ref`` (same positions, same order)."""
    same = ref["rank"] == got["rank"]
    top = ref["rank"] < 10
    return {
        "rank_agreement": float(np.mean(same)),
        "rank10_agreement": float(np.mean(same[top])) if top.any() else float("nan"),
        "top1_agreement": float(np.mean(ref["topk_ids"][:, 0] == got["topk_ids"][:, 0])),
        "max_abs_logprob_diff": float(np.max(np.abs(ref["logprob"] - got["logprob"]))),
        "mean_abs_logprob_diff": float(np.mean(np.abs(ref["logprob"] - got["logprob"]))),
    }


def rescore_share(
    gap: np.ndarray, zmax: np.ndarray, pair_err: np.ndarray, window: np.ndarray, cost: np.ndarray
) -> tuple[float, float]:
    """(bound, share of ``cost`` in windows holding a position with ``gap <= bound * zmax``).

    >>> rescore_share(np.array([1.0, 0.01]), np.ones(2), np.array([0.02, 0.0]),
    ...               np.array([0, 1]), np.array([3.0, 1.0]))
    (0.02, 0.25)
    """
    bound = float(np.max(pair_err / zmax))
    flagged = np.unique(window[gap <= bound * zmax])
    return bound, float(cost[flagged].sum() / cost.sum())


class Columns:
    """Per-position results of one dtype, gathered batch by batch."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}
        self.seconds = 0.0

    def add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            self.parts.setdefault(k, []).append(v)

    def get(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.parts.items()}


def _timed(fwd: Forward, model: LanguageModel, batch: Batch, device: str) -> tuple[Any, float]:
    """((logits [B * W, V], metrics), seconds) of one batch: forward + metrics, as scored."""
    t = time.perf_counter()
    with torch.inference_mode():
        logits = fwd(model, torch.from_numpy(batch.tokens).to(device))
        flat = logits.view(-1, logits.shape[-1])[:, : model.vocab_size]
        rows = torch.from_numpy(batch.rows)
        m = token_metrics(flat, torch.from_numpy(batch.targets), k=1, rows=rows)
    if device == "cuda":
        torch.cuda.synchronize()
    return (flat, m), time.perf_counter() - t


def _position_stats(z: torch.Tensor, ref: torch.Tensor, t: torch.Tensor) -> dict[str, np.ndarray]:
    """Gap to the nearest other logit, max |logit| and the largest error of z_j - z_t."""
    out: dict[str, list[np.ndarray]] = {"gap": [], "zmax": [], "pair_err": []}
    for lo in range(0, z.shape[0], 256):
        zs, rs, ts = z[lo : lo + 256].float(), ref[lo : lo + 256], t[lo : lo + 256, None]
        d = (zs - zs.gather(1, ts)).abs_().scatter_(1, ts, float("inf"))
        out["gap"].append(d.amin(1).cpu().numpy())
        out["zmax"].append(zs.abs().amax(1).cpu().numpy())
        err = zs - rs
        out["pair_err"].append((err - err.gather(1, ts)).abs_().amax(1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def measure(name: str, device: str, dtypes: list[str], texts: list[str]) -> dict[str, Any]:
    """Agreement and tokens/s of every dtype against float32 on the same batches."""
    model = load_model(name, device=device)
    chunk = encode_chunk(model, list(range(len(texts))), texts)
    plan = batch_plan(chunk.lengths, token_budget(model, ScoreSettings()))
    fwds = {"float32": forward_of("float32", model.vocab_size)}
    fwds |= {d: forward_of(d, model.vocab_size) for d in dtypes}
    cols = {d: Columns() for d in fwds}
    first = make_batch(chunk, plan[0])
    for f in fwds.values():  # warm-up: kernels, caches, split weights
        _timed(f, model, first, device)
    cost = np.array([chunk.items[i][1].length for b in plan for i in b], float)
    for b in plan:
        batch = make_batch(chunk, b)
        rows = torch.from_numpy(batch.rows)
        (flat, m), s = _timed(fwds["float32"], model, batch, device)
        ref = flat[rows.to(flat.device)]
        cols["float32"].seconds += s
        cols["float32"].add(**_metric_cols(m))
        targets = torch.from_numpy(batch.targets).to(ref.device)
        for d in dtypes:
            (flat, m), s = _timed(fwds[d], model, batch, device)
            cols[d].seconds += s
            cols[d].add(
                **_metric_cols(m), **_position_stats(flat[rows.to(flat.device)], ref, targets)
            )
        del ref, flat
    win = _window_ids(chunk, plan)
    base = cols["float32"].get()
    n = len(base["rank"])
    row: dict[str, Any] = {"model": name, "device": device, "positions": n,
                           "float32_tokens_per_s": n / cols["float32"].seconds}  # fmt: skip
    for d in dtypes:
        got = cols[d].get()
        bound, share = rescore_share(got["gap"], got["zmax"], got["pair_err"], win, cost)
        row[d] = compare(base, got) | {
            "tokens_per_s": n / cols[d].seconds,
            "rescore_bound": bound,
            "rescore_share": share,
        }
    return row


def _metric_cols(m: Any) -> dict[str, np.ndarray]:
    return {"rank": m.rank.numpy(), "topk_ids": m.topk_ids.numpy(), "logprob": m.logprob.numpy()}


def _scored(chunk: Any, items: list[int]) -> list[int]:
    return [chunk.items[i][1].end - chunk.items[i][1].first for i in items]


def _window_ids(chunk: Any, plan: list[list[int]]) -> np.ndarray:
    """Window number (in plan order) of every scored position, in batch order."""
    sizes = [n for b in plan for n in _scored(chunk, b)]
    return np.repeat(np.arange(len(sizes)), sizes)


def table(rows: list[dict[str, Any]], dtypes: list[str]) -> str:
    """The Markdown table of RESULTS.md's precision section."""
    out = [
        (
            "| model | dtype | rank = fp32 | rank<10 = fp32 | top-1 = fp32 | max abs dlogprob "
            "| rescore (verified) | tokens/s | x fp32 |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        f32 = r["float32_tokens_per_s"]
        out.append(f"| {r['model']} | float32 | 100% | 100% | 100% | 0 | 0% | {f32:,.0f} | 1.00 |")
        for d in dtypes:
            a = r[d]
            r10 = a["rank10_agreement"]
            out.append(
                f"| | {d} | {a['rank_agreement']:.3%} | {'n/a' if np.isnan(r10) else f'{r10:.3%}'} "
                f"| {a['top1_agreement']:.3%} | {a['max_abs_logprob_diff']:.2g} "
                f"| {a['rescore_share']:.0%} | {a['tokens_per_s']:,.0f} "
                f"| {a['tokens_per_s'] / f32:.2f} |"
            )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cuda = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--stories", type=int, default=1000 if cuda else 50)
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    texts = load_corpus("tinystories-validation-0-999").texts[: args.stories]
    dtypes = args.dtypes.split(",")
    rows = []
    for name in args.models.split(","):
        rows.append(measure(name, args.device, dtypes, texts))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows, dtypes))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
