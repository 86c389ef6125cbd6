"""The models x tasks grid: run store tables, caching, resume, failure tolerance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from capgym.evaluate import evaluate, grid
from capgym.store import open_run
from capgym.store.schema import RESULTS
from capgym.tasks import Example, Task

from ..tasks.toy import BigramLM


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    grid._MEMORY.clear()


def tasks() -> list[Task]:
    return [
        Task("t1", "demo", [Example(f"a{i}", f"I saw {i}", " Sue", (" Tom",),
                                    {"template": "x" if i % 2 else "y"}) for i in range(24)]),
        Task("t2", "demo", [Example(f"b{i}", "We went to the", " park", (" zoo",)) for i in range(3)]),
        Task("t3", "demo", [Example("c0", "One", " two", (" three",))]),
    ]  # fmt: skip


class Interrupting(BigramLM):
    """Raises KeyboardInterrupt on its ``at``-th forward call (like Ctrl-C)."""

    def __init__(self, at: int) -> None:
        super().__init__(seed=0)
        self.at = at

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.calls + 1 == self.at:
            raise KeyboardInterrupt
        return super().forward(ids)


def test_tables_in_the_run_store(tmp_path: Path) -> None:
    rep = evaluate([BigramLM(0), BigramLM(1)], tasks(), out=tmp_path, progress=False)
    run = open_run(tmp_path)
    res = run.sql("SELECT * FROM results ORDER BY model, task, example_id")
    assert list(res.columns) == RESULTS.names and len(res) == 2 * 28
    summary = run.sql("SELECT * FROM task_summary")
    assert len(summary) == 6 and {
        "top1_vocab_lo",
        "mean_seq_logprob_diff_hi",
        "beats_wrong_lo",
        "chance",
        "median_rank",
    } <= set(summary.columns)
    assert set(run.sql("SELECT DISTINCT task FROM task_slices").task) == {"t1"}
    assert rep.table().shape == (3, 5)  # beats_wrong and logit diff x 2 models, chance
    assert "<table" in rep._repr_html_()


def test_reevaluation_is_cached(tmp_path: Path) -> None:
    lm = BigramLM(0)
    first = evaluate(lm, tasks(), out=tmp_path, progress=False)
    calls = lm.calls
    grid._MEMORY.clear()
    again = evaluate(lm, tasks(), out=tmp_path, progress=False)
    assert lm.calls == calls  # nothing recomputed: loaded from the run store
    pd.testing.assert_frame_equal(first.results, again.results)
    evaluate(lm, tasks(), progress=False)  # in-memory cache, no run folder
    assert lm.calls == calls


def test_changed_task_is_recomputed(tmp_path: Path) -> None:
    lm = BigramLM(0)
    evaluate(lm, tasks(), out=tmp_path, progress=False)
    calls = lm.calls
    changed = tasks()
    changed[2] = Task("t3", "demo", [Example("c0", "One", " four", (" three",))])
    evaluate(lm, changed, out=tmp_path, progress=False)
    assert lm.calls == calls + 1


def test_interrupted_grid_resumes(tmp_path: Path) -> None:
    full = evaluate(BigramLM(0), tasks(), progress=False).results
    grid._MEMORY.clear()
    with pytest.raises(KeyboardInterrupt):
        evaluate(Interrupting(at=2), tasks(), out=tmp_path, progress=False)
    assert len(open_run(tmp_path).sql("SELECT * FROM results")) == 24  # t1 finished
    grid._MEMORY.clear()
    lm = BigramLM(0)
    resumed = evaluate(lm, tasks(), out=tmp_path, progress=False).results
    assert lm.calls == 2  # only t2 and t3 ran
    pd.testing.assert_frame_equal(full, resumed)


def test_failures_are_one_line_and_the_grid_goes_on(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("id: bad\ncapability: demo\nexamples: 3\n")
    broken = Task("broken", "demo", [Example("x", "A rhi", "no"), Example("y", "I saw", " ~")])
    partial = Task("partial", "demo", [Example("ok", "I saw", " Sue"), Example("bad", "A", " ~x")])
    lines: list[str] = []
    rep = evaluate(BigramLM(0), [tasks()[0], str(bad_file), broken, partial],
                   out=tmp_path / "run", progress=False, report=lines.append)  # fmt: skip
    assert set(rep.summary.task) == {"t1", "partial"}
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0].startswith(f"task {bad_file}: {bad_file}: line 3: examples")
    assert "task broken: no example can be built for model bigram-0" in lines[1]
    # one summary line per (model, task): how many were skipped, why, and an example
    assert (
        "task partial: 1 of 2 examples skipped (1 the model's tokenizer cannot encode" in lines[2]
    )
    assert "e.g. example bad (' ~x' becomes <unk>)" in lines[2]
    errors = open_run(tmp_path / "run").sql("SELECT * FROM task_errors")
    assert len(errors) == 3


def test_a_crashing_model_does_not_stop_the_grid() -> None:
    class Crashy(BigramLM):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            if ids.shape[1] > 10:  # only t2's sequences are that long
                raise RuntimeError("boom")
            return super().forward(ids)

    lines: list[str] = []
    rep = evaluate(Crashy(), tasks(), progress=False, report=lines.append)
    assert set(rep.summary.task) == {"t1", "t3"}
    assert lines == ["model bigram-0: task t2 failed: RuntimeError: boom"]


def test_skipped_examples_are_counted_per_reason_on_one_line(tmp_path: Path) -> None:
    exs = [Example("ok", "I saw", " Sue"), Example("m1", "A rhi", "no"),
           Example("m2", "The rhi", "no"), Example("u", "A", " ~x")]  # fmt: skip
    lines: list[str] = []
    evaluate(BigramLM(0), [Task("mixed", "demo", exs)], out=tmp_path / "run", progress=False,
             report=lines.append)  # fmt: skip
    assert len(lines) == 1, lines
    assert lines[0].startswith("model bigram-0: task mixed: 3 of 4 examples skipped (2 the "
                               "answer's first token merges with the end of the prompt; 1 the "
                               "model's tokenizer cannot encode a candidate); e.g. example m1")  # fmt: skip
