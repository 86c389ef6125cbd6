"""Format benchmark results as Markdown (``RESULTS.md``), keeping the hand-written analysis.

>>> r = {"model": "m", "engine_tokens_per_cpu_s": 2000.0, "naive_tokens_per_cpu_s": 100.0,
...      "speedup_vs_naive": 20.0, "fraction_of_roofline": 0.5, "cores": 2,
...      "engine_tokens_per_s": 3000.0, "fraction_of_roofline_wall": 0.4, "peak_rss_mib": 300.0}
>>> throughput_line(r)
'm: 2,000 tok/CPU-s, naive 100 (20.0x), 50% of roofline; 2 threads 3,000 tok/s (40%); peak RSS 300 MiB'
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from benchmarks.bounds import bound_line

MARKER = "<!-- analysis -->"


def throughput_line(r: dict[str, Any]) -> str:
    """One printed line per model."""
    return (
        f"{r['model']}: {r['engine_tokens_per_cpu_s']:,.0f} tok/CPU-s, naive "
        f"{r['naive_tokens_per_cpu_s']:,.0f} ({r['speedup_vs_naive']:.1f}x), "
        f"{100 * r['fraction_of_roofline']:.0f}% of roofline; {r['cores']} threads "
        f"{r['engine_tokens_per_s']:,.0f} tok/s ({100 * r['fraction_of_roofline_wall']:.0f}%); "
        f"peak RSS {r['peak_rss_mib']:,.0f} MiB"
    )


def _failed_row(r: dict[str, Any], rule: str) -> str:
    """A table row saying a model failed, padded to the columns of the ``|---|`` rule."""
    return f"| {r['model']} | failed: {r['error']} |" + " |" * (rule.count("|") - 3)


def _machine(m: dict[str, Any], res: dict[str, Any]) -> list[str]:
    return [
        "## Machine",
        "",
        (
            f"- CPU: {m['cpu']}; {m['logical_cpus']} logical CPUs, {m['physical_cores']} physical "
            f"cores; {m['memory_gib']} GiB memory"
        ),
        (
            f"- torch {m['torch']} ({m['blas']}), {m['torch_threads']} threads; Python {m['python']}; "
            f"GPU: {m['cuda'] or 'none'}"
        ),
        (
            f"- load average (1 min) at start {m['load_1min']:.2f}, at end "
            f"{res.get('load_1min_end', float('nan')):.2f}; the whole run took "
            f"{res.get('wall_s', 0):.0f} s{' (--quick)' if res.get('quick') else ''}"
        ),
        "",
    ]


def _throughput(rows: list[dict[str, Any]]) -> list[str]:
    ok = [r for r in rows if "error" not in r]
    out = [
        "## Scoring throughput (predicted tokens, float32, CPU)",
        "",
        (
            "capgym = `capgym.score` end to end (tokenise, forward, metrics, Parquet); naive = "
            "one story at a time, full log-softmax kept, Python loops for rank and top-k "
            "(`benchmarks/naive.py`), same forward; roofline = FLOPs per token / dense matmul "
            "FLOP/s measured on the model's own shapes (`benchmarks/roofline.py`).  The ratios "
            "use one thread and CPU seconds of the process (robust to other jobs on the "
            "machine; capgym's tokenising and writing threads are charged in full); the last "
            "columns are wall-clock with one thread per core, as seen at that moment."
        ),
        "",
        (
            "| model | params | tokens | MFLOP/token | capgym tok/CPU-s | naive tok/CPU-s | "
            "**capgym / naive** | roofline tok/CPU-s | **of roofline** | all cores: capgym "
            "tok/s | naive tok/s | capgym / naive | roofline tok/s | of roofline | peak RSS MiB |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rule = out[-1]
    for r in rows:
        if "error" in r:
            out.append(_failed_row(r, rule))
            continue
        out.append(
            f"| {r['model']} | {r['n_params']:,} | {r['n_tokens']:,} | "
            f"{r['roofline_1']['flops_per_token'] / 1e6:.2f} | "
            f"{r['engine_tokens_per_cpu_s']:,.0f} | {r['naive_tokens_per_cpu_s']:,.0f} | "
            f"**{r['speedup_vs_naive']:.1f}x** | {r['roofline_tokens_per_cpu_s']:,.0f} | "
            f"**{100 * r['fraction_of_roofline']:.0f}%** | {r['engine_tokens_per_s']:,.0f} | "
            f"{r['naive_tokens_per_s']:,.0f} | {r['speedup_vs_naive_wall']:.1f}x | "
            f"{r['roofline_tokens_per_s']:,.0f} | {100 * r['fraction_of_roofline_wall']:.0f}% | "
            f"{r['peak_rss_mib']:,.0f} |"
        )
    out += [
        "",
        "Roofline matmul speed over each model's mix of shapes (GFLOP/s, one thread / all "
        "cores): "
        + ", ".join(
            f"{r['model']} {r['roofline_gflops_1']:.0f} / {r['roofline_gflops']:.0f}" for r in ok
        )
        + ".  Load average during each measurement: "
        + ", ".join(f"{r['model']} {r['load_1min']:.1f}" for r in ok)
        + ".",
        "",
        "Peak RSS is the scoring process's maximum resident set after scoring (torch, the "
        "model and capgym's buffers; after loading the model alone: "
        + ", ".join(f"{r['model']} {r['rss_loaded_mib']:,.0f} MiB" for r in ok)
        + ").  Bytes per token of the real store: "
        + ", ".join(f"{r['model']} {r['store_bytes_per_token']:.1f}" for r in ok)
        + ".",
        "",
    ]
    bit = [r for r in ok if r.get("naive_notebook_bitlinear_tokens_per_cpu_s")]
    if bit:
        out += [
            "The naive baseline above runs capgym's own forward.  With the BitLinear a "
            "notebook would port from runbit.c op by op (`capgym.models.bitllama."
            "reference_bitlinear`, the same bits, float matmul, no shared quantisation): "
            + ", ".join(
                f"{r['model']} {r['naive_notebook_bitlinear_tokens_per_cpu_s']:,.0f} tok/CPU-s, "
                f"capgym / that {r['engine_tokens_per_cpu_s'] / r['naive_notebook_bitlinear_tokens_per_cpu_s']:.1f}x"
                for r in bit
            )
            + " (one thread).",
            "",
        ]
    return out


def versus_section(rows: list[dict[str, Any]]) -> list[str]:
    """capgym against the competent and the naive loop (:mod:`benchmarks.versus`)."""
    out = [
        "## capgym against the loop a competent user writes",
        "",
        (
            "competent = `benchmarks/competent.py`: stories sorted by length, right-padded "
            "batches of 8, one `log_softmax`, gather/rank/entropy/top-5 in torch, outputs kept "
            "as tensors (capgym also builds and writes the Parquet table), through the model's "
            "forward run eagerly, as a user gets it (HF models: SDPA, `transformers`' default); "
            "naive = `benchmarks/naive.py`, the same forward.  capgym runs its own llama2.c and "
            "bitllama models through a TorchScript trace of the same module "
            "(`capgym/models/traced.py`: no Python between operators and no GIL; the same "
            "kernels and bit-identical logits, except that heads 8 wide, stories260K's, run "
            "on capgym's compiled attention kernel, `capgym/models/kernels.py`, logits within "
            "1e-4 of torch's); *+trace* is the competent loop given that trace, "
            "so that capgym / +trace is what capgym gains beyond it.  Same stories, interleaved "
            "run by run, best of 3, in one process per model.  One thread: tokens per "
            "CPU-second of the process (other jobs barely move it).  All cores: tokens per wall "
            "second, capgym's batch workers against the loop's OpenMP threads, at the load shown."
        ),
        "",
        (
            "| model | tokens | 1 thread: capgym tok/CPU-s | competent | **capgym / competent** "
            "| capgym / +trace | naive | capgym / naive | all cores: capgym tok/s | competent | "
            "**capgym / competent** | capgym / +trace | load (1 min) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rule = out[-1]
    for r in rows:
        if "error" in r:
            out.append(_failed_row(r, rule))
            continue
        naive = r.get("naive_tok_cpu_s")
        traced = {u: f"{r[f'capgym_vs_traced_{u}']:.2f}x" if f"capgym_vs_traced_{u}" in r else "-" for u in ("cpu", "wall")}  # fmt: skip
        out.append(
            f"| {r['model']} | {r['tokens']:,} | {r['capgym_tok_cpu_s']:,.0f} | "
            f"{r['competent_tok_cpu_s']:,.0f} | **{r['capgym_vs_competent_cpu']:.2f}x** | "
            f"{traced['cpu']} | "
            + (f"{naive:,.0f} | {r['capgym_vs_naive_cpu']:.1f}x | " if naive else "- | - | ")
            + f"{r['capgym_tok_wall_s']:,.0f} | {r['competent_tok_wall_s']:,.0f} | "
            f"**{r['capgym_vs_competent_wall']:.2f}x** | {traced['wall']} | "
            + " / ".join(f"{x:.1f}" for x in r["load_1min"])
            + " |"
        )
    return out + [""] + bounds_lines(rows)


def bounds_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per model: what bounds capgym and the competent loop (their profiles).

    >>> p = {"ops": [["flash attention", 0.5]], "forward": 0.8}
    >>> bounds_lines([{"model": "m", "token_budget": 1524,
    ...                "profile": {"capgym": p, "competent": p}}])[-2]
    '- **m** (batches of <= 1,524 ids): capgym: forward 80%; flash attention 50%.  competent: forward 80%; flash attention 50%.'
    """
    profiled = [r for r in rows if "profile" in r]
    if not profiled:
        return []
    out = [
        (
            "What bounds each, one thread, one profiled run of each: forward = share of the "
            "process's CPU time inside the model forward both call; then the top operators "
            "(torch profiler, share of all torch operators' self CPU time, so tokenising and "
            "Parquet are left out):"
        ),
        "",
    ]
    for r in profiled:
        p = r["profile"]
        out.append(
            f"- **{r['model']}** (batches of <= {r.get('token_budget', 0):,} ids): "
            f"capgym: {bound_line(p['capgym'])}.  competent: {bound_line(p['competent'])}."
        )
    return out + [""]


