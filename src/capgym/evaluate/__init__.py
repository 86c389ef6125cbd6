"""Evaluation: models x tasks -> per-example results, per-task summaries, uniformity.

``evaluate(models, tasks, out=RUN)`` is the stage's entry point; the run store gets
views ``results`` (one row per model x example), ``task_summary`` (per model x task,
with bootstrap 95% CIs), ``task_slices`` (uniformity analysis), ``example_details``
and ``task_errors``.

>>> from capgym.evaluate import EvalSettings
>>> EvalSettings().n_boot
1000
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.evaluate.forward import ExampleScore, score_built
from capgym.evaluate.grid import evaluate, load_cached
from capgym.evaluate.report import EvalReport
from capgym.evaluate.stats import bootstrap_ci, summarise
from capgym.evaluate.task_eval import EvalSettings, TaskEval, evaluate_task
from capgym.evaluate.uniformity import slices

__all__ = [
    "EvalReport",
    "EvalSettings",
    "ExampleScore",
    "TaskEval",
    "bootstrap_ci",
    "evaluate",
    "evaluate_task",
    "load_cached",
    "score_built",
    "slices",
    "summarise",
]


make_callable(__name__, evaluate)
