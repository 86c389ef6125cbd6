"""One (model, task) evaluation: build, score, and tabulate results, summary and slices.

>>> import torch
>>> from capgym.tasks import Example, Task
>>> from capgym.models.base import Encoding
>>> class Chars:  # one token per character, no BOS
...     context_len, vocab_size, bos_id, name = 64, 128, None, "chars"
...     content_hash = "chars"
...     tokenizer = None
...     def encode(self, text):
...         return Encoding([ord(c) % 128 for c in text], [(i, i + 1) for i in range(len(text))])
...     def forward(self, ids):
...         return torch.zeros(*ids.shape, 128)
>>> task = Task("t", "demo", [Example("e", "ab", "c", ("d",))])
>>> evaluate_task(Chars(), task).results[["example_id", "rank", "beats_wrong"]].values.tolist()
[['e', 0, 0.0]]
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capgym.errors import TaskError
from capgym.evaluate.forward import ExampleScore, score_built
from capgym.evaluate.stats import summarise
from capgym.evaluate.uniformity import COLUMNS as SLICE_COLUMNS
from capgym.evaluate.uniformity import slices
from capgym.models.threads import batch_workers, scoring_threads, torch_threads
from capgym.store.schema import RESULTS
from capgym.tasks.baselines import baselines, unigram_counts
from capgym.tasks.build import BuildError, BuiltExample, build_examples
from capgym.tasks.task import Task

EVAL_VERSION = 3  # bump when the numbers or the table layout change


@dataclass(frozen=True)
class EvalSettings:
    """Settings that change evaluation numbers (part of the cache key)."""

    batch_tokens: int = 2048  # small batches stay in cache: faster for tiny models on CPU
    n_boot: int = 1000
    seed: int = 0
    min_slice: int = 10
    # torch CPU threads while evaluating: None = auto (as scoring: CAPGYM_THREADS, else one
    # per physical core; measured 1.64x faster than one thread for the shared models on 2
    # cores, templated or mined examples), 0 = leave torch's setting
    threads: int | None = None

    def key(self) -> str:
        return f"v{EVAL_VERSION}-b{self.n_boot}-s{self.seed}-m{self.min_slice}"


@dataclass
class TaskEval:
    """The tables of one (model, task) evaluation."""

    results: pd.DataFrame  # RESULTS columns
    details: pd.DataFrame  # per-example token-level figures
    summary: pd.DataFrame  # one row
    slices: pd.DataFrame
    errors: list[str] = field(default_factory=list)
    cached: bool = False


def _score_columns(scores: list[ExampleScore], *names: str, **renamed: str) -> dict[str, list[Any]]:
    """Columns of ``ExampleScore`` fields (``renamed``: column=field), one value per score."""
    fields = {**{n: n for n in names}, **renamed}
    return {col: [getattr(s, f) for s in scores] for col, f in fields.items()}


def _details(model: Any, task: Task, built: list[BuiltExample],
             scores: list[ExampleScore]) -> pd.DataFrame:  # fmt: skip
    piece = getattr(model, "piece", lambda i: str(i))
    return pd.DataFrame({
        "model": model.name, "task": task.id,
        "example_id": [b.example_id for b in built],
        **_score_columns(scores, "greedy", "token_logprobs", "token_ranks", "wrong_logprobs",
                         "wrong_first_logprobs", decision_logit_diffs="decision_diffs"),
        "n_prompt_tokens": [len(b.prompt_ids) for b in built],
        "truncated": [b.truncated for b in built],
        "resplit": [b.resplit for b in built],
        "top_token": [piece(s.top_token) if s.top_token >= 0 else "" for s in scores],
    })  # fmt: skip


def results_frame(model_name: str, task: Task, built: list[BuiltExample],
                  scores: list[ExampleScore]) -> pd.DataFrame:  # fmt: skip
    """Rows in the run store's ``results`` schema."""
    meta = {e.id: e.meta for e in task.examples}
    df = pd.DataFrame({
        "model": model_name, "task": task.id,
        "example_id": [s.example_id for s in scores],
        "prob": [math.exp(s.logprob) for s in scores],
        "rank": pd.array([s.rank for s in scores], dtype="int32"),
        **_score_columns(scores, "logprob", "first_logprob", "beats_wrong",
                         "logit_diff_at_decision", "seq_logprob_diff",
                         "seq_logprob_diff_per_token", "first_logprob_diff",
                         "single_token_contrast"),
        "n_wrong": pd.array([len(b.wrong_ids) for b in built], dtype="int32"),
        "n_answer_tokens": pd.array([len(b.answer_ids) for b in built], dtype="int32"),
        "meta": [json.dumps(meta[s.example_id], sort_keys=True) for s in scores],
    })  # fmt: skip
    return df[[f.name for f in RESULTS]]


