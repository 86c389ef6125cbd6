"""GPU scoring: tokens/s in float32 and bf16/fp16, and how often bf16 ranks equal fp32's.

    python benchmarks/gpu.py                       # CUDA when available, else CPU autocast
    python benchmarks/gpu.py --stories 50 --device cpu --models stories260K

For each model and dtype the same chunks are scored with :class:`capgym.score.Scorer`
(same batches, so positions line up) and compared with float32: the share of positions
whose rank is identical (target: >= 99.9%), whose top-1 token is identical, and the
largest log-probability difference.  Random-weight models have nearly flat
distributions, where ranks in the middle of the vocabulary hinge on tiny logit
differences; the trained models (stories260K, bitllama-3M) show the realistic case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CAPGYM_ASSETS", str(ROOT.parent / "shared" / "assets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.score import Scorer, ScoreSettings

MODELS = ["random:TinyStories-1M", "random:TinyStories-33M", "stories260K", "bitllama-3M"]


def run_dtype(
    model_name: str, device: str, dtype: str, texts: list[str], chunk: int
) -> tuple[dict[str, np.ndarray], float]:
    """Per-position columns of every chunk and the seconds they took (after a warm-up)."""
    model = load_model(model_name, device=device)
    settings = ScoreSettings(dtype=dtype)  # on CUDA the engine scales batches up itself
    scorer = Scorer(model, model_name, "bench", settings)
    chunks = [scorer.encode(list(range(i, i + chunk)), texts[i : i + chunk])
              for i in range(0, len(texts), chunk)]  # fmt: skip
    scorer.compute(chunks[0])  # warm-up (CUDA context, kernels, allocator)
    _sync(device)
    t = time.perf_counter()
    cols = [scorer.compute(c) for c in chunks]
    _sync(device)
    seconds = time.perf_counter() - t
    return {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}, seconds


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, float]:
    """Agreement of ``got`` with the float32 columns ``ref`` (same positions, same order)."""
    return {
        "rank_agreement": float(np.mean(ref["rank"] == got["rank"])),
        "top1_agreement": float(np.mean(ref["topk_ids"][:, 0] == got["topk_ids"][:, 0])),
        "max_abs_logprob_diff": float(np.max(np.abs(ref["logprob"] - got["logprob"]))),
        "mean_abs_logprob_diff": float(np.mean(np.abs(ref["logprob"] - got["logprob"]))),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cuda = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--stories", type=int, default=1000 if cuda else 20)
    p.add_argument("--dtypes", default="bfloat16,float16")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    texts = load_corpus("tinystories-validation-0-999").texts[: args.stories]
    chunk = 128 if args.device == "cuda" else 10
    out: list[dict[str, Any]] = []
    for name in args.models.split(","):
        ref, ref_s = run_dtype(name, args.device, "float32", texts, chunk)
        n = len(ref["rank"])
        row: dict[str, Any] = {"model": name, "device": args.device, "tokens": n,
                               "float32_tokens_per_s": n / ref_s}  # fmt: skip
        for dtype in args.dtypes.split(","):
            got, s = run_dtype(name, args.device, dtype, texts, chunk)
            row[f"{dtype}_tokens_per_s"] = n / s
            row[dtype] = compare(ref, got)
        print(json.dumps(row), flush=True)
        out.append(row)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
