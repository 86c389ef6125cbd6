"""Where scoring spends its time: a torch-profiler table of one model's scoring run.

    python benchmarks/profile_scoring.py stories260K --stories 100 [--threads 1] [--rows 15]

Runs :func:`capgym.score.score` once to warm up, then profiles a second run (CPU
activities, one torch thread by default) and prints the operators by self CPU time,
plus the share of the time spent in matmuls (``mm``/``addmm``/``bmm``/``linear``),
attention (``scaled_dot_product_attention``, softmax) and everything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CAPGYM_ASSETS", str(ROOT.parent / "shared" / "assets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from torch.profiler import ProfilerActivity, profile

from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.score import score

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"}
ATTENTION = {"aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_softmax"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--stories", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args()
    os.environ["CAPGYM_THREADS"] = str(args.threads)
    model = load_model(args.model)
    corpus = load_corpus("tinystories-validation-0-999").head(args.stories)
    score(model, corpus, tempfile.mkdtemp(), progress=False)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        score(model, corpus, tempfile.mkdtemp(), progress=False)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    share = {"matmul": 0.0, "attention": 0.0}
    for e in events:
        if e.key in MATMUL:
            share["matmul"] += e.self_cpu_time_total / total
        elif e.key in ATTENTION:
            share["attention"] += e.self_cpu_time_total / total
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(
        f"{args.model}: matmul {100 * share['matmul']:.0f}%, attention kernels "
        f"{100 * share['attention']:.0f}%, other {100 * (1 - sum(share.values())):.0f}% "
        f"of {total / 1e6:.2f} profiled CPU-s ({args.threads} thread(s))"
    )


if __name__ == "__main__":
    main()