def cpu_threads(model: Any, settings: EvalSettings) -> int | None:
    """Threads to use for ``model`` under ``settings`` (None: leave torch's setting)."""
    if settings.threads is not None:
        return settings.threads or None
    on_cpu = str(getattr(model, "device", "cpu")).startswith("cpu")
    return scoring_threads() if on_cpu else None


def _score(model: Any, built: list[BuiltExample], settings: EvalSettings) -> list[ExampleScore]:
    threads = cpu_threads(model, settings)
    if threads is None:
        return score_built(model, built, settings.batch_tokens)
    if str(getattr(model, "device", "cpu")).startswith("cpu"):
        # whole batches on worker threads, one torch thread each: no OpenMP barriers to
        # spin on beside other jobs (see capgym.models.threads)
        with batch_workers(threads) as run:
            return score_built(model, built, settings.batch_tokens, run=run)
    with torch_threads(threads):
        return score_built(model, built, settings.batch_tokens)


def _error_lines(errors: list[TaskError], model_name: str, task: Task) -> list[str]:
    """One line per (model, task): how many examples were skipped, and why (a count per
    reason, with the first failing example of the commonest reason)."""
    if not errors:
        return []
    reasons = Counter(getattr(e, "reason", str(e)) for e in errors)
    why = "; ".join(f"{k} {r}" for r, k in reasons.most_common())
    top = reasons.most_common(1)[0][0]
    first = next(e for e in errors if getattr(e, "reason", str(e)) == top)
    eg = str(first)
    if isinstance(first, BuildError):
        eg = f"{first.where.removeprefix(f'task {task.id} ')} {first.detail}".strip()
    n, total = len(errors), len(task.examples)
    return [
        f"model {model_name}: task {task.id}: {n} of {total} examples skipped ({why}); e.g. {eg}"
    ]


def evaluate_task(model: Any, task: Task, settings: EvalSettings | None = None) -> TaskEval:
    """Evaluate ``model`` on ``task``; examples that cannot be built are skipped and reported."""
    settings = settings or EvalSettings()
    t0 = time.perf_counter()
    built, errors, skipped = build_examples(model, task.id, task.examples, task.target)
    if not built:
        first = f": {errors[0]}" if errors else ""
        raise TaskError(f"task {task.id}: no example can be built for model {model.name}{first}")
    scores = _score(model, built, settings)
    results = results_frame(model.name, task, built, scores)
    details = _details(model, task, built, scores)
    figures = summarise(results, details["greedy"], seed=settings.seed, n_boot=settings.n_boot)
    ids = set(results["example_id"])
    base = baselines([e for e in task.examples if e.id in ids], unigram_counts())
    summary = pd.DataFrame([{
        "model": model.name, "task": task.id, "capability": task.capability,
        **figures, **base, "n": len(results),
        "n_errors": len(errors), "n_not_applicable": skipped,
        "n_perturbations_discarded": sum(task.discarded.values()),
        "perturbations_discarded": json.dumps(task.discarded, sort_keys=True),
        "model_hash": model.content_hash, "task_hash": task.content_hash,
        "seconds": time.perf_counter() - t0,
    }])  # fmt: skip
    sl = slices(results, min_count=settings.min_slice) if len(results) else None
    sl = sl if sl is not None else pd.DataFrame(columns=SLICE_COLUMNS)
    return TaskEval(results, details, summary, sl, _error_lines(errors, model.name, task))
