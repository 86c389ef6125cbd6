"""Edge speed: seconds of EAP-IG and of its edge curve, and their values, on one env.

Writes ``{"eap_s", "curve_s", "scores", "names", "curve"}`` to ``--out`` (torch.save) so
two implementations can be compared value by value (``--compare a b``)::

    python benchmarks/edge_speed.py -m stories260K -t repeated-name --pairs 100 --out a.pt
    python benchmarks/edge_speed.py --compare a.pt b.pt
"""

from __future__ import annotations

import argparse
import time

import torch


def run(model: str, task: str, pairs: int, out: str) -> None:
    from capgym.circuits.edges import eap_ig, edge_curve
    from capgym.circuits.env import make_env

    torch.set_num_threads(1)
    env = make_env(task, model, n_pairs=pairs)
    t0 = time.perf_counter()
    ranking = eap_ig(env.hooked, env.pairs)
    t1 = time.perf_counter()
    curve = edge_curve(env.hooked, env.pairs, ranking)
    t2 = time.perf_counter()
    res = {"eap_s": t1 - t0, "curve_s": t2 - t1, "names": ranking.names,
           "scores": torch.tensor(ranking.scores), "curve": torch.tensor(curve.faithfulness),
           "n_pairs": env.pairs.n_valid, "n_edges": len(ranking.names)}  # fmt: skip
    torch.save(res, out)
    print(f"{model} {task} pairs={env.pairs.n_valid} edges={len(ranking.names)} "
          f"eap-ig {t1 - t0:.1f}s curve {t2 - t1:.1f}s")  # fmt: skip


def compare(a: str, b: str) -> None:
    x, y = torch.load(a), torch.load(b)
    sx = dict(zip(x["names"], x["scores"].tolist()))
    sy = torch.tensor([sx[n] for n in y["names"]])
    d_s = float((sy - y["scores"]).abs().max())
    rel = d_s / float(y["scores"].abs().max())
    d_c = float((x["curve"] - y["curve"]).abs().max())
    moved = sum(a != b for a, b in zip(x["names"], y["names"]))
    print(f"eap-ig {x['eap_s']:.1f}s -> {y['eap_s']:.1f}s, curve {x['curve_s']:.1f}s -> "
          f"{y['curve_s']:.1f}s; max|d score| {d_s:.3g} (rel {rel:.3g}), "
          f"edges at another rank {moved}, max|d curve| {d_c:.3g}")  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model", default="stories260K")
    p.add_argument("-t", "--task", default="repeated-name")
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--out", default="edge_speed.pt")
    p.add_argument("--compare", nargs=2)
    args = p.parse_args()
    if args.compare:
        compare(*args.compare)
    else:
        run(args.model, args.task, args.pairs, args.out)
