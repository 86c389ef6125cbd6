"""Run every capgym benchmark and write ``benchmarks/RESULTS.md``.

    python benchmarks/run.py            # full: ~25-30 minutes on 2 quiet cores
    python benchmarks/run.py --quick    # smaller corpora and store: ~3 minutes

Sections: scoring throughput (capgym vs a naive notebook baseline vs the machine's
matmul roofline) with peak memory, capgym against the loop a competent user writes
(one thread and all cores), throughput beside one competing process, DuckDB query latency on a synthetic 3-model store
and its bytes per token, and tagging/explainer throughput.  Each model is measured in
a fresh process.  Everything below the ``<!-- analysis -->`` marker of an existing
RESULTS.md (the hand-written reading of the numbers) is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import machine, report
from benchmarks.bounds import bound_line

# model, stories scored by capgym, stories for the naive baseline: full / quick
MODELS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "stories260K": ((1000, 40), (100, 10)),
    "bitllama-3M": ((1000, 40), (100, 10)),
    "random:TinyStories-1M": ((400, 3), (60, 1)),
    "random:TinyStories-8M": ((300, 3), (40, 1)),
    "random:TinyStories-33M": ((150, 2), (24, 1)),
}
STORE_TOKENS = (5_000_000, 500_000)
# model, stories, naive stories against the competent loop (benchmarks.versus): full / quick
VERSUS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "stories260K": ((200, 10), (60, 2)),
    "bitllama-3M": ((100, 5), (30, 1)),
    "TinyStories-656K": ((200, 10), (60, 2)),
    "random:TinyStories-1M": ((60, 1), (20, 1)),
    "random:TinyStories-8M": ((40, 1), (12, 1)),
    "random:TinyStories-33M": ((16, 1), (6, 1)),
}
CONTENTION = {"stories260K": (60, 30), "bitllama-3M": (40, 16)}  # stories: full / quick


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CAPGYM_ASSETS", str(ROOT.parent / "shared" / "assets"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def throughput(quick: bool, models: list[str]) -> list[dict[str, Any]]:
    """One fresh process per model (see :mod:`benchmarks.throughput`)."""
    results = []
    for name in models:
        n, n_naive = MODELS[name][1 if quick else 0]
        print(f"throughput {name}: {n} stories, naive on {n_naive} ...", flush=True)
        cmd = [sys.executable, "-m", "benchmarks.throughput", name, str(n), str(n_naive)]
        proc = subprocess.run(
            cmd, check=False, cwd=ROOT, env=_env(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            results.append({"model": name, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {report.throughput_line(r)}", flush=True)
        results.append(r)
    return results


def _json_run(args: list[str]) -> dict[str, Any]:
    """Run ``python -m benchmarks.<args>`` in a fresh process; its last line is JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", *args], check=False, cwd=ROOT, env=_env(),
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {"model": args[1], "error": proc.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def versus(quick: bool, models: list[str]) -> list[dict[str, Any]]:
    """capgym against the competent and naive loops, one fresh process per model."""
    rows = []
    for name in models:
        n, n_naive = VERSUS[name][1 if quick else 0]
        print(f"versus {name}: {n} stories, naive on {n_naive} ...", flush=True)
        r = _json_run(["benchmarks.versus", name, "--stories", str(n), "--naive", str(n_naive),
                       "--repeats", "3"])  # fmt: skip
        if "error" not in r:
            print(f"  capgym / competent: {r['capgym_vs_competent_cpu']:.2f}x per CPU-s, "
                  f"{r['capgym_vs_competent_wall']:.2f}x all cores", flush=True)  # fmt: skip
            print(f"  bounded by: {bound_line(r['profile']['capgym'])}", flush=True)
        rows.append(r)
    return rows


def contention(quick: bool) -> list[dict[str, Any]]:
    """Throughput beside one busy-loop process, one fresh process per model."""
    rows = []
    for name, sizes in CONTENTION.items():
        n = sizes[1 if quick else 0]
        print(f"contention {name}: {n} stories ...", flush=True)
        r = _json_run(["benchmarks.contention", name, "--stories", str(n)])
        if "error" not in r:
            print(f"  kept beside one busy process: {r['capgym']['kept']:.2f}", flush=True)
            rows.append(r)
    return rows


def store(quick: bool) -> dict[str, Any]:
    from benchmarks.store import build_store, query_latencies

    tokens = STORE_TOKENS[1 if quick else 0]
    print(f"store: synthetic {tokens:,} tokens x 3 models ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="capgym-store-") as d:
        t = time.perf_counter()
        facts = build_store(d, tokens)
        facts["build_s"] = time.perf_counter() - t
        facts["tokens_per_model"] = tokens
        facts["latency_ms"] = query_latencies(d)
    for q, ms in facts["latency_ms"].items():
        print(f"  {ms:8.1f} ms  {q}", flush=True)
    return facts


def stages(quick: bool) -> dict[str, Any]:
    from benchmarks.stages import measure
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    n = 100 if quick else 1000
    print(f"stages: tags and explain on stories260K, {n} stories ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="capgym-stages-") as d:
        corpus = load_corpus("tinystories-validation-0-999").head(n)
        score(load_model("stories260K"), corpus, d, progress=False)
        try:
            out = measure(d, "stories260K")
        except Exception as err:  # noqa: BLE001  (another stage's failure is a finding)
            out = {"error": f"{type(err).__name__}: {err}"}
    print(f"  {out}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller corpora and store")
    p.add_argument("--models", default=",".join(VERSUS), help="comma-separated subset")
    p.add_argument(
        "--skip", default="", help="comma-separated: throughput,versus,contention,store,stages"
    )
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    p.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = p.parse_args()
    os.environ.update({k: v for k, v in _env().items() if k != "PYTHONPATH"})
    skip = set(filter(None, args.skip.split(",")))
    started = machine.describe()
    t0 = time.perf_counter()
    res: dict[str, Any] = {"machine": started, "quick": args.quick}
    if "throughput" not in skip:
        res["throughput"] = throughput(
            args.quick, [m for m in args.models.split(",") if m in MODELS]
        )
    if "versus" not in skip:
        res["versus"] = versus(args.quick, [m for m in VERSUS if m in args.models.split(",")])
    if "contention" not in skip:
        res["contention"] = contention(args.quick)
    if "store" not in skip:
        res["store"] = store(args.quick)
    if "stages" not in skip:
        res["stages"] = stages(args.quick)
    res["load_1min_end"] = machine.load_average()
    res["wall_s"] = time.perf_counter() - t0
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    report.write(res, args.results)
    print(f"wrote {args.results} ({res['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