def contention_section(rows: list[dict[str, Any]]) -> list[str]:
    """Throughput beside one competing process (:mod:`benchmarks.contention`)."""
    out = [
        "## Beside one competing CPU-bound process",
        "",
        (
            "`benchmarks/contention.py`: each engine without and beside a competitor started by "
            f"the benchmark (interleaved, best of {rows[0].get('repeats', 3) if rows else 3}, "
            "one thread per physical core); kept = "
            "throughput beside it / without it (0.5 is a fair share with one of two cores "
            "taken).  capgym (OpenMP) = the same engine with each batch split across OpenMP "
            "threads, as capgym ran before its batch workers (and as the competent loop runs)."
        ),
        "",
        (
            "| model | competitor | capgym tok/s quiet | beside | **kept** | capgym (OpenMP) "
            "quiet | beside | kept | competent quiet | beside | kept | load (1 min) |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cells = [r["model"], r["competitor"]]
        for name in ("capgym", "capgym_openmp", "competent"):
            e = r[name]
            kept = f"{e['kept']:.2f}"
            cells += [f"{e['quiet_tok_s']:,.0f}", f"{e['loaded_tok_s']:,.0f}",
                      f"**{kept}**" if name == "capgym" else kept]  # fmt: skip
        cells.append(" / ".join(f"{x:.1f}" for x in r["load_1min"]))
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def _store(s: dict[str, Any]) -> list[str]:
    out = [
        "## Run store: DuckDB query latency",
        "",
        (
            f"Synthetic store in the `scores` schema: {s['tokens_per_model']:,} tokens x 3 models "
            f"= {s['rows']:,} rows, {s['bytes'] / 2**20:,.0f} MiB of zstd Parquet, "
            f"**{s['bytes_per_token']:.1f} bytes per token** (built in {s['build_s']:.0f} s).  "
            "Median of 5 runs after a warm-up, fresh `RunStore.connect()` views:"
        ),
        "",
        "| query | ms |",
        "|---|---:|",
    ]
    out += [f"| {q} | {ms:,.1f} |" for q, ms in s["latency_ms"].items()]
    return out + [""]


def _stages(s: dict[str, Any]) -> list[str]:
    out = ["## Tagging and explainers (stories260K's scored tokens per second)", ""]
    if "error" in s:
        return out + [f"Failed: {s['error']}", ""]
    for stage in ("tags", "explain"):
        v = s.get(stage)
        if isinstance(v, dict):
            out.append(
                f"- {stage}: {v['tokens_per_s']:,.0f} tokens/s "
                f"({s['tokens']:,} tokens in {v['seconds']:.1f} s)"
            )
        else:
            out.append(f"- {stage}: {v}")
    return out + [""]


GPU = [
    "## GPU",
    "",
    (
        "Not measured: this session had no GPU.  `python benchmarks/gpu.py` measures tokens/s "
        "and the rank agreement with float32 of every `--dtype` (and two diagnostics) on CUDA; "
        'it also runs on CPU, where it gave the table under "Reduced precision" below.'
    ),
    "",
]


def render(res: dict[str, Any]) -> str:
    """The generated part of RESULTS.md."""
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = ["# capgym benchmarks", "", f"Generated by `python benchmarks/run.py` on {when}.", ""]
    lines += _machine(res["machine"], res)
    if "throughput" in res:
        lines += _throughput(res["throughput"])
    if "versus" in res:
        lines += versus_section(res["versus"])
    if "contention" in res:
        lines += contention_section(res["contention"])
    if "store" in res:
        lines += _store(res["store"])
    if "stages" in res:
        lines += _stages(res["stages"])
    return "\n".join(lines + GPU)


def write(res: dict[str, Any], path: Path) -> None:
    """Write RESULTS.md, keeping whatever follows :data:`MARKER` in the old file."""
    kept = ""
    if path.exists() and MARKER in path.read_text():
        kept = path.read_text().split(MARKER, 1)[1]
    path.write_text(render(res) + "\n" + MARKER + kept)
